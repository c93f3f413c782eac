/*
 * h2.h: HTTP/2 (RFC 9113) on nghttp2, private to the engine. nghttp2.h appears in the h2_*.c
 * files only.
 *
 *   h2_session.c  one h2 connection on the loop: the nghttp2 session, reads fed to it, what
 *                 it produces sent in one transport_writev per pass, timers, GOAWAY, the
 *                 limits nghttp2 does not have (rapid reset)
 *   h2_stream.c   one stream's request: fields copied into its block, the body into its
 *                 sink, the limits (413, 431), the dispatch to the runner, its completion
 *   h2_respond.c  the handler's side of a stream (rv_h2_respond_*): the response goes into
 *                 the stream's sink, never to the socket; nghttp2's data providers read it
 *
 * Ownership: the loop thread owns the session and every stream but what a dispatched
 * stream's handler writes into its sink. A dispatched stream is never freed before its
 * handler handed it back; a session whose connection closed lives on, detached, until its
 * last dispatched stream came back. The sink is shared under the session's lock: the
 * handler appends, the loop takes (nghttp2's data callbacks), and a streamed body's writer
 * waits on the session's condition variable while the stream's buffer is full; a task's
 * writer (async handlers) instead leaves a continuation the loop resumes (rv_h2_wait_room).
 */
#ifndef RAPTOR_H2_H
#define RAPTOR_H2_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdlib.h>

#include "body.h"
#include "engine.h"

/* The connection preface a client opens h2c with prior knowledge (RFC 9113 section 3.4). */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LENGTH 24

/* Room for `needed` bytes in a realloc'd buffer, its capacity doubled from `initial`:
 * returns the new capacity (the old one when it already fits), or 0 when out of memory
 * (the buffer unchanged). The field block, the head's names and the gathered output grow
 * this way. */
static inline size_t h2_grow(uint8_t **data, size_t capacity, size_t needed, size_t initial) {
    if (needed <= capacity) return capacity;
    size_t wanted = capacity ? capacity : initial;
    while (wanted < needed) wanted *= 2;
    uint8_t *grown = realloc(*data, wanted);
    if (!grown) return 0;
    *data = grown;
    return wanted;
}

/* A streamed response body waits for room past this many bytes not yet sent. */
#define H2_STREAM_BUFFER (64 * 1024)

typedef struct h2_session h2_session;
typedef struct h2_stream h2_stream;

typedef enum h2_body_kind {
    H2_BODY_NONE = 0, /* no body (HEAD, 204, 304, empty) */
    H2_BODY_BYTES,    /* `out` holds it all */
    H2_BODY_FILE,     /* `segments`: texts and file regions, read into DATA frames */
    H2_BODY_STREAM,   /* `out` is a ring the handler fills as it goes */
} h2_body_kind;

/* A piece of a file body: `length` bytes of text, or of the file from `offset`. */
typedef struct h2_segment {
    const uint8_t *text; /* NULL: a region of the file */
    uint64_t offset;
    uint64_t length;
} h2_segment;

struct h2_stream {
    /* What the handler gets, as for HTTP/1.1: `request` points at `request` below, `buffer`
     * at the field block, `peer` and `worker` are the connection's. First, so that an
     * rv_conn of a stream is its h2_stream. */
    rv_conn conn;
    h2_session *session;
    int32_t id;
    rv_request request;
    /* The field block: method, target, names and values copied out of nghttp2's callbacks
     * (its pointers are valid only during them); the request's spans point into it. */
    uint8_t *block;
    uint32_t block_length, block_capacity;
    uint32_t header_list_size; /* RFC 9113 section 6.5.2: name + value + 32 per field */
    rv_span path, authority;
    uint8_t has_method, has_path, has_host;
    rv_body_sink body;

