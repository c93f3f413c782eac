/*
 * raptor.h: the only header Swift imports.
 *
 * Everything behind it is C11: the libev event loop (engine.c and friends) and the
 * request parser with the strictness http_parser 2.9.4 lacks (parser.c and its files).
 * Neither ev.h nor http_parser.h appears here, so Swift never sees a libev macro or a
 * parser callback. Requests are plain structs of spans (offset, length) into the
 * connection's read buffer; Swift copies only what the handler asks for.
 */
#ifndef RAPTOR_H
#define RAPTOR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------ */
/* Requests                                                                             */
/* ------------------------------------------------------------------------------------ */

/* A byte range of the connection's read buffer. Offsets, not pointers, so the buffer may
 * grow (realloc) while a request's head is still arriving. */
typedef struct rv_span {
    uint32_t off;
    uint32_t len;
} rv_span;

typedef struct rv_field {
    rv_span name;  /* a validated token */
    rv_span value; /* leading and trailing SP/HTAB already trimmed */
} rv_field;

/* The hard ceiling on fields (header fields plus trailer fields) in one request; the
 * configurable limit (rv_limits.max_fields) may only be lower. */
#define RV_MAX_FIELDS 100

/* Methods the engine needs to tell apart without comparing strings. */
typedef enum rv_method {
    RV_METHOD_OTHER = 0,
    RV_METHOD_GET,
    RV_METHOD_HEAD,
    RV_METHOD_POST,
    RV_METHOD_PUT,
    RV_METHOD_DELETE,
    RV_METHOD_OPTIONS,
    RV_METHOD_PATCH,
    RV_METHOD_CONNECT,
    RV_METHOD_TRACE,
} rv_method;

/* A request body. In memory up to rv_limits.body_memory_max bytes, past that spooled to
 * an unlinked temporary file (fd >= 0), so a 1 GiB upload never takes 1 GiB of memory. */
typedef struct rv_body {
    uint8_t *data;   /* the bytes when fd < 0 (NULL when length == 0) */
    uint64_t length; /* decoded length (chunked framing removed) */
    int fd;          /* >= 0: the body lives in this file, from offset 0 */
} rv_body;

typedef struct rv_request {
    const char *method_name; /* static string, e.g. "GET" */
    rv_method method;
    rv_span target; /* request-target as sent */
    uint16_t version_major;
    uint16_t version_minor;
    uint8_t keep_alive;      /* RFC 9112 section 9.3, from version and Connection */
    uint8_t expect_continue; /* "Expect: 100-continue" and a body is coming */
    uint8_t chunked;
    uint8_t upgrade; /* Upgrade/CONNECT: served as a plain request, then closed */
    int64_t content_length; /* -1 when the request has no Content-Length */
    uint32_t head_length;   /* bytes from the buffer start through the empty line */
    uint16_t field_count;   /* fields[0 ..< field_count] */
    uint16_t trailer_start; /* fields[trailer_start ..< field_count] are trailer fields */
    uint16_t error_status;  /* 0, or the status the request earned: 400 413 414 417 431 501 505 */
    const char *error_reason; /* static text for the log when error_status != 0 */
    rv_body body;
    rv_field fields[RV_MAX_FIELDS];
} rv_request;

/* Limits applied while parsing (the configuration's values, copied). */
typedef struct rv_limits {
    uint32_t max_target;      /* request-target bytes; over it: 414 */
    uint32_t max_head;        /* request line + fields bytes; over it: 431 */
    uint32_t max_fields;      /* number of fields, at most RV_MAX_FIELDS; over it: 431 */
    uint64_t max_body;        /* decoded body bytes; over it: 413 */
    uint64_t body_memory_max; /* bigger bodies are spooled to a temporary file */
} rv_limits;

/* ------------------------------------------------------------------------------------ */
/* The parser (parser.c). The engine (conn.c) drives it; the unit tests drive it too.  */
/* ------------------------------------------------------------------------------------ */

typedef struct rv_parser rv_parser; /* opaque (parser.h) */

typedef enum rv_parse_result {
    RV_PARSE_MORE = 0,     /* every byte consumed, the request is not complete yet */
    RV_PARSE_HEAD_CONTINUE, /* head complete and valid, "Expect: 100-continue" asked for:
                               send 100 Continue (or a final status), then feed again */
    RV_PARSE_COMPLETE,     /* one whole request; bytes after *consumed belong to the next */
    RV_PARSE_ERROR,        /* request.error_status says which answer; close after it */
} rv_parse_result;

