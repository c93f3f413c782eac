/*
 * tls_conn.c: one connection's TLS transport (what transport.h calls when conn->tls is
 * set). The thread that owns the connection makes these calls, as with the plain
 * transport, so an SSL object is never used by two threads at once.
 *
 * - Handshake: on the loop thread, non-blocking, under the first-data timeout. The first
 *   bytes are read into the connection's buffer and looked at before OpenSSL sees them: a
 *   plain HTTP request gets a plain-text 400 (conn.c), garbage fails at once. OpenSSL
 *   then reads through a small BIO of ours that serves those bytes first, then the socket;
 *   it writes through a socket BIO (which kernel TLS needs).
 * - Reads: SSL_read into the connection's read buffer; the parser is unchanged. Read-ahead
 *   takes what the socket has in one recv; records already buffered are decrypted before
 *   returning, so a short read still means the socket is drained.
 * - Writes: each SSL_write is one record and one write (partial-write mode). Pieces under
 *   a record (a head and a small body) are gathered first, so they leave in one record and
 *   one syscall. When a write would block, OpenSSL keeps the encrypted record and the
 *   caller keeps the plaintext from there on (conn->pending): the retry hands OpenSSL the
 *   same bytes, from wherever they now are (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 * - Files: SSL_sendfile when kernel TLS is on; otherwise read into a buffer reused by the
 *   thread and written in full records, the response head in the first one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "tls.h"

/* The largest TLS record's plaintext. */
#define RECORD_SIZE 16384
/* The buffer each writing thread reuses: gathered pieces, or file bytes read for up to
 * four full records at a time. */
#define WRITE_BUFFER_SIZE (4 * RECORD_SIZE)

static _Thread_local uint8_t *write_buffer;

static uint8_t *thread_write_buffer(void) {
    if (!write_buffer) write_buffer = malloc(WRITE_BUFFER_SIZE);
    return write_buffer;
}

/* ---- the read BIO: the bytes read before the handshake, then the socket ---- */

static int read_bio_read(BIO *bio, char *into, size_t room, size_t *got) {
    rv_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (conn->parsed < conn->length) { /* what tls_handshake read to look at */
        size_t take = conn->length - conn->parsed;
        if (take > room) take = room;
        memcpy(into, conn->buffer + conn->parsed, take);
        conn->parsed += (uint32_t)take;
        *got = take;
        return 1;
    }
    for (;;) {
        ssize_t count = recv(conn->fd, into, room, 0);
        if (count > 0) {
            *got = (size_t)count;
            return 1;
        }
        if (count < 0 && errno == EINTR) continue;
        if (count < 0 && errno == EAGAIN) BIO_set_retry_read(bio);
        return 0; /* 0: the end of the stream (or an error, errno says which) */
    }
}

static long read_bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio;
    (void)number;
    (void)pointer;
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

static int read_bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static BIO_METHOD *read_method;
static pthread_once_t read_method_once = PTHREAD_ONCE_INIT;

static void make_read_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "raptor-ev read");
    if (!method) return;
    BIO_meth_set_read_ex(method, read_bio_read);
    BIO_meth_set_ctrl(method, read_bio_ctrl);
    BIO_meth_set_create(method, read_bio_create);
    read_method = method;
}

/* ---- life ---- */

int tls_start(rv_conn *conn, const rv_tls_context *context) {
    pthread_once(&read_method_once, make_read_method);
    if (!read_method) return -1;
    SSL *ssl = SSL_new(tls_context_default(context));
    BIO *reader = BIO_new(read_method);
    BIO *writer = BIO_new_socket(conn->fd, BIO_NOCLOSE);
    if (!ssl || !reader || !writer) {
        SSL_free(ssl);
        BIO_free(reader);
        BIO_free(writer);
        ERR_clear_error();
        return -1;
    }
    BIO_set_data(reader, conn);
    SSL_set_bio(ssl, reader, writer);
    SSL_set_accept_state(ssl);
    conn->tls = ssl;
    conn->tls_wants = 0;
    conn->tls_quiet = 0;
    return 0;
}

