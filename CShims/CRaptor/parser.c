/*
 * parser.c: one HTTP/1.1 request at a time, fed as it arrives (rv_parser_* in raptor.h).
 * The file names in parser.h say who does what; vendor-notes.md lists every gap of
 * http_parser 2.9.4 (Debian builds it non-strict) and how the shim closes it.
 *
 * 1. Empty lines before the request line are skipped (RFC 9112 2.2).
 * 2. The head is scanned once, byte by byte as it arrives (request_line.c, fields.c):
 *    every rule RFC 9112 sets for it is checked there, at the first byte that breaks it,
 *    and the spans of the target and fields are recorded. When the empty line arrives,
 *    fields.c checks what the fields say together (Host, Content-Length,
 *    Transfer-Encoding, Expect, body size) and fills in the request.
 * 3. The body goes through http_parser, which needs to know only its framing: it starts
 *    from a copy of its own state after a head that says "Transfer-Encoding: chunked",
 *    or after "Content-Length: " followed by the length we read. It never sees the
 *    request's head, so the framing is what the shim decided from the trimmed fields,
 *    never http_parser's reading of them. on_body copies the body into the sink (memory,
 *    then a temporary file); chunked.c checks the chunk framing beside it. A request
 *    without a body never reaches http_parser.
 * Every decision depends only on a prefix of the bytes, never on how reads split them
 * (the unit tests feed every case split at every position; so does fuzz/).
 *
 * Decisions where the RFC leaves a choice
 *  - A bare LF ends a line in the request line, header and trailer fields (RFC 9112 2.2
 *    MAY); a bare CR never does. Chunk lines and the CRLF after chunk data must be CRLF.
 *  - Any number of empty lines before the request line is skipped; they do not count
 *    against max_head.
 *  - max_head counts from the request line's first byte through the head's empty line;
 *    a trailer section's bytes count against what is left of it.
 *  - The checks at the end of the head run in this order: Host (400), Content-Length
 *    (400), Transfer-Encoding (400, then 501), Expect (417), body size (413).
 *  - Content-Length and Transfer-Encoding together: 400 (not honoured).
 *  - "close" wins over "keep-alive" in Connection, on HTTP/1.0 too (RFC 9112 9.3).
 *  - A failure to store the body (no memory, temp file error) answers 500.
 *  - On RV_PARSE_ERROR, *consumed is the end of the feed: the connection is closed after
 *    the answer, so nothing after the error is ever parsed.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "chars.h"
#include "parser.h"

/* ---- http_parser, primed for a body ---- */

/* http_parser after a head ending in "Transfer-Encoding: chunked", and inside the value
 * of "Content-Length: ": copied into a parser when its request's body begins. */
static http_parser chunked_body_start;
static http_parser length_value_start;
static int body_starts_ready;
static pthread_once_t body_starts_once = PTHREAD_ONCE_INIT;

static void prime(http_parser *hp, const char *head) {
    static const http_parser_settings no_callbacks;
    http_parser_init(hp, HTTP_REQUEST);
    size_t length = strlen(head);
    size_t used = http_parser_execute(hp, &no_callbacks, head, length);
    body_starts_ready &= used == length && HTTP_PARSER_ERRNO(hp) == HPE_OK;
}

