/*
 * tls_context.c: what an ssl:// listener serves with. One SSL_CTX per certificate, all
 * configured alike; the server name a client sends (SNI) picks the certificate whose
 * names match it (exact names before wildcards), the first certificate otherwise.
 *
 * The defaults are what a TLS scanner finds nothing wrong with (Mozilla's "intermediate"
 * profile): TLS 1.2 and 1.3, ECDHE (X25519, P-256) and forward-secret AEAD ciphers only,
 * the server's cipher order, no renegotiation, no compression, no TLS 1.2 session cache
 * (resumption goes through tickets every worker can decrypt: tls_tickets.c).
 */
#include <errno.h>
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "engine.h"
#include "tls.h"

/* ALPN, in the server's order of preference (HTTP/2 first when it is on); a connection
 * learns its protocol from the handshake (tls_selected_h2). */
static const unsigned char alpn_with_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_http1[] = "\x08http/1.1";

/* Sessions resumed from tickets must come from a server configured like this one. */
static const unsigned char session_id_context[] = "raptor-ev";

SSL_CTX *tls_context_default(const rv_tls_context *context) { return context->contexts[0]; }

/* One line for the operator: the file, what failed, and OpenSSL's reason when it has one. */
static void set_error(char *error, size_t capacity, const char *what, const char *subject) {
    unsigned long code = ERR_peek_last_error();
    char reason[256] = "";
    if (code != 0) {
        const char *text = ERR_reason_error_string(code);
        if (ERR_GET_REASON(code) == PEM_R_BAD_PASSWORD_READ || ERR_GET_REASON(code) == PEM_R_BAD_DECRYPT)
            text = "the key is encrypted; raptor-ev needs an unencrypted key file";
        snprintf(reason, sizeof reason, ": %s", text ? text : "unknown OpenSSL error");
    }
    if (subject)
        snprintf(error, capacity, "%s: %s%s", subject, what, reason);
    else
        snprintf(error, capacity, "%s%s", what, reason);
    ERR_clear_error();
}

/* ---- SNI ---- */

/* "*.example.com" matches "a.example.com", never "example.com" nor "a.b.example.com". */
static int wildcard_matches(const char *pattern, const char *name) {
    const char *dot = strchr(name, '.');
    if (!dot || dot == name) return 0;
    return strcasecmp(pattern + 1, dot) == 0;
}

static int match_name(const rv_tls_context *context, const char *name) {
    for (int i = 0; i < context->name_count; i++)
        if (!context->names[i].wildcard && strcasecmp(context->names[i].name, name) == 0)
            return context->names[i].context;
    for (int i = 0; i < context->name_count; i++)
        if (context->names[i].wildcard && wildcard_matches(context->names[i].name, name))
            return context->names[i].context;
    return 0;
}

static int servername_callback(SSL *ssl, int *alert, void *argument) {
    (void)alert;
    const rv_tls_context *context = argument;
    if (context->context_count < 2) return SSL_TLSEXT_ERR_OK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;
    int chosen = match_name(context, name);
    if (chosen > 0) SSL_set_SSL_CTX(ssl, context->contexts[chosen]);
    return SSL_TLSEXT_ERR_OK;
}

static int add_name(rv_tls_context *context, const unsigned char *bytes, int length, int index) {
    if (length <= 0) return 0;
    struct tls_name *grown = realloc(context->names, (size_t)(context->name_count + 1) * sizeof *grown);
    if (!grown) return -1;
    context->names = grown;
    char *name = malloc((size_t)length + 1);
    if (!name) return -1;
    for (int i = 0; i < length; i++) name[i] = (char)tolower(bytes[i]);
    name[length] = 0;
    grown[context->name_count++] = (struct tls_name){
        .name = name, .context = index, .wildcard = length > 2 && name[0] == '*' && name[1] == '.'};
    return 0;
}

/* The subjectAltName DNS names of the certificate, or its subject's CN when it has none
 * (RFC 6125 would ignore the CN; old certificates still rely on it). */
