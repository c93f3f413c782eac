/*
 * respond.c: responses. The thread that ran the handler encodes the head into a
 * thread-local buffer and writes head and body in one call to the connection's transport
 * (one sendmsg when plain). Only what the transport does not take is copied to the
 * connection and left to the loop (EV_WRITE), so a slow reader never holds an app thread.
 * Streams are the exception: they block their thread, bounded by the write timeout,
 * because the handler produces the body as it goes; a task's stream (async handlers)
 * leaves what the socket does not take to the loop instead and waits for it (tasks.c). What the connection does after the
 * response (keep-alive, the next request, close) is conn.c's decision, never this file's.
 *
 * The engine owns framing: Date, Content-Length / Transfer-Encoding and Connection are
 * written here and dropped when a handler sets them, so a response never carries both
 * Content-Length and Transfer-Encoding and never lies about its length.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "chars.h"
#include "field_list.h"
#include "status_reason.h"
#include "transport.h"

/* ---- the head being encoded, one per thread ---- */

typedef struct head_buffer {
    uint8_t *data;
    size_t length, capacity;
} head_buffer;

static _Thread_local head_buffer head;

static int head_reserve(size_t more) {
    if (head.length + more <= head.capacity) return 0;
    size_t wanted = head.capacity ? head.capacity : 1024;
    while (wanted < head.length + more) wanted *= 2;
    uint8_t *grown = realloc(head.data, wanted);
    if (!grown) return -1;
    head.data = grown;
    head.capacity = wanted;
    return 0;
}

static void head_append(const void *bytes, size_t length) {
    if (head_reserve(length) != 0) return; /* out of memory: the head is cut short */
    memcpy(head.data + head.length, bytes, length);
    head.length += length;
}

#define HEAD_LITERAL(text) head_append(text, sizeof(text) - 1)

void respond_thread_exit(void) {
    free(head.data);
    head = (head_buffer){0};
    tls_thread_exit(); /* what the thread's writes through TLS kept */
}

/* By hand: snprintf cost about 1,000 instructions per response. */
static void head_append_decimal(uint64_t value) {
    char digits[20];
    size_t at = sizeof digits;
    do {
        digits[--at] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    head_append(digits + at, sizeof digits - at);
}

/* ---- field validation (RFC 9110 section 5.1 and 5.5) ---- */

static int valid_name(const uint8_t *name, size_t length) {
    if (length == 0) return 0;
    for (size_t i = 0; i < length; i++)
        if (!rv_is_tchar(name[i])) return 0;
    return 1;
}

static inline int ends_a_line(uint8_t c) { return c == '\r' || c == '\n' || c == 0; }

/* A value may hold any byte but CR, LF and NUL. Eight bytes at a time: a word with no byte
 * below 0x0E (the "has a byte less than n" bit trick, exact for n <= 128) holds none of
 * them, and most values have no such byte at all; byte by byte, this loop was about a
 * third of a file response's head (callgrind). */
static int valid_value(const uint8_t *value, size_t length) {
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        uint64_t word;
        memcpy(&word, value + i, sizeof word);
        if (((word - 0x0E0E0E0E0E0E0E0EULL) & ~word & 0x8080808080808080ULL) == 0) continue;
        for (size_t j = i; j < i + 8; j++)
            if (ends_a_line(value[j])) return 0;
    }
    for (; i < length; i++)
        if (ends_a_line(value[i])) return 0;
    return 1;
}

int respond_valid_field(const uint8_t *name, size_t name_length, const uint8_t *value,
                        size_t value_length) {
    return valid_name(name, name_length) && valid_value(value, value_length);
}

static int name_is(const uint8_t *name, size_t length, const char *wanted) {
    return strlen(wanted) == length && strncasecmp((const char *)name, wanted, length) == 0;
}

/* "close" as one of the comma-separated connection options. */
static int has_close_option(const uint8_t *value, size_t length) {
    size_t at = 0;
    const uint8_t *option;
    size_t option_length;
    while (rv_list_next(value, length, &at, &option, &option_length))
        if (RV_EQUALS_LOWERCASE(option, option_length, "close")) return 1;
    return 0;
}

/* ---- writing ---- */