rv_parser *rv_parser_create(const rv_limits *limits);
void rv_parser_destroy(rv_parser *parser);

/* Forget the current request (closing a spooled body file) and expect a new one. */
void rv_parser_reset(rv_parser *parser);

/* Feed buffer[start ..< end]. Spans recorded are offsets from `buffer`, which must hold
 * the same bytes at the same offsets (it may move) across calls for one request. Sets
 * *consumed to the offset just after the last byte used. */
rv_parse_result rv_parser_feed(rv_parser *parser, const uint8_t *buffer, uint32_t start,
                               uint32_t end, uint32_t *consumed);

const rv_request *rv_parser_request(const rv_parser *parser);

/* 1 once a byte of the request line has been fed (the empty lines a request may follow do
 * not count): a connection that sent none waits for a request still (a graceful stop). */
int rv_parser_started(const rv_parser *parser);
/* 1 once the head (request line and header fields) is complete and valid. */
int rv_parser_head_done(const rv_parser *parser);
/* 1 while the bytes after the head may be dropped once fed: the body is copied out as
 * it is parsed, so only trailer fields (whose spans point into the buffer) pin them. */
int rv_parser_body_bytes_discardable(const rv_parser *parser);

/* ------------------------------------------------------------------------------------ */
/* Shared-memory stats: one slot per worker, relaxed atomic counters.                  */
/* ------------------------------------------------------------------------------------ */

typedef enum rv_stat {
    RV_STAT_PID = 0,
    RV_STAT_INDEX,
    RV_STAT_PHASE,
    RV_STAT_BOOTED,
    RV_STAT_STARTED_AT,   /* unix seconds */
    RV_STAT_LAST_CHECKIN, /* unix seconds, written every second by the worker's loop */
    RV_STAT_REQUESTS,
    RV_STAT_ACTIVE_CONNECTIONS,
    RV_STAT_KEEPALIVE_CONNECTIONS, /* idle, parked between requests */
    RV_STAT_BACKLOG,               /* requests waiting for an app thread */
    RV_STAT_BUSY_THREADS,
    RV_STAT_THREAD_CAPACITY,
    RV_STAT_BYTES_READ,
    RV_STAT_BYTES_WRITTEN,
    RV_STAT_RESPONSES_1XX,
    RV_STAT_RESPONSES_2XX,
    RV_STAT_RESPONSES_3XX,
    RV_STAT_RESPONSES_4XX,
    RV_STAT_RESPONSES_5XX,
    RV_STAT_PARSE_ERRORS,
    RV_STAT_TIMEOUTS,
    RV_STAT_SHED_503,
    RV_STAT_ACCEPT_PAUSES, /* times accepting stopped for backpressure */
    RV_STAT_FD_LIMIT_503,  /* connections answered 503 at the open-files limit (EMFILE/ENFILE) */
    RV_STAT_RSS_BYTES,     /* resident memory, written each second by the master */
    RV_STAT_PROXY_ERRORS,  /* connections closed for a PROXY header: malformed, or untrusted */
    RV_STAT_TLS_HANDSHAKE_ERRORS, /* TLS handshakes that failed or never completed */
    RV_STAT_H2_CONNECTIONS,       /* connections that spoke HTTP/2 (h2 over TLS, or h2c) */
    RV_STAT_H2_STREAMS,           /* HTTP/2 requests (streams) answered */
    RV_STAT_COUNT
} rv_stat;

/* What a stat is, for the metrics: a counter only grows (a new stat is one unless listed
 * otherwise in stats.c), a gauge goes up and down, an identity field says which worker a
 * cell belongs to (pid, slot, phase, times) and is no measurement. */
typedef enum rv_stat_kind {
    RV_STAT_KIND_COUNTER = 0,
    RV_STAT_KIND_GAUGE,
    RV_STAT_KIND_IDENTITY,
} rv_stat_kind;

/* Request durations (first byte of the request to the end of the application's response),
 * counted in buckets: bucket i holds the requests that took more than bound i-1 and at most
 * bound i microseconds; the last bucket those above the largest bound. */
#define RV_DURATION_BOUNDS 16

typedef struct rv_stats {
    uint64_t values[RV_STAT_COUNT];
    uint64_t duration_buckets[RV_DURATION_BOUNDS + 1];
    uint64_t duration_sum_us;
} rv_stats;

