/*
 * parser.c: drives http_parser 2.9.4 (Debian's libhttp-parser, built NON-strict) and adds
 * the RFC 9110/9112 strictness it lacks. This is the only file that includes
 * http_parser.h.
 *
 * How it works
 * ------------
 * 1. A streaming pre-scanner walks the head byte by byte as it arrives (each byte once,
 *    state kept across feeds). It validates the request line completely (method token,
 *    single SPs, request-target bytes and form, "HTTP/" DIGIT "." DIGIT), finds the end
 *    of the head, rejects bare CR, and enforces max_target (414), max_head and
 *    max_fields (431) at the first byte past the limit, even mid-line.
 * 2. Only when the whole head is there is it handed to http_parser, in one call, which
 *    pauses in on_headers_complete. The callbacks only record spans (offsets from the
 *    buffer; a piece contiguous with the previous one extends it).
 * 3. Then validation runs once over all field lines (raw bytes) and over the recorded
 *    fields (Host, Content-Length, Transfer-Encoding, Expect, limits).
 * 4. The body goes through http_parser (on_body copies it into the body sink). For a
 *    chunked body a second streaming scanner checks the chunk framing in parallel
 *    (RFC 9112 7.1 grammar, chunk-ext syntax, max_body) and holds the trailer section
 *    back until it is complete; then the trailer lines are validated like the head's and
 *    fed to http_parser in one call.
 *    Where the scanner finds an error, http_parser is first fed the bytes before it, so
 *    the earliest error in byte order wins whatever the feed boundaries were: every
 *    decision depends only on a prefix of the bytes, never on how they were split.
 *
 * http_parser 2.9.4 strictness gaps (non-strict build) and how this shim closes them
 * ---------------------------------------------------------------------------------
 *  - Accepts several SPs between request-line parts ("GET  / HTTP/1.1"): the
 *    pre-scanner requires exactly one SP -> 400.
 *  - Accepts HTAB and bytes >= 0x80 inside the request-target: pre-scanner allows only
 *    0x21-0x7E -> 400.
 *  - Accepts a request line without version (HTTP/0.9 "GET /"): -> 400.
 *  - Accepts any major version (HTTP/2.0, HTTP/0.9): pre-scanner -> 505. Multi-digit
 *    versions (HTTP/1.10, HTTP/10.1), which it rejects itself with HPE_INVALID_VERSION,
 *    and anything after the version are 400 from the pre-scanner (HPE_INVALID_VERSION
 *    would map to 400 too).
 *  - Does not check the request-target form ("GET foo", "GET *", "CONNECT /x",
 *    "GET host:80"): origin-form, "*" only for OPTIONS, absolute-form scheme "://",
 *    authority-form only and always for CONNECT; else 400.
 *  - Rejects unknown methods with HPE_INVALID_METHOD at the first unexpected byte: the
 *    pre-scanner reads the whole method up to SP and answers 501 for a valid token that
 *    http_parser does not know, 400 for a non-token (the same answer however the bytes
 *    are split).
 *  - Accepts SP inside a field name and between name and colon ("Ho st: x",
 *    "Host : x"); accepts field lines starting with SP/HTAB (obs-fold, reported as a
 *    second, non-contiguous value piece): raw field-line validation -> 400.
 *  - Accepts a bare CR as the final line terminator ("...\r\n\rX" ends the head): the
 *    pre-scanner rejects every CR not followed by LF (request line, fields, empty line,
 *    trailers) -> 400.
 *  - Does not trim trailing SP/HTAB from field values: trimmed in the recorded span.
 *  - Never checks Host: missing on HTTP/1.1, repeated, or not uri-host [":" port]
 *    -> 400 (empty Host accepted for origin-form and asterisk-form only).
 *  - Accepts Transfer-Encoding on HTTP/1.0, "chunked" applied twice across two fields
 *    ("Transfer-Encoding: chunked" x2), and codings before chunked ("gzip, chunked",
 *    parsed as chunked): -> 400 for 1.0 and double chunked, 501 for codings we do not
 *    implement. Non-final chunked ("chunked, gzip") and "gzip" alone it rejects only
 *    after on_headers_complete (HPE_INVALID_TRANSFER_ENCODING): we answer 400 before.
 *  - Ignores chunk extensions entirely ("3;\x01"): the chunk scanner checks
 *    chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) -> 400.
 *    It also accepts whitespace after the chunk size without ";" ("3 \r\n"): -> 400,
 *    and any two bytes in place of the CRLF after chunk data ("abcX\r\n" is only caught
 *    later, as a bad chunk size): the scanner requires CRLF right after the data -> 400.
 *    A chunk-size line (with extensions) longer than RV_CHUNK_LINE_MAX -> 400.
 *  - Accepts a chunked body of any size: the scanner answers 413 as soon as the
 *    declared chunk sizes add up past max_body, before the data is read.
 *  - Accepts trailer field names with SP ("A b: c") and has no limit on the trailer
 *    section: trailer lines get the head's raw validation (400) and count against
 *    max_head and max_fields (431).
 *  - Ignores Expect: "100-continue" (case-insensitive, HTTP/1.1, body coming) sets
 *    expect_continue and pauses with RV_PARSE_HEAD_CONTINUE; other expectations -> 417.
 *  - Its header-size limit (80 KiB, HPE_HEADER_OVERFLOW) is set out of the way once
 *    (pthread_once, http_parser_set_max_header_size(UINT32_MAX)) so ours decide; should
 *    it ever fire, it maps to 431.
 *  Already enforced by http_parser and mapped to our statuses: CTL/NUL/DEL in field
 *  values and non-tchar in field names (HPE_INVALID_HEADER_TOKEN -> 400, but the raw
 *  validation sees them first), invalid/duplicate Content-Length and Content-Length
 *  with Transfer-Encoding (HPE_INVALID_CONTENT_LENGTH / HPE_UNEXPECTED_CONTENT_LENGTH
 *  -> 400, also checked by us), chunk-size overflow (-> 400), lowercase "http/1.1"
 *  (HPE_INVALID_CONSTANT -> 400, the pre-scanner sees it first).
 *
 * Decisions where the RFC leaves a choice
 * ---------------------------------------
 *  - Bare LF is accepted as a line terminator in the request line, header fields and
 *    trailer fields (RFC 9112 2.2 MAY); a bare CR never is. Chunk-size lines and the
 *    CRLF after chunk data must be CRLF (http_parser requires it too).
 *  - Any number of empty lines (CRLF or LF) before the request line is skipped
 *    (RFC 9112 2.2 SHOULD ignore at least one); they do not count against max_head.
 *  - "HTTP/x.y" with x != 1 (including HTTP/0.9 and HTTP/2.0 spelled out) -> 505; a
 *    request line without version (the HTTP/0.9 simple request) -> 400.
 *    HTTP/1.y with y > 1 is served as HTTP/1.1 (version_minor reported as 1).
 *  - max_head counts from the first byte of the request line through the empty line
 *    that ends the head (both included); trailer sections add their bytes (through
 *    their final empty line) to the head's.
 *  - The request-target may hold any VCHAR (0x21-0x7E), '#' included; the application
 *    sees it raw.
 *  - Host: uri-host [":" *DIGIT] (port at most 5 digits); IP-literal checked for
 *    characters only; reg-name must not be empty when a port follows.
 *  - Expect is a comma list; every non-empty member must be "100-continue"
 *    (case-insensitive), else 417. It is ignored on HTTP/1.0 (RFC 9110 10.1.1).
 *  - The status checks at head completion run in this order: raw field syntax (400),
 *    http_parser's own errors, Host (400), Content-Length (400), Transfer-Encoding
 *    (400, then 501), Expect (417), body size (413).
 *  - A failure to store the body (no memory, temp file error) answers 500.
 *  - On RV_PARSE_ERROR, *consumed is the end of the feed: the connection is closed after
 *    the answer, so nothing after the error is ever parsed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "body.h"
#include "chars.h"
#include "raptor.h"

/* A chunk-size line (size, extensions, CRLF) longer than this is refused with 400. */
#define RV_CHUNK_LINE_MAX 4096u

