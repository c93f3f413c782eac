/*
 * h2_respond.c: a stream's response (h2.h). The handler's thread never touches the
 * connection: rv_h2_respond_* put the head and body into the stream's sink, and the loop
 * submits them to nghttp2 (h2_submit_response) once the handler handed the stream back, or
 * as soon as a streamed body begins. nghttp2 pulls the body through read_body as flow
 * control allows: bytes copied from the sink, files read (pread) into the DATA frame,
 * streamed bodies taken from a ring of H2_STREAM_BUFFER bytes whose writer waits while it is
 * full. Inline (--threads 0) the writer is the loop thread itself, so instead of waiting it
 * drives the connection (sends, reads WINDOW_UPDATEs) until there is room.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "h2.h"
#include "status_reason.h"
#include "transport.h"

/* ---- the head: nv entries whose names and values live in `names` (offsets until the
 * submit, since `names` may move as it grows) ---- */

static int names_append(h2_stream *stream, const uint8_t *bytes, size_t length, int lowercase, size_t *at) {
    size_t capacity = h2_grow(&stream->names, stream->names_capacity, stream->names_length + length, 256);
    if (!capacity) return -1;
    stream->names_capacity = capacity;
    uint8_t *into = stream->names + stream->names_length;
    for (size_t i = 0; i < length; i++)
        into[i] = lowercase && bytes[i] >= 'A' && bytes[i] <= 'Z' ? (uint8_t)(bytes[i] + 32) : bytes[i];
    *at = stream->names_length;
    stream->names_length += length;
    return 0;
}

static int add_header(h2_stream *stream, const uint8_t *name, size_t name_length, const uint8_t *value,
                      size_t value_length) {
    if (stream->nv_count == stream->nv_capacity) {
        uint32_t wanted = stream->nv_capacity ? stream->nv_capacity * 2 : 8;
        nghttp2_nv *grown = realloc(stream->nv, wanted * sizeof *grown);
        if (!grown) return -1;
        stream->nv = grown;
        stream->nv_capacity = wanted;
    }
    size_t name_at, value_at;
    if (names_append(stream, name, name_length, 1, &name_at) != 0 ||
        names_append(stream, value, value_length, 0, &value_at) != 0)
        return -1;
    stream->nv[stream->nv_count++] = (nghttp2_nv){.name = (uint8_t *)(uintptr_t)name_at,
                                                  .value = (uint8_t *)(uintptr_t)value_at,
                                                  .namelen = name_length,
                                                  .valuelen = value_length,
                                                  .flags = NGHTTP2_NV_FLAG_NONE};
    return 0;
}

#define ADD_LITERAL(stream, name, value, value_length)                                           \
    add_header(stream, (const uint8_t *)(name), sizeof(name) - 1, (const uint8_t *)(value), value_length)

static void add_length(h2_stream *stream, uint64_t length) {
    unsigned status = stream->conn.status;
    if (status == 204 || status == 304) return;
    char digits[24];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char)('0' + length % 10);
        length /= 10;
    } while (length);
    ADD_LITERAL(stream, "content-length", digits + at, sizeof digits - at);
}

/* RFC 9113 section 8.2.2: fields that are about one connection have no place in HTTP/2; the
 * engine writes Content-Length and Date itself. */
static int dropped_field(const uint8_t *name, size_t length) {
    static const char *const dropped[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                          "upgrade",    "content-length", "date"};
    for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++) {
        size_t wanted = strlen(dropped[i]);
        if (wanted != length) continue;
        size_t k = 0;
        while (k < length && (name[k] | 0x20) == dropped[i][k]) k++;
        if (k == length) return 1;
    }
    return 0;
}

void rv_h2_respond_start(rv_conn *conn, unsigned status) {
    h2_stream *stream = h2_stream_of(conn);
    if (status < 200 || status > 999) status = 500;
    conn->responded = 1;
    conn->status = (uint16_t)status;
    conn->no_body = stream->request.method == RV_METHOD_HEAD || status == 204 || status == 304;
    respond_count_status(conn->worker, status);
    stream->nv_count = 0;
    stream->names_length = 0;
    char code[3] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10)};
    ADD_LITERAL(stream, ":status", code, 3);
    char date[29];
    date_copy(date);
    ADD_LITERAL(stream, "date", date, sizeof date);
}