uint64_t rv_stats_get(const rv_stats *stats, rv_stat which);
void rv_stats_set(rv_stats *stats, rv_stat which, uint64_t value);
void rv_stats_add(rv_stats *stats, rv_stat which, int64_t delta);
const char *rv_stat_name(rv_stat which); /* snake_case, for JSON and tables */
rv_stat_kind rv_stat_kind_of(rv_stat which);

/* The upper bound of duration bucket `index` (< RV_DURATION_BOUNDS), in microseconds. */
uint64_t rv_duration_bound_us(unsigned index);
/* Counts one request that took `microseconds` (two relaxed atomic adds). */
void rv_stats_observe_duration(rv_stats *stats, uint64_t microseconds);
/* Reads a duration bucket (index <= RV_DURATION_BOUNDS) or the sum of durations. */
uint64_t rv_stats_duration_bucket(const rv_stats *stats, unsigned index);
uint64_t rv_stats_duration_sum_us(const rv_stats *stats);
/* Adds every counter and duration bucket of `from` into `into` (a worker that exited:
 * the cluster's totals keep what it counted). Gauges and identity fields are left. */
void rv_stats_accumulate(rv_stats *into, const rv_stats *from);
/* Copies a cell that others write, value by value (each read atomic). */
void rv_stats_copy(rv_stats *into, const rv_stats *from);

/* A sequence lock over shared memory, for readers in another process that must see a
 * group of values change at once (the stats of a reaped worker moving into the totals).
 * The writer brackets its changes with begin and end; a reader takes begin's value, reads,
 * and reads again while retry says so. */
void rv_seqlock_write_begin(uint64_t *sequence);
void rv_seqlock_write_end(uint64_t *sequence);
uint64_t rv_seqlock_read_begin(const uint64_t *sequence);
int rv_seqlock_read_retry(const uint64_t *sequence, uint64_t begun);
/* Relaxed atomic access to one shared word outside rv_stats. */
uint64_t rv_shared_load(const uint64_t *word);
void rv_shared_store(uint64_t *word, uint64_t value);

/* ------------------------------------------------------------------------------------ */
/* The PROXY protocol (proxy.c): the client's address, sent by a load balancer first.   */
/* ------------------------------------------------------------------------------------ */

/* What a bind expects (`?proxy_protocol=`). */
typedef enum rv_proxy_mode {
    RV_PROXY_OFF = 0,
    RV_PROXY_V1,       /* a version 1 header, always */
    RV_PROXY_V2,       /* a version 2 header, always */
    RV_PROXY_OPTIONAL, /* a header of either version, or none */
} rv_proxy_mode;

typedef enum rv_proxy_result {
    RV_PROXY_MORE,    /* the bytes so far begin a header: read more */
    RV_PROXY_HEADER,  /* a whole header: header->length bytes */
    RV_PROXY_ABSENT,  /* no header (RV_PROXY_OPTIONAL, or RV_PROXY_OFF): the bytes are HTTP */
    RV_PROXY_INVALID, /* malformed, or not the version expected: close the connection */
} rv_proxy_result;

/* Version 2 headers longer than this (addresses and TLVs) are refused. */
#define RV_PROXY_V2_MAX_LENGTH 4096

typedef struct rv_proxy_header {
    uint32_t length; /* bytes the header takes, to drop before the request */
    uint8_t local;   /* LOCAL, UNKNOWN, or no IP family: the connection's own address stands */
    struct sockaddr_storage source; /* the client, when !local */
    socklen_t source_length;
} rv_proxy_header;

/* Reads a header from every byte received so far (data[0 ..< length]). */
rv_proxy_result rv_proxy_parse(rv_proxy_mode mode, const uint8_t *data, size_t length,
                               rv_proxy_header *header);

/* An address block: family 4 or 6, the first `bits` bits of `address`. */
typedef struct rv_cidr {
    uint8_t family;
    uint8_t bits;
    uint8_t address[16];
} rv_cidr;

/* 1 when `address` (IPv4, IPv6, or IPv4-mapped IPv6) is in one of the blocks. */
int rv_cidr_contains(const rv_cidr *list, uint32_t count, const struct sockaddr *address);

/* ------------------------------------------------------------------------------------ */
/* TLS (tls_context.c, tls_tickets.c, tls_conn.c: OpenSSL 3, behind this API only)      */
/* ------------------------------------------------------------------------------------ */

/* What one ssl:// listener serves with: certificates chosen by SNI, and the settings. */
typedef struct rv_tls_context rv_tls_context;
/* Session ticket keys shared by every worker: made once, before the workers are forked. */
typedef struct rv_tls_ticket_keys rv_tls_ticket_keys;

