/*
 * body_stream.c: a request body streamed to its task (tasks mode, config->stream_bodies).
 *
 * The task starts at the end of the head; the loop goes on reading the socket and feeding
 * the parser, whose decoded body bytes (Content-Length or chunked, under every limit the
 * parser applies) land here instead of in the body sink (rv_body_sink.divert). The task
 * takes them (rv_body_stream_read) and, when there are none, waits (rv_body_stream_wait):
 * the loop resumes it when bytes, the end or a failure arrive.
 *
 * Bounded: the stream holds at most STREAM_CAPACITY bytes. The loop reads only while a
 * read's worth of room is left, feeding the parser no more than the room (a decoded byte
 * is never more than a byte read); with less, it stops reading (the socket's buffers fill
 * and the client's sends block) until the task took enough, which it tells the loop
 * through the worker's body_news stack and body_async. A connection streaming a body
 * holds this buffer and its read buffer, whatever the body's length.
 *
 * One owner of the transport: while the loop reads for the stream, only it touches the
 * socket (and, over TLS, the SSL object); the 100 Continue is the loop's to send too. The
 * task writes nothing before rv_body_stream_stop said the loop stopped: at once when the
 * body ended or failed, otherwise after the loop acknowledged (and then the body not read
 * is abandoned: the request may not keep the connection alive, so the response closes it
 * and the connection lingers, draining what the client still sends).
 *
 * Deadlines: the body timeout runs while the loop waits for the client (not while the
 * task lags, nor before a 100 Continue owed is sent); when it passes, the body fails with
 * 408 and the response closes the connection. --request-timeout ended at dispatch, as for
 * every dispatched request: the handler owns the request's time.
 *
 * Life: the connection holds a reference from the first body byte (or the end of the head)
 * until the request is over; the task holds one per Swift object that reads it; a stream
 * on body_news holds one. The loop forgets the stream when the task finishes (through
 * body_news, then the usual completion) or the connection closes; a reader left over
 * (the sequence escaped the handler) then sees it fail.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#include "transport.h"

/* The most a stream holds: what the client may have sent beyond the socket's buffers. A
 * shorter body (Content-Length) gets a stream of its length. */
#define STREAM_CAPACITY ((size_t)64 * 1024)
/* The loop reads only with this much room (a read's worth; less would be many small reads),
 * or with the whole stream free when it is smaller. */
#define READ_ROOM ((size_t)RV_BUFFER_SIZE)

struct rv_body_stream {
    pthread_mutex_t lock; /* guards everything below but `refs` and the loop's own fields */
    atomic_uint refs;
    rv_conn *conn; /* NULL once the request is over */
    uint8_t *data;
    size_t start, end, capacity; /* the bytes not taken: data[start ..< end] */
    uint8_t reading;             /* the loop reads the body for the task */
    uint8_t paused;              /* ... but stopped: no room left */
    uint8_t continue_due;        /* 100 Continue owed, sent at the task's first wait */
    uint8_t news;                /* on body_news */
    uint8_t ask_resume, ask_continue, ask_stop, ask_finish; /* what the news is */
    unsigned failure;            /* 0, an HTTP status, or RV_BODY_STREAM_GONE / _ABANDONED */
    rv_body_ready_fn ready;      /* a task waiting for bytes */
    void *ready_context;
    rv_body_ready_fn stopped; /* a task waiting for the loop to stop reading */
    void *stopped_context;
    struct rv_body_stream *news_next;
    /* the task's own: the body it stored (rv_body_stream_store), published once received */
    rv_body_sink stored;
    uint8_t received;
};

/* ---- references ---- */

static void retain(rv_body_stream *stream) { atomic_fetch_add_explicit(&stream->refs, 1, memory_order_relaxed); }

void rv_body_stream_release(rv_body_stream *stream) {
    if (atomic_fetch_sub_explicit(&stream->refs, 1, memory_order_acq_rel) != 1) return;
    pthread_mutex_destroy(&stream->lock);
    rv_body_sink_destroy(&stream->stored);
    free(stream->data);
    free(stream);
}

