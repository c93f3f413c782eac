/*
 * h2_stream.c: one HTTP/2 stream's request, on the loop thread (h2.h).
 *
 * nghttp2 hands out each field during a callback only; the stream copies it into its field
 * block and records spans, so the handler reads an rv_request filled as the HTTP/1.1 parser
 * fills one (method, target from :path, version 2.0, the fields with Host from :authority,
 * the body in an rv_body_sink: memory, then a temporary file). nghttp2 has checked what RFC
 * 9113 section 8.2 asks of the fields (lowercase names, no connection-specific fields, the
 * pseudo-header rules, content-length against the DATA received); the limits are ours:
 * the decoded field list against --max-header-size and --max-header-count (431), the body
 * against --max-body-size (413, before any DATA when content-length says so). The stream is
 * dispatched once its request is complete, to the runner HTTP/1.1 requests use.
 */
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "parser.h"
#include "transport.h"

/* ---- the field block ---- */

static int block_append(h2_stream *stream, const uint8_t *bytes, size_t length, rv_span *span) {
    size_t capacity = h2_grow(&stream->block, stream->block_capacity, stream->block_length + length, 512);
    if (!capacity) return -1;
    stream->block_capacity = (uint32_t)capacity;
    stream->conn.buffer = stream->block;
    memcpy(stream->block + stream->block_length, bytes, length);
    span->off = stream->block_length;
    span->len = (uint32_t)length;
    stream->block_length += (uint32_t)length;
    return 0;
}

static int add_field(h2_stream *stream, const uint8_t *name, size_t name_length, const uint8_t *value,
                     size_t value_length) {
    rv_request *request = &stream->request;
    if (request->field_count >= stream->session->worker->config->limits.max_fields) return -1;
    rv_field *field = &request->fields[request->field_count];
    if (block_append(stream, name, name_length, &field->name) != 0 ||
        block_append(stream, value, value_length, &field->value) != 0)
        return -1;
    request->field_count++;
    return 0;
}

/* ---- life ---- */

static h2_stream *stream_new(h2_session *session, int32_t id) {
    h2_stream *stream = calloc(1, sizeof *stream);
    if (!stream) return NULL;
    rv_conn *conn = &stream->conn;
    rv_conn *connection = session->conn;
    conn->worker = session->worker;
    conn->fd = -1;
    conn->file_fd = -1;
    conn->h2 = session;
    conn->h2_stream = 1;
    conn->request = &stream->request;
    conn->peer = connection->peer;
    conn->peer_length = connection->peer_length;
    conn->request_started = ev_now(session->worker->loop);
    stream->last_input = conn->request_started;
    stream->session = session;
    stream->id = id;
    stream->file_fd = -1;
    stream->request.content_length = -1;
    stream->request.version_major = 2;
    stream->request.keep_alive = 1;
    rv_body_sink_init(&stream->body, session->worker->config->limits.body_memory_max);
    stream->request.body.fd = -1;
    stream->next = session->streams;
    if (session->streams) session->streams->prev = stream;
    session->streams = stream;
    session->stream_count++;
    return stream;
}

void h2_stream_free(h2_stream *stream) {
    h2_session *session = stream->session;
    if (stream->queued) { /* reset while it waited for dispatch */
        h2_stream **link = &session->ready_head;
        h2_stream *previous = NULL;
        while (*link != stream) {
            previous = *link;
            link = &(*link)->ready_next;
        }
        *link = stream->ready_next;
        if (session->ready_tail == stream) session->ready_tail = previous;
    }
    if (stream->prev) stream->prev->next = stream->next;
    else session->streams = stream->next;
    if (stream->next) stream->next->prev = stream->prev;
    session->stream_count--;
    if (session->stream_count == 0) session->idle_since = ev_now(session->worker->loop);
    if (session->ng) nghttp2_session_set_stream_user_data(session->ng, stream->id, NULL);
    rv_body_sink_destroy(&stream->body);
    h2_sink_free(stream);
    free(stream->block);
    free(stream);
}

void h2_stream_closed(h2_session *session, h2_stream *stream) {
    (void)session;
    if (stream->dispatched && !stream->handed_back) {
        /* The handler still has it (or its task waits for a slot): its writes fail from now
         * on; freed when it comes back. */
        h2_stream_mark_closed(stream);
        return;
    }
    h2_stream_free(stream);
}

/* ---- nghttp2's receive callbacks ---- */

