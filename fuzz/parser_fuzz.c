/*
 * parser_fuzz.c: a libFuzzer target for the request parser (CShims/CRaptor, through
 * raptor.h), driven the way conn.c drives it.
 *
 * Input: the first byte picks the limits (small or default head, target, field count
 * and body sizes; bodies kept in memory or spooled to a temporary file from the first
 * byte or past a few bytes), the next eight seed the choice of read sizes, the rest is
 * the byte stream of one connection: pipelined requests, valid or not.
 *
 * Each input is run twice: as one read, and in reads of sizes chosen by the input (1 to
 * 64 bytes, sometimes more). Like conn.c, the driver reads into a buffer that moves
 * (a fresh allocation for every read, so a span or pointer kept across reads is caught
 * by AddressSanitizer), drops body bytes once the parser says they may go, answers
 * HEAD_CONTINUE by feeding on, after a complete request moves what is left to the start
 * of the buffer and resets the parser, and stops at an error or a request that ends the
 * connection. It checks, and aborts when one fails:
 *   - consumed stays within the feed; MORE consumes everything;
 *   - the target and field spans lie inside the bytes parsed for that request, the head
 *     fields inside the head; names are tokens; values hold no CR, LF or NUL and no OWS
 *     at either end; there are at most max_fields of them;
 *   - a Content-Length body has exactly that length; a body is spooled exactly when it
 *     is longer than body_memory_max, and reads back from offset 0; no body passes
 *     max_body;
 *   - an error status is one the parser may give;
 *   - both runs give the same outcome: the same requests with the same fields and
 *     bodies, ending at the same stream offsets, or the same error (status and reason).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "raptor.h"

#define CHECK(condition, ...)                                         \
    do {                                                              \
        if (!(condition)) {                                           \
            fprintf(stderr, "parser_fuzz: %s: ", #condition);         \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
            abort();                                                  \
        }                                                             \
    } while (0)

/* ---- the outcome of one run, compared between runs ---- */

typedef struct outcome {
    uint8_t *bytes;
    size_t length, capacity;
} outcome;

static void record(outcome *o, const void *data, size_t length) {
    if (o->length + length > o->capacity) {
        size_t wanted = o->capacity ? o->capacity * 2 : 4096;
        while (wanted < o->length + length) wanted *= 2;
        o->bytes = realloc(o->bytes, wanted);
        CHECK(o->bytes != NULL, "out of memory");
        o->capacity = wanted;
    }
    memcpy(o->bytes + o->length, data, length);
    o->length += length;
}

static void record_u64(outcome *o, uint64_t value) { record(o, &value, sizeof value); }

static void record_span(outcome *o, const uint8_t *buffer, rv_span span) {
    record_u64(o, span.len);
    record(o, buffer + span.off, span.len);
}

/* ---- checks on one complete request ---- */

