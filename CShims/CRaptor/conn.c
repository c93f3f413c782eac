/*
 * conn.c: the loop side of one connection: read, parse, dispatch, keep-alive,
 * pipelining, timeouts, closing. Runs on the loop thread only.
 *
 * Timers: each connection has one ev_timer and a deadline. Changing the deadline to a
 * later time (the common case: a keep-alive connection parks again) touches nothing;
 * the timer fires, sees the later deadline and re-arms. Only an earlier deadline
 * restarts it. libev timers live in a heap in user space, so no path costs a syscall.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "h2.h"
#include "parser.h"
#include "transport.h"

static void conn_read_cb(struct ev_loop *loop, ev_io *watcher, int revents);
static void conn_write_cb(struct ev_loop *loop, ev_io *watcher, int revents);
static void conn_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents);
static int process_input(rv_conn *conn);
static int finish_response(rv_conn *conn);
static void forget_resume(rv_conn *conn);
static void resume_later(rv_conn *conn);
static void sniff_protocol(rv_conn *conn);

/* ---- deadlines ---- */

static void set_deadline(rv_conn *conn, ev_tstamp at, deadline_kind kind) {
    conn->deadline = at;
    conn->deadline_kind = kind;
    if (kind == DEADLINE_NONE) return; /* a pending timer will find nothing to do */
    struct ev_loop *loop = conn->worker->loop;
    if (ev_is_active(&conn->timer) && conn->timer_at <= at) return;
    ev_timer_stop(loop, &conn->timer);
    ev_timer_set(&conn->timer, at - ev_now(loop), 0.);
    ev_timer_start(loop, &conn->timer);
    conn->timer_at = at;
}

static void set_timeout(rv_conn *conn, double seconds, deadline_kind kind) {
    set_deadline(conn, ev_now(conn->worker->loop) + seconds, kind);
}

/* While a request is being read: the whole-request deadline, or the body progress
 * deadline when that is sooner. */
static void set_reading_deadline(rv_conn *conn) {
    const rv_worker_config *config = conn->worker->config;
    ev_tstamp request_end = conn->request_started + config->request_timeout;
    if (rv_parser_head_done(conn->parser)) {
        ev_tstamp body_end = ev_now(conn->worker->loop) + config->body_timeout;
        if (body_end < request_end) {
            set_deadline(conn, body_end, DEADLINE_BODY);
            return;
        }
    }
    set_deadline(conn, request_end, DEADLINE_REQUEST);
}

/* ---- buffers: a per-worker free list, so a keep-alive request allocates nothing ---- */

static int acquire_buffer(rv_conn *conn) {
    if (conn->buffer) return 0;
    rv_worker *worker = conn->worker;
    if (worker->free_buffer_count > 0) {
        conn->buffer = worker->free_buffers[--worker->free_buffer_count];
    } else {
        conn->buffer = malloc(RV_BUFFER_SIZE);
        if (!conn->buffer) return -1;
    }
    conn->capacity = RV_BUFFER_SIZE;
    conn->length = conn->parsed = 0;
    return 0;
}

/* An idle keep-alive connection holds no buffer (nor parser): 10k of them cost only their
 * structs. */
static void release_buffer(rv_conn *conn) {
    if (!conn->buffer) return;
    rv_worker *worker = conn->worker;
    if (conn->capacity == RV_BUFFER_SIZE && worker->free_buffer_count < RV_POOLED)
        worker->free_buffers[worker->free_buffer_count++] = conn->buffer;
    else
        free(conn->buffer);
    conn->buffer = NULL;
    conn->capacity = conn->length = conn->parsed = 0;
}

/* ---- parsers: pooled like buffers, held from a request's first byte to its answer ----
 * A parser is about 2 KiB (its request's field table is most of it): a connection waiting
 * for a request, or speaking HTTP/2, holds none. */

static int acquire_parser(rv_conn *conn) {
    if (conn->parser) return 0;
    rv_worker *worker = conn->worker;
    if (worker->free_parser_count > 0) {
        conn->parser = worker->free_parsers[--worker->free_parser_count];
        worker->pooled_body_bytes -= conn->parser->sink.cap;
    } else {
        conn->parser = rv_parser_create(&worker->config->limits);
        if (!conn->parser) return -1;
    }
    conn->request = rv_parser_request(conn->parser);
    if (worker->config->stream_bodies) body_stream_divert(conn);
    return 0;
}

/* A parser keeps its body buffer (up to RV_BODY_KEEP_MAX, 64 KiB) for the next upload. In
 * the pool, where a burst of uploads leaves up to RV_POOLED parsers, that would be 64 MiB
 * held until the worker exits: the free parsers keep at most this much between them. */
#define POOLED_BODY_BYTES_MAX ((size_t)4 << 20)

/* Parsers go back reset: the next connection's request starts empty. */
static void release_parser(rv_conn *conn) {
    if (!conn->parser) return;
    rv_worker *worker = conn->worker;
    rv_parser_reset(conn->parser); /* closes a spooled body file */
    if (worker->free_parser_count < RV_POOLED) {
        rv_body_sink *body = &conn->parser->sink;
        if (worker->pooled_body_bytes + body->cap > POOLED_BODY_BYTES_MAX) rv_body_sink_free_buffer(body);
        worker->pooled_body_bytes += body->cap;
        worker->free_parsers[worker->free_parser_count++] = conn->parser;
    } else {
        rv_parser_destroy(conn->parser);
    }
    conn->parser = NULL;
    conn->request = NULL;
}

