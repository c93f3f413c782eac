/*
 * tls_conn.c: one connection's TLS transport (what transport.h calls when conn->tls is
 * set). The thread that owns the connection makes these calls, as with the plain
 * transport, so an SSL object is never used by two threads at once.
 *
 * - Handshake: on the loop thread, non-blocking, under the first-data timeout. The first
 *   bytes are read into the connection's buffer and looked at before OpenSSL sees them: a
 *   plain HTTP request gets a plain-text 400 (conn.c), garbage fails at once. OpenSSL
 *   then reads through a BIO of ours that serves those bytes first, then the socket.
 * - Reads: SSL_read into the connection's read buffer; the parser is unchanged. Read-ahead
 *   takes what the socket has in one recv; records already buffered are decrypted before
 *   returning, so a short read still means the socket is drained.
 * - Writes: OpenSSL writes its records into a buffer of ours (the same BIO), and each call
 *   ends with one sendmsg of everything it produced: a head and a small body in one record
 *   and one syscall; a large body or a file in 64 KiB writes of four records each; a TLS
 *   1.3 session ticket held back to leave with the response when the request came with
 *   the client's Finished. What the socket does not take waits in conn->tls_out
 *   (freed once sent) and goes first next time: conn.c sees it as output still pending.
 * - Kernel TLS, when the kernel and OpenSSL have it: OpenSSL writes through a socket BIO
 *   (kernel TLS needs one) and files leave with SSL_sendfile; a write that would block
 *   keeps its encrypted record in OpenSSL, and the retry hands it the same bytes, from
 *   wherever they now are (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "tls.h"

/* The largest TLS record's plaintext. */
#define RECORD_SIZE 16384
/* A write leaves once this much is produced: four full records. */
#define FLUSH_AT (4 * RECORD_SIZE)

/* ---- buffers each writing thread reuses ---- */

typedef struct byte_buffer {
    uint8_t *data;
    size_t length, capacity;
} byte_buffer;

/* Page-aligned: the kernel copies a file's pages into `plaintext` (pread) with `rep movsb`,
 * which is several times slower when the destination is not aligned as the source is.
 * malloc's 16-byte offset made that copy a third of the worker's CPU for a 1 MiB file over
 * TLS (perf), and its CPU per file 1.4x h2o's; aligned, 0.9x (docs/BENCHMARKS.md). */
#define BUFFER_ALIGNMENT 4096

static int reserve(byte_buffer *buffer, size_t more) {
    if (buffer->length + more <= buffer->capacity) return 1;
    size_t wanted = buffer->capacity ? buffer->capacity : 2 * FLUSH_AT;
    while (wanted < buffer->length + more) wanted *= 2;
    void *grown;
    if (posix_memalign(&grown, BUFFER_ALIGNMENT, wanted) != 0) return 0;
    if (buffer->length) memcpy(grown, buffer->data, buffer->length);
    free(buffer->data);
    buffer->data = grown;
    buffer->capacity = wanted;
    return 1;
}

/* What OpenSSL wrote during the current call; empty between calls (sent, or moved to the
 * connection's tls_out). */
static _Thread_local byte_buffer produced;
/* Plaintext: pieces under a record gathered into one, or file bytes read to be sent. */
static _Thread_local byte_buffer plaintext;

/* ---- the BIO: reads from the bytes read before the handshake, then the socket; writes
 * into `produced` ---- */

static int bio_read(BIO *bio, char *into, size_t room, size_t *got) {
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

static int bio_write(BIO *bio, const char *data, size_t length, size_t *written) {
    (void)bio;
    if (!reserve(&produced, length)) return 0;
    memcpy(produced.data + produced.length, data, length);
    produced.length += length;
    *written = length;
    return 1;
}

static long bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio;
    (void)number;
    (void)pointer;
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *bio) {
    BIO_set_init(bio, 1);
    return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_method_once = PTHREAD_ONCE_INIT;

static void make_bio_method(void) {
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "raptor-ev");
    if (!method) return;
    BIO_meth_set_read_ex(method, bio_read);
    BIO_meth_set_write_ex(method, bio_write);
    BIO_meth_set_ctrl(method, bio_ctrl);
    BIO_meth_set_create(method, bio_create);
    bio_method = method;
}

/* ---- output ---- */

