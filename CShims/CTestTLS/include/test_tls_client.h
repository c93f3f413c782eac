/*
 * test_tls_client.h: a small TLS client for the integration tests (OpenSSL stays behind
 * CShims, as in the server). It speaks TLS over a socket the test already connected, with
 * every wait bounded, so RawClient can send raw bytes and read raw responses over TLS
 * exactly as it does over plain TCP.
 */
#ifndef TEST_TLS_CLIENT_H
#define TEST_TLS_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tt_client tt_client;

typedef struct tt_options {
    const char *server_name;      /* SNI; NULL: none sent */
    const char *alpn;             /* comma-separated ("h2,http/1.1"); NULL: no ALPN */
    const char *ca_file;          /* verify the server's chain with it; NULL: no verification */
    const char *certificate_file; /* client certificate; NULL: none */
    const char *key_file;
    int min_version; /* 10, 11, 12, 13; 0: OpenSSL's default */
    int max_version;
} tt_options;

/* Handshakes on the connected socket `fd` (made non-blocking). NULL on failure, with
 * OpenSSL's reason in `error`; the socket stays open (the caller closes it). */
tt_client *tt_connect(int fd, const tt_options *options, int timeout_ms, char *error, size_t capacity);

/* > 0: bytes read; 0: the server closed (close_notify or end of stream); -1: nothing within
 * timeout_ms; -2: the connection failed (reset, TLS error). */
ssize_t tt_read(tt_client *client, void *buffer, size_t capacity, int timeout_ms);
/* Writes all of it: `length`, or -1 (timed out) / -2 (failed) after a partial write. */
ssize_t tt_write(tt_client *client, const void *bytes, size_t length, int timeout_ms);
/* Decrypted bytes waiting to be read (a poll on the socket would not see them). */
int tt_pending(const tt_client *client);
/* close_notify, then shutdown(SHUT_WR): the server reads the end of the stream. */
void tt_shutdown_write(tt_client *client);

const char *tt_version(const tt_client *client);
const char *tt_cipher(const tt_client *client);
/* The ALPN protocol selected, "" when none (copied into the client). */
const char *tt_alpn(const tt_client *client);
/* The server certificate's subject (RFC 2253), "" without one. */
const char *tt_peer_subject(const tt_client *client);
/* 1 when the session was resumed. */
int tt_resumed(const tt_client *client);

/* Frees the TLS state; does not close the socket. */
void tt_free(tt_client *client);

#endif