/* HTTP/2 reads through the same pooled buffers and gives its back while idle (h2_session.c). */
int conn_take_buffer(rv_conn *conn) { return acquire_buffer(conn); }
void conn_give_back_buffer(rv_conn *conn) { release_buffer(conn); }

/* Grows a full buffer; the limit lets the parser see one byte past max_head, so it is
 * the parser that decides 431 (or 414). */
static int grow_buffer(rv_conn *conn) {
    const rv_limits *limits = &conn->worker->config->limits;
    uint64_t ceiling = (uint64_t)limits->max_head * 2 + RV_BUFFER_SIZE;
    if (conn->capacity >= ceiling) return -1;
    uint64_t wanted = (uint64_t)conn->capacity * 2;
    if (wanted > ceiling) wanted = ceiling;
    uint8_t *grown;
    if (conn->capacity == RV_BUFFER_SIZE) {
        /* pooled buffers keep their size; copy out of it */
        grown = malloc(wanted);
        if (grown) {
            memcpy(grown, conn->buffer, conn->length);
            rv_worker *worker = conn->worker;
            if (worker->free_buffer_count < RV_POOLED)
                worker->free_buffers[worker->free_buffer_count++] = conn->buffer;
            else
                free(conn->buffer);
        }
    } else {
        grown = realloc(conn->buffer, wanted);
    }
    if (!grown) return -1;
    conn->buffer = grown;
    conn->capacity = (uint32_t)wanted;
    return 0;
}

/* An idle connection is its struct alone: one 512-byte block of malloc (504 bytes and its
 * 8-byte header). What grows it costs every idle connection a block of the next size. */
_Static_assert(sizeof(rv_conn) <= 504, "rv_conn outgrew its 512-byte malloc block");

/* An IP peer whole; any other (a Unix socket's) by its family only. */
static void set_peer(rv_conn *conn, const struct sockaddr_storage *peer, socklen_t length) {
    if (length > sizeof conn->peer) length = sizeof conn->peer.address.sa_family;
    memcpy(&conn->peer, peer, length);
    conn->peer_length = length;
}

/* ---- the PROXY protocol (proxy.c): a header before anything else, from trusted peers ---- */

/* A Unix socket peer is a local process the socket's permissions let in. */
static int proxy_peer_trusted(const rv_worker *worker, const struct sockaddr_storage *peer) {
    if (peer->ss_family == AF_UNIX) return 1;
    const rv_worker_config *config = worker->config;
    return rv_cidr_contains(config->trusted_proxies, config->trusted_proxy_count,
                            (const struct sockaddr *)peer);
}

/* Takes the PROXY header off the bytes read so far. Returns 1 to go on with the request
 * (the header, if any, is gone and its source is the peer now), 0 when more bytes are
 * needed, -1 when the connection was closed (a malformed header, or one from an
 * untrusted peer). */
static int take_proxy_header(rv_conn *conn) {
    rv_proxy_header header;
    switch (rv_proxy_parse((rv_proxy_mode)conn->proxy_mode, conn->buffer, conn->length, &header)) {
    case RV_PROXY_MORE:
        return 0;
    case RV_PROXY_ABSENT:
        conn->proxy_mode = RV_PROXY_OFF;
        return 1;
    case RV_PROXY_HEADER:
        if (conn->proxy_untrusted) break;
        if (!header.local) {
            set_peer(conn, &header.source, header.source_length);
        }
        conn->length -= header.length;
        memmove(conn->buffer, conn->buffer + header.length, conn->length);
        conn->proxy_mode = RV_PROXY_OFF;
        return 1;
    case RV_PROXY_INVALID:
        break;
    }
    STAT_ADD(conn->worker, RV_STAT_PROXY_ERRORS, 1);
    conn_close(conn);
    return -1;
}

/* An ssl:// bind with the PROXY protocol: the balancer's header comes in the clear, before
 * the ClientHello. It is read from the socket and taken off here; what follows it stays in
 * the buffer, and the handshake looks at it as at a first read. Returns 1 once the header
 * is gone, 0 to wait for more bytes, -1 when the connection was closed. */
static int read_proxy_header_before_tls(rv_conn *conn) {
    for (;;) {
        uint32_t room = conn->capacity - conn->length; /* never 0: a header is at most 4 KiB */
        ssize_t got = recv(conn->fd, conn->buffer + conn->length, room, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && errno == EAGAIN) return 0;
        if (got <= 0) {
            conn_close(conn);
            return -1;
        }
        conn->length += (uint32_t)got;
        STAT_ADD(conn->worker, RV_STAT_BYTES_READ, got);
        int taken = take_proxy_header(conn);
        if (taken != 0 || (uint32_t)got < room) return taken;
    }
}

/* ---- life and death ---- */