/* ------------------------------------------------------------------------------------ */
/* Character classes                                                                    */
/* ------------------------------------------------------------------------------------ */

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

/* field-vchar / SP / HTAB (RFC 9110 5.5): no CTL, no DEL. */
static int is_field_value_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

static int lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static int span_ieq(const uint8_t *s, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m) return 0;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != (uint8_t)lit[i]) return 0;
    return 1;
}

/* ------------------------------------------------------------------------------------ */
/* One-time setup: http_parser's header limit out of the way; its method names.         */
/* ------------------------------------------------------------------------------------ */

#define MAX_KNOWN_METHODS 64
static const char *known_methods[MAX_KNOWN_METHODS];
static size_t known_method_count;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_once_fn(void) {
    http_parser_set_max_header_size(UINT32_MAX);
    for (unsigned m = 0; m < MAX_KNOWN_METHODS; m++) {
        const char *name = http_method_str((enum http_method)m);
        if (name == NULL || strcmp(name, "<unknown>") == 0) break;
        known_methods[known_method_count++] = name;
    }
}

static int method_known(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < known_method_count; i++) {
        const char *k = known_methods[i];
        if (strlen(k) == n && memcmp(k, s, n) == 0) return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* The parser                                                                           */
/* ------------------------------------------------------------------------------------ */

typedef enum phase {
    PH_LEAD = 0, /* skipping empty lines before the request line */
    PH_LEAD_CR,  /* a CR of a leading empty line; LF must follow */
    PH_HEAD,     /* in the head (pre-scanner) */
    PH_BODY,     /* head done and valid; body (if any) through http_parser */
    PH_DONE,     /* one whole request */
    PH_ERROR,
} phase;

typedef enum head_state {
    HS_METHOD = 0,
    HS_TARGET_FIRST,
    HS_TARGET,
    HS_VERSION,
    HS_RL_CR,
    HS_LINE_START,
    HS_LINE,
    HS_LINE_CR,
    HS_EMPTY_CR,
} head_state;

typedef enum chunk_state {
    CS_SIZE_START = 0,
    CS_SIZE,
    CS_SIZE_BWS,
    CS_EXT_PRE_NAME,
    CS_EXT_NAME,
    CS_EXT_POST_NAME,
    CS_EXT_PRE_VAL,
    CS_EXT_TOKEN,
    CS_EXT_QSTR,
    CS_EXT_QESC,
    CS_EXT_AFTER_QSTR,
    CS_EXT_POST_VAL,
    CS_SIZE_LF,
    CS_DATA,
    CS_DATA_CR,
    CS_DATA_LF,
    CS_TLINE_START, /* trailer section */
    CS_TLINE,
    CS_TLINE_CR,
    CS_TEMPTY_CR,
    CS_END,
} chunk_state;

typedef enum target_form {
    TF_ORIGIN = 0,
    TF_ASTERISK,
    TF_ABSOLUTE,
    TF_AUTHORITY,
} target_form;

typedef enum last_cb { CB_NONE = 0, CB_FIELD, CB_VALUE } last_cb;

struct rv_parser {
    http_parser hp;
    rv_limits limits;
    rv_request req;
    rv_body_sink sink;

    const uint8_t *base; /* the buffer of the current feed (NULL: static bytes) */
    phase ph;
    uint8_t started;     /* a byte of the request line was seen */
    uint8_t head_done;
    uint8_t hp_headers;  /* on_headers_complete seen */
    uint8_t hp_complete; /* on_message_complete seen */
    uint8_t need_lf;     /* http_parser paused on the head's final LF: re-feed it */
    uint8_t in_trailers; /* the last chunk is done: trailer bytes pin the buffer */
    last_cb last;        /* kind of the previous header callback */
    uint16_t cb_status;  /* status set by a callback that stopped http_parser */
    const char *cb_reason;

    /* pre-scanner */
    head_state hs;
    uint32_t req_start;  /* first byte of the request line */
    uint32_t target_off; /* first byte of the request-target */
    uint32_t target_len;
    uint32_t rl_end;     /* the request line's LF */
    uint32_t head_end;   /* just after the empty line */
    uint32_t field_lines;
    uint8_t ver_i;
    uint8_t ver_major;
    uint8_t ver_minor;
    uint8_t form;
    uint8_t is_connect;
    uint8_t method_unknown; /* a valid token we do not implement: 501 once the line is whole */
    uint8_t is_options;

    /* body */
    uint32_t hp_pos; /* how far http_parser has been fed */
    chunk_state cs;
    uint64_t chunk_size;
    uint64_t chunk_left;
    uint64_t chunk_total;
    uint32_t chunk_line_len;
    uint32_t trailer_off;  /* first byte after the last-chunk line */
    uint32_t trailer_end;  /* just after the trailer section's empty line */
    uint32_t trailer_lines;
};

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                               */
/* ------------------------------------------------------------------------------------ */

static rv_parse_result fail(rv_parser *p, unsigned status, const char *reason) {
    p->req.error_status = (uint16_t)status;
    p->req.error_reason = reason;
    p->ph = PH_ERROR;
    return RV_PARSE_ERROR;
}

/* The answer for an error http_parser reported. */
static rv_parse_result fail_hp(rv_parser *p) {
    enum http_errno err = HTTP_PARSER_ERRNO(&p->hp);
    if (p->cb_status != 0) return fail(p, p->cb_status, p->cb_reason);
    switch (err) {
    case HPE_HEADER_OVERFLOW:
        return fail(p, 431, "header section too large");
    case HPE_INVALID_METHOD:
        /* The pre-scanner already answered 501 for a valid unknown token. */
        return fail(p, 400, "invalid method");
    case HPE_INVALID_VERSION:
        return fail(p, 400, "invalid HTTP version");
    case HPE_INVALID_TRANSFER_ENCODING:
        return fail(p, 400, "invalid Transfer-Encoding");
    default:
        return fail(p, 400, http_errno_description(err));
    }
}

/* ------------------------------------------------------------------------------------ */
/* http_parser callbacks: record spans only                                              */
/* ------------------------------------------------------------------------------------ */

static uint32_t offset_of(const rv_parser *p, const char *at) {
    return (uint32_t)((const uint8_t *)at - p->base);
}

static int cb_stop(rv_parser *p, unsigned status, const char *reason) {
    p->cb_status = (uint16_t)status;
    p->cb_reason = reason;
    return -1;
}

static int on_url(http_parser *hp, const char *at, size_t len) {
    rv_parser *p = hp->data;
    if (p->base == NULL) return cb_stop(p, 400, "unexpected request-target");
    uint32_t off = offset_of(p, at);
    if (p->req.target.len != 0 && p->req.target.off + p->req.target.len == off)
        p->req.target.len += (uint32_t)len;
    else if (p->req.target.len == 0)
        p->req.target = (rv_span){off, (uint32_t)len};
    else
        return cb_stop(p, 400, "request-target not contiguous");
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len) {
    rv_parser *p = hp->data;
    if (p->base == NULL) return cb_stop(p, 400, "unexpected field");
    uint32_t off = offset_of(p, at);
    rv_request *r = &p->req;
    if (p->last == CB_FIELD) {
        rv_span *name = &r->fields[r->field_count - 1].name;
        if (name->off + name->len != off) return cb_stop(p, 400, "field name not contiguous");
        name->len += (uint32_t)len;
        return 0;
    }
    if (r->field_count >= p->limits.max_fields) return cb_stop(p, 431, "too many fields");
    rv_field *f = &r->fields[r->field_count++];
    f->name = (rv_span){off, (uint32_t)len};
    f->value = (rv_span){off + (uint32_t)len, 0};
    p->last = CB_FIELD;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len) {
    rv_parser *p = hp->data;
    if (p->base == NULL || p->req.field_count == 0) return cb_stop(p, 400, "unexpected value");
    uint32_t off = offset_of(p, at);
    rv_span *value = &p->req.fields[p->req.field_count - 1].value;
    if (p->last == CB_FIELD) {
        *value = (rv_span){off, (uint32_t)len};
    } else if (value->off + value->len == off) {
        value->len += (uint32_t)len;
    } else {
        return cb_stop(p, 400, "obsolete line folding"); /* a non-contiguous piece */
    }
    p->last = CB_VALUE;
    return 0;
}

static int on_headers_complete(http_parser *hp) {
    rv_parser *p = hp->data;
    p->hp_headers = 1;
    p->last = CB_NONE;
    http_parser_pause(hp, 1);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len) {
    rv_parser *p = hp->data;
    if (rv_body_sink_append(&p->sink, (const uint8_t *)at, len) < 0)
        return cb_stop(p, 500, "could not store the request body");
    return 0;
}

static int on_message_complete(http_parser *hp) {
    rv_parser *p = hp->data;
    p->hp_complete = 1;
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Runs http_parser over bytes, unpausing it first. Returns the bytes it used. */
static size_t hp_run(rv_parser *p, const uint8_t *base, const uint8_t *data, size_t len) {
    if (HTTP_PARSER_ERRNO(&p->hp) == HPE_PAUSED) http_parser_pause(&p->hp, 0);
    p->base = base;
    size_t n = http_parser_execute(&p->hp, &settings, (const char *)data, len);
    return n;
}

static int hp_failed(const rv_parser *p) {
    enum http_errno e = HTTP_PARSER_ERRNO(&p->hp);
    return e != HPE_OK && e != HPE_PAUSED;
}

/* ------------------------------------------------------------------------------------ */
/* Lifecycle                                                                            */
/* ------------------------------------------------------------------------------------ */

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

static void state_clear(rv_parser *p) {
    http_parser_init(&p->hp, HTTP_REQUEST);
    p->hp.data = p;
    p->base = NULL;
    p->ph = PH_LEAD;
    p->started = 0;
    p->head_done = 0;
    p->hp_headers = 0;
    p->hp_complete = 0;
    p->need_lf = 0;
    p->in_trailers = 0;
    p->last = CB_NONE;
    p->cb_status = 0;
    p->cb_reason = NULL;
    p->hs = HS_METHOD;
    p->req_start = 0;
    p->target_off = 0;
    p->target_len = 0;
    p->rl_end = 0;
    p->head_end = 0;
    p->field_lines = 0;
    p->ver_i = 0;
    p->ver_major = 0;
    p->ver_minor = 0;
    p->form = TF_ORIGIN;
    p->is_connect = 0;
    p->method_unknown = 0;
    p->is_options = 0;
    p->hp_pos = 0;
    p->cs = CS_SIZE_START;
    p->chunk_size = 0;
    p->chunk_left = 0;
    p->chunk_total = 0;
    p->chunk_line_len = 0;
    p->trailer_off = 0;
    p->trailer_end = 0;
    p->trailer_lines = 0;
}

rv_parser *rv_parser_create(const rv_limits *limits) {
    pthread_once(&init_once, init_once_fn);
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

int rv_parser_started(const rv_parser *p) { return p->started; }

int rv_parser_head_done(const rv_parser *p) { return p->head_done; }

int rv_parser_body_bytes_discardable(const rv_parser *p) {
    if (!p->head_done) return 0;
    if (p->ph == PH_DONE) return p->req.field_count == p->req.trailer_start;
    return p->ph == PH_BODY && !p->in_trailers;
}

/* ------------------------------------------------------------------------------------ */
/* Request line and head scanning                                                       */
/* ------------------------------------------------------------------------------------ */

/* uri-host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2). require_port: authority-form. */
static int valid_host(const uint8_t *s, size_t n, int require_port) {
    size_t i = 0;
    if (n == 0) return 0;
    if (s[0] == '[') {
        size_t close = 1;
        while (close < n && s[close] != ']') close++;
        if (close >= n || close == 1) return 0;
        if (s[1] == 'v' || s[1] == 'V') {
            /* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
            size_t j = 2;
            size_t hex = 0;
            while (j < close && hex_value(s[j]) >= 0) j++, hex++;
            if (hex == 0 || j >= close || s[j] != '.') return 0;
            j++;
            if (j >= close) return 0;
            for (; j < close; j++) {
                uint8_t c = s[j];
                if (!rv_is_reg_name_char(c) && c != ':') return 0;
            }
        } else {
            size_t colons = 0;
            for (size_t j = 1; j < close; j++) {
                uint8_t c = s[j];
                if (c == ':') colons++;
                else if (hex_value(c) < 0 && c != '.') return 0;
            }
            if (colons < 2) return 0;
        }
        i = close + 1;
    } else {
        size_t start = 0;
        while (i < n && s[i] != ':') {
            uint8_t c = s[i];
            if (c == '%') {
                if (i + 2 >= n || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return 0;
                i += 3;
                continue;
            }
            if (!rv_is_reg_name_char(c)) return 0;
            i++;
        }
        if (i == start) return 0; /* empty reg-name */
    }
    if (i == n) return !require_port;
    if (s[i] != ':') return 0;
    i++;
    size_t digits = n - i;
    if (digits > 5 || (require_port && digits == 0)) return 0;
    for (; i < n; i++)
        if (!is_digit(s[i])) return 0;
    return 1;
}

/* The bytes of a path and query (RFC 3986 3.3, 3.4: pchar / "/" / "?", pct-encoded
 * as "%" HEXDIG HEXDIG). with_authority: the part after "scheme://" of an absolute-form
 * target, whose authority may hold an IP-literal in brackets. */
static int check_target_chars(const uint8_t *t, size_t n, int with_authority, const char **reason) {
    size_t authority_end = 0;
    if (with_authority) {
        while (authority_end < n && t[authority_end] != '/' && t[authority_end] != '?') authority_end++;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = t[i];
        if (c == '%') {
            if (i + 2 >= n || hex_value(t[i + 1]) < 0 || hex_value(t[i + 2]) < 0) {
                *reason = "malformed percent-encoding in the request-target";
                return -1;
            }
            i += 2;
            continue;
        }
        if (rv_is_target_char(c) || (i < authority_end && (c == '[' || c == ']'))) continue;
        *reason = "character not allowed in the request-target";
        return -1;
    }
    return 0;
}

/* The request-target's form, checked at the SP that ends it (RFC 9112 3.2). */
static int check_target(rv_parser *p, const uint8_t *t, size_t n, const char **reason) {
    if (p->is_connect) {
        /* CONNECT takes authority-form only (RFC 9112 3.2.3). */
        if (!valid_host(t, n, 1)) {
            *reason = "CONNECT needs an authority-form target";
            return -1;
        }
        p->form = TF_AUTHORITY;
        return 0;
    }
    if (t[0] == '/') {
        p->form = TF_ORIGIN;
        return check_target_chars(t, n, 0, reason);
    }
    if (n == 1 && t[0] == '*') {
        if (!p->is_options) {
            *reason = "asterisk-form is for OPTIONS only";
            return -1;
        }
        p->form = TF_ASTERISK;
        return 0;
    }
    /* absolute-form: scheme "://" ... */
    size_t i = 0;
    if (!is_alpha(t[0])) {
        *reason = "invalid request-target form";
        return -1;
    }
    while (i < n && (is_alpha(t[i]) || is_digit(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (i + 3 >= n || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/') {
        *reason = "invalid request-target form";
        return -1;
    }
    p->form = TF_ABSOLUTE;
    return check_target_chars(t + i + 3, n - i - 3, 1, reason);
}

/* Scans head bytes [*pos, end). Returns 1 when the head is complete (p->head_end set),
 * 0 when more bytes are needed, -1 after fail(). */
static int scan_head(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end) {
    uint32_t pos = *pos_io;
    uint64_t head_limit = (uint64_t)p->req_start + p->limits.max_head;
    uint32_t lim = (uint64_t)end < head_limit ? end : (uint32_t)head_limit;
    const char *reason = NULL;

    while (pos < lim) {
        uint8_t c = buf[pos];
        switch (p->hs) {
        case HS_METHOD:
            if (rv_is_tchar(c)) {
                pos++;
                continue;
            }
            if (c == ' ' && pos > p->req_start) {
                const uint8_t *m = buf + p->req_start;
                size_t mlen = pos - p->req_start;
                /* 501 only for an otherwise well-formed request line: "this is not
                 * http" is a malformed line (400), not a request for method "this". */
                p->method_unknown = !method_known(m, mlen);
                p->is_connect = (mlen == 7 && memcmp(m, "CONNECT", 7) == 0);
                p->is_options = (mlen == 7 && memcmp(m, "OPTIONS", 7) == 0);
                p->hs = HS_TARGET_FIRST;
                pos++;
                continue;
            }
            fail(p, 400, c == '\t' ? "HTAB in the request line" : "invalid method token");
            return -1;
        case HS_TARGET_FIRST:
            if (c == ' ') {
                fail(p, 400, "extra whitespace in the request line");
                return -1;
            }
            if (c == '\r' || c == '\n') {
                fail(p, 400, "missing request-target");
                return -1;
            }
            p->target_off = pos;
            p->hs = HS_TARGET;
            /* fall through */
        case HS_TARGET:
            if (c >= 0x21 && c <= 0x7E) {
                if (pos - p->target_off + 1 > p->limits.max_target) {
                    fail(p, 414, "request-target too long");
                    return -1;
                }
                pos++;
                continue;
            }
            if (c == ' ') {
                p->target_len = pos - p->target_off;
                if (check_target(p, buf + p->target_off, p->target_len, &reason) < 0) {
                    fail(p, 400, reason);
                    return -1;
                }
                p->hs = HS_VERSION;
                p->ver_i = 0;
                pos++;
                continue;
            }
            if (c == '\r' || c == '\n') {
                fail(p, 400, "missing HTTP version");
                return -1;
            }
            fail(p, 400, "invalid byte in the request-target");
            return -1;
        case HS_VERSION:
            if (p->ver_i < 5) {
                if (c != (uint8_t)"HTTP/"[p->ver_i]) {
                    fail(p, 400, p->ver_i == 0 && c == ' ' ? "extra whitespace in the request line"
                                                          : "malformed HTTP version");
                    return -1;
                }
            } else if (p->ver_i == 5 || p->ver_i == 7) {
                if (!is_digit(c)) {
                    fail(p, 400, "malformed HTTP version");
                    return -1;
                }
                if (p->ver_i == 5) p->ver_major = (uint8_t)(c - '0');
                else p->ver_minor = (uint8_t)(c - '0');
            } else if (p->ver_i == 6) {
                if (c != '.') {
                    fail(p, 400, "malformed HTTP version");
                    return -1;
                }
            } else {
                if (c == '\r') {
                    p->hs = HS_RL_CR;
                    pos++;
                    continue;
                }
                if (c == '\n') goto request_line_done;
                fail(p, 400, "garbage after the HTTP version");
                return -1;
            }
            p->ver_i++;
            pos++;
            continue;
        case HS_RL_CR:
            if (c != '\n') {
                fail(p, 400, "bare CR in the request line");
                return -1;
            }
        request_line_done:
            if (p->ver_major != 1) {
                fail(p, 505, "HTTP version not supported");
                return -1;
            }
            if (p->method_unknown) {
                fail(p, 501, "method not implemented");
                return -1;
            }
            p->rl_end = pos;
            p->hs = HS_LINE_START;
            pos++;
            continue;
        case HS_LINE_START:
            if (c == '\n') {
                p->head_end = pos + 1;
                *pos_io = pos + 1;
                return 1;
            }
            if (c == '\r') {
                p->hs = HS_EMPTY_CR;
                pos++;
                continue;
            }
            if (++p->field_lines > p->limits.max_fields) {
                fail(p, 431, "too many header fields");
                return -1;
            }
            p->hs = HS_LINE;
            /* fall through */
        case HS_LINE: {
            /* the first CR or LF ends the line: memchr finds both in a few instructions */
            const uint8_t *lf = memchr(buf + pos, '\n', lim - pos);
            uint32_t line_end = lf ? (uint32_t)(lf - buf) : lim;
            const uint8_t *cr = memchr(buf + pos, '\r', line_end - pos);
            pos = cr ? (uint32_t)(cr - buf) : line_end;
            if (pos == lim) continue;
            p->hs = cr ? HS_LINE_CR : HS_LINE_START;
            pos++;
            continue;
        }
        case HS_LINE_CR:
            if (c != '\n') {
                fail(p, 400, "bare CR in a header field");
                return -1;
            }
            p->hs = HS_LINE_START;
            pos++;
            continue;
        case HS_EMPTY_CR:
            if (c != '\n') {
                fail(p, 400, "bare CR at the end of the head");
                return -1;
            }
            p->head_end = pos + 1;
            *pos_io = pos + 1;
            return 1;
        }
    }
    *pos_io = pos;
    if (pos < end) { /* stopped at the head limit with bytes left */
        fail(p, 431, "header section too large");
        return -1;
    }
    return 0;
}

/* Validates raw field lines in [from, to) (each ending in LF, CR before it allowed;
 * bare CRs were refused by the scanner). RFC 9112 5, RFC 9110 5.5. */
static const char *check_field_lines(const uint8_t *buf, uint32_t from, uint32_t to) {
    uint32_t pos = from;
    while (pos < to) {
        const uint8_t *line = buf + pos;
        const uint8_t *lf = memchr(line, '\n', to - pos);
        if (lf == NULL) return "unterminated field line";
        size_t n = (size_t)(lf - line);
        pos += (uint32_t)n + 1;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (n == 0) return "unexpected empty line"; /* never: the scanner ends there */
        if (is_ows(line[0])) return "obsolete line folding";
        size_t i = 0;
        while (i < n && rv_is_tchar(line[i])) i++;
        if (i == n) return "field line without colon";
        if (line[i] != ':') {
            if (i > 0 && is_ows(line[i])) {
                size_t k = i;
                while (k < n && is_ows(line[k])) k++;
                if (k < n && line[k] == ':') return "whitespace between field name and colon";
                return "invalid character in field name";
            }
            if (i == 0) return "empty or invalid field name";
            return "invalid character in field name";
        }
        if (i == 0) return "empty field name";
        for (i++; i < n; i++)
            if (!is_field_value_byte(line[i])) return "invalid character in field value";
    }
    return NULL;
}

static void trim_values(rv_parser *p, uint16_t from) {
    const uint8_t *buf = p->base;
    for (uint16_t i = from; i < p->req.field_count; i++) {
        rv_span *v = &p->req.fields[i].value;
        while (v->len > 0 && is_ows(buf[v->off])) v->off++, v->len--;
        while (v->len > 0 && is_ows(buf[v->off + v->len - 1])) v->len--;
    }
}

static int name_is(const uint8_t *buf, const rv_field *f, const char *lit) {
    return span_ieq(buf + f->name.off, f->name.len, lit);
}

/* Transfer-Encoding list members so far: validates one member. */
typedef struct te_state {
    unsigned members;
    unsigned chunked_count;
    uint8_t last_is_chunked;
    uint8_t unknown; /* a coding other than chunked */
    uint8_t bad;     /* syntax error or chunked twice / not last */
} te_state;

static void te_add_list(te_state *te, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        while (i < n && s[i] != ',') i++;
        size_t a = start, b = i;
        while (a < b && is_ows(s[a])) a++;
        while (b > a && is_ows(s[b - 1])) b--;
        i++; /* past the comma */
        if (a == b) continue; /* empty list members are allowed and ignored */
        /* transfer-coding = token *( OWS ";" OWS transfer-parameter ) */
        size_t t = a;
        while (t < b && rv_is_tchar(s[t])) t++;
        if (t == a) {
            te->bad = 1;
            continue;
        }
        int is_chunked = span_ieq(s + a, t - a, "chunked");
        if (t < b) {
            /* Parameters follow (or garbage). Other codings fail with 501 anyway;
             * chunked takes no parameters. */
            if (is_chunked || (s[t] != ';' && !is_ows(s[t]))) te->bad = 1;
        }
        if (is_chunked) te->chunked_count++;
        else te->unknown = 1;
        te->last_is_chunked = (uint8_t)is_chunked;
        te->members++;
    }
}

/* After the whole head went through http_parser: the checks that need all fields. */
static rv_parse_result finish_head(rv_parser *p, const uint8_t *buf) {
    rv_request *r = &p->req;
    const char *reason;

    /* 1. raw syntax of every field line */
    reason = check_field_lines(buf, p->rl_end + 1, p->head_end - (buf[p->head_end - 2] == '\r' ? 2 : 1));
    if (reason != NULL) return fail(p, 400, reason);

    /* 2. http_parser, the whole head at once; it pauses in on_headers_complete */
    uint32_t head_len = p->head_end - p->req_start;
    size_t n = hp_run(p, buf, buf + p->req_start, head_len);
    if (hp_failed(p)) return fail_hp(p);
    if (!p->hp_headers || n != head_len - 1) return fail(p, 400, "malformed head");
    p->need_lf = 1; /* it stopped on the final LF, which it must see again */

    if (r->field_count != p->field_lines) return fail(p, 400, "malformed header fields");
    trim_values(p, 0);

    /* 3. what http_parser found */
    const http_parser *hp = &p->hp;
    r->method_name = http_method_str((enum http_method)hp->method);
    switch (hp->method) {
    case HTTP_GET: r->method = RV_METHOD_GET; break;
    case HTTP_HEAD: r->method = RV_METHOD_HEAD; break;
    case HTTP_POST: r->method = RV_METHOD_POST; break;
    case HTTP_PUT: r->method = RV_METHOD_PUT; break;
    case HTTP_DELETE: r->method = RV_METHOD_DELETE; break;
    case HTTP_OPTIONS: r->method = RV_METHOD_OPTIONS; break;
    case HTTP_PATCH: r->method = RV_METHOD_PATCH; break;
    case HTTP_CONNECT: r->method = RV_METHOD_CONNECT; break;
    case HTTP_TRACE: r->method = RV_METHOD_TRACE; break;
    default: r->method = RV_METHOD_OTHER; break;
    }
    r->version_major = 1;
    r->version_minor = hp->http_minor >= 1 ? 1 : 0; /* 1.x, x > 1: served as 1.1 */
    int http11 = r->version_minor == 1;
    r->keep_alive = (uint8_t)(http_should_keep_alive(hp) ? 1 : 0);
    r->upgrade = (uint8_t)(hp->upgrade ? 1 : 0);
    r->head_length = p->head_end;
    r->trailer_start = r->field_count;
    if (r->target.len == 0) r->target = (rv_span){p->target_off, p->target_len};

    /* 4. one pass over the fields */
    int host_count = 0, cl_count = 0, te_count = 0, expect_bad = 0, expect_continue = 0;
    const rv_field *host = NULL;
    const rv_field *cl = NULL;
    te_state te = {0};
    for (uint16_t i = 0; i < r->field_count; i++) {
        const rv_field *f = &r->fields[i];
        const uint8_t *v = buf + f->value.off;
        switch (f->name.len) {
        case 4:
            if (name_is(buf, f, "host")) host_count++, host = f;
            break;
        case 6:
            if (name_is(buf, f, "expect")) {
                /* Expect = #expectation; only 100-continue is known (RFC 9110 10.1.1) */
                size_t k = 0, n2 = f->value.len;
                while (k <= n2) {
                    size_t s = k;
                    while (k < n2 && v[k] != ',') k++;
                    size_t a = s, b = k;
                    while (a < b && is_ows(v[a])) a++;
                    while (b > a && is_ows(v[b - 1])) b--;
                    k++;
                    if (a == b) continue;
                    if (span_ieq(v + a, b - a, "100-continue")) expect_continue = 1;
                    else expect_bad = 1;
                }
            }
            break;
        case 14:
            if (name_is(buf, f, "content-length")) cl_count++, cl = f;
            break;
        case 17:
            if (name_is(buf, f, "transfer-encoding")) {
                te_count++;
                te_add_list(&te, v, f->value.len);
            }
            break;
        default:
            break;
        }
    }

    /* Host (RFC 9112 3.2, RFC 9110 7.2) */
    if (host_count > 1) return fail(p, 400, "more than one Host");
    if (host_count == 0 && http11) return fail(p, 400, "missing Host");
    if (host != NULL) {
        if (host->value.len == 0) {
            if (p->form != TF_ORIGIN && p->form != TF_ASTERISK)
                return fail(p, 400, "empty Host with an authority in the target");
        } else if (!valid_host(buf + host->value.off, host->value.len, 0)) {
            return fail(p, 400, "invalid Host");
        }
    }

    /* Content-Length (RFC 9110 8.6, RFC 9112 6.3) */
    if (cl_count > 1) return fail(p, 400, "more than one Content-Length");
    if (cl != NULL) {
        const uint8_t *v = buf + cl->value.off;
        if (cl->value.len == 0) return fail(p, 400, "empty Content-Length");
        uint64_t value = 0;
        for (uint32_t i = 0; i < cl->value.len; i++) {
            if (!is_digit(v[i])) return fail(p, 400, "invalid Content-Length");
            if (value > ((uint64_t)INT64_MAX - (uint64_t)(v[i] - '0')) / 10)
                return fail(p, 400, "Content-Length overflow");
            value = value * 10 + (uint64_t)(v[i] - '0');
        }
        r->content_length = (int64_t)value;
    }

    /* Transfer-Encoding (RFC 9112 6.1, 6.3) */
    if (te_count > 0) {
        if (!http11) return fail(p, 400, "Transfer-Encoding on HTTP/1.0");
        if (cl != NULL) return fail(p, 400, "Content-Length with Transfer-Encoding");
        if (te.bad || te.members == 0) return fail(p, 400, "invalid Transfer-Encoding");
        if (te.chunked_count > 1) return fail(p, 400, "chunked applied more than once");
        if (!te.last_is_chunked) return fail(p, 400, "chunked is not the final coding");
        if (te.unknown) return fail(p, 501, "transfer coding not implemented");
        if (!(hp->flags & F_CHUNKED)) return fail(p, 400, "invalid Transfer-Encoding");
        r->chunked = 1;
    }

    /* Expect (RFC 9110 10.1.1): ignored on HTTP/1.0 */
    if (http11 && expect_bad) return fail(p, 417, "unsupported expectation");

    /* Body size (RFC 9110 15.5.14) */
    if (r->content_length > 0 && (uint64_t)r->content_length > p->limits.max_body)
        return fail(p, 413, "Content-Length over the body limit");

    int body_coming = r->chunked || r->content_length > 0;
    r->expect_continue = (uint8_t)(http11 && expect_continue && body_coming);

    if (r->content_length > 0 && rv_body_sink_expect(&p->sink, (uint64_t)r->content_length) < 0)
        return fail(p, 500, "could not store the request body");
    rv_body_sink_publish(&p->sink, &r->body);

    p->head_done = 1;
    p->ph = PH_BODY;
    p->hp_pos = p->head_end;
    return RV_PARSE_MORE;
}

/* ------------------------------------------------------------------------------------ */
/* Chunked framing (RFC 9112 7.1), in parallel with http_parser                          */
/* ------------------------------------------------------------------------------------ */

/* Scans bytes [*pos, end) of a chunked body. Returns 2 right after the last-chunk line
 * (p->trailer_off set; call again for the trailer section), 1 when the trailer section
 * is complete (p->trailer_end set), 0 when more bytes are needed, -1 on error (status and
 * reason in *status and *reason, *pos at the offending byte; the caller calls fail()). */
static int scan_chunks(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end,
                       unsigned *status, const char **reason) {
    uint32_t pos = *pos_io;
#define CHUNK_ERR(st, why)        \
    do {                          \
        *status = (st);           \
        *reason = (why);          \
        *pos_io = pos;            \
        return -1;                \
    } while (0)

    while (pos < end) {
        uint8_t c = buf[pos];
        if (p->cs <= CS_SIZE_LF && ++p->chunk_line_len > RV_CHUNK_LINE_MAX)
            CHUNK_ERR(400, "chunk line too long");
        if (p->cs >= CS_TLINE_START && p->cs <= CS_TEMPTY_CR) {
            uint64_t budget = (uint64_t)p->limits.max_head - (p->head_end - p->req_start);
            if ((uint64_t)(pos - p->trailer_off) + 1 > budget)
                CHUNK_ERR(431, "header section too large (trailers)");
        }
        switch (p->cs) {
        case CS_SIZE_START: {
            int h = hex_value(c);
            if (h < 0) CHUNK_ERR(400, "invalid chunk size");
            p->chunk_size = (uint64_t)h;
            if (p->chunk_size > p->limits.max_body - p->chunk_total)
                CHUNK_ERR(413, "chunked body over the body limit");
            p->cs = CS_SIZE;
            break;
        }
        case CS_SIZE: {
            int h = hex_value(c);
            if (h >= 0) {
                if (p->chunk_size > (UINT64_MAX >> 4)) CHUNK_ERR(400, "chunk size overflow");
                p->chunk_size = (p->chunk_size << 4) | (uint64_t)h;
                if (p->chunk_size > p->limits.max_body - p->chunk_total)
                    CHUNK_ERR(413, "chunked body over the body limit");
                break;
            }
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (is_ows(c)) p->cs = CS_SIZE_BWS;
            else if (c == '\r') p->cs = CS_SIZE_LF;
            else CHUNK_ERR(400, "invalid chunk size");
            break;
        }
        case CS_SIZE_BWS:
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!is_ows(c)) CHUNK_ERR(400, "invalid chunk size line");
            break;
        case CS_EXT_PRE_NAME:
            if (rv_is_tchar(c)) p->cs = CS_EXT_NAME;
            else if (!is_ows(c)) CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_NAME:
            if (rv_is_tchar(c)) break;
            if (c == '=') p->cs = CS_EXT_PRE_VAL;
            else if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (is_ows(c)) p->cs = CS_EXT_POST_NAME;
            else if (c == '\r') p->cs = CS_SIZE_LF;
            else CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_POST_NAME:
            if (c == '=') p->cs = CS_EXT_PRE_VAL;
            else if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!is_ows(c)) CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_PRE_VAL:
            if (rv_is_tchar(c)) p->cs = CS_EXT_TOKEN;
            else if (c == '"') p->cs = CS_EXT_QSTR;
            else if (!is_ows(c)) CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_TOKEN:
            if (rv_is_tchar(c)) break;
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (is_ows(c)) p->cs = CS_EXT_POST_VAL;
            else if (c == '\r') p->cs = CS_SIZE_LF;
            else CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_QSTR:
            if (c == '"') p->cs = CS_EXT_AFTER_QSTR;
            else if (c == '\\') p->cs = CS_EXT_QESC;
            else if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
                       (c >= 0x5D && c <= 0x7E) || c >= 0x80))
                CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_QESC:
            if (!(c == '\t' || (c >= 0x20 && c != 0x7F))) CHUNK_ERR(400, "invalid chunk extension");
            p->cs = CS_EXT_QSTR;
            break;
        case CS_EXT_AFTER_QSTR:
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (is_ows(c)) p->cs = CS_EXT_POST_VAL;
            else if (c == '\r') p->cs = CS_SIZE_LF;
            else CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_EXT_POST_VAL:
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!is_ows(c)) CHUNK_ERR(400, "invalid chunk extension");
            break;
        case CS_SIZE_LF:
            if (c != '\n') CHUNK_ERR(400, "bare CR in a chunk line");
            p->chunk_line_len = 0;
            if (p->chunk_size == 0) {
                p->cs = CS_TLINE_START;
                p->trailer_off = pos + 1;
                p->in_trailers = 1;
                pos++;
                /* the caller feeds http_parser up to here, then holds trailers back */
                *pos_io = pos;
                return 2;
            }
            p->chunk_total += p->chunk_size;
            p->chunk_left = p->chunk_size;
            p->cs = CS_DATA;
            break;
        case CS_DATA: {
            uint64_t avail = end - pos;
            uint64_t take = p->chunk_left < avail ? p->chunk_left : avail;
            pos += (uint32_t)take;
            p->chunk_left -= take;
            if (p->chunk_left == 0) p->cs = CS_DATA_CR;
            continue;
        }
        case CS_DATA_CR:
            if (c != '\r') CHUNK_ERR(400, "missing CRLF after chunk data");
            p->cs = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (c != '\n') CHUNK_ERR(400, "missing CRLF after chunk data");
            p->cs = CS_SIZE_START;
            break;
        case CS_TLINE_START:
            if (c == '\n') {
                p->trailer_end = pos + 1;
                p->cs = CS_END;
                *pos_io = pos + 1;
                return 1;
            }
            if (c == '\r') {
                p->cs = CS_TEMPTY_CR;
                break;
            }
            if (p->field_lines + ++p->trailer_lines > p->limits.max_fields)
                CHUNK_ERR(431, "too many fields (trailers)");
            p->cs = CS_TLINE;
            break;
        case CS_TLINE:
            if (c == '\r') p->cs = CS_TLINE_CR;
            else if (c == '\n') p->cs = CS_TLINE_START;
            break;
        case CS_TLINE_CR:
            if (c != '\n') CHUNK_ERR(400, "bare CR in a trailer field");
            p->cs = CS_TLINE_START;
            break;
        case CS_TEMPTY_CR:
            if (c != '\n') CHUNK_ERR(400, "bare CR at the end of the trailers");
            p->trailer_end = pos + 1;
            p->cs = CS_END;
            *pos_io = pos + 1;
            return 1;
        case CS_END:
            *pos_io = pos;
            return 1;
        }
        pos++;
    }
#undef CHUNK_ERR
    *pos_io = pos;
    return 0;
}

/* The body sink is complete: rewind and publish. */
static rv_parse_result complete(rv_parser *p, uint32_t consumed_at, uint32_t *consumed) {
    if (rv_body_sink_finish(&p->sink) < 0) {
        *consumed = consumed_at;
        return fail(p, 500, "could not store the request body");
    }
    rv_body_sink_publish(&p->sink, &p->req.body);
    p->ph = PH_DONE;
    *consumed = consumed_at;
    return RV_PARSE_COMPLETE;
}

/* Feeds http_parser body bytes [from, to) of the buffer (chunked or Content-Length).
 * Returns 1 when the message completed (*done_at set), 0, or -1 after fail(). */
static int feed_body(rv_parser *p, const uint8_t *buf, uint32_t from, uint32_t to,
                     uint32_t *done_at) {
    if (from >= to) return 0;
    size_t n = hp_run(p, buf, buf + from, to - from);
    if (hp_failed(p)) {
        fail_hp(p);
        return -1;
    }
    p->hp_pos = from + (uint32_t)n;
    if (p->hp_complete) {
        *done_at = from + (uint32_t)n;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Feeding                                                                              */
/* ------------------------------------------------------------------------------------ */

rv_parse_result rv_parser_feed(rv_parser *p, const uint8_t *buffer, uint32_t start,
                               uint32_t end, uint32_t *consumed) {
    uint32_t pos = start;
    p->base = buffer;

    if (p->ph == PH_DONE) {
        *consumed = start;
        return RV_PARSE_COMPLETE;
    }
    if (p->ph == PH_ERROR) {
        *consumed = start;
        return RV_PARSE_ERROR;
    }

    /* Leading empty lines (RFC 9112 2.2). */
    while (p->ph == PH_LEAD || p->ph == PH_LEAD_CR) {
        if (pos >= end) {
            *consumed = end;
            return RV_PARSE_MORE;
        }
        uint8_t c = buffer[pos];
        if (p->ph == PH_LEAD_CR) {
            if (c != '\n') {
                *consumed = end;
                return fail(p, 400, "bare CR before the request line");
            }
            p->ph = PH_LEAD;
            pos++;
        } else if (c == '\n') {
            pos++;
        } else if (c == '\r') {
            p->ph = PH_LEAD_CR;
            pos++;
        } else {
            p->ph = PH_HEAD;
            p->started = 1;
            p->req_start = pos;
        }
    }

    if (p->ph == PH_HEAD) {
        int r = scan_head(p, buffer, &pos, end);
        if (r < 0) {
            *consumed = end;
            return RV_PARSE_ERROR;
        }
        if (r == 0) {
            *consumed = end;
            return RV_PARSE_MORE;
        }
        if (finish_head(p, buffer) == RV_PARSE_ERROR) {
            *consumed = end;
            return RV_PARSE_ERROR;
        }
        pos = p->head_end;
        if (p->req.expect_continue) {
            *consumed = pos;
            return RV_PARSE_HEAD_CONTINUE;
        }
    }

    /* PH_BODY */
    uint32_t done_at = 0;
    if (p->need_lf) {
        /* http_parser stopped on the head's final LF (paused in on_headers_complete). */
        static const uint8_t lf = '\n';
        p->need_lf = 0;
        (void)hp_run(p, NULL, &lf, 1);
        p->base = buffer;
        if (hp_failed(p)) {
            fail_hp(p);
            *consumed = end;
            return RV_PARSE_ERROR;
        }
        if (p->hp_complete) return complete(p, p->head_end, consumed);
        if (pos < p->head_end) pos = p->head_end;
        p->hp_pos = pos;
    }

    if (!p->req.chunked) {
        int r = feed_body(p, buffer, pos, end, &done_at);
        if (r < 0) {
            *consumed = end;
            return RV_PARSE_ERROR;
        }
        if (r > 0) return complete(p, done_at, consumed);
        *consumed = end;
        return RV_PARSE_MORE;
    }

    /* Chunked: the scanner goes first; http_parser gets the bytes it cleared. Body
     * bytes may have been dropped by the engine (rv_parser_body_bytes_discardable), so
     * this feed's bytes start at pos whatever offsets earlier body bytes had. */
    if (!p->in_trailers) p->hp_pos = pos;
    for (;;) {
        uint32_t scan_pos = pos;
        unsigned status = 0;
        const char *reason = NULL;
        int r = scan_chunks(p, buffer, &scan_pos, end, &status, &reason);
        if (r < 0) {
            /* Bytes before the error first, so the earliest error wins. */
            uint32_t upto = p->in_trailers ? p->trailer_off : scan_pos;
            if (p->hp_pos < upto && feed_body(p, buffer, p->hp_pos, upto, &done_at) < 0) {
                *consumed = end;
                return RV_PARSE_ERROR;
            }
            *consumed = end;
            return fail(p, status, reason);
        }
        if (r == 2) { /* the last-chunk line is done: http_parser takes it all */
            if (feed_body(p, buffer, p->hp_pos, p->trailer_off, &done_at) < 0) {
                *consumed = end;
                return RV_PARSE_ERROR;
            }
            p->hp_pos = p->trailer_off;
            pos = scan_pos;
            continue;
        }
        if (r == 0) {
            if (!p->in_trailers) {
                if (feed_body(p, buffer, p->hp_pos, end, &done_at) < 0) {
                    *consumed = end;
                    return RV_PARSE_ERROR;
                }
            }
            *consumed = end;
            return RV_PARSE_MORE;
        }
        /* r == 1: the trailer section is complete */
        const char *bad = NULL;
        uint32_t tend = p->trailer_end;
        uint32_t lines_end = tend - (buffer[tend - 2] == '\r' && tend - 2 >= p->trailer_off ? 2 : 1);
        if (lines_end > p->trailer_off) bad = check_field_lines(buffer, p->trailer_off, lines_end);
        if (bad != NULL) {
            *consumed = end;
            return fail(p, 400, bad);
        }
        p->last = CB_NONE;
        int fr = feed_body(p, buffer, p->trailer_off, tend, &done_at);
        if (fr < 0) {
            *consumed = end;
            return RV_PARSE_ERROR;
        }
        if (fr == 0 || done_at != tend) {
            *consumed = end;
            return fail(p, 400, "malformed trailer section");
        }
        if ((uint32_t)(p->req.field_count - p->req.trailer_start) != p->trailer_lines) {
            *consumed = end;
            return fail(p, 400, "malformed trailer fields");
        }
        trim_values(p, p->req.trailer_start);
        return complete(p, tend, consumed);
    }
}