int h2_on_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    /* refused: no stream of ours, so its fields are decoded (HPACK's state) and dropped */
    if (!h2_stream_admitted(user_data, frame->hd.stream_id)) return 0;
    h2_stream *stream = stream_new(user_data, frame->hd.stream_id);
    if (!stream) { /* out of memory: nghttp2 resets it */
        ((h2_session *)user_data)->open_streams--;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    nghttp2_session_set_stream_user_data(ng, frame->hd.stream_id, stream);
    return 0;
}

static int is_name(const uint8_t *name, size_t length, const char *wanted) {
    return strlen(wanted) == length && memcmp(name, wanted, length) == 0;
}

/* Content-Length as nghttp2 let it through (digits only); -2 when it does not fit. */
static int64_t parse_length(const uint8_t *value, size_t length) {
    int64_t result = 0;
    for (size_t i = 0; i < length; i++) {
        if (value[i] < '0' || value[i] > '9' || result > (INT64_MAX - 9) / 10) return -2;
        result = result * 10 + (value[i] - '0');
    }
    return result;
}

static int take_pseudo(h2_stream *stream, const uint8_t *name, size_t name_length, const uint8_t *value,
                       size_t value_length) {
    rv_request *request = &stream->request;
    rv_span ignored;
    if (is_name(name, name_length, ":method")) {
        stream->has_method = 1;
        if (!request_method_lookup(value, value_length, &request->method_name, &request->method)) {
            request->error_status = 501;
            request->error_reason = "unknown method";
        }
        return 0;
    }
    if (is_name(name, name_length, ":path")) {
        stream->has_path = 1;
        if (value_length > stream->session->worker->config->limits.max_target) {
            request->error_status = 414;
            request->error_reason = "request-target too long";
            return 0;
        }
        return block_append(stream, value, value_length, &stream->path);
    }
    if (is_name(name, name_length, ":authority"))
        return block_append(stream, value, value_length, &stream->authority);
    (void)ignored;
    return 0; /* :scheme, :protocol: checked by nghttp2, not needed by the handler */
}

int h2_on_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                 const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data) {
    (void)flags;
    (void)user_data;
    h2_stream *stream = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!stream || stream->refused) return 0;
    rv_request *request = &stream->request;
    const rv_limits *limits = &stream->session->worker->config->limits;
    stream->header_list_size += (uint32_t)(namelen + valuelen + 32);
    if (stream->header_list_size > limits->max_head) {
        request->error_status = 431; /* answered at the end of the block (HPACK must go on) */
        request->error_reason = "header list too large";
        return 0;
    }
    if (request->error_status) return 0;
    int failed; /* trailer fields (a HEADERS after DATA) land after trailer_start */
    if (namelen > 0 && name[0] == ':') {
        failed = take_pseudo(stream, name, namelen, value, valuelen);
    } else {
        if (is_name(name, namelen, "host")) stream->has_host = 1;
        if (is_name(name, namelen, "content-length") && frame->headers.cat != NGHTTP2_HCAT_HEADERS)
            request->content_length = parse_length(value, valuelen);
        failed = add_field(stream, name, namelen, value, valuelen);
    }
    if (failed) {
        request->error_status = 431;
        request->error_reason = "too many header fields";
    }
    return 0;
}

int h2_on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id, const uint8_t *data,
                     size_t length, void *user_data) {
    (void)flags;
    h2_session *session = user_data;
    h2_stream *stream = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (!stream || stream->refused) return 0;
    stream->last_input = ev_now(session->worker->loop);
    if (stream->body.length + length > session->worker->config->limits.max_body) {
        STAT_ADD(session->worker, RV_STAT_PARSE_ERRORS, 1);
        h2_stream_fail(stream, 413);
        return 0;
    }
    if (rv_body_sink_append(&stream->body, data, length) != 0) h2_stream_fail(stream, 500);
    return 0;
}

/* ---- the request is complete ---- */

static void queue_ready(h2_session *session, h2_stream *stream) {
    if (stream->queued) return;
    stream->queued = 1;
    stream->ready_next = NULL;
    if (session->ready_tail) session->ready_tail->ready_next = stream;
    else session->ready_head = stream;
    session->ready_tail = stream;
}

/* RFC 9113 section 8.2.3: cookie crumbs sent as separate fields reach the application as
 * one field, joined with "; " (what an HTTP/1.1 request would have carried). The joined
 * value goes at the end of the block; the other crumbs leave the field list. */