typedef enum rv_tls_verify {
    RV_TLS_VERIFY_NONE = 0,  /* no client certificate asked for */
    RV_TLS_VERIFY_OPTIONAL,  /* asked for; a client may send none, but one it sends must verify */
    RV_TLS_VERIFY_REQUIRED,  /* a client without a valid certificate fails the handshake */
} rv_tls_verify;

/* A certificate file (PEM; the whole chain, leaf first, may follow) and its key file. */
typedef struct rv_tls_certificate {
    const char *certificate_file;
    const char *key_file;
} rv_tls_certificate;

typedef struct rv_tls_settings {
    const rv_tls_certificate *certificates; /* the first one answers when SNI matches none */
    int certificate_count;
    int min_version;          /* 12 (TLS 1.2) or 13 (TLS 1.3) */
    const char *ciphers;      /* TLS 1.2 cipher list, OpenSSL syntax */
    const char *ciphersuites; /* TLS 1.3 cipher suites, OpenSSL syntax */
    const char *client_ca;    /* PEM file of CAs for client certificates; NULL: none */
    rv_tls_verify verify;
    rv_tls_ticket_keys *ticket_keys; /* NULL: no session tickets */
    int http2;                       /* ALPN offers h2 before http/1.1 */
    uint32_t ticket_lifetime;        /* seconds a ticket is honoured for (two rotation intervals) */
} rv_tls_settings;

/* Loads the certificates and applies the settings. NULL on failure, with one line saying
 * which file or setting is wrong in `error`. */
rv_tls_context *rv_tls_context_create(const rv_tls_settings *settings, char *error,
                                      size_t error_capacity);
void rv_tls_context_free(rv_tls_context *context);

/* Ticket keys in shared memory (MAP_SHARED, never on disk), with a first random key. The
 * key in use is replaced every `rotation_seconds`; tickets of the one before stay valid
 * until the next rotation. NULL with errno on failure. */
rv_tls_ticket_keys *rv_tls_ticket_keys_create(uint32_t rotation_seconds);
/* Unmaps this process's view; the keys vanish with the last process that maps them. */
void rv_tls_ticket_keys_free(rv_tls_ticket_keys *keys);
/* Rotates when due (called every second by each worker's loop: the first one to see it due
 * does it, for all). Returns 1 when this call rotated. */
int rv_tls_ticket_keys_rotate_if_due(rv_tls_ticket_keys *keys, int64_t now);
/* How many rotations happened (for tests and the log). */
uint64_t rv_tls_ticket_keys_generation(const rv_tls_ticket_keys *keys);

/* Whether file bodies can go out with kernel TLS and SSL_sendfile: the kernel has the TLS
 * upper-layer protocol and OpenSSL was built with kTLS. When not, `why` says what is
 * missing; file bodies are then read into a buffer and written in 16 KiB records. */
int rv_tls_kernel_tls_available(char *why, size_t why_capacity);

/* The linked OpenSSL, for `raptor-ev --version`. */
const char *rv_tls_library_version(void);

/* ------------------------------------------------------------------------------------ */
/* The worker engine (engine.c): one libev loop, accept, read, parse, timers, write.   */
/* ------------------------------------------------------------------------------------ */

typedef struct rv_conn rv_conn; /* opaque; owned by the engine */

/* Called once per complete request: on an app thread, or on the loop thread when
 * threads == 0. It must answer exactly once through rv_respond_* before returning. */
typedef void (*rv_handler_fn)(rv_conn *conn, void *context);

/* Tasks mode (async handlers): the loop starts each request by calling this on its own
 * thread; it must return at once, having handed the connection to a task that answers
 * through rv_respond_* (without blocking: rv_respond_stream_begin_nowait) and then calls
 * rv_task_finished. */
typedef void (*rv_task_start_fn)(rv_conn *conn, void *context);
/* A request's task, as the start function attached it (rv_task_attach): `cancel` 1 when its
 * client went away (cancel it, then let it go), 0 when the task finished (let it go). Called
 * once per attached task, on the loop thread (cancel) or the task's (finished). */
typedef void (*rv_task_release_fn)(void *task, int cancel);
/* Resumes a task that waited for writability (rv_conn_wait_writable), on the loop thread:
 * result 0 when the socket took everything left, -1 when the client is gone or the write
 * timeout passed. It must return at once. */
typedef void (*rv_writable_fn)(void *context, int result);