static rv_body_stream *create(rv_conn *conn) {
    rv_body_stream *stream = calloc(1, sizeof *stream);
    if (!stream) return NULL;
    int64_t length = conn->request->content_length;
    size_t capacity = length > 0 && (uint64_t)length < STREAM_CAPACITY ? (size_t)length : STREAM_CAPACITY;
    stream->data = malloc(capacity);
    if (!stream->data) {
        free(stream);
        return NULL;
    }
    stream->capacity = capacity;
    rv_body_sink_init(&stream->stored, conn->worker->config->limits.body_memory_max);
    pthread_mutex_init(&stream->lock, NULL);
    atomic_init(&stream->refs, 1); /* the connection's */
    stream->conn = conn;
    conn->body_stream = stream;
    return stream;
}

rv_body_stream *rv_conn_body_stream(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    if (stream) retain(stream);
    return stream;
}

/* ---- the loop's side ---- */

/* Under the lock: room for more bytes. */
static size_t room(const rv_body_stream *stream) { return stream->capacity - (stream->end - stream->start); }

/* Under the lock: room enough for the loop to read. */
static int room_to_read(const rv_body_stream *stream) {
    return room(stream) >= (stream->capacity < READ_ROOM ? stream->capacity : READ_ROOM);
}

/* Under the lock: room enough for a paused loop to read again (half the stream: the task
 * wakes the loop once per half, not per chunk it takes). */
static int room_to_resume(const rv_body_stream *stream) { return room(stream) >= stream->capacity / 2; }

/* Takes the waiting task's resumption (under the lock); the caller calls it unlocked. */
static rv_body_ready_fn take_ready(rv_body_stream *stream, void **context) {
    rv_body_ready_fn ready = stream->ready;
    *context = stream->ready_context;
    stream->ready = NULL;
    stream->ready_context = NULL;
    return ready;
}

/* The parser's decoded body bytes (rv_body_sink.divert), on the loop thread. The room was
 * checked before the feed; only a connection's first feed (the head's read, before any
 * check) may bring more, at most a read buffer's worth: the stream then grows to hold it. */
static int append(void *context, const uint8_t *data, size_t length) {
    rv_conn *conn = context;
    rv_body_stream *stream = conn->body_stream;
    if (!stream && !(stream = create(conn))) return -1;
    pthread_mutex_lock(&stream->lock);
    if (stream->end + length > stream->capacity) {
        memmove(stream->data, stream->data + stream->start, stream->end - stream->start);
        stream->end -= stream->start;
        stream->start = 0;
        if (stream->end + length > stream->capacity) {
            uint8_t *grown = realloc(stream->data, stream->end + length);
            if (!grown) {
                pthread_mutex_unlock(&stream->lock);
                return -1;
            }
            stream->data = grown;
            stream->capacity = stream->end + length;
        }
    }
    memcpy(stream->data + stream->end, data, length);
    stream->end += length;
    stream->continue_due = 0; /* the client sent the body without waiting for the 100 */
    void *ready_context;
    rv_body_ready_fn ready = take_ready(stream, &ready_context);
    pthread_mutex_unlock(&stream->lock);
    if (ready) ready(ready_context);
    return 0;
}

void body_stream_divert(rv_conn *conn) {
    conn->parser->sink.divert = append;
    conn->parser->sink.divert_context = conn;
}

int body_stream_reads(const rv_conn *conn) { return conn->body_stream->reading; }

/* The loop reads for the stream no more (the body ended, failed or was abandoned):
 * `failure` 0 for the end. Resumes a task waiting for bytes. */
static void stop_reading(rv_conn *conn, unsigned failure) {
    rv_body_stream *stream = conn->body_stream;
    pthread_mutex_lock(&stream->lock);
    stream->reading = 0;
    stream->paused = 0;
    stream->continue_due = 0;
    if (failure && !stream->failure) stream->failure = failure;
    void *ready_context;
    rv_body_ready_fn ready = take_ready(stream, &ready_context);
    pthread_mutex_unlock(&stream->lock);
    conn_set_body_deadline(conn, 0);
    if (ready) ready(ready_context);
}

/* The body failed, or was abandoned: whatever the handler answers, the connection closes
 * after it (the rest of the body was never read). The parser's own failures (413, 400)
 * already set the request's error. */