int rv_h2_respond_field(rv_conn *conn, const uint8_t *name, size_t name_length, const uint8_t *value,
                        size_t value_length) {
    if (!respond_valid_field(name, name_length, value, value_length)) return -1;
    if (dropped_field(name, name_length)) return 0;
    return add_header(h2_stream_of(conn), name, name_length, value, value_length);
}

static int settle(rv_conn *conn) {
    conn->finished = 1;
    conn->handback = HANDBACK_DONE;
    return 0;
}

int rv_h2_respond_body(rv_conn *conn, const uint8_t *body, size_t length) {
    h2_stream *stream = h2_stream_of(conn);
    if (!conn->responded) rv_h2_respond_start(conn, 200);
    add_length(stream, length); /* for HEAD: the length GET would have */
    if (!conn->no_body && length > 0) {
        stream->out = malloc(length);
        if (!stream->out) {
            rv_respond_abort(conn);
            return -1;
        }
        memcpy(stream->out, body, length);
        stream->out_length = length;
        stream->body_kind = H2_BODY_BYTES;
        conn->body_bytes = length;
    }
    return settle(conn);
}

/* A file body: `count` segments (texts and regions), copied with the texts. */
static int respond_segments(rv_conn *conn, int fd, const h2_segment *segments, uint32_t count,
                            const uint8_t *text, size_t text_length, uint64_t total) {
    h2_stream *stream = h2_stream_of(conn);
    add_length(stream, total);
    if (conn->no_body || total == 0) {
        close(fd);
        return settle(conn);
    }
    h2_segment *copy = malloc(count * sizeof *copy + text_length);
    if (!copy) {
        close(fd);
        rv_respond_abort(conn);
        return -1;
    }
    uint8_t *texts = (uint8_t *)(copy + count);
    if (text_length > 0) memcpy(texts, text, text_length); /* a single region has no text (NULL) */
    for (uint32_t i = 0; i < count; i++) {
        copy[i] = segments[i];
        if (segments[i].text) copy[i].text = texts + (segments[i].text - text);
    }
    stream->segments = copy;
    stream->segment_count = count;
    stream->file_fd = fd;
    stream->body_kind = H2_BODY_FILE;
    conn->body_bytes = total;
    return settle(conn);
}

int rv_h2_respond_file(rv_conn *conn, int fd, uint64_t offset, uint64_t length) {
    if (!conn->responded) rv_h2_respond_start(conn, 200);
    h2_segment region = {.text = NULL, .offset = offset, .length = length};
    return respond_segments(conn, fd, &region, 1, NULL, 0, length);
}

int rv_h2_respond_file_parts(rv_conn *conn, int fd, const rv_file_part *parts, uint32_t count,
                             const uint8_t *text, size_t text_length) {
    uint64_t total;
    int valid = respond_file_parts_valid(parts, count, text_length, &total);
    if (!conn->responded) rv_h2_respond_start(conn, valid ? 200 : 500);
    h2_segment *segments = valid ? malloc((2 * (size_t)count + 1) * sizeof *segments) : NULL;
    if (!segments) {
        close(fd);
        rv_respond_abort(conn);
        return -1;
    }
    uint32_t used = 0;
    size_t at = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (parts[i].text_length > 0)
            segments[used++] = (h2_segment){.text = text + at, .length = parts[i].text_length};
        at += parts[i].text_length;
        segments[used++] = (h2_segment){.text = NULL, .offset = parts[i].offset, .length = parts[i].length};
    }
    if (text_length > at) segments[used++] = (h2_segment){.text = text + at, .length = text_length - at};
    int result = respond_segments(conn, fd, segments, used, text, text_length, total);
    free(segments);
    return result;
}

/* ---- streamed bodies ---- */

/* Inline: the writer is the loop thread. Sends what is waiting, reads the client's frames
 * (WINDOW_UPDATE) and waits for the socket, until the ring has room or the write timeout. */
static int drive_inline(h2_stream *stream) {
    h2_session *session = stream->session;
    const rv_worker_config *config = session->worker->config;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double deadline = (double)now.tv_sec + now.tv_nsec / 1e9 + config->write_timeout;
    for (;;) {
        if (!session->conn || session->failed || stream->closed) return -1;
        h2_stream_news(stream);
        if (h2_session_pump(session) < 0) return -1;
        if (stream->closed) return -1;
        if (stream->out_length < H2_STREAM_BUFFER) return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = deadline - ((double)now.tv_sec + now.tv_nsec / 1e9);
        if (left <= 0) {
            STAT_ADD(session->worker, RV_STAT_TIMEOUTS, 1);
            return -1;
        }
        struct pollfd wait = {.fd = session->conn->fd, .events = (short)(POLLIN | (session->blocked ? POLLOUT : 0))};
        int ready = poll(&wait, 1, (int)(left * 1000) + 1);
        if (ready > 0 && (wait.revents & (POLLIN | POLLERR | POLLHUP)) && h2_session_read(session) != 0) {
            session->failed = 1;
            return -1;
        }
    }
}