    /* request progress (loop thread) */
    uint8_t ended;      /* the client's END_STREAM arrived */
    uint8_t dispatched; /* given to the runner; back when `handed_back` */
    uint8_t handed_back;
    uint8_t closed;     /* nghttp2 closed the stream (done or reset) */
    uint8_t submitted;  /* the response head went to nghttp2 */
    uint8_t refused;    /* answered by the engine (413, 431, 408...): its DATA is dropped */
    uint8_t deferred;   /* nghttp2 waits for data from the sink (NGHTTP2_ERR_DEFERRED) */
    uint8_t queued;     /* on the session's ready list */
    int32_t window_before_settings; /* its send window when the client's SETTINGS began */
    ev_tstamp last_input;  /* the last byte of the request (body timeout) */
    ev_tstamp last_output; /* the last DATA sent, or the submit (write timeout) */

    /* the response sink: filled by the handler's thread (rv_h2_respond_*; the status and
     * flags live in `conn`, as for HTTP/1.1); the loop reads it after the hand-back, or
     * under the session's lock once `head_ready` is set for a streamed body */
    nghttp2_nv *nv;
    uint32_t nv_count, nv_capacity;
    uint8_t *names;      /* names and values of nv, copied (nv holds offsets until submit) */
    size_t names_length, names_capacity;
    h2_body_kind body_kind;
    uint8_t head_ready; /* a streamed body began: the head may be submitted now */
    uint8_t stream_ended; /* the handler ended its streamed body */
    uint8_t writer_waits; /* the handler's thread waits for room */
    /* a task's writer waiting for room (rv_h2_wait_room): resumed by the loop once the ring
     * drained some, or with -1 once the stream closed; never blocks a thread */
    rv_writable_fn room_resume;
    void *room_context;
    uint8_t *out;       /* BYTES: the body; STREAM: a ring of H2_STREAM_BUFFER bytes */
    size_t out_start, out_length;
    int file_fd;
    h2_segment *segments;
    uint32_t segment_count, segment_at;
    uint64_t segment_done;
    _Atomic int notified; /* on the worker's news stack (an app thread pushed it) */
    _Atomic int returned; /* the handler returned on an app thread */

    h2_stream *prev, *next; /* the session's streams */
    h2_stream *ready_next;  /* the session's list of streams to dispatch */
    h2_stream *news_next;   /* the worker's news stack */
};

struct h2_session {
    nghttp2_session *ng;
    rv_conn *conn;  /* NULL once the connection closed (detached) */
    rv_worker *worker;
    h2_stream *streams;
    uint32_t stream_count;
    uint32_t out_on_runner; /* dispatched streams not handed back yet */
    h2_stream *ready_head, *ready_tail;
    pthread_mutex_t lock;
    pthread_cond_t room; /* a streamed body's buffer was drained */
    /* output: what nghttp2 produced, gathered for one transport_writev; freed after
     * H2_SLIM_AFTER idle (the read buffer goes back to the worker's pool at once) */
    uint8_t *out;
    size_t out_length, out_sent, out_capacity;
    uint8_t blocked;      /* the transport would block: wait for EV_WRITE */
    uint8_t preface_seen; /* the client's first SETTINGS arrived */
    uint8_t in_handler;   /* an inline handler runs: streams that complete wait */
    uint8_t goaway_sent;  /* a final GOAWAY is on its way: close once the streams are done */
    ev_tstamp goaway_due; /* stopping: the final GOAWAY after the shutdown notice (0: none) */
    uint8_t failed;       /* the connection is broken: close at the next chance */
    ev_tstamp blocked_since;
    ev_tstamp idle_since; /* no open stream since then */
    /* the connection's TLS, for the handlers (rv_conn_tls_info); strings owned here */
    uint8_t has_tls;
    rv_tls_info tls_info;
    char *server_name, *client_subject;
    /* frames of an abusive kind in the current window of one second (h2_session.c's
     * count_abuse): client resets (rapid reset, CVE-2023-44487), DATA frames with no payload
     * and no END_STREAM, streams refused past SETTINGS_MAX_CONCURRENT_STREAMS */
    ev_tstamp abuse_window_start;
    uint32_t abuse_in_window[3];
    /* SETTINGS_MAX_CONCURRENT_STREAMS is ours to enforce (h2_stream_admitted): the client's
     * streams open (HEADERS received, not closed by nghttp2), and whether our SETTINGS frame
     * left with the limit it states */
    uint32_t open_streams;
    uint8_t limit_advertised;
    /* RFC 9113 section 5.1.1, which nghttp2 leaves to us: the largest stream the client
     * opened, and the streams reset lately (frames still in flight on them are ignored) */
    int32_t max_client_stream;
    uint32_t peer_initial_window; /* the client's SETTINGS_INITIAL_WINDOW_SIZE in force */
    int32_t recent_resets[32];
    uint8_t recent_reset_at;
};