/* Called when a file body ends early: the file shrank while it was sent (sendfile found
 * its end at `reached`, short of `expected`). The engine closes the connection after it,
 * so the client can tell the body is short; this only reports it. `fd` is still open
 * (its path is /proc/self/fd/N). Runs on whichever thread was sending: an app thread or
 * the loop thread. */
typedef void (*rv_file_short_fn)(int fd, uint64_t reached, uint64_t expected, void *context);
/* A message for the debug log (from the loop thread). */
typedef void (*rv_log_fn)(const char *message, void *context);

typedef struct rv_worker_config {
    const int *listen_fds; /* bound, listening sockets (TCP or Unix) */
    int listen_count;
    /* NULL, or one entry per listen_fds: the TLS context of an ssl:// listener, NULL for a
     * plain one. */
    rv_tls_context *const *listen_tls;
    rv_tls_ticket_keys *ticket_keys; /* rotated from this worker's loop; NULL without TLS */
    rv_limits limits;
    double first_data_timeout; /* accept to first byte; 408 on expiry */
    double keepalive_timeout;  /* idle between requests; just closes */
    double request_timeout;    /* first byte to end of body; 408 on expiry */
    double body_timeout;       /* no body byte for this long; 408 on expiry */
    double write_timeout;      /* no write progress for this long; closes */
    double shutdown_timeout;   /* graceful stop: past it, open connections are dropped */
    double shutdown_idle_grace; /* graceful stop: a connection idle this long closes (capped
                                   by shutdown_timeout) */
    uint32_t max_keepalive_requests; /* the last one gets Connection: close */
    uint32_t threads;                /* 0: run the handler on the loop thread */
    /* non-NULL: each request runs as a task started by this (with handler_context), at
     * most max_inflight at once, the others wait (max_pending); `threads` must not be 0
     * and no app thread starts */
    rv_task_start_fn start_task;
    rv_task_release_fn release_task; /* may be NULL: tasks are then never cancelled */
    uint32_t max_inflight;
    /* tasks mode: a request with a body starts its task at the end of its head, and the
     * body reaches the task as it arrives (rv_body_stream_*), never stored whole */
    uint8_t stream_bodies;
    uint32_t accept_pause_backlog;   /* stop accepting while this many wait for a thread */
    uint32_t max_pending; /* 0: off; else answer 503 past this many waiting */
    /* Per listener (NULL: none anywhere): the rv_proxy_mode of listen_fds[i]; a header is
     * believed only from a peer in trusted_proxies (or a Unix socket peer). */
    const uint8_t *listen_proxy;
    const rv_cidr *trusted_proxies;
    uint32_t trusted_proxy_count;
    rv_stats *stats;      /* this worker's slot; never NULL */
    rv_handler_fn handler;
    void *handler_context;
    rv_file_short_fn file_short; /* may be NULL; gets handler_context */
    /* Called once, on the loop thread, the first time the worker answers 503 at the
     * open-files limit (RV_STAT_FD_LIMIT_503), so that the caller starts reporting it; it
     * must return at once. NULL: not called. Until then nothing runs for it, and an inline
     * worker stays a single-threaded process. */
    void (*fd_limit_reached)(void *context);
    void *fd_limit_context;
    /* NULL unless debug logging is on; called with handler_context. */
    rv_log_fn log_debug;
    /* HTTP/2 (0: off): h2c by its preface on plain listeners (ALPN is the TLS context's). A
     * stream's request goes to stream_handler, which answers through rv_h2_respond_*. */
    uint8_t http2;
    rv_handler_fn stream_handler;
    /* tasks mode: a stream's request starts its task through this instead (as start_task;
     * the task answers through rv_h2_respond_* and calls rv_h2_task_finished) */
    rv_task_start_fn start_stream_task;
    uint32_t h2_max_concurrent_streams;
    uint32_t h2_initial_window_size; /* each stream's receive window */
    uint32_t h2_max_frame_size;      /* the largest frame the client may send */
    uint32_t h2_connection_window;   /* the connection's receive window */
} rv_worker_config;

/* Runs the worker until a graceful stop (SIGTERM/SIGINT, or rv_worker_request_stop)
 * has drained it. Returns 0, or -1 with errno when it could not start. */
int rv_worker_run(const rv_worker_config *config);

/* Asks the worker (from any thread, or a signal handler) to stop gracefully. Asked before
 * rv_worker_run, the stop is remembered and the worker stops as soon as it runs. */