void tls_end(rv_conn *conn) {
    SSL_free(conn->tls);
    conn->tls = NULL;
    free(conn->tls_held);
    conn->tls_held = NULL;
    conn->tls_held_length = 0;
}

void tls_close_notify(rv_conn *conn) {
    SSL *ssl = conn->tls;
    if (conn->tls_quiet || !SSL_is_init_finished(ssl) || (SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) return;
    SSL_shutdown(ssl); /* sends close_notify; never waits for the peer's */
    ERR_clear_error();
}

/* After a failed call: EAGAIN with the readiness it waits for (tls_wants is set only when
 * that is not the call's own direction), or the error. */
static ssize_t failed(rv_conn *conn, int result, int direction) {
    int error = SSL_get_error(conn->tls, result);
    int code = errno;
    ERR_clear_error();
    switch (error) {
    case SSL_ERROR_WANT_READ:
        conn->tls_wants = direction == EV_READ ? 0 : EV_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        conn->tls_wants = direction == EV_WRITE ? 0 : EV_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN: /* the peer's close_notify (or a clean EOF) */
        conn->tls_quiet = 1;
        if (direction == EV_READ) return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        conn->tls_quiet = 1;
        errno = code ? code : EPIPE;
        return -1;
    default:
        conn->tls_quiet = 1;
        errno = EPROTO;
        return -1;
    }
}

/* ---- the handshake ---- */

static _Thread_local char failure_reason[200];

const char *tls_failure_reason(void) { return failure_reason; }

static tls_handshake_result handshake_failed(const char *reason) {
    unsigned long code = ERR_peek_error();
    if (reason) {
        snprintf(failure_reason, sizeof failure_reason, "%s", reason);
    } else if (code) {
        const char *text = ERR_reason_error_string(code);
        snprintf(failure_reason, sizeof failure_reason, "%s", text ? text : "OpenSSL error");
    } else {
        snprintf(failure_reason, sizeof failure_reason, "%s", errno ? strerror(errno) : "closed by the client");
    }
    ERR_clear_error();
    return TLS_HANDSHAKE_FAILED;
}

tls_handshake_result tls_handshake(rv_conn *conn) {
    if (conn->length == 0 && !conn->tls_sniffed) {
        ssize_t count;
        do count = recv(conn->fd, conn->buffer, conn->capacity, 0);
        while (count < 0 && errno == EINTR);
        if (count < 0 && errno == EAGAIN) {
            conn->tls_wants = 0;
            return TLS_HANDSHAKE_AGAIN;
        }
        if (count == 0) return TLS_HANDSHAKE_CLOSED;
        if (count < 0) return handshake_failed(strerror(errno));
        conn->length = (uint32_t)count;
        conn->parsed = 0;
        conn->tls_sniffed = 1;
        /* A TLS record of type handshake (22) starts a ClientHello. A request line starts
         * with a method, a token in capitals: the client spoke plain HTTP to this port. */
        uint8_t first = conn->buffer[0];
        if (first >= 'A' && first <= 'Z') {
            tls_end(conn);
            return TLS_HANDSHAKE_PLAIN_HTTP;
        }
        if (first != 22) {
            snprintf(failure_reason, sizeof failure_reason, "not a TLS ClientHello (first byte 0x%02x)", first);
            return TLS_HANDSHAKE_FAILED;
        }
    }
    int result = SSL_do_handshake(conn->tls);
    if (result == 1) {
        conn->tls_wants = 0;
        /* Everything read before the handshake belonged to it: the client cannot send its
         * request before the server's Finished. */
        if (conn->parsed != conn->length) return handshake_failed("data before the handshake ended");
        conn->length = conn->parsed = 0;
        /* The protocol for this connection: ALPN offers only http/1.1 for now; HTTP/2 will
         * read SSL_get0_alpn_selected here. */
        return TLS_HANDSHAKE_DONE;
    }
    errno = 0;
    int error = SSL_get_error(conn->tls, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        conn->tls_wants = error == SSL_ERROR_WANT_WRITE ? EV_WRITE : 0;
        return TLS_HANDSHAKE_AGAIN;
    }
    conn->tls_quiet = 1;
    return handshake_failed(NULL);
}

/* ---- reading ---- */

ssize_t tls_read(rv_conn *conn, uint8_t *into, size_t room) {
    SSL *ssl = conn->tls;
    conn->tls_wants = 0;
    size_t total = 0;
    for (;;) {
        size_t got;
        int result = SSL_read_ex(ssl, into + total, room - total, &got);
        if (result == 1) {
            total += got;
            /* More records may sit in OpenSSL's buffer: the socket would not announce them. */
            if (total == room || !SSL_has_pending(ssl)) return (ssize_t)total;
            continue;
        }
        if (total > 0) {
            ERR_clear_error();
            return (ssize_t)total; /* the next call sees the same condition again */
        }
        return failed(conn, result, EV_READ);
    }
}

int tls_has_buffered_input(const rv_conn *conn) { return SSL_has_pending(conn->tls); }

void tls_release_buffers(rv_conn *conn) { SSL_free_buffers(conn->tls); }

/* ---- writing ---- */

static int write_record(rv_conn *conn, const uint8_t *data, size_t length, size_t *written) {
    int result = SSL_write_ex(conn->tls, data, length, written);
    if (result == 1) return 1;
    failed(conn, result, EV_WRITE);
    return 0;
}

/* `more`: a file follows (rv_respond_file's head): the bytes are held and leave in the
 * file's first record. */
static ssize_t hold(rv_conn *conn, const struct iovec *iov, int count) {
    size_t adding = 0;
    for (int i = 0; i < count; i++) adding += iov[i].iov_len;
    uint8_t *held = realloc(conn->tls_held, conn->tls_held_length + adding + 1);
    if (!held) {
        errno = ENOMEM;
        return -1;
    }
    size_t at = conn->tls_held_length;
    for (int i = 0; i < count; i++) {
        memcpy(held + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    conn->tls_held = held;
    conn->tls_held_length = (uint32_t)at;
    return (ssize_t)adding;
}

ssize_t tls_writev(rv_conn *conn, const struct iovec *iov, int count, int more) {
    if (more) return hold(conn, iov, count);
    conn->tls_wants = 0;
    size_t total = 0, offset = 0;
    int index = 0;
    while (index < count) {
        if (offset == iov[index].iov_len) {
            index++;
            offset = 0;
            continue;
        }
        const uint8_t *data = (const uint8_t *)iov[index].iov_base + offset;
        size_t length = iov[index].iov_len - offset;
        if (length < RECORD_SIZE && index < count - 1) {
            /* Several pieces under a record: gathered, to leave in one record. */
            uint8_t *gathered = thread_write_buffer();
            if (!gathered) {
                errno = ENOMEM;
                return total > 0 ? (ssize_t)total : -1;
            }
            size_t filled = 0, piece_offset = offset;
            for (int piece = index; piece < count && filled < RECORD_SIZE; piece++, piece_offset = 0) {
                size_t take = iov[piece].iov_len - piece_offset;
                if (take > RECORD_SIZE - filled) take = RECORD_SIZE - filled;
                memcpy(gathered + filled, (const uint8_t *)iov[piece].iov_base + piece_offset, take);
                filled += take;
            }
            data = gathered;
            length = filled;
        }
        size_t written;
        if (!write_record(conn, data, length, &written)) return total > 0 ? (ssize_t)total : -1;
        total += written;
        while (written > 0) { /* advance past what the record took */
            size_t step = iov[index].iov_len - offset;
            if (step > written) step = written;
            offset += step;
            written -= step;
            if (offset == iov[index].iov_len && index < count - 1) {
                index++;
                offset = 0;
            }
        }
    }
    return (ssize_t)total;
}

/* ---- files ---- */

ssize_t tls_send_file(rv_conn *conn, int file, off_t *offset, size_t count) {
    conn->tls_wants = 0;
#ifndef OPENSSL_NO_KTLS
    if (BIO_get_ktls_send(SSL_get_wbio(conn->tls))) {
        if (conn->tls_held_length > 0) { /* the head first: kernel TLS cannot merge it */
            struct iovec head = {conn->tls_held, conn->tls_held_length};
            ssize_t sent = tls_writev(conn, &head, 1, 0);
            if (sent < 0) return -1;
            memmove(conn->tls_held, conn->tls_held + sent, conn->tls_held_length - (size_t)sent);
            conn->tls_held_length -= (uint32_t)sent;
            if (conn->tls_held_length > 0) {
                errno = EAGAIN;
                return -1;
            }
        }
        ossl_ssize_t sent = SSL_sendfile(conn->tls, file, *offset, count, 0);
        if (sent < 0) return failed(conn, (int)sent, EV_WRITE);
        *offset += sent;
        return sent;
    }
#endif
    uint8_t *buffer = thread_write_buffer();
    if (!buffer) {
        errno = ENOMEM;
        return -1;
    }
    size_t held = conn->tls_held_length;
    if (held >= WRITE_BUFFER_SIZE) held = WRITE_BUFFER_SIZE - RECORD_SIZE; /* a huge head: in parts */
    memcpy(buffer, conn->tls_held, held);
    size_t want = WRITE_BUFFER_SIZE - held;
    if (want > count) want = count;
    ssize_t got;
    do got = pread(file, buffer + held, want, *offset);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return got;
    size_t total = held + (size_t)got, done = 0;
    int blocked = 0;
    while (done < total) {
        size_t written;
        if (!write_record(conn, buffer + done, total - done, &written)) {
            blocked = errno == EAGAIN;
            if (!blocked) return -1;
            break;
        }
        done += written;
    }
    /* The held head leaves first; what is left of it waits for the next call. */
    size_t head_done = done < held ? done : held;
    memmove(conn->tls_held, conn->tls_held + head_done, conn->tls_held_length - head_done);
    conn->tls_held_length -= (uint32_t)head_done;
    if (conn->tls_held_length == 0) {
        free(conn->tls_held);
        conn->tls_held = NULL;
    }
    size_t file_done = done - head_done;
    *offset += (off_t)file_done;
    if (file_done > 0) return (ssize_t)file_done;
    errno = blocked ? EAGAIN : EIO;
    return -1;
}

/* ---- what the handler may ask ---- */

int rv_conn_tls_info(const rv_conn *conn, rv_tls_info *out) {
    const SSL *ssl = conn->tls;
    if (!ssl) return 0;
    out->version = SSL_get_version(ssl);
    out->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    out->server_name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const unsigned char *alpn;
    unsigned int alpn_length;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    out->alpn = alpn_length == 8 && memcmp(alpn, "http/1.1", 8) == 0 ? "http/1.1" : NULL;
    return 1;
}

size_t rv_conn_tls_client_subject(const rv_conn *conn, char *out, size_t capacity) {
    const SSL *ssl = conn->tls;
    if (capacity > 0) out[0] = 0;
    if (!ssl || capacity == 0) return 0;
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (!peer || SSL_get_verify_result(ssl) != X509_V_OK) return 0;
    BIO *text = BIO_new(BIO_s_mem());
    if (!text) return 0;
    size_t length = 0;
    if (X509_NAME_print_ex(text, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        char *bytes;
        long available = BIO_get_mem_data(text, &bytes);
        length = available > 0 ? (size_t)available : 0;
        if (length >= capacity) length = capacity - 1;
        memcpy(out, bytes, length);
        out[length] = 0;
    }
    BIO_free(text);
    ERR_clear_error();
    return length;
}
