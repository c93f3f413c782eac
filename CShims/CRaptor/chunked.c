/*
 * chunked.c: the chunked transfer coding (RFC 9112 7.1), checked as it arrives, beside
 * http_parser, which decodes the body:
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *
 * http_parser ignores extensions, takes only SP (not HTAB) after the size, and takes
 * any two bytes after chunk data; this scanner holds every chunk line to the grammar
 * (400), answers 413 as soon as the declared sizes pass max_body, and refuses a size
 * line longer than RV_CHUNK_LINE_MAX. It hands http_parser only what it must see: the
 * size digits, the CRLF, the data and the CRLF after it; never the BWS and extensions
 * (so "5<HTAB>;a=b", valid, reaches it as "5\r\n"), never the trailer fields (fields.c
 * scans and records them like header fields), only the final CRLF. http_parser must
 * then end the message exactly where this scanner says the body ends.
 */
#include "chars.h"
#include "parser.h"

/* A chunk-size line (size, extensions, CRLF) longer than this is refused with 400. */
#define RV_CHUNK_LINE_MAX 4096u

/* Bytes [from, to) go to http_parser unless from is NOT_HANDED. */
#define NOT_HANDED UINT32_MAX

/* States whose bytes http_parser does not see: BWS and extensions, the trailers. */
static int withheld(chunk_state s) { return (s >= CS_SIZE_BWS && s <= CS_EXT_POST_VAL) || s >= CS_TRAILERS; }

static int hand(rv_parser *p, const uint8_t *buf, uint32_t from, uint32_t to) {
    if (from == NOT_HANDED || to <= from) return 0;
    return parser_body_feed(p, buf + from, to - from) < 0 ? -1 : 0;
}

/* The size so far, one more hex digit; http_parser's own overflow bound. */
static int add_digit(rv_parser *p, int digit, unsigned *status, const char **why) {
    if (p->chunk_size > (UINT64_MAX - 16) / 16) {
        *status = 400;
        *why = "chunk size overflow";
        return -1;
    }
    p->chunk_size = p->chunk_size * 16 + (uint64_t)digit;
    if (p->chunk_size > p->limits.max_body - p->chunk_total) {
        *status = 413;
        *why = "chunked body over the body limit";
        return -1;
    }
    return 0;
}