void rv_worker_request_stop(void);

/* From now on INT and TERM ask for a graceful stop (rv_worker_request_stop), whichever
 * thread they reach, even before rv_worker_run. rv_worker_run installs this itself; a
 * forked worker calls it at once, so a stop during its boot is not lost. */
void rv_install_stop_signal_handlers(void);

/* A forked worker stops gracefully when `parent` (its master) dies: SIGTERM through
 * PR_SET_PDEATHSIG, and a stop at once if the parent is already gone. Returns 0 or -1. */
int rv_stop_when_parent_dies(pid_t parent);

/* ---- in process (in_process.c): a worker on a thread of a program that owns its
 * signals (RaptorTesting). It serves config's listeners (there may be none) and the
 * connected sockets adopted into it; it installs no signal handler, blocks no signal but
 * SIGPIPE in its own threads, and neither INT, TERM nor rv_worker_request_stop reach it:
 * only rv_worker_stop. Several may run at once in one process. ---- */
typedef struct rv_worker rv_worker;
/* Called on the loop thread once the worker serves: `worker` is the handle for
 * rv_worker_adopt and rv_worker_stop until rv_worker_run_in_process returns. */
typedef void (*rv_worker_serving_fn)(rv_worker *worker, void *context);
/* Runs the worker on the calling thread (a thread the caller started for it, which it names
 * RV_IN_PROCESS_THREAD_NAME) until rv_worker_stop has drained it. Returns 0;
 * 1 when the shutdown timeout passed with requests still running (their threads and the
 * worker's memory are left to them); -1 with errno when it could not start (`serving` is
 * then never called). */
int rv_worker_run_in_process(const rv_worker_config *config, rv_worker_serving_fn serving,
                             void *context);
/* Inherited by the app threads it starts: a debugger, `top -H` and the tests tell the
 * engine's threads from the program's. */
#define RV_IN_PROCESS_THREAD_NAME "raptor-test"
/* From any thread: serves `fd`, a connected stream socket (one end of a socket pair), as
 * if it had been accepted from a plain listener. The worker owns fd from this call on,
 * also when it fails (-1: the worker is stopping; fd is closed). */
int rv_worker_adopt(rv_worker *worker, int fd);
/* From any thread: a graceful stop, as SIGTERM is to a server's worker. */
void rv_worker_stop(rv_worker *worker);

/* ---- the request in hand (valid until the response is finished) ---- */
const rv_request *rv_conn_request(const rv_conn *conn);
const uint8_t *rv_conn_buffer(const rv_conn *conn);
/* Copies the peer address; returns its length (0 for an unnamed Unix peer). */
socklen_t rv_conn_peer(const rv_conn *conn, struct sockaddr_storage *out);
/* The handler_context the worker runs with (for what the handler reads only sometimes). */
void *rv_conn_handler_context(const rv_conn *conn);

/* The TLS session of the request's connection (strings valid until the response is
 * finished). */
typedef struct rv_tls_info {
    const char *version;     /* "TLSv1.3" */
    const char *cipher;      /* "TLS_AES_128_GCM_SHA256" */
    const char *server_name; /* what the client asked for with SNI; NULL when it did not */
    const char *alpn;        /* the protocol ALPN chose ("http/1.1"); NULL without ALPN */
} rv_tls_info;
/* 1 and fills `out` when the connection is TLS, 0 when it is plain. */
int rv_conn_tls_info(const rv_conn *conn, rv_tls_info *out);
/* The verified client certificate's subject (RFC 2253, "CN=alice,O=Example") into `out`
 * (NUL-terminated, cut at `capacity`); returns its length, 0 when there is none. */
size_t rv_conn_tls_client_subject(const rv_conn *conn, char *out, size_t capacity);

/* ---- the response, from the thread that runs the handler ----
 * rv_respond_start, then rv_respond_field per field, then exactly one of
 * rv_respond_body / rv_respond_file / rv_respond_stream_begin (+ writes + end).
 * The engine owns framing: it writes Date, Content-Length or Transfer-Encoding and
 * Connection itself and drops those fields when a handler sets them. HEAD, 1xx, 204 and
 * 304 get no body. Functions return 0, or -1 when the client is gone (stop writing). */
void rv_respond_start(rv_conn *conn, unsigned status);
/* Returns -1 (and drops the field) when the name is not a token or the value holds
 * CR, LF or NUL: response splitting is refused here, once, for every handler. */
