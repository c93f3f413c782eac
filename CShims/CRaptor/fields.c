/*
 * fields.c: field lines (RFC 9112 5, RFC 9110 5), in the head and in a chunked body's
 * trailer section, checked byte by byte as they arrive:
 *
 *   field-line = field-name ":" OWS field-value OWS, then CRLF or a bare LF
 *
 * - field-name: a token; nothing between it and the colon (400).
 * - field-value: field-vchar, SP, HTAB, obs-text; no CTL, DEL or bare CR (400). OWS
 *   before and after it is not part of it (RFC 9110 5.5): the recorded span is trimmed.
 * - A line starting with SP or HTAB is obs-fold: 400 (RFC 9112 5.2).
 * - Limits: the section's bytes count against max_head (431 at the first byte past it,
 *   even mid-line), its lines against max_fields (431).
 *
 * The fields the server reads are named at their colon and read, trimmed, when their
 * line ends; what they say is checked once the head is complete (fields_finish_head):
 *   Host               exactly one on HTTP/1.1, uri-host [":" port]; empty only for
 *                      origin-form and asterisk-form (RFC 9112 3.2, RFC 9110 7.2)
 *   Content-Length     one, 1*DIGIT, within int64 (RFC 9110 8.6, RFC 9112 6.3)
 *   Transfer-Encoding  HTTP/1.1 only, not with Content-Length, chunked once and last;
 *                      other codings 501 (RFC 9112 6.1, 6.3)
 *   Connection         close, keep-alive and upgrade options (RFC 9110 7.6.1, RFC 9112 9.3)
 *   Upgrade            with the upgrade option: the exchange ends after this request
 *   Expect             100-continue, or 417 for anything else on HTTP/1.1 (RFC 9110 10.1.1)
 * Every list (Connection, Transfer-Encoding, Expect) goes through rv_list_next.
 * Trailer fields are recorded, never interpreted.
 */
#include <string.h>

#include "chars.h"
#include "field_list.h"
#include "parser.h"

void fields_begin(rv_parser *p, uint32_t start, uint32_t budget) {
    p->fs = FS_LINE_START;
    p->section_start = start;
    p->head_budget = budget;
}

/* Names the fields the server reads; one length test for all the others. */
static field_kind kind_of(const uint8_t *name, size_t n) {
    switch (n) {
    case 4: return RV_EQUALS_LOWERCASE(name, n, "host") ? FK_HOST : FK_OTHER;
    case 6: return RV_EQUALS_LOWERCASE(name, n, "expect") ? FK_EXPECT : FK_OTHER;
    case 7: return RV_EQUALS_LOWERCASE(name, n, "upgrade") ? FK_UPGRADE : FK_OTHER;
    case 10: return RV_EQUALS_LOWERCASE(name, n, "connection") ? FK_CONNECTION : FK_OTHER;
    case 14: return RV_EQUALS_LOWERCASE(name, n, "content-length") ? FK_CONTENT_LENGTH : FK_OTHER;
    case 17: return RV_EQUALS_LOWERCASE(name, n, "transfer-encoding") ? FK_TRANSFER_ENCODING : FK_OTHER;
    default: return FK_OTHER;
    }
}

/* transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 7): one member. */
static void note_transfer_coding(field_facts *facts, const uint8_t *s, size_t n) {
    size_t token = 0;
    while (token < n && rv_is_tchar(s[token])) token++;
    if (token == 0) {
        facts->te_bad = 1;
        return;
    }
    int chunked = RV_EQUALS_LOWERCASE(s, token, "chunked");
    /* Parameters may follow a coding (which is then 501 anyway); chunked takes none. */
    if (token < n && (chunked || (s[token] != ';' && !rv_is_ows(s[token])))) facts->te_bad = 1;
    facts->te_chunked += chunked;
    facts->te_unknown |= !chunked;
    facts->te_last_is_chunked = (uint8_t)chunked;
    facts->te_members++;
}

/* A field the server reads has its whole (trimmed) value. */
static void note_field(field_facts *facts, field_kind kind, const uint8_t *value, size_t n, rv_span span) {
    size_t at = 0;
    const uint8_t *member;
    size_t length;
    switch (kind) {
    case FK_HOST:
        facts->host_count++;
        facts->host = span;
        break;
    case FK_CONTENT_LENGTH:
        facts->content_length_count++;
        facts->content_length = span;
        break;
    case FK_TRANSFER_ENCODING:
        facts->transfer_encoding_count++;
        while (rv_list_next(value, n, &at, &member, &length)) note_transfer_coding(facts, member, length);
        break;
    case FK_CONNECTION:
        while (rv_list_next(value, n, &at, &member, &length)) {
            facts->close |= RV_EQUALS_LOWERCASE(member, length, "close");
            facts->keep_alive |= RV_EQUALS_LOWERCASE(member, length, "keep-alive");
            facts->connection_upgrade |= RV_EQUALS_LOWERCASE(member, length, "upgrade");
        }
        break;
    case FK_EXPECT:
        while (rv_list_next(value, n, &at, &member, &length)) {
            if (RV_EQUALS_LOWERCASE(member, length, "100-continue")) facts->expect_continue = 1;
            else facts->expect_other = 1;
        }
        break;
    case FK_UPGRADE:
        facts->upgrade |= n > 0;
        break;
    case FK_OTHER:
        break;
    }
}

