/*
 * tls_tickets.c: session ticket keys shared by every worker, so a client resumed by one
 * worker resumes on any other, and on the workers that replace them in a phased restart.
 *
 * The keys live in a MAP_SHARED | MAP_ANONYMOUS mapping that the master makes before it
 * forks (like the stats region): never in a file, gone when the last process exits. Three
 * slots: the current key (encrypts new tickets), the previous one (still decrypts; such a
 * ticket is renewed), and the next to be written. A rotation writes the next slot, makes it
 * current, then wipes the key before the previous one, so at most two keys exist.
 *
 * Rotation needs no coordinator: every worker's loop asks once a second, and the first to
 * see the rotation due wins a compare-and-swap on the due time and does it for all. Each
 * slot has a sequence number (odd while written): a reader that raced a writer retries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tls.h"

typedef struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];  /* AES-256-CBC */
    unsigned char hmac[32]; /* HMAC-SHA256 */
} ticket_key;

struct rv_tls_ticket_keys {
    _Atomic uint64_t generation; /* slots[generation % 3] is current */
    _Atomic int64_t rotate_at;   /* unix seconds */
    int64_t interval;
    struct {
        _Atomic uint32_t sequence;
        ticket_key key;
    } slots[3];
};

static int fill_key(ticket_key *key) {
    return RAND_bytes(key->name, sizeof key->name) == 1 && RAND_bytes(key->aes, sizeof key->aes) == 1 &&
           RAND_bytes(key->hmac, sizeof key->hmac) == 1;
}

/* Odd while written. Set rather than incremented, so a writer killed in the middle (its
 * slot left odd) does not break the slot for good: the next write repairs it. */
static void write_slot(rv_tls_ticket_keys *keys, unsigned slot, const ticket_key *key) {
    uint32_t writing = atomic_load_explicit(&keys->slots[slot].sequence, memory_order_relaxed) | 1;
    atomic_store_explicit(&keys->slots[slot].sequence, writing, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&keys->slots[slot].key, key, sizeof *key);
    atomic_store_explicit(&keys->slots[slot].sequence, writing + 1, memory_order_release);
}

/* Copies a slot consistently; 0 when it holds no key (wiped, or being written for far
 * longer than a copy of 80 bytes takes). */
static int read_slot(const rv_tls_ticket_keys *keys, unsigned slot, ticket_key *out) {
    static const unsigned char empty[16];
    for (int attempt = 0; attempt < 10000; attempt++) {
        uint32_t before = atomic_load_explicit(&keys->slots[slot].sequence, memory_order_acquire);
        if (before & 1) continue;
        memcpy(out, (const void *)&keys->slots[slot].key, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&keys->slots[slot].sequence, memory_order_relaxed) == before)
            return memcmp(out->name, empty, sizeof empty) != 0;
    }
    return 0;
}

rv_tls_ticket_keys *rv_tls_ticket_keys_create(uint32_t rotation_seconds) {
    rv_tls_ticket_keys *keys = mmap(NULL, sizeof *keys, PROT_READ | PROT_WRITE,
                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (keys == MAP_FAILED) return NULL;
    /* Not in a core dump either. */
    madvise(keys, sizeof *keys, MADV_DONTDUMP);
    memset(keys, 0, sizeof *keys);
    ticket_key first;
    if (!fill_key(&first)) {
        munmap(keys, sizeof *keys);
        errno = EIO;
        return NULL;
    }
    write_slot(keys, 0, &first);
    OPENSSL_cleanse(&first, sizeof first);
    keys->interval = rotation_seconds > 0 ? rotation_seconds : 1;
    atomic_store(&keys->rotate_at, (int64_t)time(NULL) + keys->interval);
    return keys;
}

void rv_tls_ticket_keys_free(rv_tls_ticket_keys *keys) {
    if (keys) munmap(keys, sizeof *keys);
}

int rv_tls_ticket_keys_rotate_if_due(rv_tls_ticket_keys *keys, int64_t now) {
    int64_t due = atomic_load_explicit(&keys->rotate_at, memory_order_relaxed);
    if (now < due) return 0;
    if (!atomic_compare_exchange_strong(&keys->rotate_at, &due, now + keys->interval)) return 0;
    ticket_key next;
    if (!fill_key(&next)) return 0; /* the current key stays; tried again at the next due time */
    uint64_t generation = atomic_load(&keys->generation);
    write_slot(keys, (unsigned)((generation + 1) % 3), &next);
    OPENSSL_cleanse(&next, sizeof next);
    atomic_store(&keys->generation, generation + 1);
    /* The key before the previous one: no longer accepted, so no longer kept. */
    static const ticket_key wiped;
    write_slot(keys, (unsigned)((generation + 2) % 3), &wiped);
    return 1;
}

uint64_t rv_tls_ticket_keys_generation(const rv_tls_ticket_keys *keys) {
    return atomic_load(&keys->generation);
}

/* AES-256-CBC fetched once per process (an implicit fetch per ticket costs a lookup). */
static EVP_CIPHER *ticket_cipher;
static pthread_once_t ticket_cipher_once = PTHREAD_ONCE_INIT;
static void fetch_ticket_cipher(void) { ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL); }

static int use_key(const ticket_key *key, unsigned char *iv, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac,
                   int encrypt) {
    pthread_once(&ticket_cipher_once, fetch_ticket_cipher);
    if (!ticket_cipher) return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)key->hmac, sizeof key->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return 0;
    return EVP_CipherInit_ex(cipher, ticket_cipher, NULL, key->aes, iv, encrypt) == 1;
}

/* OpenSSL's ticket key callback: encrypt with the current key; decrypt with the key the
 * ticket names. 0: not ours (a full handshake follows); -1: error. A new ticket is asked
 * for (2) when the key is the previous one, and after every TLS 1.3 resumption: clients
 * use a TLS 1.3 ticket once (RFC 8446 C.4), and OpenSSL issues a resumed connection its
 * one new ticket only when asked here. Without it, wrk resumed only every other
 * connection and made a full handshake in between. A TLS 1.2 ticket may be used again,
 * so it is renewed only with its key. */
int tls_ticket_key_callback(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                            EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt) {
    const rv_tls_context *context = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const rv_tls_ticket_keys *keys = context->ticket_keys;
    uint64_t generation = atomic_load_explicit(&keys->generation, memory_order_acquire);
    ticket_key key;
    int result;
    if (encrypt) {
        if (!read_slot(keys, (unsigned)(generation % 3), &key) || RAND_bytes(iv, 16) != 1) return -1;
        memcpy(key_name, key.name, sizeof key.name);
        result = use_key(&key, iv, cipher, mac, 1) ? 1 : -1;
    } else {
        result = 0;
        for (unsigned age = 0; age < 2 && result == 0; age++) {
            if (read_slot(keys, (unsigned)((generation + 3 - age) % 3), &key) &&
                memcmp(key_name, key.name, sizeof key.name) == 0) {
                int renew = age > 0 || SSL_version(ssl) == TLS1_3_VERSION;
                result = !use_key(&key, iv, cipher, mac, 0) ? -1 : renew ? 2 : 1;
            }
        }
    }
    OPENSSL_cleanse(&key, sizeof key);
    return result;
}