static int join_cookies(h2_stream *stream) {
    rv_request *request = &stream->request;
    int first = -1;
    uint32_t joined_length = 0, crumbs = 0;
    for (int i = 0; i < request->field_count; i++) {
        rv_field *field = &request->fields[i];
        if (field->name.len != 6 || memcmp(stream->block + field->name.off, "cookie", 6) != 0) continue;
        if (first < 0) first = i;
        joined_length += field->value.len + (crumbs ? 2 : 0);
        crumbs++;
    }
    if (crumbs < 2) return 0;
    /* grow, then write in place */
    size_t capacity = h2_grow(&stream->block, stream->block_capacity, stream->block_length + joined_length, 512);
    if (!capacity) return -1;
    stream->block_capacity = (uint32_t)capacity;
    stream->conn.buffer = stream->block;
    rv_span value = {stream->block_length, joined_length};
    uint8_t *into = stream->block + stream->block_length;
    int kept = 0;
    for (int i = 0; i < request->field_count; i++) {
        rv_field field = request->fields[i];
        int cookie = field.name.len == 6 && memcmp(stream->block + field.name.off, "cookie", 6) == 0;
        if (cookie) {
            if (into != stream->block + stream->block_length) {
                memcpy(into, "; ", 2);
                into += 2;
            }
            memcpy(into, stream->block + field.value.off, field.value.len);
            into += field.value.len;
            if (i != first) continue;
        }
        request->fields[kept++] = field;
    }
    request->fields[first].value = value;
    request->field_count = (uint16_t)kept;
    stream->block_length += joined_length;
    return 0;
}

/* The head is complete: checks that need all of it, and the body's expected size. Returns
 * 0 when the request goes on, -1 when it was answered. */
static int head_complete(h2_stream *stream) {
    rv_request *request = &stream->request;
    const rv_limits *limits = &stream->session->worker->config->limits;
    if (!request->error_status && (!stream->has_method || (!stream->has_path && request->method != RV_METHOD_CONNECT))) {
        request->error_status = 400; /* nghttp2 resets these itself; kept for safety */
        request->error_reason = "missing pseudo-header";
    }
    if (request->error_status) {
        STAT_ADD(stream->session->worker, RV_STAT_PARSE_ERRORS, 1);
        h2_stream_fail(stream, request->error_status);
        return -1;
    }
    request->target = request->method == RV_METHOD_CONNECT ? stream->authority : stream->path;
    if (join_cookies(stream) != 0) {
        h2_stream_fail(stream, 500);
        return -1;
    }
    /* RFC 9113 section 8.3.1: :authority stands for Host; a Host field sent beside it is kept */
    if (!stream->has_host && stream->authority.len > 0) {
        rv_request *r = request;
        if (r->field_count >= RV_MAX_FIELDS) {
            h2_stream_fail(stream, 431);
            return -1;
        }
        r->fields[r->field_count].name = (rv_span){0, 0};
        rv_span name;
        if (block_append(stream, (const uint8_t *)"host", 4, &name) != 0) {
            h2_stream_fail(stream, 500);
            return -1;
        }
        r->fields[r->field_count].name = name;
        r->fields[r->field_count].value = stream->authority;
        r->field_count++;
    }
    request->trailer_start = request->field_count;
    if (request->content_length >= 0 && (uint64_t)request->content_length > limits->max_body) {
        STAT_ADD(stream->session->worker, RV_STAT_PARSE_ERRORS, 1);
        h2_stream_fail(stream, 413); /* before a byte of the body is read */
        return -1;
    }
    if (request->content_length > 0 &&
        rv_body_sink_expect(&stream->body, (uint64_t)request->content_length) != 0) {
        h2_stream_fail(stream, 500);
        return -1;
    }
    return 0;
}

int h2_stream_frame_received(h2_session *session, const nghttp2_frame *frame) {
    h2_stream *stream = nghttp2_session_get_stream_user_data(session->ng, frame->hd.stream_id);
    if (!stream || stream->refused) return 0;
    rv_request *request = &stream->request;
    stream->last_input = ev_now(session->worker->loop);
    if (frame->hd.type == NGHTTP2_HEADERS) {
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (head_complete(stream) != 0) return 0;
        } else if (request->error_status) { /* trailers too large */
            h2_stream_fail(stream, request->error_status);
            return 0;
        }
    }
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    stream->ended = 1;
    if (rv_body_sink_finish(&stream->body) != 0) {
        h2_stream_fail(stream, 500);
        return 0;
    }
    rv_body_sink_publish(&stream->body, &request->body);
    queue_ready(session, stream);
    return 0;
}

/* ---- dispatch ---- */