static void make_body_starts(void) {
    body_starts_ready = 1;
    prime(&chunked_body_start, "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    prime(&length_value_start, "PUT / HTTP/1.1\r\nContent-Length: ");
}

static int on_body(http_parser *hp, const char *at, size_t length) {
    rv_parser *p = hp->data;
    if (rv_body_sink_append(&p->sink, (const uint8_t *)at, length) == 0) return 0;
    p->cb_status = 500;
    p->cb_reason = "could not store the request body";
    return -1;
}

static int on_message_complete(http_parser *hp) {
    rv_parser *p = hp->data;
    p->hp_complete = 1;
    http_parser_pause(hp, 1); /* the next request's bytes are not its */
    return 0;
}

static const http_parser_settings body_callbacks = {
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

rv_parse_result parser_fail(rv_parser *p, unsigned status, const char *reason) {
    p->req.error_status = (uint16_t)status;
    p->req.error_reason = reason;
    p->ph = PH_ERROR;
    return RV_PARSE_ERROR;
}

int parser_refuse(rv_parser *p, unsigned status, const char *reason) {
    parser_fail(p, status, reason);
    return -1;
}

long parser_body_feed(rv_parser *p, const uint8_t *data, size_t length) {
    if (length == 0) return 0; /* to http_parser, no bytes means the connection ended */
    size_t used = http_parser_execute(&p->hp, &body_callbacks, (const char *)data, length);
    enum http_errno error = HTTP_PARSER_ERRNO(&p->hp);
    if (error == HPE_OK || error == HPE_PAUSED) return (long)used;
    if (p->cb_status != 0) parser_fail(p, p->cb_status, p->cb_reason);
    else parser_fail(p, 400, http_errno_description(error));
    return -1;
}

/* ---- lifecycle ---- */

static void request_clear(rv_parser *p) {
    rv_request *r = &p->req;
    r->method_name = "";
    r->method = RV_METHOD_OTHER;
    r->target = (rv_span){0, 0};
    r->version_major = 0;
    r->version_minor = 0;
    r->keep_alive = 0;
    r->expect_continue = 0;
    r->chunked = 0;
    r->upgrade = 0;
    r->content_length = -1;
    r->head_length = 0;
    r->field_count = 0;
    r->trailer_start = 0;
    r->error_status = 0;
    r->error_reason = NULL;
    rv_body_sink_publish(&p->sink, &r->body);
}

/* Everything from `ph` on is per request, and zero is its starting value. */
static void state_clear(rv_parser *p) { memset(&p->ph, 0, sizeof *p - offsetof(rv_parser, ph)); }

rv_parser *rv_parser_create(const rv_limits *limits) {
    request_line_init();
    pthread_once(&body_starts_once, make_body_starts);
    if (!body_starts_ready) return NULL;
    rv_parser *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->limits = *limits;
    if (p->limits.max_fields > RV_MAX_FIELDS) p->limits.max_fields = RV_MAX_FIELDS;
    rv_body_sink_init(&p->sink, p->limits.body_memory_max);
    state_clear(p);
    request_clear(p);
    return p;
}

void rv_parser_destroy(rv_parser *p) {
    if (p == NULL) return;
    rv_body_sink_destroy(&p->sink);
    free(p);
}

void rv_parser_reset(rv_parser *p) {
    rv_body_sink_reset(&p->sink);
    state_clear(p);
    request_clear(p);
}

const rv_request *rv_parser_request(const rv_parser *p) { return &p->req; }

int rv_parser_started(const rv_parser *p) { return p->ph != PH_LEAD && p->ph != PH_LEAD_CR; }

int rv_parser_head_done(const rv_parser *p) { return p->head_done; }

int rv_parser_body_bytes_discardable(const rv_parser *p) {
    if (!p->head_done) return 0;
    if (p->ph == PH_DONE) return p->req.field_count == p->req.trailer_start;
    return p->ph == PH_BODY && !p->in_trailers;
}

/* ---- feeding ---- */

static rv_parse_result more(uint32_t end, uint32_t *consumed) {
    *consumed = end;
    return RV_PARSE_MORE;
}

static rv_parse_result failed(uint32_t end, uint32_t *consumed) {
    *consumed = end;
    return RV_PARSE_ERROR;
}

/* The request ends at `at`: the body (if any) is stored. */
static rv_parse_result complete(rv_parser *p, uint32_t at, uint32_t *consumed) {
    if (rv_body_sink_finish(&p->sink) < 0) {
        parser_fail(p, 500, "could not store the request body");
        return failed(at, consumed);
    }
    rv_body_sink_publish(&p->sink, &p->req.body);
    p->ph = PH_DONE;
    *consumed = at;
    return RV_PARSE_COMPLETE;
}

/* Skips empty lines before the request line. Returns 1 when the request line starts at
 * *pos, 0 for more bytes, -1 after parser_fail. */
static int skip_empty_lines(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end) {
    uint32_t pos = *pos_io;
    int result = 0;
    for (; pos < end; pos++) {
        uint8_t c = buf[pos];
        if (p->ph == PH_LEAD_CR) {
            if (c != '\n') {
                parser_fail(p, 400, "bare CR before the request line");
                result = -1;
                break;
            }
            p->ph = PH_LEAD;
        } else if (c == '\r') {
            p->ph = PH_LEAD_CR;
        } else if (c != '\n') {
            p->ph = PH_HEAD;
            p->req_start = pos;
            fields_begin(p, pos, p->limits.max_head); /* the head limit counts from here */
            result = 1;
            break;
        }
    }
    *pos_io = pos;
    return result;
}

/* Formats "<length>\r\n\r\n" (the rest of a Content-Length field and of the head). */
static size_t length_line(uint64_t length, char out[24]) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + length % 10);
        length /= 10;
    } while (length > 0);
    for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    memcpy(out + n, "\r\n\r\n", 4);
    return n + 4;
}