static void count_written(rv_conn *conn, ssize_t bytes) {
    if (bytes > 0) STAT_ADD(conn->worker, RV_STAT_BYTES_WRITTEN, bytes);
}

/* Keeps what the socket did not take, for the loop to send on EV_WRITE. */
static int keep_pending(rv_conn *conn, const struct iovec *iov, int count, size_t skip) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += iov[i].iov_len;
    total -= skip;
    if (total > UINT32_MAX) return -1;
    uint8_t *pending = malloc(total ? total : 1);
    if (!pending) return -1;
    size_t at = 0;
    for (int i = 0; i < count; i++) {
        size_t length = iov[i].iov_len;
        const uint8_t *base = iov[i].iov_base;
        if (skip >= length) {
            skip -= length;
            continue;
        }
        memcpy(pending + at, base + skip, length - skip);
        at += length - skip;
        skip = 0;
    }
    free(conn->pending);
    conn->pending = pending;
    conn->pending_length = (uint32_t)total;
    conn->pending_sent = 0;
    return 0;
}

/* Appends a part to what is kept for the loop (after the rest of a write). */
static int keep_more(rv_conn *conn, const struct iovec *part) {
    uint32_t length = conn->pending_length;
    if (part->iov_len > UINT32_MAX - length) return -1;
    uint8_t *grown = realloc(conn->pending, length + part->iov_len);
    if (!grown) return -1;
    memcpy(grown + length, part->iov_base, part->iov_len);
    conn->pending = grown;
    conn->pending_length = length + (uint32_t)part->iov_len;
    return 0;
}

/* Writes as much as the transport takes now. Returns 1 all written, 0 partly (the rest
 * is kept in conn->pending), -1 the client is gone. `more`: a file follows, so the head
 * leaves in the same segment as the file's first bytes. */
static int write_or_keep(rv_conn *conn, struct iovec *iov, int count, int more) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += iov[i].iov_len;
    size_t written = 0;
    while (written < total) {
        struct iovec rest[4];
        int rest_count = 0;
        size_t skip = written;
        for (int i = 0; i < count; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            rest[rest_count].iov_base = (uint8_t *)iov[i].iov_base + skip;
            rest[rest_count].iov_len = iov[i].iov_len - skip;
            rest_count++;
            skip = 0;
        }
        ssize_t sent = transport_writev(conn, rest, rest_count, more);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return keep_pending(conn, iov, count, written) == 0 ? 0 : -1;
            return -1;
        }
        count_written(conn, sent);
        written += (size_t)sent;
    }
    /* Output the transport still holds is pending, unless it holds it on purpose: a file
     * follows at once and takes it along. */
    return more || !transport_output_pending(conn) ? 1 : 0;
}

/* Waits, up to the write timeout, until the transport can go on writing. 0: go on; -1:
 * timed out (counted) or failed. */
static int wait_for_room(rv_conn *conn, int timeout_ms) {
    int events = transport_wait_events(conn, EV_WRITE);
    struct pollfd wait = {.fd = conn->fd,
                          .events = (short)((events & EV_READ ? POLLIN : 0) |
                                            (events & EV_WRITE ? POLLOUT : 0))};
    int ready = poll(&wait, 1, timeout_ms);
    if (ready > 0 || (ready < 0 && errno == EINTR)) return 0;
    if (ready == 0) STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
    return -1;
}

/* Writes everything, waiting (up to the write timeout per step) while the client is slow.
 * For streams only: they run on the handler's thread by design. */
static int write_blocking(rv_conn *conn, struct iovec *iov, int count) {
    int timeout_ms = (int)(conn->worker->config->write_timeout * 1000);
    for (int i = 0; i < count;) {
        if (iov[i].iov_len == 0) {
            i++;
            continue;
        }
        ssize_t sent = transport_writev(conn, iov + i, count - i, 0);
        if (sent < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN || wait_for_room(conn, timeout_ms) != 0) return -1;
            continue;
        }
        count_written(conn, sent);
        size_t left = (size_t)sent;
        while (i < count && left >= iov[i].iov_len) left -= iov[i++].iov_len;
        if (i < count) {
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + left;
            iov[i].iov_len -= left;
        }
    }
    for (;;) { /* what the transport still holds */
        int flushed = transport_flush(conn);
        if (flushed != 0) return flushed > 0 ? 0 : -1;
        if (wait_for_room(conn, timeout_ms) != 0) return -1;
    }
}