static int is_tchar(uint8_t c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_span(rv_span span, uint32_t from, uint32_t to, const char *what) {
    CHECK(span.off >= from && (uint64_t)span.off + span.len <= to, "%s [%u, +%u) outside [%u, %u)", what,
          span.off, span.len, from, to);
}

static void check_field(const uint8_t *buffer, const rv_field *field) {
    CHECK(field->name.len > 0, "empty field name");
    for (uint32_t i = 0; i < field->name.len; i++)
        CHECK(is_tchar(buffer[field->name.off + i]), "field name byte 0x%02x", buffer[field->name.off + i]);
    const uint8_t *value = buffer + field->value.off;
    uint32_t n = field->value.len;
    for (uint32_t i = 0; i < n; i++)
        CHECK(value[i] != '\r' && value[i] != '\n' && value[i] != 0, "field value byte 0x%02x", value[i]);
    if (n > 0) {
        CHECK(value[0] != ' ' && value[0] != '\t', "value starts with OWS");
        CHECK(value[n - 1] != ' ' && value[n - 1] != '\t', "value ends with OWS");
    }
}

/* Reads the whole body (memory or file) into a fresh allocation. */
static uint8_t *body_bytes(const rv_body *body) {
    uint8_t *copy = malloc(body->length ? body->length : 1);
    CHECK(copy != NULL, "out of memory");
    if (body->fd < 0) {
        CHECK(body->length == 0 || body->data != NULL, "body without data");
        if (body->length) memcpy(copy, body->data, body->length);
        return copy;
    }
    uint64_t at = 0;
    while (at < body->length) {
        ssize_t got = pread(body->fd, copy + at, body->length - at, (off_t)at);
        CHECK(got > 0, "short read of the body file at %llu", (unsigned long long)at);
        at += (uint64_t)got;
    }
    uint8_t extra;
    CHECK(pread(body->fd, &extra, 1, (off_t)at) == 0, "body file longer than the body");
    CHECK(lseek(body->fd, 0, SEEK_CUR) == 0, "body file not rewound");
    return copy;
}

/* A complete request: the checks, then what the runs compare. `parsed` is where the
 * request ends in the buffer. */
static void complete_request(outcome *o, const rv_limits *limits, const rv_request *r, const uint8_t *buffer,
                             uint32_t parsed) {
    CHECK(r->error_status == 0, "complete with status %u", r->error_status);
    CHECK(r->head_length <= parsed, "head %u past the request's end %u", r->head_length, parsed);
    CHECK(r->version_major == 1 && r->version_minor <= 1, "version %u.%u", r->version_major, r->version_minor);
    CHECK(r->field_count <= limits->max_fields && r->trailer_start <= r->field_count, "%u fields, trailers from %u",
          r->field_count, r->trailer_start);
    check_span(r->target, 0, r->head_length, "target");
    CHECK(r->target.len > 0 && r->target.len <= limits->max_target, "target length %u", r->target.len);
    for (uint16_t i = 0; i < r->field_count; i++) {
        const rv_field *f = &r->fields[i];
        uint32_t from = i < r->trailer_start ? 0 : r->head_length;
        uint32_t to = i < r->trailer_start ? r->head_length : parsed;
        check_span(f->name, from, to, "field name");
        check_span(f->value, from, to, "field value");
        check_field(buffer, f);
    }
    const rv_body *body = &r->body;
    CHECK(body->length <= limits->max_body, "body of %llu past max_body", (unsigned long long)body->length);
    CHECK((body->fd >= 0) == (body->length > limits->body_memory_max), "body of %llu %s (memory limit %llu)",
          (unsigned long long)body->length, body->fd >= 0 ? "spooled" : "in memory",
          (unsigned long long)limits->body_memory_max);
    if (!r->chunked && r->method != RV_METHOD_CONNECT)
        CHECK(body->length == (uint64_t)(r->content_length > 0 ? r->content_length : 0),
              "body of %llu with Content-Length %lld", (unsigned long long)body->length,
              (long long)r->content_length);
    if (r->chunked) CHECK(r->content_length == -1, "chunked with Content-Length %lld", (long long)r->content_length);

    record_u64(o, RV_PARSE_COMPLETE);
    record(o, r->method_name, strlen(r->method_name));
    record_u64(o, ((uint64_t)r->method << 32) | ((uint64_t)r->version_minor << 24) | ((uint64_t)r->keep_alive << 16) |
                      ((uint64_t)r->expect_continue << 8) | ((uint64_t)r->chunked << 4) | r->upgrade);
    record_u64(o, (uint64_t)r->content_length);
    record_span(o, buffer, r->target);
    record_u64(o, ((uint64_t)r->field_count << 16) | r->trailer_start);
    for (uint16_t i = 0; i < r->field_count; i++) {
        record_span(o, buffer, r->fields[i].name);
        record_span(o, buffer, r->fields[i].value);
    }
    uint8_t *bytes = body_bytes(body);
    record_u64(o, body->length);
    record(o, bytes, body->length);
    free(bytes);
}

/* ---- one run over the stream, in reads chosen by `next_read` ---- */

typedef struct reads {
    uint64_t state; /* 0: everything in one read */
} reads;

static size_t next_read(reads *r, size_t left) {
    if (r->state == 0) return left;
    r->state ^= r->state << 13; /* xorshift64 */
    r->state ^= r->state >> 7;
    r->state ^= r->state << 17;
    size_t n = (r->state & 7) == 0 ? 1 + (r->state >> 8) % 4096 : 1 + (r->state >> 8) % 64;
    return n < left ? n : left;
}

static const unsigned allowed_statuses[] = {400, 413, 414, 417, 431, 500, 501, 505};

static void run(const rv_limits *limits, const uint8_t *stream, size_t size, reads reads, outcome *o) {
    rv_parser *parser = rv_parser_create(limits);
    CHECK(parser != NULL, "rv_parser_create failed");
    uint8_t *buffer = NULL;
    uint32_t length = 0, parsed = 0; /* conn.c's conn->length and conn->parsed */
    size_t delivered = 0;            /* stream bytes read so far */
    uint64_t base = 0;               /* stream offset of the buffer's first byte */
    uint64_t dropped = 0;            /* body bytes of this request dropped after its head */
    int open = 1;
    while (open && delivered < size) {
        /* a read: a fresh buffer with what was kept and the new bytes */
        size_t n = next_read(&reads, size - delivered);
        uint8_t *moved = malloc(length + n);
        CHECK(moved != NULL, "out of memory");
        if (length) memcpy(moved, buffer, length);
        memcpy(moved + length, stream + delivered, n);
        free(buffer);
        buffer = moved;
        length += (uint32_t)n;
        delivered += n;

        while (open && parsed < length) {
            uint32_t consumed = UINT32_MAX;
            rv_parse_result result = rv_parser_feed(parser, buffer, parsed, length, &consumed);
            CHECK(consumed >= parsed && consumed <= length, "consumed %u outside [%u, %u]", consumed, parsed, length);
            const rv_request *r = rv_parser_request(parser);
            switch (result) {
            case RV_PARSE_MORE:
                CHECK(consumed == length, "MORE consumed %u of %u", consumed, length);
                parsed = consumed;
                if (rv_parser_head_done(parser) && rv_parser_body_bytes_discardable(parser)) {
                    /* conn.c drops body bytes already copied out */
                    dropped += length - r->head_length;
                    length = parsed = r->head_length;
                }
                break;
            case RV_PARSE_HEAD_CONTINUE:
                CHECK(r->expect_continue && rv_parser_head_done(parser), "HEAD_CONTINUE without expect_continue");
                CHECK(consumed == r->head_length, "HEAD_CONTINUE consumed %u, head %u", consumed, r->head_length);
                record_u64(o, RV_PARSE_HEAD_CONTINUE);
                parsed = consumed;
                break;
            case RV_PARSE_COMPLETE:
                parsed = consumed;
                complete_request(o, limits, r, buffer, parsed);
                record_u64(o, base + dropped + parsed); /* where it ends in the stream */
                if (!r->keep_alive || r->upgrade) {
                    open = 0; /* conn.c closes after the response */
                    break;
                }
                rv_parser_reset(parser);
                base += dropped + parsed;
                dropped = 0;
                memmove(buffer, buffer + parsed, length - parsed);
                length -= parsed;
                parsed = 0;
                break;
            case RV_PARSE_ERROR: {
                int known = 0;
                for (size_t i = 0; i < sizeof allowed_statuses / sizeof *allowed_statuses; i++)
                    known |= r->error_status == allowed_statuses[i];
                CHECK(known, "error status %u", r->error_status);
                CHECK(r->error_reason != NULL, "error without a reason");
                record_u64(o, RV_PARSE_ERROR);
                record_u64(o, r->error_status);
                record(o, r->error_reason, strlen(r->error_reason));
                open = 0;
                break;
            }
            }
        }
    }
    if (open) record_u64(o, RV_PARSE_MORE); /* the stream ended mid-request, or between */
    free(buffer);
    rv_parser_destroy(parser);
}

/* ---- limits from the first byte ---- */

static rv_limits limits_from(uint8_t choice) {
    static const uint64_t memory[4] = {1 << 20, 0, 7, 100};
    rv_limits limits = {
        .max_target = (choice & 0x04) ? 24 : 8192,
        .max_head = (choice & 0x08) ? 96 : 16384,
        .max_fields = (choice & 0x10) ? 3 : 100,
        .max_body = (choice & 0x20) ? 40 : (1 << 20),
        .body_memory_max = memory[choice & 0x03],
    };
    return limits;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 9) return 0;
    rv_limits limits = limits_from(data[0]);
    uint64_t seed;
    memcpy(&seed, data + 1, sizeof seed);
    const uint8_t *stream = data + 9;
    size_t stream_size = size - 9;

    outcome whole = {0}, split = {0};
    run(&limits, stream, stream_size, (reads){0}, &whole);
    run(&limits, stream, stream_size, (reads){seed | 1}, &split);
    if (whole.length != split.length || memcmp(whole.bytes, split.bytes, whole.length) != 0) {
        fprintf(stderr, "parser_fuzz: one read and split reads differ (outcomes of %zu and %zu bytes)\n",
                whole.length, split.length);
        abort();
    }
    free(whole.bytes);
    free(split.bytes);
    return 0;
}