/* Copies what fits of `data` into the stream's ring (under the session's lock); returns
 * the bytes taken. */
static size_t ring_put(h2_stream *stream, const uint8_t *data, size_t length) {
    size_t room = H2_STREAM_BUFFER - stream->out_length;
    size_t take = length < room ? length : room;
    size_t end = (stream->out_start + stream->out_length) % H2_STREAM_BUFFER;
    size_t first = H2_STREAM_BUFFER - end < take ? H2_STREAM_BUFFER - end : take;
    memcpy(stream->out + end, data, first);
    memcpy(stream->out, data + first, take - first);
    stream->out_length += take;
    return take;
}

int rv_h2_respond_stream_begin(rv_conn *conn) {
    h2_stream *stream = h2_stream_of(conn);
    h2_session *session = stream->session;
    if (!conn->responded) rv_h2_respond_start(conn, 200);
    if (!conn->no_body) {
        stream->out = malloc(H2_STREAM_BUFFER);
        if (!stream->out) {
            rv_respond_abort(conn);
            return -1;
        }
        stream->body_kind = H2_BODY_STREAM;
    }
    pthread_mutex_lock(&session->lock);
    stream->head_ready = 1;
    int closed = stream->closed;
    pthread_mutex_unlock(&session->lock);
    if (closed) {
        rv_respond_abort(conn);
        return -1;
    }
    if (session->worker->config->threads == 0) {
        h2_stream_news(stream); /* the head leaves now, as HTTP/1.1's does */
        h2_session_pump(session);
    } else {
        h2_notify_loop(stream);
    }
    return 0;
}