/* Stream output: written blocking the thread, or for a task (begun with
 * rv_respond_stream_begin_nowait) as far as the socket takes it now: 1 when the rest was
 * kept for the loop. */
static int stream_send(rv_conn *conn, struct iovec *iov, int count) {
    if (!conn->stream_nowait) return write_blocking(conn, iov, count);
    /* At most two parts per write_or_keep, as for every other response: a third (a chunk's
     * closing CRLF) made the compiler unroll its loop for three, 9 instructions per
     * response on every path. The third goes on its own, or after what was kept. */
    int written = write_or_keep(conn, iov, count > 1 ? 2 : 1, 0); /* 1 or 3 parts come */
    if (count > 2 && written > 0) written = write_or_keep(conn, iov + 2, 1, 0);
    else if (count > 2 && written == 0 && keep_more(conn, &iov[2]) != 0) written = -1;
    return written > 0 ? 0 : written == 0 ? 1 : -1;
}

/* The rest of a body of parts (rv_respond_file_parts), in one allocation: the parts, then
 * their texts and the tail. */
typedef struct file_parts {
    uint32_t count;
    uint32_t next; /* the part after the region being sent; `count`: the tail is next */
    size_t text_at, text_length;
    rv_file_part *part;
    uint8_t *text;
} file_parts;

/* The file shrank under us: the promised length would be a lie, so the connection closes
 * (the caller returns -1) and the application hears of it once. */
static void report_short_file(rv_conn *conn) {
    const rv_worker_config *config = conn->worker->config;
    if (config->file_short)
        config->file_short(conn->file_fd, conn->file_offset, conn->file_offset + conn->file_left,
                           config->handler_context);
}

/* Sends the current file region: 1 sent, 0 would block, -1 failed. */
static int send_region(rv_conn *conn) {
    while (conn->file_left > 0) {
        off_t offset = (off_t)conn->file_offset;
        size_t chunk = conn->file_left > (1u << 30) ? (1u << 30) : (size_t)conn->file_left;
        ssize_t sent = transport_send_file(conn, conn->file_fd, &offset, chunk);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        if (sent == 0) {
            report_short_file(conn);
            return -1;
        }
        count_written(conn, sent);
        conn->file_offset += (uint64_t)sent;
        conn->file_left -= (uint64_t)sent;
    }
    return 1;
}

/* Writes the next part's text and makes its region the current one, or writes the tail
 * after the last. Returns as write_or_keep (what the socket does not take waits in
 * `pending`, sent before the region). */
static int start_next_part(rv_conn *conn) {
    file_parts *parts = conn->parts;
    const uint8_t *text = parts->text + parts->text_at;
    size_t length;
    int more = 1; /* the region follows: one segment for both */
    if (parts->next < parts->count) {
        const rv_file_part *part = &parts->part[parts->next];
        length = part->text_length;
        conn->file_offset = part->offset;
        conn->file_left = part->length;
    } else {
        length = parts->text_length - parts->text_at;
        more = 0;
    }
    parts->next++;
    parts->text_at += length;
    if (length == 0) return 1;
    struct iovec iov[1] = {{(void *)text, length}};
    return write_or_keep(conn, iov, 1, more);
}

/* Sends what is left of a file body (the current region, then each next part of a body of
 * parts) and closes the file once all is out: 1 done, 0 would block, -1 failed. */
static int send_file_body(rv_conn *conn) {
    for (;;) {
        int sent = send_region(conn);
        if (sent <= 0) return sent;
        if (!conn->parts || conn->parts->next > conn->parts->count) break;
        sent = start_next_part(conn);
        if (sent <= 0) return sent;
    }
    close(conn->file_fd);
    conn->file_fd = -1;
    return transport_output_pending(conn) ? 0 : 1;
}

int respond_flush_pending(rv_conn *conn) {
    int flushed = transport_flush(conn);
    if (flushed <= 0) return flushed;
    while (conn->pending_sent < conn->pending_length) {
        struct iovec rest = {conn->pending + conn->pending_sent,
                             conn->pending_length - conn->pending_sent};
        ssize_t sent = transport_writev(conn, &rest, 1, 0);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        count_written(conn, sent);
        conn->pending_sent += (uint32_t)sent;
    }
    if (conn->file_fd >= 0) return send_file_body(conn);
    return transport_output_pending(conn) ? 0 : 1; /* the last of it may still be held */
}