/* Appends what this call produced to the connection's held output. */
static int hold(rv_conn *conn) {
    if (produced.length == 0) return 1;
    uint8_t *grown = realloc(conn->tls_out, conn->tls_out_length + produced.length);
    if (!grown) return 0;
    memcpy(grown + conn->tls_out_length, produced.data, produced.length);
    conn->tls_out = grown;
    conn->tls_out_length += (uint32_t)produced.length;
    produced.length = 0;
    return 1;
}

/* Sends the held output, then what this call produced, in one sendmsg. Returns 1 when
 * all of it left, 0 when the socket is full (the rest is held), -1 when the connection
 * failed (errno). */
static int flush(rv_conn *conn) {
    size_t held = conn->tls_out_length, fresh = produced.length, sent_total = 0;
    while (sent_total < held + fresh) {
        struct iovec iov[2];
        int count = 0;
        if (sent_total < held) iov[count++] = (struct iovec){conn->tls_out + sent_total, held - sent_total};
        size_t fresh_sent = sent_total > held ? sent_total - held : 0;
        if (fresh > fresh_sent) iov[count++] = (struct iovec){produced.data + fresh_sent, fresh - fresh_sent};
        struct msghdr message = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t sent = sendmsg(conn->fd, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            produced.length = 0;
            conn->tls_quiet = 1;
            return -1;
        }
        sent_total += (size_t)sent;
    }
    if (sent_total >= held) { /* the held output is gone; keep what is left of the fresh */
        size_t fresh_left = held + fresh - sent_total;
        free(conn->tls_out);
        conn->tls_out = NULL;
        conn->tls_out_length = 0;
        if (fresh_left > 0 && fresh_left < fresh) /* never on a buffer not made yet (NULL) */
            memmove(produced.data, produced.data + (fresh - fresh_left), fresh_left);
        produced.length = fresh_left;
    } else {
        memmove(conn->tls_out, conn->tls_out + sent_total, held - sent_total);
        conn->tls_out_length = (uint32_t)(held - sent_total);
    }
    if (produced.length > 0 && !hold(conn)) {
        produced.length = 0;
        errno = ENOMEM;
        return -1;
    }
    return conn->tls_out_length == 0;
}

int tls_flush(rv_conn *conn) { return flush(conn); }

void tls_thread_exit(void) {
    free(produced.data);
    produced = (byte_buffer){0};
    free(plaintext.data);
    plaintext = (byte_buffer){0};
}

/* ---- life ---- */

int tls_start(rv_conn *conn, const rv_tls_context *context) {
    pthread_once(&bio_method_once, make_bio_method);
    if (!bio_method) return -1;
    SSL *ssl = SSL_new(tls_context_default(context));
    BIO *ours = BIO_new(bio_method);
    /* Kernel TLS takes over a socket BIO's writes: then OpenSSL writes to the socket. */
    BIO *writer = context->socket_writes ? BIO_new_socket(conn->fd, BIO_NOCLOSE) : NULL;
    if (!ssl || !ours || (context->socket_writes && !writer)) {
        SSL_free(ssl);
        BIO_free(ours);
        BIO_free(writer);
        ERR_clear_error();
        return -1;
    }
    BIO_set_data(ours, conn);
    SSL_set_app_data(ssl, conn); /* the ALPN callback reads the worker's settings through it */
    if (writer) {
        SSL_set_bio(ssl, ours, writer);
    } else {
        SSL_set_bio(ssl, ours, ours); /* the same BIO both ways: it takes our one reference */
    }
    SSL_set_accept_state(ssl);
    conn->tls = ssl;
    conn->tls_wants = 0;
    conn->tls_quiet = 0;
    return 0;
}

void tls_end(rv_conn *conn) {
    SSL_free(conn->tls);
    conn->tls = NULL;
    free(conn->tls_out);
    conn->tls_out = NULL;
    conn->tls_out_length = 0;
}