int rv_h2_respond_stream_write(rv_conn *conn, const uint8_t *data, size_t length) {
    if (conn->finished) return -1;
    if (conn->no_body || length == 0) return 0;
    h2_stream *stream = h2_stream_of(conn);
    h2_session *session = stream->session;
    const rv_worker_config *config = session->worker->config;
    int inline_writer = config->threads == 0;
    conn->body_bytes += length;
    while (length > 0) {
        pthread_mutex_lock(&session->lock);
        while (!stream->closed && stream->out_length == H2_STREAM_BUFFER) {
            if (inline_writer) {
                pthread_mutex_unlock(&session->lock);
                if (drive_inline(stream) != 0) {
                    rv_respond_abort(conn);
                    return -1;
                }
                pthread_mutex_lock(&session->lock);
                continue;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            double whole = (double)until.tv_nsec / 1e9 + config->write_timeout;
            until.tv_sec += (time_t)whole;
            until.tv_nsec = (long)((whole - (double)(time_t)whole) * 1e9);
            stream->writer_waits = 1;
            if (pthread_cond_timedwait(&session->room, &session->lock, &until) == ETIMEDOUT &&
                stream->out_length == H2_STREAM_BUFFER) {
                pthread_mutex_unlock(&session->lock);
                STAT_ADD(session->worker, RV_STAT_TIMEOUTS, 1);
                rv_respond_abort(conn);
                return -1;
            }
        }
        if (stream->closed) {
            pthread_mutex_unlock(&session->lock);
            rv_respond_abort(conn);
            return -1;
        }
        size_t take = ring_put(stream, data, length);
        pthread_mutex_unlock(&session->lock);
        data += take;
        length -= take;
        if (!inline_writer) h2_notify_loop(stream);
    }
    if (inline_writer) { /* each write leaves at once, as a chunk does on HTTP/1.1 */
        h2_stream_news(stream);
        h2_session_pump(stream->session);
    }
    return 0;
}

/* ---- a task's streamed body: it never blocks its thread ----
 *
 * The write takes what the ring has room for; for the rest the task leaves a continuation
 * (rv_h2_wait_room) that the loop resumes as nghttp2 drains the ring (read_ring), that is
 * when the client's windows and the socket let DATA leave. The write timeout is the
 * session's: a response that sends nothing for --write-timeout while the client's window is
 * closed is reset (h2_timer_cb), a connection whose socket takes nothing is closed, and
 * either wakes the task with -1 (h2_stream_mark_closed). */

long rv_h2_respond_stream_write_nowait(rv_conn *conn, const uint8_t *data, size_t length) {
    if (conn->finished) return -1;
    if (conn->no_body || length == 0) return (long)length;
    h2_stream *stream = h2_stream_of(conn);
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    int closed = stream->closed;
    size_t take = closed ? 0 : ring_put(stream, data, length);
    pthread_mutex_unlock(&session->lock);
    if (closed) {
        rv_respond_abort(conn);
        return -1;
    }
    conn->body_bytes += take;
    if (take > 0) h2_notify_loop(stream);
    return (long)take;
}

void rv_h2_wait_room(rv_conn *conn, rv_writable_fn resume, void *context) {
    h2_stream *stream = h2_stream_of(conn);
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    int result = stream->closed ? -1 : stream->out_length < H2_STREAM_BUFFER ? 0 : 1;
    if (result == 1) {
        stream->room_resume = resume;
        stream->room_context = context;
    }
    pthread_mutex_unlock(&session->lock);
    if (result != 1) resume(context, result); /* the loop drained it meanwhile, or it closed */
}

/* The task waiting for room, taken under the session's lock: resumed after the unlock. */
static rv_writable_fn take_room_waiter(h2_stream *stream, void **context) {
    rv_writable_fn resume = stream->room_resume;
    *context = stream->room_context;
    stream->room_resume = NULL;
    stream->room_context = NULL;
    return resume;
}

void h2_stream_mark_closed(h2_stream *stream) {
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    stream->closed = 1;
    pthread_cond_broadcast(&session->room); /* a thread waiting for room gives up */
    void *context;
    rv_writable_fn resume = take_room_waiter(stream, &context);
    pthread_mutex_unlock(&session->lock);
    if (resume) resume(context, -1); /* so does a task */
    /* a task that awaits something else is cancelled, as for a client gone (tasks.c); the
     * loop thread calls this, which is where a task is cancelled */
    tasks_release(&stream->conn, 1);
}

int rv_h2_respond_stream_end(rv_conn *conn) {
    if (conn->finished) return -1;
    h2_stream *stream = h2_stream_of(conn);
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    stream->stream_ended = 1;
    int closed = stream->closed;
    pthread_mutex_unlock(&session->lock);
    if (closed) {
        rv_respond_abort(conn);
        return -1;
    }
    return settle(conn); /* the hand-back that follows tells the loop */
}

/* ---- the loop's side ---- */

static ssize_t read_file(h2_stream *stream, uint8_t *into, size_t length, uint32_t *flags) {
    size_t filled = 0;
    while (filled < length && stream->segment_at < stream->segment_count) {
        const h2_segment *segment = &stream->segments[stream->segment_at];
        uint64_t left = segment->length - stream->segment_done;
        size_t take = length - filled < left ? length - filled : (size_t)left;
        if (segment->text) {
            memcpy(into + filled, segment->text + stream->segment_done, take);
        } else {
            ssize_t got = pread(stream->file_fd, into + filled, take, (off_t)(segment->offset + stream->segment_done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) { /* the file shrank: the promised length would be a lie */
                const rv_worker_config *config = stream->session->worker->config;
                if (config->file_short)
                    config->file_short(stream->file_fd, segment->offset + stream->segment_done,
                                       segment->offset + segment->length, config->handler_context);
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
            }
            take = (size_t)got;
        }
        filled += take;
        stream->segment_done += take;
        if (stream->segment_done == segment->length) {
            stream->segment_at++;
            stream->segment_done = 0;
        }
    }
    if (stream->segment_at == stream->segment_count) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)filled;
}

static ssize_t read_ring(h2_stream *stream, uint8_t *into, size_t length, uint32_t *flags) {
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    size_t take = length < stream->out_length ? length : stream->out_length;
    size_t first = H2_STREAM_BUFFER - stream->out_start < take ? H2_STREAM_BUFFER - stream->out_start : take;
    memcpy(into, stream->out + stream->out_start, first);
    memcpy(into + first, stream->out, take - first);
    stream->out_start = (stream->out_start + take) % H2_STREAM_BUFFER;
    stream->out_length -= take;
    if (take > 0 && stream->writer_waits) {
        stream->writer_waits = 0;
        pthread_cond_broadcast(&session->room);
    }
    void *context = NULL;
    rv_writable_fn resume = take > 0 ? take_room_waiter(stream, &context) : NULL;
    int ended = stream->stream_ended && stream->out_length == 0;
    if (take == 0 && !ended) stream->deferred = 1;
    pthread_mutex_unlock(&session->lock);
    if (resume) resume(context, 0); /* the task writes again (the news it sends wake the loop) */
    if (ended) *flags |= NGHTTP2_DATA_FLAG_EOF;
    else if (take == 0) return NGHTTP2_ERR_DEFERRED; /* resumed when the writer adds more */
    return (ssize_t)take;
}

static ssize_t read_body(nghttp2_session *ng, int32_t stream_id, uint8_t *into, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *user_data) {
    (void)ng;
    (void)stream_id;
    (void)user_data;
    h2_stream *stream = source->ptr;
    switch (stream->body_kind) {
    case H2_BODY_BYTES: {
        size_t left = stream->out_length - stream->out_start;
        size_t take = length < left ? length : left;
        memcpy(into, stream->out + stream->out_start, take);
        stream->out_start += take;
        if (stream->out_start == stream->out_length) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)take;
    }
    case H2_BODY_FILE:
        return read_file(stream, into, length, flags);
    case H2_BODY_STREAM:
        return read_ring(stream, into, length, flags);
    case H2_BODY_NONE:
        break;
    }
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
}