int rv_respond_field(rv_conn *conn, const uint8_t *name, size_t name_len,
                     const uint8_t *value, size_t value_len);
int rv_respond_body(rv_conn *conn, const uint8_t *body, size_t length);
/* Sends length bytes of fd from offset with sendfile; the engine closes fd when done. */
int rv_respond_file(rv_conn *conn, int fd, uint64_t offset, uint64_t length);
/* A body of several regions of one file, each after a piece of text (a multipart/
 * byteranges body: each part's header, then its bytes). `text` holds every part's text in
 * order, then the tail sent after the last region; part i's text is its text_length bytes.
 * Content-Length is the sum of it all. The engine copies text and parts, sends each region
 * with sendfile (without holding the thread while the client is slow, as rv_respond_file)
 * and closes fd when done. */
typedef struct rv_file_part {
    uint64_t offset;
    uint64_t length;
    size_t text_length;
} rv_file_part;
int rv_respond_file_parts(rv_conn *conn, int fd, const rv_file_part *parts, uint32_t count,
                          const uint8_t *text, size_t text_length);
/* Streams a body of unknown length: chunked on HTTP/1.1, close-delimited on HTTP/1.0.
 * Writes block the calling thread (bounded by write_timeout) while the client is slow. */
int rv_respond_stream_begin(rv_conn *conn);
int rv_respond_stream_write(rv_conn *conn, const uint8_t *data, size_t length);
int rv_respond_stream_end(rv_conn *conn);
/* The same stream for a task, which must never block its thread: begin, write and end
 * return 0 when the socket took everything, 1 when what it did not take is kept for the
 * loop (after begin and write: call rv_conn_wait_writable and write again only once it
 * resumed with 0; after end the loop finishes the response), -1 when the client is gone. */
int rv_respond_stream_begin_nowait(rv_conn *conn);
/* From a task whose stream write returned 1: `resume` is called (loop thread) once the
 * socket took the rest, or it failed or stalled for the write timeout. The connection
 * stays the task's; only its output is the loop's meanwhile. */
void rv_conn_wait_writable(rv_conn *conn, rv_writable_fn resume, void *context);
/* From the start function, on the loop thread: the task running the request, cancelled
 * through config->release_task if its client goes away (end of input while the handler
 * runs) before it finishes. */
void rv_task_attach(rv_conn *conn, void *task);
/* A task's request is answered (or abandoned: a 500, or the stream closes): the connection
 * goes back to the loop. The task must not touch the request after this. */
void rv_task_finished(rv_conn *conn);
/* ---- a request body streamed to its task (config->stream_bodies; body_stream.c) ----
 * The loop reads and decodes the body (Content-Length or chunked, under the parser's
 * limits) into a bounded buffer the task takes from, and stops reading the socket while
 * that buffer is full. The loop owns the transport until it stops reading: before its
 * first write (the response, or an error) the task calls rv_body_stream_stop. */
typedef struct rv_body_stream rv_body_stream;
/* Called on the loop thread when what a task waits for happened; must return at once. */
typedef void (*rv_body_ready_fn)(void *context);
/* What rv_body_stream_available and rv_body_stream_read answer besides a count. */
#define RV_BODY_STREAM_END 0      /* the whole body was taken */
#define RV_BODY_STREAM_EMPTY (-1) /* nothing yet: rv_body_stream_wait */
#define RV_BODY_STREAM_FAILED (-2) /* the body ends here: *failure says why */
/* Why a streamed body failed (besides an HTTP status: 400, 408, 413, 431, 500). */
#define RV_BODY_STREAM_GONE 1      /* the client closed or reset the connection */
#define RV_BODY_STREAM_ABANDONED 2 /* the response began (or the request ended) first */
/* The request's body stream, retained for the caller (release it with
 * rv_body_stream_release; it may outlive the request, and then only fails); NULL when the
 * body is not streamed (read rv_request.body). */
rv_body_stream *rv_conn_body_stream(rv_conn *conn);
void rv_body_stream_release(rv_body_stream *stream);
/* Bytes there to take (> 0), or RV_BODY_STREAM_END / _EMPTY / _FAILED. */
long rv_body_stream_available(rv_body_stream *stream, unsigned *failure);
/* Takes up to `capacity` bytes: how many (> 0), or as rv_body_stream_available. */
long rv_body_stream_read(rv_body_stream *stream, uint8_t *into, size_t capacity, unsigned *failure);
/* After RV_BODY_STREAM_EMPTY: `ready` is called once bytes, the end or a failure arrived
 * (0), or is not called because one already did (1: look again). The first wait of a
 * request that asked for 100-continue has the loop send it. */
