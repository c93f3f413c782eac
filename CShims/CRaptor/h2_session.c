/*
 * h2_session.c: one HTTP/2 connection on the loop thread (h2.h).
 *
 * The loop owns the nghttp2 session: it reads through the transport and feeds
 * nghttp2_session_mem_recv, dispatches the streams whose requests completed, then gathers
 * everything nghttp2_session_mem_send produces (every stream's frames) into one buffer and
 * sends it with one transport_writev per pass. A socket that would block is watched for
 * EV_WRITE under the write timeout; TLS output held back is flushed the same way.
 *
 * One timer per connection, due at the earliest of: the first-data timeout until the
 * client's preface, the idle timeout while no stream is open, each stream's request and
 * body deadlines while its request is read, each response's write timeout while the
 * client keeps its window closed, and the socket's write timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "h2.h"
#include "transport.h"

/* Output gathered before one write (several streams' frames leave together). */
#define H2_OUT_GATHER (64 * 1024)
/* Frames of an abusive kind counted in a window of one second (count_abuse); past its cap
 * the connection ends with GOAWAY ENHANCE_YOUR_CALM. */
#define H2_ABUSE_WINDOW 1.0
/* Rapid reset (CVE-2023-44487): more client resets than this many times the concurrent
 * streams allowed. */
#define H2_RESETS_PER_STREAM_SLOT 2
/* DATA frames that carry nothing (no payload, no END_STREAM) cost work and say nothing
 * (CVE-2019-9518). */
#define H2_MAX_EMPTY_DATA 100
/* Streams refused past SETTINGS_MAX_CONCURRENT_STREAMS: a client may open up to 100 before
 * our SETTINGS reach it (what clients assume until then; RFC 9113 6.5.2 recommends no limit
 * below it), so a first flight is never taken for abuse; a client that still opens more
 * than max(limit, 100) too many within a second is not one that learned the limit. */
#define H2_FIRST_FLIGHT_STREAMS 100
/* Control frames (SETTINGS and PING acknowledgements) queued unsent before nghttp2 ends the
 * connection as a flood. */
#define H2_MAX_OUTBOUND_ACK 1000
/* An idle session (no stream, nothing unsent) frees its output buffer after this long: a
 * client between requests keeps it, a parked connection costs its structs and nghttp2's. */
#define H2_SLIM_AFTER 1.0
/* CONTINUATION frames after one HEADERS (CVE-2024-28182); nghttp2's default, made explicit. */
#define H2_MAX_CONTINUATIONS 8

static void h2_io_cb(struct ev_loop *loop, ev_io *watcher, int revents);
static void h2_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents);

/* ---- nghttp2's callbacks that concern the connection ---- */

typedef enum abuse_kind { ABUSE_RESET, ABUSE_EMPTY_DATA, ABUSE_REFUSED } abuse_kind;

static uint32_t refusals_allowed(const rv_worker_config *config) {
    uint32_t limit = config->h2_max_concurrent_streams;
    return limit > H2_FIRST_FLIGHT_STREAMS ? limit : H2_FIRST_FLIGHT_STREAMS;
}

/* Counts a frame of an abusive kind in the current window; past its cap the connection
 * ends with GOAWAY ENHANCE_YOUR_CALM. */