static void fail(rv_conn *conn, unsigned failure) {
    if (failure == RV_BODY_STREAM_GONE) tasks_check_client(conn);
    rv_request *request = &conn->parser->req;
    request->keep_alive = 0;
    if (failure >= 400 && request->error_status == 0) request->error_status = (uint16_t)failure;
    stop_reading(conn, failure);
}

void body_stream_timed_out(rv_conn *conn) {
    STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
    fail(conn, 408);
}

/* No room for a read: the socket waits until the task took enough (its news resumes). */
static void pause_reading(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    ev_io_stop(conn->worker->loop, &conn->io);
    conn_set_body_deadline(conn, 0); /* the task lags, not the client */
    pthread_mutex_lock(&stream->lock);
    stream->paused = 1;
    int resume = room_to_resume(stream); /* taken meanwhile */
    if (resume) stream->paused = 0;
    pthread_mutex_unlock(&stream->lock);
    if (resume) {
        conn_watch_input(conn);
        conn_set_body_deadline(conn, 1);
    }
}

/* Fed bytes were copied out (the parser says when: not while trailer fields, whose spans
 * point into the buffer, are read): keep the head and what is not fed yet. */
static void compact(rv_conn *conn) {
    if (!rv_parser_body_bytes_discardable(conn->parser)) return;
    uint32_t head = conn->request->head_length, left = conn->length - conn->parsed;
    if (conn->parsed > head) memmove(conn->buffer + head, conn->buffer + conn->parsed, left);
    conn->length = head + left;
    conn->parsed = head;
}

/* Feeds what the buffer holds beyond the parsed bytes, no more than the stream's room.
 * Returns 1 while the body goes on, 0 when it ended or failed, -1 when out of room. */
static int feed(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    for (;;) {
        compact(conn);
        if (conn->parsed == conn->length) return 1;
        pthread_mutex_lock(&stream->lock);
        size_t free_bytes = room(stream);
        pthread_mutex_unlock(&stream->lock);
        if (free_bytes == 0) return -1;
        uint32_t end = conn->length - conn->parsed > free_bytes ? conn->parsed + (uint32_t)free_bytes : conn->length;
        uint32_t consumed = conn->parsed;
        rv_parse_result result = rv_parser_feed(conn->parser, conn->buffer, conn->parsed, end, &consumed);
        conn->parsed = consumed;
        if (result == RV_PARSE_COMPLETE) {
            stop_reading(conn, 0);
            return 0;
        }
        if (result == RV_PARSE_ERROR) {
            STAT_ADD(conn->worker, RV_STAT_PARSE_ERRORS, 1);
            fail(conn, conn->request->error_status);
            return 0;
        }
    }
}

void body_stream_pump(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    for (int reads = 0;; reads++) {
        int fed = feed(conn);
        if (fed == 0) return;
        pthread_mutex_lock(&stream->lock);
        size_t free_bytes = room(stream);
        int can_read = room_to_read(stream);
        pthread_mutex_unlock(&stream->lock);
        if (fed < 0 || !can_read) {
            pause_reading(conn);
            return;
        }
        if (reads == READS_PER_WAKE) {
            conn_watch_input(conn);
            if (transport_has_buffered_input(conn)) conn_resume_later(conn);
            return;
        }
        /* The buffer never grows while the task reads the head from it: a trailer section
         * that does not fit the read buffer is refused. */
        if (conn->length == conn->capacity) {
            fail(conn, 431);
            return;
        }
        size_t want = conn->capacity - conn->length;
        if (want > free_bytes) want = free_bytes;
        ssize_t got = transport_read(conn, conn->buffer + conn->length, want);
        if (got < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) {
                conn_watch_input(conn);
                return;
            }
            fail(conn, RV_BODY_STREAM_GONE);
            return;
        }
        if (got == 0) {
            fail(conn, RV_BODY_STREAM_GONE);
            return;
        }
        conn_took_input(conn, got);
        conn_set_body_deadline(conn, 1);
        if ((size_t)got < want && !transport_has_buffered_input(conn)) {
            /* a short read drained the socket: feed it, then wait for the next readiness */
            if (feed(conn) < 0) pause_reading(conn);
            else if (stream->reading) conn_watch_input(conn);
            return;
        }
    }
}