int rv_body_stream_wait(rv_body_stream *stream, rv_body_ready_fn ready, void *context);
/* Before the task's first write: 0 when the loop reads the socket no more (the task owns
 * the transport now), 1 when `ready` is called once it stopped. A body not read to its end
 * is abandoned: the response closes the connection. */
int rv_body_stream_stop(rv_conn *conn, rv_body_ready_fn ready, void *context);
/* 1 once the loop reads the body no more. It takes the stream's lock, after which what the
 * loop wrote to the request before it stopped is visible to the caller. */
int rv_body_stream_stopped(rv_conn *conn);
/* The whole body for a task that wants it so (`receive`): the task stores what it takes
 * (memory, then a temporary file, as a body read before dispatch; 0 or -1 with errno),
 * then, at the end, publishes it as the request's rv_body (0, or -1 with errno), valid
 * until the response is finished. */
int rv_body_stream_store(rv_body_stream *stream, const uint8_t *data, size_t length);
int rv_body_stream_publish(rv_conn *conn);
int rv_body_stream_received(const rv_body_stream *stream);

/* Gives up on the response (a streaming handler failed midway): the connection is closed
 * without the final chunk, so the client cannot mistake a truncated body for a whole. */
void rv_respond_abort(rv_conn *conn);
/* The same calls for an HTTP/2 stream (the rv_conn stream_handler was given): the response
 * goes into the stream's sink and the loop sends it as flow control allows; a streamed
 * body's writes block while the stream's buffer is full (the client's window is closed),
 * up to write_timeout. No Connection or Transfer-Encoding: HTTP/2 frames the body. */
void rv_h2_respond_start(rv_conn *conn, unsigned status);
int rv_h2_respond_field(rv_conn *conn, const uint8_t *name, size_t name_len,
                        const uint8_t *value, size_t value_len);
int rv_h2_respond_body(rv_conn *conn, const uint8_t *body, size_t length);
int rv_h2_respond_file(rv_conn *conn, int fd, uint64_t offset, uint64_t length);
int rv_h2_respond_file_parts(rv_conn *conn, int fd, const rv_file_part *parts, uint32_t count,
                             const uint8_t *text, size_t text_length);
int rv_h2_respond_stream_begin(rv_conn *conn);
int rv_h2_respond_stream_write(rv_conn *conn, const uint8_t *data, size_t length);
int rv_h2_respond_stream_end(rv_conn *conn);
/* A stream's task (start_stream_task), which must never block its thread: a streamed body's
 * write takes what the stream's buffer has room for and returns that many bytes (fewer than
 * `length`: wait with rv_h2_wait_room, then write the rest), or -1 when the stream is gone. */
long rv_h2_respond_stream_write_nowait(rv_conn *conn, const uint8_t *data, size_t length);
/* `resume` is called once the stream's buffer has room (0), at once if it has, or when the
 * stream closed (-1: reset, the connection gone, the write timeout); on the loop thread when
 * it waited. */
void rv_h2_wait_room(rv_conn *conn, rv_writable_fn resume, void *context);
/* A stream's task is done (rv_task_finished's twin): the stream goes back to the loop. */
void rv_h2_task_finished(rv_conn *conn);

/* 1 once rv_respond_start has been called for this request. */
int rv_response_started(const rv_conn *conn);
/* Bytes of body this response carried (for access logs). */
uint64_t rv_response_body_bytes(const rv_conn *conn);

/* The second (Unix time) of the Date field responses carry now: a response started after
 * this call carries this second or a later one, so a Last-Modified clamped to it is never
 * later than the Date beside it (RFC 9110 section 8.8.2.1). */
int64_t rv_date_now(void);

/* ---- CPU affinity (affinity.c) ---- */
/* The CPUs this thread may run on, ascending, at most `capacity`; returns the count or -1. */
int rv_allowed_cpus(int *cpus, int capacity);
/* Pins the calling thread (and the threads it starts afterwards) to one CPU; 0 or -1. */
int rv_pin_to_cpu(int cpu);

/* ---- versions of the C libraries actually linked ---- */
void rv_library_versions(int *ev_major, int *ev_minor, unsigned long *http_parser_version);
/* The linked nghttp2, for `raptor-ev --version`. */
const char *rv_nghttp2_version(void);

#ifdef __cplusplus
}
#endif
#endif /* RAPTOR_H */
