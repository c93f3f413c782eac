/*
 * engine.h: private to the engine's C files (not imported by Swift).
 *
 * Ownership, which every file relies on:
 * - The loop thread owns a connection in every state but CONN_DISPATCHED.
 * - In CONN_DISPATCHED one app thread (or the loop thread itself in inline mode, or a
 *   Swift task in tasks mode) owns it until the handler returns; it may read the request
 *   and write the response, and records what the loop must do next in `handback`. Only
 *   then is the connection handed back (directly in inline mode, through the completion
 *   stack in pool and tasks mode). A task that waits for the socket to take a streamed
 *   body lends the connection's output to the loop meanwhile (tasks.c).
 */
#ifndef RAPTOR_ENGINE_H
#define RAPTOR_ENGINE_H

#include <ev.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "raptor.h"

/* The two states a readable socket usually finds come first: conn_read_cb tells them from
 * the others with one comparison. */
typedef enum conn_state {
    CONN_IDLE,       /* no byte of the next request yet (fresh or keep-alive) */
    CONN_READING,    /* a request has started: head or body */
    CONN_HANDSHAKE,  /* the transport is being set up (a TLS handshake) */
    CONN_DISPATCHED, /* the application has it (queued or running) */
    CONN_WRITING,    /* response output waits for the socket (EV_WRITE) */
    CONN_LINGERING,  /* answered and closing: draining input so no RST eats the answer */
    CONN_SNIFF,      /* plain, HTTP/2 on: the first bytes tell the h2c preface from HTTP/1.1 */
    CONN_H2,         /* speaks HTTP/2: h2_session.c has it (conn->h2) */
} conn_state;

/* What the loop does when a deadline passes. */
typedef enum deadline_kind {
    DEADLINE_NONE,
    DEADLINE_FIRST_DATA, /* 408 */
    DEADLINE_IDLE,       /* close quietly */
    DEADLINE_REQUEST,    /* 408 */
    DEADLINE_BODY,       /* 408 */
    DEADLINE_WRITE,      /* close */
    DEADLINE_LINGER,     /* close */
} deadline_kind;

/* What the handler's thread left for the loop. */
typedef enum handback {
    HANDBACK_DONE,          /* response fully written */
    HANDBACK_WRITE_PENDING, /* output left in pending/file: wait for EV_WRITE */
    HANDBACK_CLOSE,         /* client gone or response abandoned */
    HANDBACK_CLOSED,        /* response fully written, socket closed by its thread (pool.c) */
} handback;

typedef struct rv_worker rv_worker;

/* A connection's peer: an IP address. A Unix socket peer keeps its family only (no one
 * reads its path), so an idle connection's struct stays small (conn.c: 504 bytes). */
typedef union rv_peer {
    struct sockaddr address;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
} rv_peer;

/* The state of a worker run in process (in_process.c); NULL in a server's worker. */
typedef struct rv_in_process rv_in_process;

struct rv_conn {
    rv_worker *worker;
    int fd;
    conn_state state;
    /* the transport (transport.h): plain while tls is NULL, TLS (tls_conn.c) otherwise */
    struct ssl_st *tls;
    uint8_t tls_wants;   /* after EAGAIN: the readiness TLS waits for, if not the call's own */
    uint8_t tls_sniffed; /* the first bytes were read and looked like a ClientHello */
    uint8_t tls_quiet;   /* the session failed or the peer closed: no close_notify */
    uint32_t tls_out_length;
    uint8_t *tls_out;    /* encrypted output the socket has not taken yet (usually NULL) */
    ev_io io;
    ev_timer timer;
    ev_tstamp deadline;    /* 0: none */
    ev_tstamp timer_at;    /* when the timer is due, while it is active */
    deadline_kind deadline_kind;
    ev_tstamp request_started;

