/* test_tls_client.c: see include/test_tls_client.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "test_tls_client.h"

struct tt_client {
    SSL_CTX *context;
    SSL *ssl;
    int fd;
    char alpn[64];
    char subject[512];
};

static long long now_ms(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return (long long)time.tv_sec * 1000 + time.tv_nsec / 1000000;
}

/* Waits for what SSL_get_error asked for; 0 ready, -1 timed out. */
static int wait_for(const tt_client *client, int error, long long deadline) {
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        struct pollfd entry = {client->fd, error == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
        int ready = poll(&entry, 1, (int)left);
        if (ready > 0) return 0;
        if (ready == 0) return -1;
        if (errno != EINTR) return -1;
    }
}

static int version_constant(int version) {
    switch (version) {
    case 10: return TLS1_VERSION;
    case 11: return TLS1_1_VERSION;
    case 12: return TLS1_2_VERSION;
    case 13: return TLS1_3_VERSION;
    default: return 0;
    }
}

static void set_error(char *error, size_t capacity, const char *what) {
    unsigned long code = ERR_get_error();
    char reason[256] = "";
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    snprintf(error, capacity, "%s%s%s", what, code ? ": " : "", reason);
    ERR_clear_error();
}

/* "h2,http/1.1" -> "\x02h2\x08http/1.1" */
static size_t alpn_wire(const char *list, unsigned char *out, size_t capacity) {
    size_t at = 0;
    const char *start = list;
    while (*start) {
        const char *end = strchr(start, ',');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        if (length == 0 || length > 255 || at + 1 + length > capacity) return 0;
        out[at++] = (unsigned char)length;
        memcpy(out + at, start, length);
        at += length;
        start += length + (end ? 1 : 0);
    }
    return at;
}

tt_client *tt_connect(int fd, const tt_options *options, int timeout_ms, char *error, size_t capacity) {
    tt_client *client = calloc(1, sizeof *client);
    if (!client) {
        snprintf(error, capacity, "out of memory");
        return NULL;
    }
    client->fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    client->context = SSL_CTX_new(TLS_client_method());
    if (!client->context) {
        set_error(error, capacity, "SSL_CTX_new");
        free(client);
        return NULL;
    }
    SSL_CTX *context = client->context;
    if (options->min_version) {
        /* Old versions need the lowest security level to be offered at all. */
        if (options->min_version < 12) SSL_CTX_set_security_level(context, 0);
        SSL_CTX_set_min_proto_version(context, version_constant(options->min_version));
    }
    if (options->max_version) SSL_CTX_set_max_proto_version(context, version_constant(options->max_version));
    if (options->min_version && options->min_version < 12) SSL_CTX_set_cipher_list(context, "DEFAULT@SECLEVEL=0");
    if (options->ca_file) {
        if (SSL_CTX_load_verify_locations(context, options->ca_file, NULL) != 1) {
            set_error(error, capacity, "loading the CA file");
            tt_free(client);
            return NULL;
        }
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    }
    if (options->certificate_file &&
        (SSL_CTX_use_certificate_chain_file(context, options->certificate_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(context, options->key_file, SSL_FILETYPE_PEM) != 1)) {
        set_error(error, capacity, "loading the client certificate");
        tt_free(client);
        return NULL;
    }
    client->ssl = SSL_new(context);
    if (!client->ssl || SSL_set_fd(client->ssl, fd) != 1) {
        set_error(error, capacity, "SSL_new");
        tt_free(client);
        return NULL;
    }
    if (options->server_name) {
        SSL_set_tlsext_host_name(client->ssl, options->server_name);
        if (options->ca_file) SSL_set1_host(client->ssl, options->server_name);
    }
    if (options->alpn) {
        unsigned char wire[256];
        size_t length = alpn_wire(options->alpn, wire, sizeof wire);
        if (length) SSL_set_alpn_protos(client->ssl, wire, (unsigned)length);
    }
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        int result = SSL_connect(client->ssl);
        if (result == 1) break;
        int failure = SSL_get_error(client->ssl, result);
        if ((failure == SSL_ERROR_WANT_READ || failure == SSL_ERROR_WANT_WRITE) &&
            wait_for(client, failure, deadline) == 0)
            continue;
        if (failure == SSL_ERROR_WANT_READ || failure == SSL_ERROR_WANT_WRITE)
            snprintf(error, capacity, "the handshake timed out");
        else if (failure == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            snprintf(error, capacity, "the server closed the connection during the handshake");
        else
            set_error(error, capacity, "handshake failed");
        tt_free(client);
        return NULL;
    }
    const unsigned char *alpn;
    unsigned alpn_length;
    SSL_get0_alpn_selected(client->ssl, &alpn, &alpn_length);
    if (alpn && alpn_length < sizeof client->alpn) memcpy(client->alpn, alpn, alpn_length); /* NULL: none */
    X509 *peer = SSL_get0_peer_certificate(client->ssl);
    if (peer) X509_NAME_oneline(X509_get_subject_name(peer), client->subject, sizeof client->subject);
    return client;
}

ssize_t tt_read(tt_client *client, void *buffer, size_t capacity, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        size_t got = 0;
        int result = SSL_read_ex(client->ssl, buffer, capacity, &got);
        if (result == 1) return (ssize_t)got;
        int failure = SSL_get_error(client->ssl, result);
        if (failure == SSL_ERROR_WANT_READ || failure == SSL_ERROR_WANT_WRITE) {
            if (wait_for(client, failure, deadline) != 0) return -1;
            continue;
        }
        int reset = failure == SSL_ERROR_SYSCALL && (errno == ECONNRESET || errno == EPIPE);
        int clean_end = failure == SSL_ERROR_ZERO_RETURN ||
                        (failure == SSL_ERROR_SYSCALL && !reset && ERR_peek_error() == 0);
        ERR_clear_error();
        return clean_end ? 0 : -2;
    }
}

ssize_t tt_write(tt_client *client, const void *bytes, size_t length, int timeout_ms) {
    long long deadline = now_ms() + timeout_ms;
    size_t done = 0;
    while (done < length) {
        size_t written = 0;
        int result = SSL_write_ex(client->ssl, (const char *)bytes + done, length - done, &written);
        if (result == 1) {
            done += written;
            continue;
        }
        int failure = SSL_get_error(client->ssl, result);
        if (failure == SSL_ERROR_WANT_READ || failure == SSL_ERROR_WANT_WRITE) {
            if (wait_for(client, failure, deadline) != 0) return -1;
            continue;
        }
        ERR_clear_error();
        return -2;
    }
    return (ssize_t)done;
}

int tt_pending(const tt_client *client) { return SSL_pending(client->ssl) > 0; }

void tt_shutdown_write(tt_client *client) {
    SSL_shutdown(client->ssl);
    ERR_clear_error();
    shutdown(client->fd, SHUT_WR);
}

const char *tt_version(const tt_client *client) { return SSL_get_version(client->ssl); }
const char *tt_cipher(const tt_client *client) { return SSL_get_cipher_name(client->ssl); }
const char *tt_alpn(const tt_client *client) { return client->alpn; }
const char *tt_peer_subject(const tt_client *client) { return client->subject; }
int tt_resumed(const tt_client *client) { return SSL_session_reused(client->ssl); }

void tt_free(tt_client *client) {
    if (!client) return;
    SSL_free(client->ssl);
    SSL_CTX_free(client->context);
    free(client);
}