int body_stream_begin(rv_conn *conn, int continue_due) {
    rv_body_stream *stream = conn->body_stream;
    if (!stream && !(stream = create(conn))) return -1;
    pthread_mutex_lock(&stream->lock);
    stream->reading = 1;
    stream->continue_due = (uint8_t)continue_due;
    pthread_mutex_unlock(&stream->lock);
    return 0;
}

/* ---- the task's side ---- */

/* Under the lock: puts the stream on the worker's news (once) for the loop to look at. */
static int post_news(rv_body_stream *stream) {
    if (stream->news || !stream->conn) return 0;
    stream->news = 1;
    retain(stream);
    rv_worker *worker = stream->conn->worker;
    rv_body_stream *top = atomic_load_explicit(&worker->body_news, memory_order_relaxed);
    do {
        stream->news_next = top;
    } while (!atomic_compare_exchange_weak_explicit(&worker->body_news, &top, stream, memory_order_release,
                                                    memory_order_relaxed));
    return 1;
}

static void wake_loop(rv_worker *worker) { ev_async_send(worker->loop, &worker->body_async); }

/* Under the lock: what the task finds. */
static long state(const rv_body_stream *stream, unsigned *failure) {
    if (stream->end > stream->start) return (long)(stream->end - stream->start);
    if (stream->reading) return RV_BODY_STREAM_EMPTY;
    if (stream->failure) {
        *failure = stream->failure;
        return RV_BODY_STREAM_FAILED;
    }
    if (!stream->conn) { /* the request ended before the body was taken */
        *failure = RV_BODY_STREAM_ABANDONED;
        return RV_BODY_STREAM_FAILED;
    }
    return RV_BODY_STREAM_END;
}

long rv_body_stream_available(rv_body_stream *stream, unsigned *failure) {
    pthread_mutex_lock(&stream->lock);
    long available = state(stream, failure);
    pthread_mutex_unlock(&stream->lock);
    return available;
}

long rv_body_stream_read(rv_body_stream *stream, uint8_t *into, size_t capacity, unsigned *failure) {
    pthread_mutex_lock(&stream->lock);
    long available = state(stream, failure);
    if (available <= 0) {
        pthread_mutex_unlock(&stream->lock);
        return available;
    }
    size_t taken = (size_t)available < capacity ? (size_t)available : capacity;
    memcpy(into, stream->data + stream->start, taken);
    stream->start += taken;
    if (stream->start == stream->end) stream->start = stream->end = 0;
    rv_worker *worker = stream->conn ? stream->conn->worker : NULL;
    int wake = 0;
    if (stream->paused && room_to_resume(stream)) {
        stream->ask_resume = 1;
        wake = post_news(stream);
    }
    pthread_mutex_unlock(&stream->lock);
    if (wake) wake_loop(worker);
    return (long)taken;
}

int rv_body_stream_wait(rv_body_stream *stream, rv_body_ready_fn ready, void *context) {
    pthread_mutex_lock(&stream->lock);
    unsigned failure;
    if (state(stream, &failure) != RV_BODY_STREAM_EMPTY) {
        pthread_mutex_unlock(&stream->lock);
        return 1;
    }
    stream->ready = ready;
    stream->ready_context = context;
    rv_worker *worker = stream->conn->worker; /* reading: the request is not over */
    int wake = 0;
    if (stream->continue_due) {
        stream->ask_continue = 1;
        wake = post_news(stream);
    }
    pthread_mutex_unlock(&stream->lock);
    if (wake) wake_loop(worker);
    return 0;
}

int rv_body_stream_stop(rv_conn *conn, rv_body_ready_fn ready, void *context) {
    rv_body_stream *stream = conn->body_stream;
    if (!stream) return 0;
    rv_worker *worker = conn->worker;
    pthread_mutex_lock(&stream->lock);
    if (!stream->reading) {
        pthread_mutex_unlock(&stream->lock);
        return 0;
    }
    stream->stopped = ready;
    stream->stopped_context = context;
    stream->ask_stop = 1;
    int wake = post_news(stream);
    pthread_mutex_unlock(&stream->lock);
    if (wake) wake_loop(worker);
    return 1;
}

