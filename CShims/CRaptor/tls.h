/*
 * tls.h: the TLS transport, private to the engine (OpenSSL appears nowhere else but the
 * tls_*.c files). tls_context.c builds what a ssl:// listener serves with (certificates,
 * SNI, ALPN, versions, ciphers, client certificates); tls_tickets.c keeps the session
 * ticket keys every worker shares; tls_conn.c is one connection's transport: handshake,
 * reads, writes, files, close_notify.
 */
#ifndef RAPTOR_TLS_H
#define RAPTOR_TLS_H

#include <openssl/ssl.h>

#include "engine.h"

struct rv_tls_context {
    /* One SSL_CTX per certificate, all configured alike; contexts[0] serves a client
     * whose server name matches no certificate, or that sends none. */
    SSL_CTX **contexts;
    int context_count;
    /* The names each certificate answers for (SAN DNS names, else the subject's CN),
     * lowercased; a wildcard keeps its "*." prefix. */
    struct tls_name {
        char *name;
        int context; /* index in contexts */
        int wildcard;
    } *names;
    int name_count;
    rv_tls_ticket_keys *ticket_keys;
    int kernel_tls; /* SSL_OP_ENABLE_KTLS is set: file bodies may use SSL_sendfile */
    /* OpenSSL writes to the socket itself (a socket BIO): with kernel TLS, which needs it;
     * and, for the tests of that path on a kernel without it, with the environment variable
     * RAPTOR_TLS_SOCKET_WRITES set. */
    int socket_writes;
};

/* tls_context.c: the SSL_CTX a connection's SSL object starts from (SNI may switch it). */
SSL_CTX *tls_context_default(const rv_tls_context *context);

/* tls_tickets.c: the session ticket callback every SSL_CTX of a context installs. */
int tls_ticket_key_callback(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                            EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt);

/* tls_conn.c: one connection's TLS transport (the calls transport.h makes). */
typedef enum tls_handshake_result {
    TLS_HANDSHAKE_DONE,
    TLS_HANDSHAKE_AGAIN,      /* wait for transport_wait_events, then call again */
    TLS_HANDSHAKE_CLOSED,     /* the client left before sending anything */
    TLS_HANDSHAKE_PLAIN_HTTP, /* an HTTP request, not a ClientHello: the transport is plain now */
    TLS_HANDSHAKE_FAILED,     /* tls_failure_reason says why */
} tls_handshake_result;

/* Gives a new connection its TLS transport; -1 when out of memory. */
int tls_start(rv_conn *conn, const rv_tls_context *context);
/* Runs the handshake as far as the socket allows. conn->buffer must be acquired: the
 * first bytes are read into it to tell a ClientHello from a plain HTTP request. */
tls_handshake_result tls_handshake(rv_conn *conn);
/* Why the last handshake failed, for the debug log (valid until the next TLS call). */
const char *tls_failure_reason(void);
ssize_t tls_read(rv_conn *conn, uint8_t *into, size_t room);
ssize_t tls_writev(rv_conn *conn, const struct iovec *iov, int count, int more);
ssize_t tls_send_file(rv_conn *conn, int file, off_t *offset, size_t count);
int tls_has_buffered_input(const rv_conn *conn);
/* After the handshake: ALPN chose "h2". */
int tls_selected_h2(const rv_conn *conn);
/* Frees the record buffers of an idle connection (OpenSSL makes new ones when needed). */
void tls_release_buffers(rv_conn *conn);
/* Sends what is held; 1 when nothing is left, 0 when the socket is full, -1 on failure. */
int tls_flush(rv_conn *conn);
/* Sends close_notify (once, if the session is healthy); never waits for the peer's. */
void tls_close_notify(rv_conn *conn);
/* Frees the connection's TLS state; the transport is plain afterwards. */
void tls_end(rv_conn *conn);
/* Frees the buffers this thread wrote TLS records with (an app thread that ends). */
void tls_thread_exit(void);

#endif