/* Skips field-value bytes from pos (up to lim): eight at a time while none of the eight
 * is a CTL (HTAB, CR and LF included) or DEL, which is most of every value, then one at
 * a time. Returns the first byte that is not one, or lim. */
static uint32_t skip_value_bytes(const uint8_t *buf, uint32_t pos, uint32_t lim) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    while (lim - pos >= 8) {
        uint64_t x;
        memcpy(&x, buf + pos, sizeof x);
        uint64_t below_space = (x - 0x20 * ones) & ~x & highs; /* a byte < 0x20 */
        uint64_t y = x ^ (0x7F * ones);
        uint64_t del = (y - ones) & ~y & highs; /* a byte == 0x7F */
        if (below_space | del) break;
        pos += 8;
    }
    while (pos < lim && rv_is_field_value_byte(buf[pos])) pos++;
    return pos;
}

/* A Host value checked as it is scanned: reg-name [":" 0-5 digits], then the line's
 * end, which is every Host a browser or a client library sends. Anything else (an
 * IP-literal, a %-escape, OWS after the value, a read ending inside it) is left to
 * valid_host when the head is complete. Returns where the scan stopped. */
static uint32_t scan_plain_host(rv_parser *p, const uint8_t *buf, uint32_t pos, uint32_t lim) {
    uint32_t start = pos;
    while (pos < lim && rv_is_reg_name_char(buf[pos])) pos++;
    int plain = pos > start;
    if (plain && pos < lim && buf[pos] == ':') {
        uint32_t digits = ++pos;
        while (pos < lim && buf[pos] >= '0' && buf[pos] <= '9') pos++;
        plain = pos - digits <= 5;
    }
    p->facts.host_plain = (uint8_t)(plain && pos < lim && (buf[pos] == '\r' || buf[pos] == '\n'));
    return pos;
}

/* The field line's value ends at `line_end` (its CR or LF): trim and record it. */
static void value_done(rv_parser *p, const uint8_t *buf, uint32_t line_end) {
    uint32_t from = p->value_off, to = line_end;
    while (to > from && rv_is_ows(buf[to - 1])) to--;
    rv_span value = {from, to - from};
    p->req.fields[p->req.field_count - 1].value = value;
    if (p->kind != FK_OTHER) note_field(&p->facts, p->kind, buf + from, to - from, value);
}

int fields_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end) {
    uint32_t lim = section_limit(p, end);
    uint32_t pos = *pos_io;
    while (pos < lim) {
        uint8_t c;
        switch (p->fs) {
        case FS_LINE_START:
            c = buf[pos];
            if (c == '\n') goto section_done;
            if (c == '\r') {
                p->fs = FS_EMPTY_CR;
                pos++;
                break;
            }
            if (++p->field_lines > p->limits.max_fields) return parser_refuse(p, 431, "too many fields");
            if (rv_is_ows(c)) return parser_refuse(p, 400, "obsolete line folding");
            p->line_off = pos;
            p->fs = FS_NAME;
            /* fall through */
        case FS_NAME: {
            while (pos < lim && rv_is_tchar(buf[pos])) pos++;
            if (pos == lim) continue; /* the loop ends: more bytes, or the limit */
            c = buf[pos];
            if (c != ':') {
                if (rv_is_ows(c)) return parser_refuse(p, 400, "whitespace in or after a field name");
                if (c == '\r' || c == '\n') return parser_refuse(p, 400, "field line without colon");
                return parser_refuse(p, 400, "invalid character in field name");
            }
            if (pos == p->line_off) return parser_refuse(p, 400, "empty field name");
            rv_span name = {p->line_off, pos - p->line_off};
            p->req.fields[p->req.field_count++] = (rv_field){name, {pos + 1, 0}};
            p->kind = p->in_trailers ? FK_OTHER : kind_of(buf + name.off, name.len);
            p->fs = FS_VALUE_START;
            pos++;
            break;
        }
        case FS_VALUE_START:
            while (pos < lim && rv_is_ows(buf[pos])) pos++;
            if (pos == lim) continue; /* the loop ends: more bytes, or the limit */
            p->value_off = pos;
            p->fs = FS_VALUE;
            if (p->kind == FK_HOST) pos = scan_plain_host(p, buf, pos, lim);
            /* fall through */
        case FS_VALUE:
            pos = skip_value_bytes(buf, pos, lim);
            if (pos == lim) continue; /* the loop ends: more bytes, or the limit */
            c = buf[pos];
            if (c != '\r' && c != '\n') return parser_refuse(p, 400, "invalid character in field value");
            value_done(p, buf, pos);
            p->fs = c == '\r' ? FS_VALUE_CR : FS_LINE_START;
            pos++;
            break;
        case FS_VALUE_CR:
            if (buf[pos] != '\n') return parser_refuse(p, 400, "bare CR in a field line");
            p->fs = FS_LINE_START;
            pos++;
            break;
        case FS_EMPTY_CR:
            if (buf[pos] != '\n') return parser_refuse(p, 400, "bare CR at the end of a field section");
        section_done:
            *pos_io = pos + 1;
            return 1;
        }
    }
    if (pos < end)
        return parser_refuse(p, 431, p->in_trailers ? "trailer section too large" : "header section too large");
    *pos_io = pos;
    return 0;
}