    /* read side */
    uint8_t *buffer;
    uint32_t length;   /* bytes held */
    uint32_t capacity;
    uint32_t parsed;   /* bytes fed to the parser */
    rv_parser *parser;
    const rv_request *request; /* the parser's request (a fixed address for its life) */
    uint32_t requests_served;
    uint8_t parked;       /* counted in RV_STAT_KEEPALIVE_CONNECTIONS */
    uint8_t slimmed;      /* parked long enough to have given back its transport buffers */
    ev_tstamp parked_at;
    uint8_t nodelay;      /* TCP_NODELAY is set (or not needed: a Unix socket) */
    uint8_t read_stopped; /* the loop stopped reading it while dispatched (loop thread only) */
    uint8_t read_while_stopping; /* bytes arrived after the stop began: its answers close */
    uint8_t proxy_mode;   /* a PROXY header may still come first (rv_proxy_mode) */
    uint8_t proxy_untrusted; /* from a peer not trusted: a header closes the connection */
    uint8_t read_resumes;    /* on a resume list of the worker (conn.c, bounded reads) */
    /* dispatched from the accept's own read with the read watcher stopped at once, so the
     * socket was never in the loop's epoll set: its thread may close it (conn.c) */
    uint8_t never_polled;

    /* response side (written by the handler's thread while dispatched) */
    handback handback;
    uint8_t responded;    /* rv_respond_start was called */
    uint8_t finished;     /* the response is complete (or abandoned) */
    uint8_t close_after;  /* Connection: close */
    uint8_t no_body;      /* HEAD, 1xx, 204, 304 */
    uint8_t streaming;    /* 1 chunked, 2 close-delimited */
    uint8_t engine_error; /* the answer is the engine's own error (400, 408, 503, ...) */
    uint8_t stream_nowait; /* a task's stream: writes never block (rv_respond_stream_begin_nowait) */
    /* HTTP/2: an rv_conn that is a stream's (the handler's view of one h2 request, h2.h)
     * has no socket */
    uint8_t h2_stream;
    uint16_t status;
    uint64_t body_bytes;
    uint8_t *pending;     /* unsent output the loop owns (copied on EAGAIN) */
    uint32_t pending_length, pending_sent, pending_capacity;
    int file_fd;          /* after `pending`: a file region still to sendfile */
    uint64_t file_offset, file_left;
    struct file_parts *parts; /* rv_respond_file_parts: the regions and texts after it */

    /* tasks mode: the task waiting for the socket to take what its stream left (tasks.c) */
    ev_io writable;
    ev_timer writable_timer;
    rv_writable_fn resume;
    void *resume_context;
    /* tasks mode: the request's task (rv_task_attach), taken once by whoever lets it go */
    void *_Atomic task;
    /* tasks mode with streamed bodies: the request's body on its way to the task */
    struct rv_body_stream *body_stream;

    rv_peer peer;
    socklen_t peer_length;

    rv_conn *next; /* free list, dispatch queue or completion list */
    rv_conn *resume_next; /* worker->resume_reads or worker->resuming */
    rv_conn *live_prev, *live_next; /* every open connection, for a graceful stop */
    /* HTTP/2 (h2.h): the session of a connection that speaks it, or of a stream's */
    struct h2_session *h2;
};

/* Thread pool with its dispatch queue and the completion list back to the loop. */
typedef struct rv_pool {
    /* requests dispatched during this loop iteration: loop thread only, handed to the
     * queue in one go before the loop waits again (ev_prepare) */
    rv_conn *batch_head, *batch_tail;
    uint32_t batch_count;
    ev_prepare flush;

    pthread_mutex_t lock; /* guards the queue, pending, idle and stopping */
    sem_t wake;           /* a token per idle thread to wake (pool.c says why not a condvar) */
    rv_conn *queue_head, *queue_tail;
    /* queued, not yet taken by a thread: changed under `lock`, read without it by the
     * loop (backpressure, shedding), hence atomic */
    _Atomic uint32_t pending;
    uint32_t idle;    /* threads waiting on `wake` with no token posted for them yet */
    int stopping;
    pthread_t *threads;
    uint32_t thread_count;

    /* finished requests, pushed by app threads without a lock (a Treiber stack) and
     * taken all at once by the loop: right after it wakes, before it sleeps, or when
     * `done_async` wakes it for a completion that cannot wait */
    rv_conn *_Atomic done;
    ev_async done_async;
    ev_check collect;
    ev_timer collect_timer; /* bounds the loop's sleep while requests are out */
    uint32_t in_flight;     /* dispatched, not yet collected (loop thread only) */
    /* dispatched connections whose read watcher the loop stopped (input arrived while the
     * handler ran): nothing else will wake the loop for them, so their hand back must */
    atomic_uint stopped_readers;

    /* tasks mode (config->start_task; tasks.c): requests dispatched as for the threads
     * (the batch) past --max-inflight wait here, oldest first (loop thread only; the count
     * is read by tasks to know a completion must wake the loop), and tasks waiting for
     * writability reach the loop through a Treiber stack and an ev_async */
    rv_conn *tasks_waiting_head, *tasks_waiting_tail;
    atomic_uint tasks_waiting;
    rv_conn *_Atomic writers;
    ev_async writers_async;
} rv_pool;