void conn_accepted(rv_worker *worker, int fd, const struct sockaddr_storage *peer,
                   socklen_t peer_length, rv_proxy_mode proxy, const rv_tls_context *tls) {
    int untrusted = proxy != RV_PROXY_OFF && !proxy_peer_trusted(worker, peer);
    if (untrusted && proxy != RV_PROXY_OPTIONAL) { /* a PROXY-only bind: only balancers come */
        STAT_ADD(worker, RV_STAT_PROXY_ERRORS, 1);
        close(fd);
        return;
    }
    rv_conn *conn = worker->free_conns;
    if (conn) {
        worker->free_conns = conn->next;
        worker->free_conn_count--;
        memset(conn, 0, sizeof *conn);
    } else {
        conn = calloc(1, sizeof *conn);
        if (!conn) {
            close(fd);
            return;
        }
    }
    conn->worker = worker;
    conn->fd = fd;
    conn->file_fd = -1;
    conn->state = CONN_IDLE;
    if (tls) {
        if (tls_start(conn, tls) != 0) {
            close(fd);
            conn->next = worker->free_conns; /* back to the free list, untouched */
            worker->free_conns = conn;
            worker->free_conn_count++;
            return;
        }
        conn->state = CONN_HANDSHAKE;
    }
    /* HTTP/2 on a plain listener: the first bytes say whether this is h2c (its preface). */
    if (!tls && worker->config->http2) conn->state = CONN_SNIFF;
    conn->nodelay = peer->ss_family != AF_INET && peer->ss_family != AF_INET6;
    /* TLS writes several times per connection (the flights, a session ticket, the
     * response, close_notify): none may wait for the ACK of the one before. */
    if (tls) transport_set_nodelay(conn);
    set_peer(conn, peer, peer_length);
    conn->proxy_mode = (uint8_t)proxy;
    conn->proxy_untrusted = (uint8_t)untrusted;
    conn->live_next = worker->live;
    if (worker->live) worker->live->live_prev = conn;
    worker->live = conn;
    worker->connections++;
    STAT_ADD(worker, RV_STAT_ACTIVE_CONNECTIONS, 1);

    ev_io_init(&conn->io, conn_read_cb, fd, EV_READ);
    conn->io.data = conn;
    ev_init(&conn->timer, conn_timer_cb);
    conn->timer.data = conn;
    set_timeout(conn, worker->config->first_data_timeout, DEADLINE_FIRST_DATA);
    ev_io_start(worker->loop, &conn->io);
    /* Clients send their request right after connecting: read it now rather than after
     * a trip through epoll (a Connection: close exchange can end here, before the socket
     * is ever registered). */
    worker->first_read = conn;
    conn_read_cb(worker->loop, &conn->io, EV_READ);
    worker->first_read = NULL;
}

static void set_parked(rv_conn *conn, int parked) {
    if (conn->parked == parked) return;
    conn->parked = (uint8_t)parked;
    if (parked && conn->tls) { /* only TLS has buffers to give back (conn_slim_idle) */
        conn->slimmed = 0;
        conn->parked_at = ev_now(conn->worker->loop);
    }
    STAT_ADD(conn->worker, RV_STAT_KEEPALIVE_CONNECTIONS, parked ? 1 : -1);
}

void conn_close(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    forget_resume(conn);
    if (conn->h2) h2_connection_closed(conn);
    if (conn->body_stream) body_stream_end(conn);
    ev_io_stop(worker->loop, &conn->io);
    ev_timer_stop(worker->loop, &conn->timer);
    set_parked(conn, 0);
    if (conn->handback != HANDBACK_CLOSED) transport_close(conn); /* else its thread did */
    respond_reset(conn);
    release_parser(conn);
    release_buffer(conn);
    if (conn->live_prev) conn->live_prev->live_next = conn->live_next;
    else worker->live = conn->live_next;
    if (conn->live_next) conn->live_next->live_prev = conn->live_prev;
    worker->connections--;
    STAT_ADD(worker, RV_STAT_ACTIVE_CONNECTIONS, -1);
    if (worker->free_conn_count < RV_POOLED) {
        conn->next = worker->free_conns;
        worker->free_conns = conn;
        worker->free_conn_count++;
    } else {
        free(conn);
    }
    worker_check_drained(worker);
}

void conn_slim_idle(rv_worker *worker) {
    if (!worker->config->listen_tls) return; /* only TLS holds buffers while parked */
    ev_tstamp now = ev_now(worker->loop);
    for (rv_conn *conn = worker->live; conn; conn = conn->live_next) {
        if (conn->parked && conn->tls && !conn->slimmed && now - conn->parked_at >= 1.0) {
            transport_release_idle_buffers(conn);
            conn->slimmed = 1;
        }
    }
}

/* One watcher per connection, for reading or for writing; the transport says which
 * readiness that takes (TLS may have to write to go on reading, or the reverse). */
typedef void (*io_callback)(struct ev_loop *loop, ev_io *watcher, int revents);

static void watch(rv_conn *conn, io_callback callback, int direction) {
    struct ev_loop *loop = conn->worker->loop;
    int events = transport_wait_events(conn, direction);
    if (ev_is_active(&conn->io) && (conn->io.events & (EV_READ | EV_WRITE)) == events &&
        conn->io.cb == callback)
        return;
    ev_io_stop(loop, &conn->io);
    ev_io_set(&conn->io, conn->fd, events);
    ev_set_cb(&conn->io, callback);
    ev_io_start(loop, &conn->io);
}

static void watch_input(rv_conn *conn) { watch(conn, conn_read_cb, EV_READ); }

void conn_watch_input(rv_conn *conn) { watch_input(conn); }