/* ---- what the head's fields say ---- */

static rv_parse_result check_host(rv_parser *p, const uint8_t *buf, int http11) {
    const field_facts *facts = &p->facts;
    if (facts->host_count > 1) return parser_fail(p, 400, "more than one Host");
    if (facts->host_count == 0) return http11 ? parser_fail(p, 400, "missing Host") : RV_PARSE_MORE;
    if (facts->host.len == 0) {
        if (p->form != TF_ORIGIN && p->form != TF_ASTERISK)
            return parser_fail(p, 400, "empty Host with an authority in the target");
    } else if (!facts->host_plain && !valid_host(buf + facts->host.off, facts->host.len, 0)) {
        return parser_fail(p, 400, "invalid Host");
    }
    return RV_PARSE_MORE;
}

static rv_parse_result read_content_length(rv_parser *p, const uint8_t *buf) {
    const field_facts *facts = &p->facts;
    if (facts->content_length_count > 1) return parser_fail(p, 400, "more than one Content-Length");
    if (facts->content_length_count == 0) return RV_PARSE_MORE;
    const uint8_t *v = buf + facts->content_length.off;
    uint32_t n = facts->content_length.len;
    if (n == 0) return parser_fail(p, 400, "empty Content-Length");
    uint64_t value = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return parser_fail(p, 400, "invalid Content-Length");
        if (value > ((uint64_t)INT64_MAX - (uint64_t)(v[i] - '0')) / 10)
            return parser_fail(p, 400, "Content-Length overflow");
        value = value * 10 + (uint64_t)(v[i] - '0');
    }
    p->req.content_length = (int64_t)value;
    return RV_PARSE_MORE;
}

static rv_parse_result check_transfer_encoding(rv_parser *p, int http11) {
    const field_facts *facts = &p->facts;
    if (facts->transfer_encoding_count == 0) return RV_PARSE_MORE;
    if (!http11) return parser_fail(p, 400, "Transfer-Encoding on HTTP/1.0");
    if (facts->content_length_count > 0) return parser_fail(p, 400, "Content-Length with Transfer-Encoding");
    if (facts->te_bad || facts->te_members == 0) return parser_fail(p, 400, "invalid Transfer-Encoding");
    if (facts->te_chunked > 1) return parser_fail(p, 400, "chunked applied more than once");
    if (!facts->te_last_is_chunked) return parser_fail(p, 400, "chunked is not the final coding");
    if (facts->te_unknown) return parser_fail(p, 501, "transfer coding not implemented");
    p->req.chunked = 1;
    return RV_PARSE_MORE;
}

rv_parse_result fields_finish_head(rv_parser *p, const uint8_t *buf) {
    rv_request *r = &p->req;
    const field_facts *facts = &p->facts;
    r->version_major = 1;
    r->version_minor = p->version_minor >= 1 ? 1 : 0; /* 1.x, x > 1: served as 1.1 */
    int http11 = r->version_minor == 1;
    r->head_length = p->head_end;
    r->trailer_start = r->field_count;

    /* In this order; the first failure is the answer. */
    if (check_host(p, buf, http11) == RV_PARSE_ERROR) return RV_PARSE_ERROR;
    if (read_content_length(p, buf) == RV_PARSE_ERROR) return RV_PARSE_ERROR;
    if (check_transfer_encoding(p, http11) == RV_PARSE_ERROR) return RV_PARSE_ERROR;
    /* Expect is ignored on HTTP/1.0 (RFC 9110 10.1.1). */
    if (http11 && facts->expect_other) return parser_fail(p, 417, "unsupported expectation");
    if (r->content_length > 0 && (uint64_t)r->content_length > p->limits.max_body)
        return parser_fail(p, 413, "Content-Length over the body limit");

    /* RFC 9112 9.3: "close" ends the connection; else HTTP/1.1 persists, HTTP/1.0 only
     * with "keep-alive". */
    r->keep_alive = (uint8_t)(!facts->close && (http11 || facts->keep_alive));
    /* RFC 9110 7.8 and 9.3.6: the exchange ends after this request. */
    r->upgrade = (uint8_t)(r->method == RV_METHOD_CONNECT || (facts->upgrade && facts->connection_upgrade));
    int body_coming = (r->chunked || r->content_length > 0) && r->method != RV_METHOD_CONNECT;
    r->expect_continue = (uint8_t)(http11 && facts->expect_continue && body_coming);
    return RV_PARSE_MORE;
}