void h2_submit_response(h2_stream *stream) {
    h2_session *session = stream->session;
    for (uint32_t i = 0; i < stream->nv_count; i++) {
        stream->nv[i].name = stream->names + (uintptr_t)stream->nv[i].name;
        stream->nv[i].value = stream->names + (uintptr_t)stream->nv[i].value;
    }
    nghttp2_data_provider provider = {.source.ptr = stream, .read_callback = read_body};
    stream->submitted = 1;
    stream->last_output = ev_now(session->worker->loop);
    if (nghttp2_submit_response(session->ng, stream->id, stream->nv, stream->nv_count,
                                stream->body_kind == H2_BODY_NONE ? NULL : &provider) != 0)
        nghttp2_submit_rst_stream(session->ng, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_INTERNAL_ERROR);
}

void h2_respond_ensure_finished(h2_stream *stream) {
    rv_conn *conn = &stream->conn;
    if (!conn->responded) {
        static const char body[] = "Internal Server Error\n";
        rv_h2_respond_start(conn, 500);
        ADD_LITERAL(stream, "content-type", "text/plain; charset=utf-8", 25);
        rv_h2_respond_body(conn, (const uint8_t *)body, sizeof body - 1);
    } else if (!conn->finished) {
        rv_respond_abort(conn); /* a stream left open: the body cannot be completed */
    }
    if (conn->handback != HANDBACK_CLOSE) {
        double seconds = ev_time() - conn->request_started;
        rv_stats_observe_duration(conn->worker->stats, seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
    }
}

void h2_stream_fail(h2_stream *stream, unsigned status) {
    rv_conn *conn = &stream->conn;
    h2_session *session = stream->session;
    if (stream->refused || stream->submitted || stream->dispatched) {
        nghttp2_submit_rst_stream(session->ng, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    stream->refused = 1;
    const char *reason = rv_status_reason(status);
    rv_h2_respond_start(conn, status);
    ADD_LITERAL(stream, "content-type", "text/plain; charset=utf-8", 25);
    if (status == 503) ADD_LITERAL(stream, "retry-after", "1", 1);
    size_t length = strlen(reason);
    uint8_t body[128];
    if (length > sizeof body - 1) length = sizeof body - 1;
    memcpy(body, reason, length);
    body[length++] = '\n';
    rv_h2_respond_body(conn, body, length);
    conn->engine_error = 1;
    STAT_ADD(session->worker, RV_STAT_REQUESTS, 1);
    STAT_ADD(session->worker, RV_STAT_H2_STREAMS, 1);
    h2_submit_response(stream);
}

void h2_sink_free(h2_stream *stream) {
    free(stream->nv);
    free(stream->names);
    free(stream->out);
    free(stream->segments);
    if (stream->file_fd >= 0) close(stream->file_fd);
    stream->nv = NULL;
    stream->names = NULL;
    stream->out = NULL;
    stream->segments = NULL;
    stream->file_fd = -1;
}