void conn_set_body_deadline(rv_conn *conn, int armed) {
    if (armed) set_timeout(conn, conn->worker->config->body_timeout, DEADLINE_BODY);
    else set_deadline(conn, 0, DEADLINE_NONE);
}

/* How long a connection closing after its answer drains what the client still sends. */
#define LINGER_AFTER_ANSWER 2.0

/* Closing right after an answer could reset the connection (unread input makes close()
 * send RST) and destroy the answer before the client reads it: stop writing, drain
 * what the client still sends for at most `seconds`, then close. */
static void linger(rv_conn *conn, double seconds) {
    transport_shutdown_write(conn);
    char scratch[4096];
    ssize_t got = recv(conn->fd, scratch, sizeof scratch, 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(conn);
        return;
    }
    conn->state = CONN_LINGERING;
    watch_input(conn);
    set_timeout(conn, seconds, DEADLINE_LINGER);
}

void conn_linger_after_h2(rv_conn *conn) {
    h2_connection_closed(conn);
    ev_set_cb(&conn->timer, conn_timer_cb);
    linger(conn, LINGER_AFTER_ANSWER);
}

static void linger_read(rv_conn *conn) {
    char scratch[16384];
    for (;;) {
        ssize_t got = recv(conn->fd, scratch, sizeof scratch, 0);
        if (got > 0) continue;
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        conn_close(conn);
        return;
    }
}

/* ---- a graceful stop (USR2, HUP, TTOU, TERM): no request on an open connection lost ----
 *
 * A stopping worker accepts nothing new and goes on reading the connections it has. A
 * request that arrives is answered with Connection: close, and the connection closes after
 * that response, so its client reconnects to a live worker. Requests already read when the
 * stop began (pipelined behind the one in progress) are all answered, the last with
 * Connection: close. A connection that waits for a request (new, or kept alive) is closed
 * once it has been idle for the grace (--shutdown-idle-grace, at most --shutdown-timeout),
 * counted from the stop or from its last response, whichever is later: long enough for a
 * request already on its way to arrive. Closing it cannot be atomic with a request the
 * client sends at that very moment (HTTP/1.1 has no way to announce it); that race is
 * made as narrow as it can be: bytes already waiting are served instead, and the close is
 * clean (FIN, then draining), so the client sees the end of the stream, never a reset. */

static int stopping(const rv_worker *worker) {
    return atomic_load_explicit(&worker->stopping, memory_order_relaxed);
}

static double idle_grace(const rv_worker *worker) {
    const rv_worker_config *config = worker->config;
    return config->shutdown_idle_grace < config->shutdown_timeout ? config->shutdown_idle_grace
                                                                 : config->shutdown_timeout;
}

/* A connection waiting for a request closes when the grace has passed, or sooner if its
 * own deadline (keep-alive, first data) comes first. */
static void start_idle_grace(rv_conn *conn) {
    ev_tstamp end = ev_now(conn->worker->loop) + idle_grace(conn->worker);
    if (conn->deadline_kind == DEADLINE_NONE || end < conn->deadline) set_deadline(conn, end, DEADLINE_IDLE);
}

int conn_closes_when_stopping(const rv_conn *conn) {
    /* Called by the thread that owns the dispatched connection: the loop reads nothing into
     * its buffer meanwhile, so `length` and `read_while_stopping` hold still. */
    return conn->read_while_stopping || conn->parsed == conn->length;
}

/* Waiting for a request: no byte of one yet (new, still in its TLS handshake, kept alive,
 * or sent only the empty lines a request may be preceded by). */
static int waits_for_request(const rv_conn *conn) {
    return (conn->state == CONN_IDLE && conn->length == 0) || conn->state == CONN_HANDSHAKE ||
           conn->state == CONN_SNIFF ||
           (conn->state == CONN_READING && !rv_parser_started(conn->parser));
}

void conn_stop_all(rv_worker *worker) {
    for (rv_conn *conn = worker->live, *next; conn; conn = next) {
        next = conn->live_next; /* an h2 connection with nothing open closes at once */
        if (conn->h2) h2_stop(conn);
        else if (waits_for_request(conn)) start_idle_grace(conn);
    }
}

/* The grace passed with no byte of a request. A request that arrived meanwhile (its read
 * event not yet handled in this loop iteration) is served; otherwise the connection ends
 * cleanly. */
static void close_idle_when_stopping(rv_conn *conn) {
    uint8_t peek;
    ssize_t waiting =
        transport_has_buffered_input(conn) ? 1 : recv(conn->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT);
    if (waiting > 0) {
        conn_read_cb(conn->worker->loop, &conn->io, EV_READ);
        return;
    }
    if (waiting == 0 || (errno != EAGAIN && errno != EINTR)) {
        conn_close(conn); /* the client closed first, or the connection failed */
        return;
    }
    linger(conn, idle_grace(conn->worker));
}

/* ---- the request cycle ---- */

/* Answers with one of the engine's own errors (400, 408, 431, 503, ...), then closes.
 * `text`: the body, when the reason phrase does not say enough. */
static void conn_fail(rv_conn *conn, unsigned status, const char *text) {
    /* respond.c reads the request (HEAD has no body): a connection that had none yet (an
     * idle one's 408, plain HTTP on a TLS port) answers from an empty one */
    if (acquire_parser(conn) != 0) {
        conn_close(conn);
        return;
    }
    respond_error(conn, status, text);
    finish_response(conn);
}