int rv_body_stream_stopped(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    if (!stream) return 1;
    pthread_mutex_lock(&stream->lock);
    int stopped = !stream->reading;
    pthread_mutex_unlock(&stream->lock);
    return stopped;
}

void body_stream_task_finished(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    /* read first: once posted, the loop may end the request and reuse the connection */
    rv_worker *worker = conn->worker;
    pthread_mutex_lock(&stream->lock);
    stream->ask_finish = 1;
    int wake = post_news(stream);
    pthread_mutex_unlock(&stream->lock);
    if (wake) wake_loop(worker);
}

int rv_body_stream_store(rv_body_stream *stream, const uint8_t *data, size_t length) {
    return rv_body_sink_append(&stream->stored, data, length);
}

int rv_body_stream_publish(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    if (rv_body_sink_finish(&stream->stored) < 0) return -1;
    /* the loop published its (empty) sink when the body ended, before the task saw the end */
    rv_body_sink_publish(&stream->stored, &conn->parser->req.body);
    stream->received = 1;
    return 0;
}

int rv_body_stream_received(const rv_body_stream *stream) { return stream->received; }

/* ---- the loop acts on the news ---- */

void body_stream_end(rv_conn *conn) {
    rv_body_stream *stream = conn->body_stream;
    pthread_mutex_lock(&stream->lock);
    stream->conn = NULL;
    stream->reading = 0;
    stream->paused = 0;
    void *ready_context;
    rv_body_ready_fn ready = take_ready(stream, &ready_context);
    pthread_mutex_unlock(&stream->lock);
    conn->body_stream = NULL;
    if (ready) ready(ready_context);
    rv_body_stream_release(stream);
}

static void act(rv_body_stream *stream) {
    pthread_mutex_lock(&stream->lock);
    rv_conn *conn = stream->conn;
    uint8_t resume = stream->ask_resume, send_continue = stream->ask_continue, stop = stream->ask_stop,
            finish = stream->ask_finish;
    stream->ask_resume = stream->ask_continue = stream->ask_stop = stream->ask_finish = 0;
    stream->news = 0;
    rv_body_ready_fn stopped = stream->stopped;
    void *stopped_context = stream->stopped_context;
    stream->stopped = NULL;
    stream->stopped_context = NULL;
    int reading = stream->reading, paused = stream->paused, continue_due = stream->continue_due;
    if (resume && paused) stream->paused = 0;
    if (send_continue) stream->continue_due = 0;
    pthread_mutex_unlock(&stream->lock);
    if (!conn) return;
    if (finish) { /* the task is done with the connection: forget the stream, collect it */
        body_stream_end(conn);
        pool_hand_back(conn->worker, conn, 1);
        return;
    }
    if (stop) {
        if (reading) { /* the rest of the body is not read: the connection cannot go on */
            ev_io_stop(conn->worker->loop, &conn->io);
            pool_reader_stopped(conn->worker, conn);
            fail(conn, RV_BODY_STREAM_ABANDONED);
        }
        if (stopped) stopped(stopped_context);
        return;
    }
    if (send_continue && reading && continue_due) {
        if (respond_continue(conn) != 0) {
            fail(conn, RV_BODY_STREAM_GONE);
            return;
        }
        conn_set_body_deadline(conn, 1); /* the body is due now */
    }
    if (resume && reading && paused) {
        conn_watch_input(conn);
        conn_set_body_deadline(conn, 1);
        body_stream_pump(conn);
    }
}

static void news_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    rv_body_stream *stream = atomic_exchange_explicit(&worker->body_news, NULL, memory_order_acquire);
    while (stream) {
        rv_body_stream *next = stream->news_next;
        act(stream);
        rv_body_stream_release(stream); /* the news's reference */
        stream = next;
    }
}

void body_streams_start(rv_worker *worker) {
    atomic_init(&worker->body_news, NULL);
    ev_async_init(&worker->body_async, news_cb);
    worker->body_async.data = worker;
    ev_async_start(worker->loop, &worker->body_async);
}