void tls_close_notify(rv_conn *conn) {
    SSL *ssl = conn->tls;
    if (!conn->tls_quiet && SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
        SSL_shutdown(ssl); /* close_notify; never waits for the peer's */
    ERR_clear_error();
    flush(conn); /* best effort: the connection closes either way */
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
    if (!conn->tls_sniffed) {
        /* The first bytes: read now, or already read after a PROXY header (conn.c). */
        if (conn->length == 0) {
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
        }
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
    /* A flight the socket did not take yet goes first. */
    int flushed = flush(conn);
    if (flushed < 0) return handshake_failed(strerror(errno));
    if (flushed == 0) {
        conn->tls_wants = EV_WRITE;
        return TLS_HANDSHAKE_AGAIN;
    }
    int result = SSL_do_handshake(conn->tls);
    if (result == 1) {
        conn->tls_wants = 0;
        /* Everything read before the handshake belonged to it: the client cannot send its
         * request before the server's Finished. */
        if (conn->parsed != conn->length) return handshake_failed("data before the handshake ended");
        conn->length = conn->parsed = 0;
        /* TLS 1.3: what is left to send is the session ticket, which the client needs only
         * for a later connection. When its request came with its Finished, the ticket
         * leaves with the response; otherwise now, carrying the ACK of the Finished (a
         * client whose Nagle's algorithm holds its request waits for that ACK). TLS 1.2
         * ends with the server's Finished, which the client waits for. */
        int hold_ticket = SSL_version(conn->tls) == TLS1_3_VERSION && SSL_has_pending(conn->tls);
        if (hold_ticket ? !hold(conn) : flush(conn) < 0)
            return handshake_failed("cannot send the end of the handshake");
        return TLS_HANDSHAKE_DONE; /* conn.c asks tls_selected_h2 which protocol follows */
    }
    errno = 0;
    int error = SSL_get_error(conn->tls, result);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        flushed = flush(conn);
        if (flushed < 0) return handshake_failed(strerror(errno));
        conn->tls_wants = error == SSL_ERROR_WANT_WRITE || flushed == 0 ? EV_WRITE : 0;
        return TLS_HANDSHAKE_AGAIN;
    }
    conn->tls_quiet = 1;
    tls_handshake_result failure = handshake_failed(NULL);
    flush(conn); /* the alert that says why, if the socket takes it */
    return failure;
}

/* ---- reading ---- */

ssize_t tls_read(rv_conn *conn, uint8_t *into, size_t room) {
    SSL *ssl = conn->tls;
    conn->tls_wants = 0;
    size_t total = 0;
    ssize_t result;
    for (;;) {
        size_t got;
        int done = SSL_read_ex(ssl, into + total, room - total, &got);
        if (done == 1) {
            total += got;
            /* More records may sit in OpenSSL's buffer: the socket would not announce them. */
            if (total == room || !SSL_has_pending(ssl)) {
                result = (ssize_t)total;
                break;
            }
            continue;
        }
        if (total > 0) {
            ERR_clear_error();
            result = (ssize_t)total; /* the next call sees the same condition again */
        } else {
            result = failed(conn, done, EV_READ);
        }
        break;
    }
    if (produced.length > 0) { /* a reply OpenSSL owes the peer (a key update, an alert) */
        int code = errno;
        flush(conn);
        errno = code;
    }
    return result;
}

int tls_has_buffered_input(const rv_conn *conn) { return SSL_has_pending(conn->tls); }

void tls_release_buffers(rv_conn *conn) { SSL_free_buffers(conn->tls); }

/* ---- writing ---- */

/* One SSL_write: a record into `produced` (or, with kernel TLS, to the socket). After the
 * record, output past FLUSH_AT leaves. Returns 1 when the caller may go on, 0 when it must
 * stop (the socket is full: EAGAIN), -1 on failure. */
static int write_record(rv_conn *conn, const uint8_t *data, size_t length, size_t *written) {
    int result = SSL_write_ex(conn->tls, data, length, written);
    if (result != 1) return failed(conn, result, EV_WRITE) < 0 && errno == EAGAIN ? 0 : -1;
    if (produced.length < FLUSH_AT) return 1;
    int flushed = flush(conn);
    if (flushed == 0) errno = EAGAIN;
    return flushed;
}

/* `more`: a file follows (rv_respond_file's head): the output is held and leaves with the
 * file's first records. */
ssize_t tls_writev(rv_conn *conn, const struct iovec *iov, int count, int more) {
    conn->tls_wants = 0;
    if (conn->tls_out_length >= FLUSH_AT) { /* what the socket did not take goes first */
        int flushed = flush(conn);
        if (flushed <= 0) {
            if (flushed == 0) errno = EAGAIN;
            return -1;
        }
    }
    size_t total = 0, offset = 0;
    int index = 0, going = 1;
    while (going && index < count) {
        if (offset == iov[index].iov_len) {
            index++;
            offset = 0;
            continue;
        }
        const uint8_t *data = (const uint8_t *)iov[index].iov_base + offset;
        size_t length = iov[index].iov_len - offset;
        if (length < RECORD_SIZE && index < count - 1) {
            /* Several pieces under a record: gathered, to leave in one record. */
            plaintext.length = 0;
            if (!reserve(&plaintext, RECORD_SIZE)) {
                errno = ENOMEM;
                return total > 0 ? (ssize_t)total : -1;
            }
            size_t piece_offset = offset;
            for (int piece = index; piece < count && plaintext.length < RECORD_SIZE; piece++, piece_offset = 0) {
                size_t take = iov[piece].iov_len - piece_offset;
                if (take > RECORD_SIZE - plaintext.length) take = RECORD_SIZE - plaintext.length;
                memcpy(plaintext.data + plaintext.length, (const uint8_t *)iov[piece].iov_base + piece_offset, take);
                plaintext.length += take;
            }
            data = plaintext.data;
            length = plaintext.length;
        }
        size_t written = 0;
        int step = write_record(conn, data, length, &written);
        if (step < 0) return total > 0 ? (ssize_t)total : -1;
        going = step;
        total += written;
        while (written > 0) { /* advance past what the record took */
            size_t part = iov[index].iov_len - offset;
            if (part > written) part = written;
            offset += part;
            written -= part;
            if (offset == iov[index].iov_len && index < count - 1) {
                index++;
                offset = 0;
            }
        }
    }
    if (more) {
        if (!hold(conn)) return total > 0 ? (ssize_t)total : -1;
    } else if (flush(conn) < 0) {
        /* The connection failed (EPIPE, ECONNRESET): what was encrypted never left, and
         * reporting it as written would let a streamed response go on writing to no one. */
        return -1;
    }
    if (total == 0) {
        errno = EAGAIN;
        return -1;
    }
    return (ssize_t)total;
}

/* ---- files ---- */

ssize_t tls_send_file(rv_conn *conn, int file, off_t *offset, size_t count) {
    conn->tls_wants = 0;
#ifndef OPENSSL_NO_KTLS
    if (BIO_get_ktls_send(SSL_get_wbio(conn->tls))) {
        ossl_ssize_t sent = SSL_sendfile(conn->tls, file, *offset, count, 0);
        if (sent < 0) return failed(conn, (int)sent, EV_WRITE);
        *offset += sent;
        return sent;
    }
#endif
    if (conn->tls_out_length >= FLUSH_AT) {
        int flushed = flush(conn);
        if (flushed <= 0) {
            if (flushed == 0) errno = EAGAIN;
            return -1;
        }
    }
    size_t want = count < FLUSH_AT ? count : FLUSH_AT;
    plaintext.length = 0;
    if (!reserve(&plaintext, want)) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t got;
    do got = pread(file, plaintext.data, want, *offset);
    while (got < 0 && errno == EINTR);
    if (got <= 0) return got;
    size_t done = 0;
    while (done < (size_t)got) { /* whole records into `produced`: they never block... */
        size_t written;
        int result = SSL_write_ex(conn->tls, plaintext.data + done, (size_t)got - done, &written);
        if (result != 1) { /* ...unless OpenSSL writes to the socket (kernel TLS set up failed) */
            ssize_t failure = failed(conn, result, EV_WRITE);
            if (done == 0 || errno != EAGAIN) return failure;
            break; /* the blocked record's bytes are read again from the file next time */
        }
        done += written;
    }
    *offset += (off_t)done;
    if (flush(conn) < 0) return -1;
    return (ssize_t)done;
}

int tls_selected_h2(const rv_conn *conn) {
    const unsigned char *alpn;
    unsigned int alpn_length;
    SSL_get0_alpn_selected(conn->tls, &alpn, &alpn_length);
    return alpn_length == 2 && memcmp(alpn, "h2", 2) == 0;
}

/* ---- what the handler may ask ---- */

int rv_conn_tls_info(const rv_conn *conn, rv_tls_info *out) {
    if (conn->h2_stream) return h2_stream_tls_info(conn, out);
    const SSL *ssl = conn->tls;
    if (!ssl) return 0;
    out->version = SSL_get_version(ssl);
    out->cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    out->server_name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const unsigned char *alpn;
    unsigned int alpn_length;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_length);
    out->alpn = alpn_length == 8 && memcmp(alpn, "http/1.1", 8) == 0 ? "http/1.1"
                : alpn_length == 2 && memcmp(alpn, "h2", 2) == 0     ? "h2"
                                                                      : NULL;
    return 1;
}

size_t rv_conn_tls_client_subject(const rv_conn *conn, char *out, size_t capacity) {
    if (capacity > 0) out[0] = 0;
    if (conn->h2_stream) return h2_stream_tls_client_subject(conn, out, capacity);
    const SSL *ssl = conn->tls;
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