/* A connection closing after its answer closes at once when the client asked to close and
 * sent nothing more: nothing unread can turn the close into a reset, so no lingering (it
 * cost a shutdown, a recv and a wake-up per connection). The engine's errors and the
 * server's own closes linger. */
static int closes_without_lingering(const rv_conn *conn) {
    return !conn->request->keep_alive && !conn->engine_error && conn->parsed == conn->length;
}

/* A new connection's first request, read by conn_accepted's own read, that closes the
 * connection: the read watcher, started in this loop iteration, stops before libev ever
 * registered the socket with epoll (it does so only before the loop waits), so the socket
 * is in no epoll set and the app thread may close it (conn_close_by_owner): no wake-up of
 * the loop, no eventfd write and read, no epoll_ctl. A socket the loop has polled is
 * closed by the loop only: libev may still act on an event epoll returned for it, and an
 * epoll_ctl on a descriptor closed meanwhile makes libev rebuild its whole epoll set. */
static void stop_watching_closing_request(rv_conn *conn) {
    if (conn->worker->first_read != conn || conn->request->keep_alive) return;
    ev_io_stop(conn->worker->loop, &conn->io); /* no syscall: libev defers, then skips, the DEL */
    conn->never_polled = 1;
}

int conn_close_by_owner(rv_conn *conn) {
    if (!conn->never_polled || conn->handback != HANDBACK_DONE || !conn->close_after ||
        !closes_without_lingering(conn) || transport_has_buffered_input(conn))
        return 0;
    transport_close(conn);
    conn->handback = HANDBACK_CLOSED; /* the loop recycles the rest when it collects it */
    return 1;
}

/* The application has the request from now on. */
static inline void hand_to_application(rv_conn *conn) {
    conn->state = CONN_DISPATCHED;
    conn->deadline_kind = DEADLINE_NONE;
    conn->deadline = 0;
    /* The read watcher stays on: stopping and restarting it costs an epoll_ctl per
     * request. If input arrives meanwhile (a pipelined request), conn_read_cb stops it. */
    conn->handback = HANDBACK_DONE;
    conn->responded = conn->finished = 0;
}

/* Returns 1 when the request was answered inline and bytes of the next one wait. */
static int dispatch(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    hand_to_application(conn);
    if (worker->config->threads == 0) {
        worker->config->handler(conn, worker->config->handler_context);
        respond_ensure_finished(conn);
        return finish_response(conn);
    }
    stop_watching_closing_request(conn);
    if (pool_dispatch(worker, conn) != 0) {
        /* Load shedding: a quick, honest 503 beats a request that waits for minutes. */
        STAT_ADD(worker, RV_STAT_SHED_503, 1);
        conn_fail(conn, 503, NULL);
    }
    return 0;
}

/* Streamed bodies (tasks mode): the request's task starts at the end of its head, and the
 * loop goes on reading the body for it (body_stream.c). `continue_due`: 100 Continue is
 * owed and no body byte came yet; it is sent when the task first waits for the body.
 * Returns 0: the caller must not touch the connection any more. */
static int dispatch_streamed(rv_conn *conn, int continue_due) {
    rv_worker *worker = conn->worker;
    if (body_stream_begin(conn, continue_due) != 0) {
        conn_fail(conn, 500, NULL);
        return 0;
    }
    if (pool_dispatch(worker, conn) != 0) {
        STAT_ADD(worker, RV_STAT_SHED_503, 1);
        conn_fail(conn, 503, NULL);
        return 0;
    }
    hand_to_application(conn);
    if (!continue_due) conn_set_body_deadline(conn, 1);
    body_stream_pump(conn);
    return 0;
}

/* The next request on a kept-alive connection. Returns 1 when bytes of it were already
 * read (pipelining), for the caller to parse; otherwise parks, holding no buffer (or reads
 * at once what the transport already holds). */
static int next_request(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    conn->requests_served++;
    release_parser(conn); /* a pipelined request takes one again, most likely the same */
    respond_reset(conn);
    uint32_t leftover = conn->length - conn->parsed;
    if (leftover > 0) memmove(conn->buffer, conn->buffer + conn->parsed, leftover);
    conn->length = leftover;
    conn->parsed = 0;
    conn->state = CONN_IDLE;
    transport_set_nodelay(conn); /* its next response may follow before this one is acked */
    watch_input(conn);
    if (leftover > 0) return 1;
    set_timeout(conn, worker->config->keepalive_timeout, DEADLINE_IDLE);
    if (transport_has_buffered_input(conn)) {
        /* The transport holds bytes of the next request that the socket will not
         * announce: read them after the next poll, as past the read bound (a read fed
         * now would start a new count of reads, and a client whose requests end where
         * the buffer does could keep the loop on it). */
        resume_later(conn);
        return 0;
    }
    release_buffer(conn);
    set_parked(conn, 1);
    return 0;
}

/* Acts on what the handler's thread left. Returns 1 when the connection goes on with
 * buffered bytes of its next request; 0 when the caller must not touch it any more
 * (closed, lingering, waiting to write, or parked). */