static int collect_names(rv_tls_context *context, int index) {
    X509 *leaf = SSL_CTX_get0_certificate(context->contexts[index]);
    GENERAL_NAMES *alternatives = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    int found = 0, failed = 0;
    for (int i = 0; alternatives && i < sk_GENERAL_NAME_num(alternatives); i++) {
        const GENERAL_NAME *entry = sk_GENERAL_NAME_value(alternatives, i);
        if (entry->type != GEN_DNS) continue;
        found = 1;
        if (add_name(context, ASN1_STRING_get0_data(entry->d.dNSName),
                     ASN1_STRING_length(entry->d.dNSName), index) != 0)
            failed = 1;
    }
    GENERAL_NAMES_free(alternatives);
    if (found || failed) return failed ? -1 : 0;
    const X509_NAME *subject = X509_get_subject_name(leaf);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0) return 0;
    const ASN1_STRING *common = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    return add_name(context, ASN1_STRING_get0_data(common), ASN1_STRING_length(common), index);
}

/* ---- ALPN ---- */

static int alpn_callback(SSL *ssl, const unsigned char **out, unsigned char *out_length,
                         const unsigned char *offered, unsigned int offered_length, void *argument) {
    /* The context is made before fork; the worker's own settings may still turn HTTP/2
     * off (an application of async handlers serves HTTP/1.1 only). */
    const rv_conn *conn = SSL_get_app_data(ssl);
    int h2 = argument != NULL && conn != NULL && conn->worker->config->http2;
    const unsigned char *ours = h2 ? alpn_with_h2 : alpn_http1;
    unsigned ours_length = h2 ? sizeof alpn_with_h2 - 1 : sizeof alpn_http1 - 1;
    unsigned char *chosen;
    unsigned char chosen_length;
    /* RFC 7301 section 3.2: no protocol in common is a no_application_protocol alert. */
    if (SSL_select_next_proto(&chosen, &chosen_length, ours, ours_length, offered, offered_length) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    *out_length = chosen_length;
    return SSL_TLSEXT_ERR_OK;
}

/* ---- one SSL_CTX ---- */

/* A key file is never asked a passphrase for (OpenSSL would prompt on the terminal). */
static int no_passphrase(char *buffer, int size, int writing, void *argument) {
    (void)buffer;
    (void)size;
    (void)writing;
    (void)argument;
    return -1;
}

static int readable(const char *path, char *error, size_t capacity, const char *what) {
    FILE *file = fopen(path, "r");
    if (!file) {
        snprintf(error, capacity, "%s: cannot read the %s: %s", path, what, strerror(errno));
        return 0;
    }
    fclose(file);
    return 1;
}

static SSL_CTX *make_ssl_context(const rv_tls_settings *settings, rv_tls_context *context,
                                 const rv_tls_certificate *certificate, char *error, size_t capacity) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        set_error(error, capacity, "cannot create a TLS context", NULL);
        return NULL;
    }
    SSL_CTX_set_app_data(ctx, context);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    int minimum = settings->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
    SSL_CTX_set_min_proto_version(ctx, minimum);
    if (SSL_CTX_set_cipher_list(ctx, settings->ciphers) != 1) {
        set_error(error, capacity, "--tls-ciphers: no usable TLS 1.2 cipher in the list", NULL);
        goto failed;
    }
    if (SSL_CTX_set_ciphersuites(ctx, settings->ciphersuites) != 1) {
        set_error(error, capacity, "--tls-ciphersuites: no usable TLS 1.3 cipher suite in the list", NULL);
        goto failed;
    }
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1) {
        set_error(error, capacity, "cannot set the ECDHE groups X25519 and P-256", NULL);
        goto failed;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (context->kernel_tls) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
    /* Writes of any size, each SSL_write one record (tls_conn.c relies on it); a retry may
     * come from another buffer holding the same bytes. Read-ahead takes whole records (and
     * pipelined ones) in one recv. Not SSL_MODE_RELEASE_BUFFERS: freeing and allocating
     * both record buffers around every request cost 1,250 instructions per keep-alive
     * request (callgrind); a connection idle for a second gives them back instead
     * (tls_release_buffers, from the loop's tick). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof session_id_context - 1);
    if (settings->ticket_keys) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_key_callback);
        SSL_CTX_set_timeout(ctx, settings->ticket_lifetime);
        SSL_CTX_set_num_tickets(ctx, 1);
    } else {
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(ctx, 0);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_callback);
    SSL_CTX_set_tlsext_servername_arg(ctx, context);
    /* a non-NULL argument: offer h2 (the callback reads no memory through it) */
    SSL_CTX_set_alpn_select_cb(ctx, alpn_callback, settings->http2 ? (void *)alpn_with_h2 : NULL);

    if (settings->client_ca && settings->verify != RV_TLS_VERIFY_NONE) {
        if (!readable(settings->client_ca, error, capacity, "client CA file")) goto failed;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(settings->client_ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, settings->client_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            set_error(error, capacity, "not a PEM file of CA certificates", settings->client_ca);
            goto failed;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (settings->verify == RV_TLS_VERIFY_REQUIRED) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
        SSL_CTX_set_verify_depth(ctx, 10);
    }

    if (!readable(certificate->certificate_file, error, capacity, "certificate")) goto failed;
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate->certificate_file) != 1) {
        set_error(error, capacity, "not a PEM certificate (chain)", certificate->certificate_file);
        goto failed;
    }
    if (!readable(certificate->key_file, error, capacity, "key")) goto failed;
    if (SSL_CTX_use_PrivateKey_file(ctx, certificate->key_file, SSL_FILETYPE_PEM) != 1 &&
        ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        set_error(error, capacity, "not a PEM private key", certificate->key_file);
        goto failed;
    }
    if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
        ERR_clear_error();
        snprintf(error, capacity, "%s: the key does not belong to the certificate %s",
                 certificate->key_file, certificate->certificate_file);
        goto failed;
    }
    return ctx;