int chunked_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end) {
    uint32_t pos = *pos_io;
    uint32_t from = withheld(p->cs) ? NOT_HANDED : pos; /* first byte not yet handed */
    unsigned status = 400;
    const char *why = NULL;
#define REFUSE(reason)    \
    do {                  \
        why = (reason);   \
        goto fail;        \
    } while (0)

    while (pos < end) {
        uint8_t c = buf[pos];
        if (p->cs <= CS_SIZE_LF && ++p->chunk_line_len > RV_CHUNK_LINE_MAX) REFUSE("chunk line too long");
        switch (p->cs) {
        case CS_SIZE_START: {
            int digit = rv_hex_value(c);
            if (digit < 0) REFUSE("invalid chunk size");
            p->chunk_size = 0;
            if (add_digit(p, digit, &status, &why) < 0) goto fail;
            p->cs = CS_SIZE;
            break;
        }
        case CS_SIZE: {
            int digit = rv_hex_value(c);
            if (digit >= 0) {
                if (add_digit(p, digit, &status, &why) < 0) goto fail;
                break;
            }
            if (c == '\r') {
                p->cs = CS_SIZE_LF;
                break;
            }
            if (c != ';' && !rv_is_ows(c)) REFUSE("invalid chunk size");
            /* BWS or an extension: http_parser has the digits, and gets the CR next */
            if (hand(p, buf, from, pos) < 0) return -1;
            from = NOT_HANDED;
            p->cs = c == ';' ? CS_EXT_PRE_NAME : CS_SIZE_BWS;
            break;
        }
        case CS_SIZE_BWS:
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!rv_is_ows(c)) REFUSE("invalid chunk size line");
            break;
        case CS_EXT_PRE_NAME:
            if (rv_is_tchar(c)) p->cs = CS_EXT_NAME;
            else if (!rv_is_ows(c)) REFUSE("invalid chunk extension");
            break;
        case CS_EXT_NAME:
            if (rv_is_tchar(c)) break;
            if (c == '=') p->cs = CS_EXT_PRE_VAL;
            else if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (rv_is_ows(c)) p->cs = CS_EXT_POST_NAME;
            else if (c == '\r') goto size_line_cr;
            else REFUSE("invalid chunk extension");
            break;
        case CS_EXT_POST_NAME: /* BWS after a name: "=" or another extension must follow */
            if (c == '=') p->cs = CS_EXT_PRE_VAL;
            else if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!rv_is_ows(c)) REFUSE("invalid chunk extension");
            break;
        case CS_EXT_PRE_VAL:
            if (rv_is_tchar(c)) p->cs = CS_EXT_TOKEN;
            else if (c == '"') p->cs = CS_EXT_QSTR;
            else if (!rv_is_ows(c)) REFUSE("invalid chunk extension");
            break;
        case CS_EXT_QSTR:
            /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
            if (c == '"') p->cs = CS_EXT_AFTER_QSTR;
            else if (c == '\\') p->cs = CS_EXT_QESC;
            else if (!(c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5B) ||
                       (c >= 0x5D && c <= 0x7E) || c >= 0x80))
                REFUSE("invalid chunk extension");
            break;
        case CS_EXT_QESC:
            if (!rv_is_field_value_byte(c)) REFUSE("invalid chunk extension");
            p->cs = CS_EXT_QSTR;
            break;
        case CS_EXT_TOKEN:
            if (rv_is_tchar(c)) break;
            /* fall through: the value has ended, as after a quoted string */
        case CS_EXT_AFTER_QSTR:
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (rv_is_ows(c)) p->cs = CS_EXT_POST_VAL;
            else if (c == '\r') goto size_line_cr;
            else REFUSE("invalid chunk extension");
            break;
        case CS_EXT_POST_VAL: /* BWS after a value: only another extension may follow */
            if (c == ';') p->cs = CS_EXT_PRE_NAME;
            else if (!rv_is_ows(c)) REFUSE("invalid chunk extension");
            break;
        size_line_cr:
            /* the end of an extension: http_parser sees the CRLF again */
            from = pos;
            p->cs = CS_SIZE_LF;
            break;
        case CS_SIZE_LF:
            if (c != '\n') REFUSE("bare CR in a chunk line");
            p->chunk_line_len = 0;
            if (p->chunk_size == 0) {
                /* the last chunk: http_parser takes its line, the trailers are ours */
                if (hand(p, buf, from, pos + 1) < 0) return -1;
                from = NOT_HANDED;
                p->cs = CS_TRAILERS;
                p->in_trailers = 1;
                fields_begin(p, pos + 1, p->limits.max_head - (p->head_end - p->req_start));
                break;
            }
            p->chunk_total += p->chunk_size;
            p->chunk_left = p->chunk_size;
            p->cs = CS_DATA;
            break;
        case CS_DATA: {
            uint64_t available = end - pos;
            uint64_t take = p->chunk_left < available ? p->chunk_left : available;
            pos += (uint32_t)take;
            p->chunk_left -= take;
            if (p->chunk_left == 0) p->cs = CS_DATA_CR;
            continue;
        }
        case CS_DATA_CR:
            if (c != '\r') REFUSE("missing CRLF after chunk data");
            p->cs = CS_DATA_LF;
            break;
        case CS_DATA_LF:
            if (c != '\n') REFUSE("missing CRLF after chunk data");
            p->cs = CS_SIZE_START;
            break;
        case CS_TRAILERS: {
            int r = fields_scan(p, buf, &pos, end);
            if (r < 0) return -1;
            if (r == 0) continue; /* pos == end */
            static const uint8_t final_crlf[2] = {'\r', '\n'};
            if (parser_body_feed(p, final_crlf, 2) < 0) return -1;
            if (!p->hp_complete) return parser_refuse(p, 400, "malformed chunked body");
            p->cs = CS_END;
            *pos_io = pos;
            return 1;
        }
        case CS_END:
            *pos_io = pos;
            return 1;
        }
        pos++;
    }
#undef REFUSE
    if (hand(p, buf, from, end) < 0) return -1;
    *pos_io = pos;
    return 0;

fail:
    /* What came before the error first, so the earliest failure wins. */
    if (hand(p, buf, from, pos) < 0) return -1;
    return parser_refuse(p, status, why);
}