static int finish_response(rv_conn *conn) {
    switch (conn->handback) {
    case HANDBACK_CLOSE:
        conn_close(conn);
        return 0;
    case HANDBACK_CLOSED:
        STAT_ADD(conn->worker, RV_STAT_REQUESTS, 1);
        conn_close(conn);
        return 0;
    case HANDBACK_WRITE_PENDING:
        conn->state = CONN_WRITING;
        set_timeout(conn, conn->worker->config->write_timeout, DEADLINE_WRITE);
        watch(conn, conn_write_cb, EV_WRITE);
        return 0;
    case HANDBACK_DONE:
        break;
    }
    STAT_ADD(conn->worker, RV_STAT_REQUESTS, 1);
    if (!conn->close_after && stopping(conn->worker)) {
        /* Answered with keep-alive while stopping (it began during the response, or more
         * requests read before it wait): the next request is read and answered, and the
         * connection waits for it no longer than the idle grace. */
        if (next_request(conn)) return 1;
        start_idle_grace(conn);
        return 0;
    }
    if (conn->close_after) {
        if (closes_without_lingering(conn))
            conn_close(conn);
        else
            linger(conn, LINGER_AFTER_ANSWER);
        return 0;
    }
    return next_request(conn);
}

/* A connection waiting for the rest of a pipelined request may have it in the transport
 * already (TLS decrypted a record longer than the buffer took): the socket will not
 * announce it, so it is read after the next poll. */
void conn_after_handler(rv_conn *conn) {
    if (finish_response(conn) && process_input(conn) && transport_has_buffered_input(conn)) resume_later(conn);
}

/* Feeds what was read to the parser and acts on the result; loops for pipelined
 * requests answered inline. Returns 1 while the connection waits for more input, 0 when
 * the caller must not touch it any more. */
static int process_input(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    while (conn->state == CONN_IDLE || conn->state == CONN_READING) {
        if (conn->parsed == conn->length) return 1;
        if (conn->state == CONN_IDLE) {
            if (acquire_parser(conn) != 0) {
                conn_close(conn);
                return 0;
            }
            conn->state = CONN_READING;
            set_parked(conn, 0);
            conn->request_started = ev_now(worker->loop);
        }
        uint32_t consumed = conn->parsed;
        rv_parse_result result =
            rv_parser_feed(conn->parser, conn->buffer, conn->parsed, conn->length, &consumed);
        conn->parsed = consumed;
        switch (result) {
        case RV_PARSE_MORE:
            if (rv_parser_head_done(conn->parser) && worker->config->stream_bodies) return dispatch_streamed(conn, 0);
            if (rv_parser_head_done(conn->parser) && rv_parser_body_bytes_discardable(conn->parser)) {
                /* the body was copied out as it was parsed: reuse that room */
                uint32_t head = conn->request->head_length;
                conn->length = conn->parsed = head;
            }
            if (stopping(worker) && waits_for_request(conn)) start_idle_grace(conn);
            else set_reading_deadline(conn);
            return 1;
        case RV_PARSE_HEAD_CONTINUE:
            if (worker->config->stream_bodies) return dispatch_streamed(conn, conn->length == conn->parsed);
            /* A client that already sent body bytes does not wait for 100 Continue. */
            if (conn->length == conn->parsed && respond_continue(conn) != 0) {
                conn_close(conn);
                return 0;
            }
            /* The body is due now: its timeout counts from the 100 (no other deadline
             * would answer a client that never sends it, or one only the keep-alive
             * timeout would close without a word). */
            set_reading_deadline(conn);
            continue;
        case RV_PARSE_COMPLETE:
            if (!dispatch(conn)) return 0;
            continue; /* answered inline; the next request's bytes are in the buffer */
        case RV_PARSE_ERROR:
            STAT_ADD(worker, RV_STAT_PARSE_ERRORS, 1);
            conn_fail(conn, conn->request->error_status, NULL);
            return 0;
        }
    }
    return 0;
}

/* ---- the TLS handshake ---- */