static void count_abuse(h2_session *session, abuse_kind kind) {
    ev_tstamp now = ev_now(session->worker->loop);
    if (now - session->abuse_window_start > H2_ABUSE_WINDOW) {
        session->abuse_window_start = now;
        memset(session->abuse_in_window, 0, sizeof session->abuse_in_window);
    }
    const rv_worker_config *config = session->worker->config;
    uint32_t cap = kind == ABUSE_RESET        ? config->h2_max_concurrent_streams * H2_RESETS_PER_STREAM_SLOT
                   : kind == ABUSE_EMPTY_DATA ? H2_MAX_EMPTY_DATA
                                              : refusals_allowed(config);
    if (++session->abuse_in_window[kind] > cap) {
        STAT_ADD(session->worker, RV_STAT_PARSE_ERRORS, 1);
        nghttp2_session_terminate_session(session->ng, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

/* ---- SETTINGS_MAX_CONCURRENT_STREAMS ----
 *
 * RFC 9113 5.1.2: a stream past the limit is a stream error; REFUSED_STREAM tells the client
 * that nothing of it was processed and it may send it again (8.7). nghttp2 1.52 refuses so
 * only until the client acknowledged our SETTINGS, then ends the whole connection with
 * PROTOCOL_ERROR. So nghttp2 is given a limit it never reaches (below) and enforces nothing;
 * the SETTINGS frame states the real one on the wire (patched as it leaves,
 * advertise_stream_limit), and h2_stream_admitted refuses past it, before and after the
 * acknowledgement alike. nghttp2's limit counts the streams it holds: ours (at most the
 * limit), and refused ones until their RST_STREAM is sent (at most the refusals of one
 * window before ENHANCE_YOUR_CALM, then it opens none). It also bounds the closed streams it
 * remembers (RFC 9113 5.1's STREAM_CLOSED errors). */
static uint32_t nghttp2_stream_limit(const rv_worker_config *config) {
    return config->h2_max_concurrent_streams + refusals_allowed(config) + 2;
}

int h2_stream_admitted(h2_session *session, int32_t id) {
    if (session->open_streams < session->worker->config->h2_max_concurrent_streams) {
        session->open_streams++;
        return 1;
    }
    nghttp2_submit_rst_stream(session->ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    count_abuse(session, ABUSE_REFUSED);
    return 0;
}

/* Our SETTINGS frame, the first without ACK that nghttp2 produces: its
 * SETTINGS_MAX_CONCURRENT_STREAMS becomes the limit we enforce. */
static void advertise_stream_limit(h2_session *session, uint8_t *frame, size_t length) {
    if (length < 9 || frame[3] != NGHTTP2_SETTINGS || (frame[4] & NGHTTP2_FLAG_ACK)) return;
    uint32_t limit = session->worker->config->h2_max_concurrent_streams;
    for (size_t at = 9; at + 6 <= length; at += 6) {
        if (((frame[at] << 8) | frame[at + 1]) != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
        for (int i = 0; i < 4; i++) frame[at + 2 + i] = (uint8_t)(limit >> (24 - 8 * i));
    }
    session->limit_advertised = 1;
}

/* RFC 9113 section 6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that takes a stream's
 * window past 2^31-1 is a connection error FLOW_CONTROL_ERROR (nghttp2 1.52 resets only the
 * stream). Each stream's window before the frame was noted by on_begin_frame. */
static void check_window_overflow(h2_session *session, const nghttp2_settings *settings) {
    for (size_t i = 0; i < settings->niv; i++) {
        if (settings->iv[i].settings_id != NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE) continue;
        int64_t delta = (int64_t)settings->iv[i].value - session->peer_initial_window;
        session->peer_initial_window = settings->iv[i].value;
        for (h2_stream *stream = session->streams; stream; stream = stream->next) {
            if ((int64_t)stream->window_before_settings + delta > NGHTTP2_MAX_WINDOW_SIZE) {
                nghttp2_session_terminate_session(session->ng, NGHTTP2_FLOW_CONTROL_ERROR);
                return;
            }
            stream->window_before_settings = (int32_t)(stream->window_before_settings + delta);
        }
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data) {
    (void)ng;
    h2_session *session = user_data;
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        session->preface_seen = 1;
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) check_window_overflow(session, &frame->settings);
        return 0;
    case NGHTTP2_RST_STREAM:
        count_abuse(session, ABUSE_RESET);
        return 0;
    case NGHTTP2_DATA:
        if (frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) count_abuse(session, ABUSE_EMPTY_DATA);
        return h2_stream_frame_received(session, frame);
    case NGHTTP2_HEADERS:
        return h2_stream_frame_received(session, frame);
    default:
        return 0;
    }
}

static int on_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *user_data) {
    (void)error_code;
    h2_session *session = user_data;
    h2_stream *stream = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (!stream) return 0; /* refused, or failed at its start */
    session->open_streams--;
    h2_stream_closed(session, stream);
    return 0;
}

/* RFC 9113 section 5.1.1: a new stream's id must be larger than every stream the client
 * opened; a HEADERS below it for a stream nghttp2 does not know (never opened: the client's
 * ids went down) is a connection error PROTOCOL_ERROR. nghttp2 ignores it unless it still
 * remembers the stream as closed. Streams reset lately are left to nghttp2, which ignores
 * what was in flight on them, as 5.1 requires. */
static int on_begin_frame(nghttp2_session *ng, const nghttp2_frame_hd *header, void *user_data) {
    h2_session *session = user_data;
    int32_t id = header->stream_id;
    if (header->type == NGHTTP2_SETTINGS && !(header->flags & NGHTTP2_FLAG_ACK)) {
        /* the windows before the client's SETTINGS change them (check_window_overflow) */
        for (h2_stream *stream = session->streams; stream; stream = stream->next)
            stream->window_before_settings = nghttp2_session_get_stream_remote_window_size(ng, stream->id);
        return 0;
    }
    if (header->type != NGHTTP2_HEADERS || !(id & 1)) return 0;
    if (id > session->max_client_stream) {
        session->max_client_stream = id;
        return 0;
    }
    if (nghttp2_session_find_stream(ng, id)) return 0;
    for (unsigned i = 0; i < sizeof session->recent_resets / sizeof *session->recent_resets; i++)
        if (session->recent_resets[i] == id) return 0;
    nghttp2_session_terminate_session(ng, NGHTTP2_PROTOCOL_ERROR);
    return 0;
}

static int on_frame_send(nghttp2_session *ng, const nghttp2_frame *frame, void *user_data) {
    h2_session *session = user_data;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        unsigned slots = sizeof session->recent_resets / sizeof *session->recent_resets;
        session->recent_resets[session->recent_reset_at++ % slots] = frame->hd.stream_id;
        return 0;
    }
    if (frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) return 0;
    h2_stream *stream = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (!stream) return 0;
    stream->last_output = ev_now(session->worker->loop);
    /* The engine answered before the request ended (413, 408, ...): the rest of the upload
     * is not wanted (RFC 9113 section 8.1). */
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && stream->refused && !stream->ended)
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
    return 0;
}

static nghttp2_session_callbacks *callbacks(void) {
    static nghttp2_session_callbacks *made; /* one loop per process */
    if (made) return made;
    if (nghttp2_session_callbacks_new(&made) != 0) return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(made, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(made, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(made, h2_on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(made, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(made, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(made, on_frame_send);
    nghttp2_session_callbacks_set_on_begin_frame_callback(made, on_begin_frame);
    return made;
}

static nghttp2_option *options(void) {
    static nghttp2_option *made;
    if (made) return made;
    if (nghttp2_option_new(&made) != 0) return NULL;
    nghttp2_option_set_max_outbound_ack(made, H2_MAX_OUTBOUND_ACK);
    nghttp2_option_set_max_continuations(made, H2_MAX_CONTINUATIONS);
    return made;
}

/* ---- life ---- */

static void session_free(h2_session *session) {
    if (session->ng) nghttp2_session_del(session->ng);
    free(session->server_name);
    free(session->client_subject);
    pthread_mutex_destroy(&session->lock);
    pthread_cond_destroy(&session->room);
    free(session->out);
    free(session);
}

int h2_start(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    const rv_worker_config *config = worker->config;
    h2_session *session = calloc(1, sizeof *session);
    nghttp2_session_callbacks *made = callbacks();
    if (!session || !made || !options() ||
        nghttp2_session_server_new2(&session->ng, made, session, options()) != 0) {
        free(session);
        conn_close(conn);
        return -1;
    }
    pthread_mutex_init(&session->lock, NULL);
    pthread_cond_init(&session->room, NULL);
    session->conn = conn;
    session->worker = worker;
    session->peer_initial_window = NGHTTP2_INITIAL_WINDOW_SIZE;
    if (rv_conn_tls_info(conn, &session->tls_info)) {
        session->has_tls = 1;
        char subject[1024];
        if (session->tls_info.server_name) session->server_name = strdup(session->tls_info.server_name);
        session->tls_info.server_name = session->server_name;
        if (rv_conn_tls_client_subject(conn, subject, sizeof subject) > 0) session->client_subject = strdup(subject);
    }
    session->idle_since = ev_now(worker->loop);
    conn->request_started = session->idle_since; /* the first-data timeout runs until the preface */
    conn->h2 = session;
    conn->state = CONN_H2;
    STAT_ADD(worker, RV_STAT_H2_CONNECTIONS, 1);
    transport_set_nodelay(conn); /* frames of several streams follow each other */
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, nghttp2_stream_limit(config)}, /* advertise_stream_limit */
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, config->h2_initial_window_size},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, config->h2_max_frame_size},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, config->limits.max_head},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    if (nghttp2_submit_settings(session->ng, NGHTTP2_FLAG_NONE, settings,
                                sizeof settings / sizeof *settings) != 0 ||
        (config->h2_connection_window > NGHTTP2_INITIAL_CONNECTION_WINDOW_SIZE &&
         nghttp2_session_set_local_window_size(session->ng, NGHTTP2_FLAG_NONE, 0,
                                               (int32_t)config->h2_connection_window) != 0)) {
        conn_close(conn);
        return -1;
    }
    ev_set_cb(&conn->io, h2_io_cb);
    ev_set_cb(&conn->timer, h2_timer_cb);
    conn->deadline_kind = DEADLINE_NONE;
    /* The bytes already read (the preface, or what came with the end of the handshake). */
    if (conn->length > 0) {
        ssize_t fed = nghttp2_session_mem_recv(session->ng, conn->buffer, conn->length);
        conn->length = conn->parsed = 0;
        if (fed < 0) {
            conn_close(conn);
            return -1;
        }
        h2_dispatch_ready(session);
    }
    if (atomic_load_explicit(&worker->stopping, memory_order_relaxed) && conn->h2 == session) {
        h2_stop(conn); /* began after the stop did: the same two GOAWAYs */
        return 0;
    }
    if (h2_session_pump(session) != 0) return -1;
    /* The preface may have come with the client's Finished: TLS holds it, the socket will
     * not say so. */
    if (transport_has_buffered_input(conn)) ev_feed_event(worker->loop, &conn->io, EV_READ);
    return 0;
}

/* Streams on the runner keep a closed connection's session until they come back. */
void h2_connection_closed(rv_conn *conn) {
    h2_session *session = conn->h2;
    conn->h2 = NULL;
    session->conn = NULL;
    nghttp2_session_del(session->ng);
    session->ng = NULL;
    /* writers waiting for room give up */
    for (h2_stream *stream = session->streams; stream; stream = stream->next) h2_stream_mark_closed(stream);
    for (h2_stream *stream = session->streams, *next; stream; stream = next) {
        next = stream->next;
        if (!stream->dispatched || stream->handed_back) h2_stream_free(stream);
    }
    if (session->out_on_runner == 0) session_free(session);
}

int h2_stream_tls_info(const rv_conn *conn, rv_tls_info *out) {
    const h2_session *session = ((const h2_stream *)conn)->session;
    if (!session->has_tls) return 0;
    *out = session->tls_info;
    return 1;
}

size_t h2_stream_tls_client_subject(const rv_conn *conn, char *out, size_t capacity) {
    const char *subject = ((const h2_stream *)conn)->session->client_subject;
    if (!subject || capacity == 0) return 0;
    size_t length = strlen(subject);
    if (length >= capacity) length = capacity - 1;
    memcpy(out, subject, length);
    out[length] = 0;
    return length;
}

/* A detached session's last stream came back. */
static void free_if_detached(h2_session *session) {
    if (!session->conn && session->out_on_runner == 0) session_free(session);
}

/* Graceful stop in two steps (RFC 9113 section 6.8): a GOAWAY with the largest stream id
 * says no new stream should come; streams the client sent meanwhile still arrive within
 * the idle grace, and the final GOAWAY then names the last one served. A client therefore
 * never sees a stream it sent refused while it could not know. */
void h2_stop(rv_conn *conn) {
    h2_session *session = conn->h2;
    if (session->goaway_sent || session->goaway_due) return;
    const rv_worker_config *config = session->worker->config;
    double grace = config->shutdown_idle_grace < config->shutdown_timeout ? config->shutdown_idle_grace
                                                                          : config->shutdown_timeout;
    session->goaway_due = ev_now(session->worker->loop) + grace;
    nghttp2_submit_shutdown_notice(session->ng);
    h2_session_pump(session);
}

static void send_final_goaway(h2_session *session) {
    session->goaway_due = 0;
    session->goaway_sent = 1;
    nghttp2_submit_goaway(session->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session->ng),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

/* ---- reading ---- */

/* Reads what the transport has and feeds nghttp2. Returns 1 to go on, 0 when the
 * connection must close (the client left, or the input broke the protocol). */
static int read_input(h2_session *session) {
    rv_conn *conn = session->conn;
    if (conn_take_buffer(conn) != 0) return 0; /* given back while idle (h2_session_pump) */
    for (int reads = 0;; reads++) {
        if (reads == READS_PER_WAKE) {
            /* Others get their turn (as conn.c bounds HTTP/1.1's reads); what the socket
             * still has is announced again by the next poll, what TLS holds is not. */
            if (transport_has_buffered_input(conn)) ev_feed_event(session->worker->loop, &conn->io, EV_READ);
            return 1;
        }
        ssize_t got = transport_read(conn, conn->buffer, conn->capacity);
        if (got < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN;
        }
        if (got == 0) return 0;
        STAT_ADD(session->worker, RV_STAT_BYTES_READ, got);
        if (nghttp2_session_mem_recv(session->ng, conn->buffer, (size_t)got) < 0) return 0;
        if ((size_t)got < conn->capacity) return 1;
    }
}

int h2_session_read(h2_session *session) { return read_input(session) ? 0 : -1; }

/* ---- writing ---- */

static int gather(h2_session *session, const uint8_t *data, size_t length) {
    size_t capacity = h2_grow(&session->out, session->out_capacity, session->out_length + length, 16384);
    if (!capacity) return -1;
    session->out_capacity = capacity;
    memcpy(session->out + session->out_length, data, length);
    session->out_length += length;
    return 0;
}

/* Sends what nghttp2 has: gathers frames, writes them in one call, again while the socket
 * takes everything. Returns 1 all sent, 0 the transport would block, -1 failed. */
static int send_output(h2_session *session) {
    rv_conn *conn = session->conn;
    if (transport_output_pending(conn)) {
        int flushed = transport_flush(conn);
        if (flushed <= 0) return flushed;
    }
    for (;;) {
        while (session->out_length < H2_OUT_GATHER) {
            const uint8_t *data;
            ssize_t produced = nghttp2_session_mem_send(session->ng, &data);
            if (produced < 0) return -1;
            if (produced == 0) break;
            if (gather(session, data, (size_t)produced) != 0) return -1;
            if (!session->limit_advertised)
                advertise_stream_limit(session, session->out + session->out_length - produced, (size_t)produced);
        }
        if (session->out_sent == session->out_length) break;
        struct iovec iov = {session->out + session->out_sent, session->out_length - session->out_sent};
        ssize_t sent = transport_writev(conn, &iov, 1, 0);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        STAT_ADD(session->worker, RV_STAT_BYTES_WRITTEN, sent);
        session->out_sent += (size_t)sent;
        if (session->out_sent < session->out_length) return 0;
        session->out_sent = session->out_length = 0;
    }
    return transport_output_pending(conn) ? 0 : 1;
}

static void watch(h2_session *session) {
    rv_conn *conn = session->conn;
    int events = session->blocked ? transport_wait_events(conn, EV_WRITE) | EV_READ
                                  : transport_wait_events(conn, EV_READ);
    struct ev_loop *loop = session->worker->loop;
    if (ev_is_active(&conn->io) && (conn->io.events & (EV_READ | EV_WRITE)) == events &&
        conn->io.cb == h2_io_cb)
        return;
    ev_io_stop(loop, &conn->io);
    ev_io_set(&conn->io, conn->fd, events);
    ev_set_cb(&conn->io, h2_io_cb);
    ev_io_start(loop, &conn->io);
}

/* The earliest of the connection's deadlines (h2_timer_cb acts on each). */
static ev_tstamp next_deadline(h2_session *session) {
    const rv_worker_config *config = session->worker->config;
    ev_tstamp due = 0;
#define CONSIDER(at)                                                                          \
    do {                                                                                      \
        ev_tstamp candidate = (at);                                                           \
        if (due == 0 || candidate < due) due = candidate;                                     \
    } while (0)
    if (!session->preface_seen) CONSIDER(session->conn->request_started + config->first_data_timeout);
    if (session->blocked) CONSIDER(session->blocked_since + config->write_timeout);
    if (session->stream_count == 0 && session->out) CONSIDER(session->idle_since + H2_SLIM_AFTER);
    if (session->goaway_due) CONSIDER(session->goaway_due);
    else if (session->stream_count == 0 && !session->goaway_sent) CONSIDER(session->idle_since + config->keepalive_timeout);
    for (h2_stream *stream = session->streams; stream; stream = stream->next) {
        if (stream->closed) continue;
        if (!stream->ended && !stream->refused) {
            CONSIDER(stream->conn.request_started + config->request_timeout);
            CONSIDER(stream->last_input + config->body_timeout);
        } else if (stream->submitted && !stream->deferred) { /* waits for the client's window */
            CONSIDER(stream->last_output + config->write_timeout);
        }
    }
#undef CONSIDER
    return due;
}

static void schedule(h2_session *session) {
    rv_conn *conn = session->conn;
    struct ev_loop *loop = session->worker->loop;
    ev_tstamp due = next_deadline(session);
    if (due == 0) {
        ev_timer_stop(loop, &conn->timer);
        return;
    }
    if (ev_is_active(&conn->timer) && conn->timer_at == due) return;
    ev_timer_stop(loop, &conn->timer);
    ev_timer_set(&conn->timer, due > ev_now(loop) ? due - ev_now(loop) : 0., 0.);
    ev_timer_start(loop, &conn->timer);
    conn->timer_at = due;
}

int h2_session_pump(h2_session *session) {
    rv_conn *conn = session->conn;
    if (!conn) return -1;
    int sent = session->failed ? -1 : send_output(session);
    if (sent < 0) session->failed = 1;
    if (session->in_handler) return sent < 0 ? -1 : 0; /* closing waits for the handler */
    if (sent < 0) {
        conn_close(conn);
        return -1;
    }
    if (!nghttp2_session_want_read(session->ng) && !nghttp2_session_want_write(session->ng) &&
        session->out_length == 0 && !transport_output_pending(conn)) {
        /* Done (GOAWAY both ways, nothing open): what the client still sends must not
         * turn the close into a reset that destroys the last frames. */
        conn_linger_after_h2(conn);
        return -1;
    }
    int blocked = sent == 0;
    if (blocked && !session->blocked) session->blocked_since = ev_now(session->worker->loop);
    session->blocked = (uint8_t)blocked;
    if (session->stream_count > 0) session->idle_since = ev_now(session->worker->loop);
    /* nghttp2 keeps what it needs of a partial frame: the read buffer is empty between
     * reads, and an idle connection gives it back (taken again by the next read) */
    else if (!blocked) conn_give_back_buffer(conn);
    watch(session);
    schedule(session);
    return 0;
}

/* ---- the loop's callbacks ---- */

static void h2_io_cb(struct ev_loop *loop, ev_io *watcher, int revents) {
    (void)loop;
    rv_conn *conn = watcher->data;
    h2_session *session = conn->h2;
    if ((revents & EV_READ) || !session->blocked) {
        if (!read_input(session)) {
            /* What nghttp2 still has to say (a GOAWAY) goes first, if the socket takes it. */
            session->failed = 1;
            send_output(session);
            conn_close(conn);
            return;
        }
        h2_dispatch_ready(session);
    }
    h2_session_pump(session);
}

static void h2_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)revents;
    rv_conn *conn = timer->data;
    h2_session *session = conn->h2;
    const rv_worker_config *config = session->worker->config;
    ev_tstamp now = ev_now(loop);
    if ((!session->preface_seen && now >= conn->request_started + config->first_data_timeout) ||
        (session->blocked && now >= session->blocked_since + config->write_timeout)) {
        STAT_ADD(session->worker, RV_STAT_TIMEOUTS, 1);
        conn_close(conn);
        return;
    }
    if (session->stream_count == 0 && session->out_length == 0 && now >= session->idle_since + H2_SLIM_AFTER) {
        free(session->out);
        session->out = NULL;
        session->out_capacity = 0;
    }
    if (session->goaway_due && now >= session->goaway_due) {
        send_final_goaway(session); /* closes once the streams it names are done */
    } else if (!session->goaway_due && !session->goaway_sent && session->stream_count == 0 &&
               now >= session->idle_since + config->keepalive_timeout) {
        /* Idle: say so, then close. */
        nghttp2_session_terminate_session(session->ng, NGHTTP2_NO_ERROR);
        h2_session_pump(session);
        return;
    }
    for (h2_stream *stream = session->streams, *next; stream; stream = next) {
        next = stream->next;
        if (stream->closed) continue;
        if (!stream->ended && !stream->refused) {
            if (now >= stream->conn.request_started + config->request_timeout ||
                now >= stream->last_input + config->body_timeout) {
                STAT_ADD(session->worker, RV_STAT_TIMEOUTS, 1);
                h2_stream_fail(stream, 408);
            }
        } else if (stream->submitted && !stream->deferred && now >= stream->last_output + config->write_timeout) {
            /* The client kept its window closed: the response is given up. */
            STAT_ADD(session->worker, RV_STAT_TIMEOUTS, 1);
            stream->last_output = now;
            nghttp2_submit_rst_stream(session->ng, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_CANCEL);
        }
    }
    h2_session_pump(session);
}

/* ---- news from app threads ---- */

void h2_notify_loop(h2_stream *stream) {
    if (atomic_exchange(&stream->notified, 1)) return; /* already on the stack */
    rv_worker *worker = stream->session->worker;
    h2_stream *top = atomic_load_explicit(&worker->h2_news, memory_order_relaxed);
    do {
        stream->news_next = top;
    } while (!atomic_compare_exchange_weak_explicit(&worker->h2_news, &top, stream, memory_order_seq_cst,
                                                    memory_order_relaxed));
    ev_async_send(worker->loop, &worker->h2_async);
}

static void news_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    h2_stream *stack = atomic_exchange_explicit(&worker->h2_news, NULL, memory_order_acquire);
    h2_stream *in_order = NULL;
    while (stack) {
        h2_stream *next = stack->news_next;
        stack->news_next = in_order;
        in_order = stack;
        stack = next;
    }
    /* Every stream's news first, then one pump per connection. */
    h2_session *dirty[64];
    unsigned dirty_count = 0;
    for (h2_stream *stream = in_order, *next; stream; stream = next) {
        next = stream->news_next;
        atomic_store(&stream->notified, 0);
        h2_session *session = stream->session;
        h2_stream_news(stream); /* may free the stream, and a detached session */
        if (session->conn == NULL) {
            free_if_detached(session);
            continue;
        }
        unsigned i = 0;
        while (i < dirty_count && dirty[i] != session) i++;
        if (i == dirty_count) {
            if (dirty_count == sizeof dirty / sizeof *dirty) {
                h2_session_pump(dirty[--dirty_count]);
            }
            dirty[dirty_count++] = session;
        }
    }
    for (unsigned i = 0; i < dirty_count; i++) h2_session_pump(dirty[i]);
    if (worker->config->start_task) tasks_start_waiting(worker); /* a stream's task freed a slot */
    worker_update_accepting(worker);
    worker_check_drained(worker); /* a stopping worker's last stream came back */
}

void h2_worker_start(rv_worker *worker) {
    atomic_init(&worker->h2_news, NULL);
    ev_async_init(&worker->h2_async, news_cb);
    worker->h2_async.data = worker;
    ev_async_start(worker->loop, &worker->h2_async);
}