void respond_reset(rv_conn *conn) {
    free(conn->pending);
    conn->pending = NULL;
    conn->pending_length = conn->pending_sent = 0;
    if (conn->file_fd >= 0) close(conn->file_fd);
    conn->file_fd = -1;
    conn->file_left = 0;
    free(conn->parts);
    conn->parts = NULL;
    conn->responded = conn->finished = conn->close_after = conn->no_body = conn->streaming = 0;
    conn->engine_error = 0; /* stream_nowait: set by every stream's begin */
    conn->status = 0;
    conn->body_bytes = 0;
}

/* ---- the handler's API ---- */

void respond_count_status(rv_worker *worker, unsigned status) {
    static const rv_stat by_class[] = {RV_STAT_RESPONSES_1XX, RV_STAT_RESPONSES_2XX,
                                       RV_STAT_RESPONSES_3XX, RV_STAT_RESPONSES_4XX,
                                       RV_STAT_RESPONSES_5XX};
    unsigned class = status / 100;
    if (class >= 1 && class <= 5) STAT_ADD(worker, by_class[class - 1], 1);
}

static void start_head(rv_conn *conn, unsigned status) {
    const rv_request *request = conn->request;
    conn->responded = 1;
    conn->status = (uint16_t)status;
    conn->no_body = request->method == RV_METHOD_HEAD || status == 204 || status == 304;
    conn->close_after = !conn_keep_alive_allowed(conn);
    respond_count_status(conn->worker, status);
    head.length = 0;
    const char *reason = rv_status_reason(status);
    char line[13] = {'H', 'T', 'T', 'P', '/', '1', '.', '1', ' ', (char)('0' + status / 100 % 10),
                     (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' '};
    head_append(line, sizeof line);
    head_append(reason, strlen(reason));
    HEAD_LITERAL("\r\nDate: ");
    char date[29];
    date_copy(date);
    head_append(date, sizeof date);
    HEAD_LITERAL("\r\n");
}

void rv_respond_start(rv_conn *conn, unsigned status) {
    /* An interim (1xx) status cannot end a response, and a status must have 3 digits. */
    if (status < 200 || status > 999) status = 500;
    start_head(conn, status);
}

int rv_respond_field(rv_conn *conn, const uint8_t *name, size_t name_length,
                     const uint8_t *value, size_t value_length) {
    if (!valid_name(name, name_length) || !valid_value(value, value_length)) return -1;
    if (name_is(name, name_length, "connection")) {
        if (has_close_option(value, value_length)) conn->close_after = 1;
        return 0;
    }
    if (name_is(name, name_length, "content-length") ||
        name_is(name, name_length, "transfer-encoding") || name_is(name, name_length, "date"))
        return 0;
    /* One reservation for the whole line. */
    size_t line_length = name_length + 2 + value_length + 2;
    if (head_reserve(line_length) != 0) return 0; /* out of memory: the head is cut short */
    uint8_t *line = head.data + head.length;
    memcpy(line, name, name_length);
    memcpy(line + name_length, ": ", 2);
    memcpy(line + name_length + 2, value, value_length);
    memcpy(line + line_length - 2, "\r\n", 2);
    head.length += line_length;
    return 0;
}

typedef enum framing { FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_CLOSE } framing;

static void end_head(rv_conn *conn, framing kind, uint64_t length) {
    unsigned status = conn->status;
    const rv_request *request = conn->request;
    if (status == 204 || status == 304) {
        /* no framing field: these never have content */
    } else if (kind == FRAMING_LENGTH) {
        HEAD_LITERAL("Content-Length: ");
        head_append_decimal(length);
        HEAD_LITERAL("\r\n");
    } else if (kind == FRAMING_CHUNKED) {
        HEAD_LITERAL("Transfer-Encoding: chunked\r\n");
    } else {
        conn->close_after = 1; /* the end of the body is the end of the connection */
    }
    if (conn->close_after)
        HEAD_LITERAL("Connection: close\r\n");
    else if (request->version_major == 1 && request->version_minor == 0)
        HEAD_LITERAL("Connection: keep-alive\r\n");
    HEAD_LITERAL("\r\n");
}

static int settle(rv_conn *conn, int written) {
    conn->finished = 1;
    if (written > 0) {
        conn->handback = conn->file_fd >= 0 ? HANDBACK_WRITE_PENDING : HANDBACK_DONE;
        return 0;
    }
    if (written == 0) {
        conn->handback = HANDBACK_WRITE_PENDING;
        return 0;
    }
    conn->handback = HANDBACK_CLOSE;
    return -1;
}

int rv_respond_body(rv_conn *conn, const uint8_t *body, size_t length) {
    if (!conn->responded) start_head(conn, 200);
    end_head(conn, FRAMING_LENGTH, length); /* for HEAD: the length GET would have */
    struct iovec iov[2] = {{head.data, head.length}, {(void *)body, conn->no_body ? 0 : length}};
    conn->body_bytes = conn->no_body ? 0 : length;
    return settle(conn, write_or_keep(conn, iov, conn->no_body || length == 0 ? 1 : 2, 0));
}

int rv_respond_file(rv_conn *conn, int fd, uint64_t offset, uint64_t length) {
    if (!conn->responded) start_head(conn, 200);
    end_head(conn, FRAMING_LENGTH, length);
    if (conn->no_body || length == 0) {
        close(fd);
    } else {
        conn->file_fd = fd;
        conn->file_offset = offset;
        conn->file_left = length;
        conn->body_bytes = length;
    }
    struct iovec iov[1] = {{head.data, head.length}};
    int written = write_or_keep(conn, iov, 1, conn->file_fd >= 0);
    if (written > 0 && conn->file_fd >= 0) written = send_file_body(conn);
    return settle(conn, written);
}

int respond_file_parts_valid(const rv_file_part *parts, uint32_t count, size_t text_length, uint64_t *total) {
    size_t texts = 0;
    *total = text_length;
    for (uint32_t i = 0; i < count; i++) {
        *total += parts[i].length;
        texts += parts[i].text_length;
    }
    return count > 0 && texts <= text_length;
}

int rv_respond_file_parts(rv_conn *conn, int fd, const rv_file_part *parts, uint32_t count,
                          const uint8_t *text, size_t text_length) {
    uint64_t total;
    int valid = respond_file_parts_valid(parts, count, text_length, &total);
    if (!conn->responded) start_head(conn, valid ? 200 : 500);
    file_parts *copy = NULL;
    if (valid && !conn->no_body)
        copy = malloc(sizeof *copy + count * sizeof *parts + text_length);
    if (!copy && !conn->no_body) { /* no parts, texts past the text, or no memory */
        close(fd);
        rv_respond_abort(conn);
        return -1;
    }
    end_head(conn, FRAMING_LENGTH, total);
    if (conn->no_body) {
        close(fd);
        struct iovec iov[1] = {{head.data, head.length}};
        return settle(conn, write_or_keep(conn, iov, 1, 0));
    }
    copy->count = count;
    copy->next = 1;
    copy->text_at = parts[0].text_length;
    copy->text_length = text_length;
    copy->part = (rv_file_part *)(copy + 1);
    copy->text = (uint8_t *)(copy->part + count);
    memcpy(copy->part, parts, count * sizeof *parts);
    memcpy(copy->text, text, text_length);
    conn->parts = copy;
    conn->file_fd = fd;
    conn->file_offset = parts[0].offset;
    conn->file_left = parts[0].length;
    conn->body_bytes = total;
    struct iovec iov[2] = {{head.data, head.length}, {(void *)text, parts[0].text_length}};
    int written = write_or_keep(conn, iov, 2, 1);
    if (written > 0) written = send_file_body(conn);
    return settle(conn, written);
}

static int stream_begin(rv_conn *conn, uint8_t nowait) {
    conn->stream_nowait = nowait;
    if (!conn->responded) start_head(conn, 200);
    const rv_request *request = conn->request;
    int chunked = request->version_major == 1 && request->version_minor >= 1;
    conn->streaming = chunked ? 1 : 2;
    transport_set_nodelay(conn); /* many small writes: none may wait for an ack */
    end_head(conn, chunked ? FRAMING_CHUNKED : FRAMING_CLOSE, 0);
    struct iovec iov[1] = {{head.data, head.length}};
    int sent = stream_send(conn, iov, 1);
    if (sent < 0) rv_respond_abort(conn);
    return sent;
}

int rv_respond_stream_begin(rv_conn *conn) { return stream_begin(conn, 0); }

int rv_respond_stream_begin_nowait(rv_conn *conn) { return stream_begin(conn, 1); }

int rv_respond_stream_write(rv_conn *conn, const uint8_t *data, size_t length) {
    if (conn->finished) return -1;
    if (conn->no_body || length == 0) return 0;
    conn->body_bytes += length;
    int result;
    if (conn->streaming == 1) {
        char size_line[24];
        int size_length = snprintf(size_line, sizeof size_line, "%zx\r\n", length);
        struct iovec iov[3] = {{size_line, (size_t)size_length}, {(void *)data, length}, {"\r\n", 2}};
        result = stream_send(conn, iov, 3);
    } else {
        struct iovec iov[1] = {{(void *)data, length}};
        result = stream_send(conn, iov, 1);
    }
    if (result < 0) rv_respond_abort(conn);
    return result;
}

int rv_respond_stream_end(rv_conn *conn) {
    if (conn->finished) return -1;
    int sent = 0;
    if (conn->streaming == 1 && !conn->no_body) {
        struct iovec iov[1] = {{"0\r\n\r\n", 5}};
        sent = stream_send(conn, iov, 1);
        if (sent < 0) {
            rv_respond_abort(conn);
            return -1;
        }
    }
    conn->finished = 1;
    conn->handback = sent ? HANDBACK_WRITE_PENDING : HANDBACK_DONE; /* kept: the loop ends it */
    return sent;
}

void rv_respond_abort(rv_conn *conn) {
    conn->finished = 1;
    conn->handback = HANDBACK_CLOSE;
}

int rv_response_started(const rv_conn *conn) { return conn->responded; }

uint64_t rv_response_body_bytes(const rv_conn *conn) { return conn->body_bytes; }

/* One request of the application answered (its response written, or left for the loop
 * to finish): its duration from the first byte read, into the worker's buckets. */
static void observe_duration(rv_conn *conn) {
    ev_tstamp seconds = ev_time() - conn->request_started;
    rv_stats_observe_duration(conn->worker->stats, seconds > 0 ? (uint64_t)(seconds * 1e6) : 0);
}

void respond_ensure_finished(rv_conn *conn) {
    if (!conn->responded) {
        static const char body[] = "Internal Server Error\n";
        rv_respond_start(conn, 500);
        conn->close_after = 1;
        rv_respond_field(conn, (const uint8_t *)"Content-Type", 12,
                         (const uint8_t *)"text/plain; charset=utf-8", 25);
        rv_respond_body(conn, (const uint8_t *)body, sizeof body - 1);
    } else if (!conn->finished) {
        rv_respond_abort(conn); /* a stream left open: the body cannot be completed */
    }
    if (conn->handback != HANDBACK_CLOSE) observe_duration(conn);
}

/* ---- answers the engine makes itself (loop thread); conn.c decides what follows ---- */

void respond_error(rv_conn *conn, unsigned status, const char *text) {
    const char *body = text ? text : rv_status_reason(status);
    start_head(conn, status);
    conn->close_after = 1;
    HEAD_LITERAL("Content-Type: text/plain; charset=utf-8\r\n");
    if (status == 503) HEAD_LITERAL("Retry-After: 1\r\n");
    size_t body_length = strlen(body);
    end_head(conn, FRAMING_LENGTH, body_length + 1);
    if (!conn->no_body) {
        head_append(body, body_length);
        HEAD_LITERAL("\n");
    }
    struct iovec iov[1] = {{head.data, head.length}};
    conn->engine_error = 1;
    settle(conn, write_or_keep(conn, iov, 1, 0));
}

int respond_continue(rv_conn *conn) {
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = {(void *)line, sizeof line - 1};
    ssize_t sent = transport_writev(conn, &iov, 1, 0);
    count_written(conn, sent);
    /* The client waits for this line before it sends the body: it must leave now. */
    return sent == (ssize_t)(sizeof line - 1) && !transport_output_pending(conn) ? 0 : -1;
}