/* "203.0.113.7:51234", for log lines. */
static void describe_peer(const rv_conn *conn, char *out, size_t capacity) {
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    sa_family_t family = conn->peer.address.sa_family;
    if (family == AF_INET) {
        inet_ntop(AF_INET, &conn->peer.v4.sin_addr, host, sizeof host);
        port = ntohs(conn->peer.v4.sin_port);
    } else if (family == AF_INET6) {
        inet_ntop(AF_INET6, &conn->peer.v6.sin6_addr, host, sizeof host);
        port = ntohs(conn->peer.v6.sin6_port);
    }
    snprintf(out, capacity, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

/* A failed handshake is counted and logged at debug level only: an error line per
 * connection would let any client flood the log. */
static void handshake_failed(rv_conn *conn, const char *reason) {
    STAT_ADD(conn->worker, RV_STAT_TLS_HANDSHAKE_ERRORS, 1);
    const rv_worker_config *config = conn->worker->config;
    if (config->log_debug) {
        char peer[INET6_ADDRSTRLEN + 10], line[320];
        describe_peer(conn, peer, sizeof peer);
        snprintf(line, sizeof line, "TLS handshake failed: %s (client %s)", reason, peer);
        config->log_debug(line, config->handler_context);
    }
}

/* Returns 1 once the handshake is done (the connection then reads its first request). */
static int handshake(rv_conn *conn) {
    if (acquire_buffer(conn) != 0) {
        conn_close(conn);
        return 0;
    }
    if (conn->proxy_mode != RV_PROXY_OFF) {
        int taken = read_proxy_header_before_tls(conn);
        if (taken <= 0) {
            if (taken == 0) {
                if (conn->length == 0) release_buffer(conn);
                watch_input(conn);
            }
            return 0;
        }
    }
    switch (tls_handshake(conn)) {
    case TLS_HANDSHAKE_DONE:
        if (tls_selected_h2(conn)) { /* ALPN chose HTTP/2 */
            h2_start(conn);
            return 0;
        }
        conn->state = CONN_IDLE;
        watch_input(conn);
        return 1;
    case TLS_HANDSHAKE_AGAIN:
        if (conn->length == 0) release_buffer(conn); /* a client that is slow to say hello */
        watch_input(conn);
        return 0;
    case TLS_HANDSHAKE_CLOSED:
        conn_close(conn);
        return 0;
    case TLS_HANDSHAKE_PLAIN_HTTP:
        /* What nginx does: say so in plain HTTP, then close. */
        handshake_failed(conn, "a plain HTTP request on a TLS port");
        conn->state = CONN_READING;
        conn_fail(conn, 400, "This port speaks HTTPS: the request was sent as plain HTTP.");
        return 0;
    case TLS_HANDSHAKE_FAILED:
        handshake_failed(conn, tls_failure_reason());
        conn_close(conn);
        return 0;
    }
    return 0;
}

/* ---- bounded reads ----
 * A client that sends faster than the worker parses (a large upload over loopback) would
 * keep conn_read_cb reading for as long as it sends: the other connections wait, and the
 * loop's clock, read once per poll, goes stale (a deadline then passes early). So one
 * wake-up reads at most READS_PER_WAKE full buffers, then the loop polls again. Input left
 * in the socket is announced again by the poll (level-triggered); input TLS has already
 * taken from the socket is not, so such a connection goes on worker->resume_reads. */

static void resume_check_cb(struct ev_loop *loop, ev_check *check, int revents);

/* Only there so the poll does not block while a resume waits. */
static void resume_idle_cb(struct ev_loop *loop, ev_idle *idle, int revents) {
    (void)loop;
    (void)idle;
    (void)revents;
}

void conn_reading_init(rv_worker *worker) {
    ev_check_init(&worker->resume_check, resume_check_cb);
    worker->resume_check.data = worker;
    ev_idle_init(&worker->resume_idle, resume_idle_cb);
}

static void resume_later(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    if (conn->read_resumes) return;
    conn->read_resumes = 1;
    conn->resume_next = worker->resume_reads;
    worker->resume_reads = conn;
    ev_check_start(worker->loop, &worker->resume_check);
    ev_idle_start(worker->loop, &worker->resume_idle);
}

void conn_resume_later(rv_conn *conn) { resume_later(conn); }

/* A closing connection leaves whichever list holds it: the one waiting for the next poll,
 * or the one resume_check_cb is going through. */
static void forget_resume(rv_conn *conn) {
    if (!conn->read_resumes) return;
    rv_worker *worker = conn->worker;
    rv_conn **link = &worker->resume_reads;
    while (*link && *link != conn) link = &(*link)->resume_next;
    if (!*link) {
        link = &worker->resuming;
        while (*link != conn) link = &(*link)->resume_next;
    }
    *link = conn->resume_next;
    conn->read_resumes = 0;
}

/* After the poll that followed the bound: each waiting connection reads again. One that
 * reaches the bound again goes on a fresh list, for the poll after this one. */
static void resume_check_cb(struct ev_loop *loop, ev_check *check, int revents) {
    (void)revents;
    rv_worker *worker = check->data;
    worker->resuming = worker->resume_reads;
    worker->resume_reads = NULL;
    ev_check_stop(loop, &worker->resume_check);
    ev_idle_stop(loop, &worker->resume_idle);
    while (worker->resuming) {
        rv_conn *conn = worker->resuming;
        worker->resuming = conn->resume_next;
        conn->read_resumes = 0;
        conn_read_cb(loop, &conn->io, EV_READ);
    }
}

/* `got` bytes were read into the buffer. */
static inline void took_input(rv_conn *conn, ssize_t got) {
    conn->length += (uint32_t)got;
    STAT_ADD(conn->worker, RV_STAT_BYTES_READ, got);
    if (stopping(conn->worker)) conn->read_while_stopping = 1;
}

void conn_took_input(rv_conn *conn, ssize_t got) { took_input(conn, got); }

/* ---- h2c with prior knowledge: the preface or HTTP/1.1 ---- */

/* A plain connection's first read when HTTP/2 is on (after a PROXY header, if any): the
 * HTTP/2 preface makes it h2c; anything else is HTTP/1.1, parsed from the bytes read. The
 * HTTP/1.1 path pays nothing for it: only the first read of a connection comes here. */
__attribute__((noinline, cold)) static void sniff_protocol(rv_conn *conn) {
    if (acquire_buffer(conn) != 0) {
        conn_close(conn);
        return;
    }
    uint32_t room = conn->capacity - conn->length;
    ssize_t got = transport_read(conn, conn->buffer + conn->length, room);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (conn->length == 0) release_buffer(conn);
        watch_input(conn);
        return;
    }
    if (got <= 0) {
        conn_close(conn);
        return;
    }
    took_input(conn, got);
    if (conn->proxy_mode != RV_PROXY_OFF && take_proxy_header(conn) <= 0) return;
    uint32_t compared = conn->length < H2_PREFACE_LENGTH ? conn->length : H2_PREFACE_LENGTH;
    if (memcmp(conn->buffer, H2_PREFACE, compared) == 0) {
        if (compared == H2_PREFACE_LENGTH) h2_start(conn);
        else watch_input(conn); /* the start of the preface: wait for the rest */
        return;
    }
    conn->state = CONN_IDLE;
    /* What the socket still holds is announced by the next poll (reads stay bounded per
     * wake-up, this one counted). */
    process_input(conn);
}

static void conn_read_cb(struct ev_loop *loop, ev_io *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_conn *conn = watcher->data;
    if (conn->state > CONN_READING) {
        if (conn->state == CONN_LINGERING) {
            linger_read(conn);
            return;
        }
        if (conn->state == CONN_DISPATCHED) {
            if (conn->body_stream && body_stream_reads(conn)) { /* the task's body */
                body_stream_pump(conn);
                return;
            }
            if (conn->worker->config->start_task) tasks_check_client(conn);
            /* The buffer belongs to the handler now; the bytes wait in the kernel until
             * the connection is handed back (which must now wake the loop). */
            ev_io_stop(conn->worker->loop, &conn->io);
            pool_reader_stopped(conn->worker, conn);
            return;
        }
        if (conn->state == CONN_SNIFF) {
            sniff_protocol(conn);
            return;
        }
        if (conn->state == CONN_HANDSHAKE && !handshake(conn)) return;
    }
    if (acquire_buffer(conn) != 0) {
        conn_close(conn);
        return;
    }
    for (int reads = 0;; reads++) {
        if (reads == READS_PER_WAKE) {
            watch_input(conn);
            if (transport_has_buffered_input(conn)) resume_later(conn);
            return;
        }
        if (conn->length == conn->capacity && grow_buffer(conn) != 0) {
            STAT_ADD(conn->worker, RV_STAT_PARSE_ERRORS, 1);
            conn_fail(conn, 431, NULL);
            return;
        }
        uint32_t room = conn->capacity - conn->length;
        ssize_t got = transport_read(conn, conn->buffer + conn->length, room);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                if (conn->length == 0 && conn->state == CONN_IDLE) release_buffer(conn);
                watch_input(conn);
                return;
            }
            conn_close(conn);
            return;
        }
        if (got == 0) { /* the client is done: nothing can be answered any more */
            conn_close(conn);
            return;
        }
        took_input(conn, got);
        if (conn->proxy_mode != RV_PROXY_OFF && take_proxy_header(conn) <= 0) return;
        if (!process_input(conn)) return;
        /* A short read drained the socket: wait for the next readiness rather than
         * spend a syscall on EAGAIN. */
        if ((uint32_t)got < room) return;
    }
}