/* The head is valid: is a body coming, and if so, http_parser is primed for it.
 * Returns RV_PARSE_MORE when a body follows, RV_PARSE_COMPLETE when none does, or
 * RV_PARSE_ERROR after parser_fail. */
static rv_parse_result start_body(rv_parser *p) {
    rv_request *r = &p->req;
    int has_body = r->chunked || r->content_length > 0;
    /* CONNECT never has one here; an upgrade reads its body first (as http_parser did). */
    if (!has_body || r->method == RV_METHOD_CONNECT) return RV_PARSE_COMPLETE;
    if (r->chunked) {
        p->hp = chunked_body_start;
        p->hp.data = p;
    } else {
        if (rv_body_sink_expect(&p->sink, (uint64_t)r->content_length) < 0)
            return parser_fail(p, 500, "could not store the request body");
        p->hp = length_value_start;
        p->hp.data = p;
        char line[24];
        size_t n = length_line((uint64_t)r->content_length, line);
        if (parser_body_feed(p, (const uint8_t *)line, n) < 0) return RV_PARSE_ERROR;
    }
    p->ph = PH_BODY;
    return RV_PARSE_MORE;
}

rv_parse_result rv_parser_feed(rv_parser *p, const uint8_t *buf, uint32_t start, uint32_t end,
                               uint32_t *consumed) {
    uint32_t pos = start;
    int r;
    switch (p->ph) {
    case PH_DONE:
        *consumed = start;
        return RV_PARSE_COMPLETE;
    case PH_ERROR:
        *consumed = start;
        return RV_PARSE_ERROR;
    case PH_LEAD:
    case PH_LEAD_CR:
        r = skip_empty_lines(p, buf, &pos, end);
        if (r <= 0) return r < 0 ? failed(end, consumed) : more(end, consumed);
        /* fall through */
    case PH_HEAD:
        if (p->ls != LS_DONE) {
            r = request_line_scan(p, buf, &pos, end);
            if (r <= 0) return r < 0 ? failed(end, consumed) : more(end, consumed);
        }
        r = fields_scan(p, buf, &pos, end);
        if (r <= 0) return r < 0 ? failed(end, consumed) : more(end, consumed);
        p->head_end = pos;
        if (fields_finish_head(p, buf) == RV_PARSE_ERROR) return failed(end, consumed);
        p->head_done = 1;
        switch (start_body(p)) {
        case RV_PARSE_COMPLETE: return complete(p, pos, consumed);
        case RV_PARSE_ERROR: return failed(end, consumed);
        default: break;
        }
        if (p->req.expect_continue) {
            *consumed = pos;
            return RV_PARSE_HEAD_CONTINUE;
        }
        /* fall through */
    case PH_BODY:
        if (p->req.chunked) {
            r = chunked_scan(p, buf, &pos, end);
            if (r <= 0) return r < 0 ? failed(end, consumed) : more(end, consumed);
            return complete(p, pos, consumed);
        }
        long used = parser_body_feed(p, buf + pos, end - pos);
        if (used < 0) return failed(end, consumed);
        if (p->hp_complete) return complete(p, pos + (uint32_t)used, consumed);
        return more(end, consumed);
    }
    return failed(end, consumed);
}