failed:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- the context ---- */

rv_tls_context *rv_tls_context_create(const rv_tls_settings *settings, char *error,
                                      size_t error_capacity) {
    if (settings->certificate_count < 1) {
        snprintf(error, error_capacity, "no certificate");
        return NULL;
    }
    rv_tls_context *context = calloc(1, sizeof *context);
    if (context) context->contexts = calloc((size_t)settings->certificate_count, sizeof *context->contexts);
    if (!context || !context->contexts) {
        free(context);
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    context->ticket_keys = settings->ticket_keys;
    context->kernel_tls = rv_tls_kernel_tls_available(NULL, 0);
    context->socket_writes = context->kernel_tls || getenv("RAPTOR_TLS_SOCKET_WRITES") != NULL;
    for (int i = 0; i < settings->certificate_count; i++) {
        SSL_CTX *ctx = make_ssl_context(settings, context, &settings->certificates[i], error, error_capacity);
        if (!ctx) {
            rv_tls_context_free(context);
            return NULL;
        }
        context->contexts[context->context_count++] = ctx;
        if (collect_names(context, i) != 0) {
            snprintf(error, error_capacity, "out of memory");
            rv_tls_context_free(context);
            return NULL;
        }
    }
    return context;
}

void rv_tls_context_free(rv_tls_context *context) {
    if (!context) return;
    for (int i = 0; i < context->context_count; i++) SSL_CTX_free(context->contexts[i]);
    for (int i = 0; i < context->name_count; i++) free(context->names[i].name);
    free(context->names);
    free(context->contexts);
    free(context);
}

/* The kernel's TLS upper-layer protocol answers ENOTCONN on a socket that is not
 * connected yet; without the tls module it answers ENOENT. */
int rv_tls_kernel_tls_available(char *why, size_t why_capacity) {
#ifdef OPENSSL_NO_KTLS
    if (why) snprintf(why, why_capacity, "OpenSSL was built without kernel TLS");
    return 0;
#else
    int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        if (why) snprintf(why, why_capacity, "socket: %s", strerror(errno));
        return 0;
    }
    int available = setsockopt(probe, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0 || errno != ENOENT;
    int code = errno;
    close(probe);
    if (!available && why)
        snprintf(why, why_capacity, "the kernel has no TLS upper-layer protocol (setsockopt TCP_ULP \"tls\": %s)",
                 strerror(code));
    return available;
#endif
}

const char *rv_tls_library_version(void) { return OpenSSL_version(OPENSSL_VERSION); }