struct rv_worker {
    struct ev_loop *loop;
    const rv_worker_config *config; /* &settings */
    /* The caller's settings, copied: after a forced stop in process, handlers still running
     * on app threads read them (the keep-alive limit, the write timeout) once the caller's
     * struct, on its thread's stack, is gone. What it points to (the application, the
     * stats) the caller leaves to them (InProcessWorker). */
    rv_worker_config settings;
    rv_stats *stats;
    ev_io *listeners;
    int listening;          /* listener watchers are started */
    atomic_int accept_paused; /* by backpressure (app threads read it) */
    ev_timer accept_retry;  /* after EMFILE/ENFILE without a reserve, ENOBUFS, ENOMEM */
    int reserve_fd;         /* kept for answering 503 at the descriptor limit; -1: none */
    int fd_limit_reported;  /* config->fd_limit_reached was called */
    ev_periodic tick;       /* each wall-clock second: the heartbeat */
    ev_signal sigterm, sigint;
    ev_async stop_async;
    ev_timer shutdown_timer;
    atomic_int stopping;
    int forced_stop; /* the shutdown timeout passed with requests still open */
    uint32_t connections;
    rv_conn *live; /* open connections */
    rv_conn *free_conns;
    uint32_t free_conn_count;
    uint8_t **free_buffers;
    uint32_t free_buffer_count;
    rv_parser **free_parsers; /* a parser is held only while a request is read or answered */
    uint32_t free_parser_count;
    size_t pooled_body_bytes; /* the body buffers free parsers keep (conn.c, release_parser) */
    /* Connections that stopped reading at the per-wake bound with input still inside
     * their transport: read again after the next poll (conn.c, resume_check_cb). The idle
     * watcher, started with the check, keeps that poll from blocking. */
    rv_conn *resume_reads;
    rv_conn *resuming; /* the list resume_check_cb is going through */
    ev_check resume_check;
    ev_idle resume_idle;
    rv_conn *first_read; /* the connection conn_accepted is reading at once, if any */
    rv_pool pool;
    /* HTTP/2 streams whose sink changed or whose handler returned on an app thread, pushed
     * like completions and taken by the loop on h2_async (h2_session.c) */
    struct h2_stream *_Atomic h2_news;
    ev_async h2_async;
    /* Streamed request bodies a task asked the loop about (room again, 100-continue, stop
     * reading, finished), pushed like completions and taken on body_async (body_stream.c) */
    struct rv_body_stream *_Atomic body_news;
    ev_async body_async;
    rv_in_process *in_process; /* NULL: a server's worker, which owns the stop signals */
};

/* Read buffers: most requests fit in one; bigger heads grow it up to the limit. */
#define RV_BUFFER_SIZE 8192
/* At most this many free connections, buffers and parsers kept per worker for reuse. */
#define RV_POOLED 1024
/* Full reads of one connection per wake-up of the loop, whatever reads it (HTTP/1.1, a
 * streamed body, HTTP/2): then the loop polls again (conn.c, "bounded reads"). */
#define READS_PER_WAKE 16

