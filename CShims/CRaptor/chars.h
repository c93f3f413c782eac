/*
 * chars.h: character classes shared by the parser and the response encoder (private).
 * A table lookup or a comparison or two: these run once per byte of every request head.
 */
#ifndef RAPTOR_CHARS_H
#define RAPTOR_CHARS_H

#include <stddef.h>
#include <stdint.h>

/* tchar (RFC 9110 section 5.6.2): "!#$%&'*+-.^_`|~", digits and letters. */
extern const uint8_t rv_tchar_table[256];

static inline int rv_is_tchar(uint8_t c) { return rv_tchar_table[c]; }

/* unreserved / sub-delims (RFC 3986 2.2, 2.3): the bytes of a reg-name besides
 * pct-encoded; with ':' allowed too, the bytes of IPvFuture. */
extern const uint8_t rv_host_table[256];

static inline int rv_is_reg_name_char(uint8_t c) { return rv_host_table[c]; }

/* pchar without pct-encoded, plus "/" and "?" (RFC 3986 3.3, 3.4): the bytes a path and
 * query may hold as they are; "%" is checked apart (it must start an escape). */
extern const uint8_t rv_target_table[256];

static inline int rv_is_target_char(uint8_t c) { return rv_target_table[c]; }

/* OWS (RFC 9110 5.6.3): SP or HTAB. */
static inline int rv_is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

/* field-vchar / SP / HTAB (RFC 9110 5.5, obs-text included): no CTL, no DEL. */
static inline int rv_is_field_value_byte(uint8_t c) { return c >= 0x20 ? c != 0x7F : c == '\t'; }

/* HEXDIG's value, or -1. */
static inline int rv_hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Whether [s, s + n) is `lower` (lowercase ASCII, `length` bytes) ignoring case. */
static inline int rv_equals_lowercase(const uint8_t *s, size_t n, const char *lower, size_t length) {
    if (n != length) return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (c >= 'A' && c <= 'Z') c += 32;
        if (c != (uint8_t)lower[i]) return 0;
    }
    return 1;
}

#define RV_EQUALS_LOWERCASE(s, n, literal) rv_equals_lowercase((s), (n), literal, sizeof(literal) - 1)

#endif