/* h2_session.c */
/* The connection speaks HTTP/2 from now on: the bytes in conn->buffer (a preface, or what
 * followed the TLS handshake) are fed first. Returns 0, or -1 when it was closed. */
int h2_start(rv_conn *conn);
/* Frees the session with the connection (conn_close); a session with streams still on the
 * runner lives on until they come back. */
void h2_connection_closed(rv_conn *conn);
/* Graceful stop: GOAWAY with the last stream served; the connection closes once those are
 * done. */
void h2_stop(rv_conn *conn);
/* Produces and sends what nghttp2 has to send, then decides the connection's next wait
 * (loop thread). Returns -1 when the connection was closed. */
int h2_session_pump(h2_session *session);
/* The worker's news stack (app threads push streams whose sink changed or whose handler
 * returned): taken by the loop on its ev_async. */
void h2_worker_start(rv_worker *worker);
/* Reads and feeds what the transport has (an inline streamed body waiting for room); -1
 * when the connection broke. */
int h2_session_read(h2_session *session);
void h2_notify_loop(h2_stream *stream);

/* A client's new stream within SETTINGS_MAX_CONCURRENT_STREAMS: 1, counted open until
 * nghttp2 closes it; past the limit 0, and the stream is refused (RST_STREAM REFUSED_STREAM,
 * RFC 9113 5.1.2 and 8.7) while the connection goes on. */
int h2_stream_admitted(h2_session *session, int32_t id);

/* h2_stream.c (nghttp2's receive callbacks, set by h2_session.c) */
int h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data);
int h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                 const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data);
int h2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data,
                     size_t length, void *user_data);
/* A HEADERS or DATA frame with the stream's request complete (or its head, when the body
 * must not be read): queue it for the runner. */
int h2_stream_frame_received(h2_session *session, const nghttp2_frame *frame);
void h2_stream_closed(h2_session *session, h2_stream *stream);
/* The stream is done for its handler (reset, or the connection closed): its writes fail
 * from now on, a writer waiting for room (a thread or a task) gives up, and a task is
 * cancelled (loop thread). */
void h2_stream_mark_closed(h2_stream *stream);
/* Runs the handlers of the streams whose requests are complete (inline), or queues them for
 * the app threads. */
void h2_dispatch_ready(h2_session *session);
/* The engine answers the stream itself (400, 408, 413, 431, 500, 503) and drops the rest of
 * its request. */
void h2_stream_fail(h2_stream *stream, unsigned status);
void h2_stream_free(h2_stream *stream);
/* An app thread runs a stream's handler (pool.c). */
void h2_run_on_thread(rv_conn *conn);
/* Tasks mode: the stream's turn came (tasks.c, loop thread): its task starts, unless the
 * stream was reset while it waited; it comes back through rv_h2_task_finished. */
void h2_start_task(rv_conn *conn);
/* A stream's handler returned, or its sink has news: submit, resume (loop thread). */
void h2_stream_news(h2_stream *stream);

/* h2_respond.c */
/* Submits the stream's response to nghttp2 once its head is ready (loop thread). */
void h2_submit_response(h2_stream *stream);
/* After the handler returned: a missing answer is a 500, a streamed body left open is reset;
 * the duration is counted. */
void h2_respond_ensure_finished(h2_stream *stream);
/* Frees what the sink holds (the stream is done). */
void h2_sink_free(h2_stream *stream);

static inline h2_stream *h2_stream_of(rv_conn *conn) { return (h2_stream *)conn; }

#endif