/* conn.c: the loop side of a connection */
void conn_accepted(rv_worker *worker, int fd, const struct sockaddr_storage *peer,
                   socklen_t peer_length, rv_proxy_mode proxy, const rv_tls_context *tls);
void conn_after_handler(rv_conn *conn);
/* Called by the thread that owns a dispatched connection, after its response: closes the
 * socket there and records HANDBACK_CLOSED when the connection ends with this response and
 * nothing of it needs the loop (no lingering, nothing left to write, never polled); 0
 * otherwise (the loop decides as usual). */
int conn_close_by_owner(rv_conn *conn);
void conn_close(rv_conn *conn);
/* Sets up the watchers that resume bounded reads (before the loop runs). */
void conn_reading_init(rv_worker *worker);
/* An HTTP/2 connection that ended cleanly: its session freed, the connection lingers (stops
 * writing, drains briefly, closes) like an HTTP/1.1 one closing after its answer. */
void conn_linger_after_h2(rv_conn *conn);
/* The connection's read buffer from the worker's pool (0, or -1 out of memory), and back. */
int conn_take_buffer(rv_conn *conn);
void conn_give_back_buffer(rv_conn *conn);
/* Graceful stop: every connection waiting for a request gets the idle grace (conn.c). */
void conn_stop_all(rv_worker *worker);
/* While stopping: whether this response must say Connection: close (no request read
 * before the stop waits behind it). Called by the thread that owns the connection. */
int conn_closes_when_stopping(const rv_conn *conn);
/* conn.c's rule for whether the response being started may leave the connection open for
 * another request (respond.c asks it for the Connection field; the response may still
 * demand a close): RFC 9112 section 9.3 (HTTP/1.1 without Connection: close, or HTTP/1.0
 * with keep-alive), not an upgrade, no error earned, fewer than --max-keepalive-requests
 * served, and the worker not stopping (or, stopping, still owing this connection an answer
 * it has read). Inline: it runs for every response. */
static inline int conn_keep_alive_allowed(const rv_conn *conn) {
    const rv_request *request = conn->request;
    return request->keep_alive && !request->upgrade && request->error_status == 0 &&
           conn->requests_served + 1 < conn->worker->config->max_keepalive_requests &&
           !(atomic_load_explicit(&conn->worker->stopping, memory_order_relaxed) &&
             conn_closes_when_stopping(conn));
}
/* For body_stream.c, which reads a dispatched connection's body: conn.c's reading watcher,
 * the body deadline (armed: --body-timeout from now; else none), a read's bytes counted,
 * and a read bounded per wake-up resumed after the next poll. */
void conn_watch_input(rv_conn *conn);
void conn_set_body_deadline(rv_conn *conn, int armed);
void conn_took_input(rv_conn *conn, ssize_t got);
void conn_resume_later(rv_conn *conn);
/* Every second: connections parked since the last tick give back their transport's
 * buffers (a busy keep-alive connection keeps them from one request to the next). */
void conn_slim_idle(rv_worker *worker);

/* respond.c: encoding and writing responses; never decides what the connection does next */
/* Writes one of the engine's own errors (the body: `text`, or the reason phrase when
 * NULL); the connection closes after it (conn_fail). */
void respond_error(rv_conn *conn, unsigned status, const char *text);
int respond_continue(rv_conn *conn);
void respond_reset(rv_conn *conn);
/* After the handler returned: a handler that never answered gets a 500, a stream left
 * open is abandoned (the connection closes); an answered request's duration is counted. */
void respond_ensure_finished(rv_conn *conn);
/* Writes pending output (loop thread); 1 done, 0 would block, -1 failed. */
int respond_flush_pending(rv_conn *conn);
/* An app thread ends: frees its head buffer and its TLS write buffers (thread-local; nothing
 * else would). */
void respond_thread_exit(void);
/* Shared with h2_respond.c: a response's status in the stats; RFC 9110 field syntax (a
 * token name; a value without CR, LF or NUL). */
void respond_count_status(rv_worker *worker, unsigned status);
int respond_valid_field(const uint8_t *name, size_t name_length, const uint8_t *value,
                        size_t value_length);