static void run_inline(h2_session *session, h2_stream *stream) {
    const rv_worker_config *config = session->worker->config;
    session->in_handler = 1;
    config->stream_handler(&stream->conn, config->handler_context);
    h2_respond_ensure_finished(stream);
    session->in_handler = 0;
    stream->handed_back = 1;
    h2_stream_news(stream);
}

void h2_dispatch_ready(h2_session *session) {
    while (session->ready_head && !session->in_handler && session->conn) {
        h2_stream *stream = session->ready_head;
        session->ready_head = stream->ready_next;
        if (!session->ready_head) session->ready_tail = NULL;
        stream->queued = 0;
        if (stream->closed || stream->refused) continue;
        stream->dispatched = 1;
        rv_worker *worker = session->worker;
        if (worker->config->threads == 0) {
            run_inline(session, stream);
            continue;
        }
        if (pool_dispatch(worker, &stream->conn) != 0) {
            stream->dispatched = 0;
            STAT_ADD(worker, RV_STAT_SHED_503, 1);
            h2_stream_fail(stream, 503);
            continue;
        }
        session->out_on_runner++;
    }
}

/* The runner is done with the stream (its handler returned, or it never ran): back to the
 * loop through the worker's news stack, from any thread. */
static void hand_back_stream(h2_stream *stream) {
    rv_conn *conn = &stream->conn;
    conn->handback = conn->handback == HANDBACK_CLOSE ? HANDBACK_CLOSE : HANDBACK_DONE;
    /* `returned` travels with the push (the loop reads it after taking the stack) */
    atomic_store(&stream->returned, 1);
    h2_notify_loop(stream);
}

void h2_run_on_thread(rv_conn *conn) {
    h2_stream *stream = h2_stream_of(conn);
    rv_worker *worker = conn->worker;
    h2_session *session = stream->session;
    pthread_mutex_lock(&session->lock);
    int closed = stream->closed; /* reset while it waited for a thread: nobody wants it */
    pthread_mutex_unlock(&session->lock);
    if (closed) {
        conn->handback = HANDBACK_CLOSE;
    } else {
        STAT_ADD(worker, RV_STAT_BUSY_THREADS, 1);
        worker->config->stream_handler(conn, worker->config->handler_context);
        h2_respond_ensure_finished(stream);
        STAT_ADD(worker, RV_STAT_BUSY_THREADS, -1);
    }
    hand_back_stream(stream);
}

/* Tasks mode mirrors the threads: the stream's rv_conn is the task's until it hands it back,
 * so a stream reset (or a connection closed) meanwhile stays allocated, closed, until then. */
void h2_start_task(rv_conn *conn) {
    h2_stream *stream = h2_stream_of(conn);
    rv_worker *worker = conn->worker;
    if (stream->closed) { /* reset while it waited for a slot (the loop's own flag) */
        conn->handback = HANDBACK_CLOSE;
        hand_back_stream(stream);
        return;
    }
    STAT_ADD(worker, RV_STAT_BUSY_THREADS, 1);
    worker->config->start_stream_task(conn, worker->config->handler_context);
}

void rv_h2_task_finished(rv_conn *conn) {
    h2_stream *stream = h2_stream_of(conn);
    tasks_release(conn, 0);
    h2_respond_ensure_finished(stream);
    STAT_ADD(conn->worker, RV_STAT_BUSY_THREADS, -1);
    hand_back_stream(stream);
}

void h2_stream_news(h2_stream *stream) {
    h2_session *session = stream->session;
    if (!stream->handed_back && atomic_load(&stream->returned)) {
        stream->handed_back = 1;
        session->out_on_runner--;
        session->worker->pool.in_flight--;
    }
    if (!session->conn || stream->closed) {
        if (stream->handed_back || !stream->dispatched) h2_stream_free(stream);
        return;
    }
    if (stream->handed_back) {
        STAT_ADD(session->worker, RV_STAT_REQUESTS, 1);
        STAT_ADD(session->worker, RV_STAT_H2_STREAMS, 1);
        if (stream->conn.handback == HANDBACK_CLOSE) {
            /* abandoned (a streamed body failed midway): the client must not take what it
             * got for a whole response */
            nghttp2_submit_rst_stream(session->ng, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_INTERNAL_ERROR);
            return;
        }
    }
    if (!stream->submitted && (stream->handed_back || stream->head_ready)) {
        h2_submit_response(stream);
        return;
    }
    if (stream->deferred) {
        stream->deferred = 0;
        nghttp2_session_resume_data(session->ng, stream->id);
    }
}