static void conn_write_cb(struct ev_loop *loop, ev_io *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_conn *conn = watcher->data;
    int flushed = respond_flush_pending(conn);
    if (flushed < 0) {
        conn_close(conn);
        return;
    }
    if (flushed == 0) { /* progress (or not): the write timeout counts from now */
        set_timeout(conn, conn->worker->config->write_timeout, DEADLINE_WRITE);
        return;
    }
    conn->handback = HANDBACK_DONE;
    conn_after_handler(conn);
}

static void conn_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)revents;
    rv_conn *conn = timer->data;
    if (conn->deadline_kind == DEADLINE_NONE) return;
    ev_tstamp now = ev_now(loop);
    if (now < conn->deadline) {
        ev_timer_set(timer, conn->deadline - now, 0.);
        ev_timer_start(loop, timer);
        conn->timer_at = conn->deadline;
        return;
    }
    deadline_kind kind = conn->deadline_kind;
    conn->deadline_kind = DEADLINE_NONE;
    switch (kind) {
    case DEADLINE_FIRST_DATA:
        if (conn->state == CONN_HANDSHAKE) { /* no HTTP to answer with before TLS is up */
            STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
            handshake_failed(conn, "not completed within the first-data timeout");
            conn_close(conn);
            return;
        }
        /* fall through */
    case DEADLINE_REQUEST:
    case DEADLINE_BODY:
        if (conn->state == CONN_DISPATCHED) { /* a body streamed to its task stalled */
            body_stream_timed_out(conn);
            return;
        }
        STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
        conn_fail(conn, 408, NULL);
        return;
    case DEADLINE_WRITE:
        STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
        conn_close(conn);
        return;
    case DEADLINE_IDLE:
        if (stopping(conn->worker)) close_idle_when_stopping(conn);
        else conn_close(conn);
        return;
    case DEADLINE_LINGER:
    case DEADLINE_NONE:
        conn_close(conn);
        return;
    }
}

const rv_request *rv_conn_request(const rv_conn *conn) { return conn->request; }

const uint8_t *rv_conn_buffer(const rv_conn *conn) { return conn->buffer; }

void *rv_conn_handler_context(const rv_conn *conn) { return conn->worker->config->handler_context; }

socklen_t rv_conn_peer(const rv_conn *conn, struct sockaddr_storage *out) {
    memcpy(out, &conn->peer, conn->peer_length);
    return conn->peer_length;
}