/* A body of file parts (rv_respond_file_parts): 1 when its texts fit in `text_length` and
 * it has a part; *total is its length. */
int respond_file_parts_valid(const rv_file_part *parts, uint32_t count, size_t text_length, uint64_t *total);

/* pool.c */
int pool_start(rv_worker *worker);
/* Queues a request for an app thread; -1 when --max-pending requests already wait. */
int pool_dispatch(rv_worker *worker, rv_conn *conn);
uint32_t pool_waiting(const rv_worker *worker);
void pool_stop(rv_worker *worker);
/* The loop stopped reading `conn` while an app thread has it: make sure its hand back
 * wakes the loop. */
void pool_reader_stopped(rv_worker *worker, rv_conn *conn);
/* The connection's handler is done (its response finished or left for the loop): back to
 * the loop through the completion stack, waking it when it must act now (`urgent`: the
 * caller says so, whatever the connection needs). */
void pool_hand_back(rv_worker *worker, rv_conn *conn, int urgent);

/* tasks.c: async handlers, each request a Swift task */
void tasks_start(rv_worker *worker);
/* Before the loop waits (pool.c's flush): this iteration's requests (pool_dispatch's batch)
 * start as tasks up to --max-inflight; the others wait, oldest first. */
void tasks_start_batch(rv_worker *worker);
/* After completions were collected: start waiting requests up to --max-inflight. */
void tasks_start_waiting(rv_worker *worker);
/* Input (or its end) came while a task has the request: if the client went away, cancel
 * the task. */
void tasks_check_client(rv_conn *conn);
/* Lets the request's task go (`cancel`: cancelled first), once: its hand-back, its client
 * gone, or (HTTP/2) its stream reset. */
void tasks_release(rv_conn *conn, int cancel);

/* body_stream.c: a request body streamed to its task (config->stream_bodies) */
void body_streams_start(rv_worker *worker);
/* A connection of a streaming worker took a parser: its body bytes go to its stream. */
void body_stream_divert(rv_conn *conn);
/* The head is done and a body follows: the stream reads it from now on (`continue_due`:
 * 100 Continue is owed, sent when the task first waits for the body). Before dispatch;
 * -1 when out of memory. */
int body_stream_begin(rv_conn *conn, int continue_due);
/* Dispatched: read and decode while there is room (conn_read_cb while it reads). */
void body_stream_pump(rv_conn *conn);
int body_stream_reads(const rv_conn *conn);
/* The body deadline passed while dispatched: the body fails with 408. */
void body_stream_timed_out(rv_conn *conn);
/* The request is over (closed): the stream is forgotten (a task still holding it sees
 * it fail). */
void body_stream_end(rv_conn *conn);
/* tasks.c: a task with a stream finished; the loop forgets the stream, then collects. */
void body_stream_task_finished(rv_conn *conn);

/* engine.c */
void worker_update_accepting(rv_worker *worker);
/* Ends a stopping worker's loop once nothing is left: no connection, no request out. */
void worker_check_drained(rv_worker *worker);
/* rv_worker_run's body; in process (non-NULL `in_process`) it leaves the signals alone. */
int worker_run(const rv_worker_config *config, rv_in_process *in_process);
/* A graceful stop of this worker, from any thread. */
void worker_request_stop(rv_worker *worker);

/* in_process.c: called by worker_run on the loop thread, once serving and once stopped */
void in_process_serving(rv_worker *worker);
void in_process_stopped(rv_worker *worker);

/* date.c: copies the Date header value of the current second, e.g.
 * "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes), to out. Any thread; no syscall. */
void date_copy(char out[29]);

/* h2_session.c: what rv_conn_tls_info and rv_conn_tls_client_subject answer for an HTTP/2
 * stream (its connection's TLS, captured when the session began: the handler's thread
 * never touches the connection's SSL). */
int h2_stream_tls_info(const rv_conn *conn, rv_tls_info *out);
size_t h2_stream_tls_client_subject(const rv_conn *conn, char *out, size_t capacity);

#define STAT_ADD(worker, which, delta) rv_stats_add((worker)->stats, (which), (delta))

#endif
