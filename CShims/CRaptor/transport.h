/*
 * transport.h: how a connection's bytes move: straight through the socket (plain), or
 * through TLS over it (tls_conn.c). The protocol above (HTTP/1.1: conn.c and respond.c;
 * HTTP/2 later) reads, writes, sends files and shuts down only through these calls, so it
 * never needs to know which transport a connection has.
 *
 * Every call answers like the system call it stands for: bytes moved, 0 at the end of
 * the input, or -1 with errno set (EAGAIN: wait for transport_wait_events, then call
 * again; EINTR: call again; anything else: the connection is broken). A write may take
 * bytes and still hold part of them (TLS encrypts ahead of the socket): the writer asks
 * transport_output_pending before it calls a response sent, and transport_flush sends it.
 *
 * The plain transport is the system call itself, inlined here behind one well-predicted
 * branch on conn->tls, so the plain path pays a compare per call and nothing else (an
 * indirect call through a per-connection table measured more: ARCHITECTURE.md).
 */
#ifndef RAPTOR_TRANSPORT_H
#define RAPTOR_TRANSPORT_H

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine.h"
#include "tls.h"

static inline ssize_t transport_read(rv_conn *conn, uint8_t *into, size_t room) {
    if (conn->tls) return tls_read(conn, into, room);
    return recv(conn->fd, into, room, 0);
}

/* `more`: more output follows at once (a file after its head), so the kernel may hold a
 * partial segment back (MSG_MORE). */
static inline ssize_t transport_writev(rv_conn *conn, const struct iovec *iov, int count, int more) {
    if (conn->tls) return tls_writev(conn, iov, count, more);
    struct msghdr message = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)count};
    return sendmsg(conn->fd, &message, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static inline ssize_t transport_send_file(rv_conn *conn, int file, off_t *offset, size_t count) {
    if (conn->tls) return tls_send_file(conn, file, offset, count);
    return sendfile(conn->fd, file, offset, count);
}

/* Output accepted but not yet taken by the socket (TLS only). */
static inline int transport_output_pending(const rv_conn *conn) { return conn->tls && conn->tls_out_length > 0; }

/* Sends what the transport holds: 1 nothing left, 0 would block, -1 failed. */
static inline int transport_flush(rv_conn *conn) { return conn->tls ? tls_flush(conn) : 1; }

/* Input already taken from the socket but not yet returned by transport_read: the socket
 * will not announce it, so whoever parks a connection must look here first. */
static inline int transport_has_buffered_input(const rv_conn *conn) {
    return conn->tls && tls_has_buffered_input(conn);
}

/* After EAGAIN from a call that reads (EV_READ) or writes (EV_WRITE): the readiness to
 * wait for. The plain transport needs what the call was doing; TLS may need the other
 * direction (a read that must first send a handshake message, say). */
static inline int transport_wait_events(const rv_conn *conn, int direction) {
    return conn->tls && conn->tls_wants ? conn->tls_wants : direction;
}

/* A connection parked for a while gives back what only an active one needs (TLS: its
 * record buffers, about 34 KiB). */
static inline void transport_release_idle_buffers(rv_conn *conn) {
    if (conn->tls) tls_release_buffers(conn);
}

/* Turns Nagle's algorithm off (a no-op for Unix sockets, marked nodelay at accept). */
static inline void transport_set_nodelay(rv_conn *conn) {
    if (conn->nodelay) return;
    int one = 1;
    setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn->nodelay = 1;
}

/* Ends the output: the peer reads the end of the stream after everything sent (with TLS,
 * after a close_notify alert, so it can tell the end from a truncation). */
static inline void transport_shutdown_write(rv_conn *conn) {
    if (conn->tls) tls_close_notify(conn);
    shutdown(conn->fd, SHUT_WR);
}

static inline void transport_close(rv_conn *conn) {
    if (conn->tls) {
        tls_close_notify(conn);
        tls_end(conn);
    }
    close(conn->fd);
}

#endif
