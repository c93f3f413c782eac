/*
 * chars.h: character classes shared by the parser and the response encoder (private).
 * A table lookup: these run once per byte of every field name.
 */
#ifndef RAPTOR_CHARS_H
#define RAPTOR_CHARS_H

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

#endif
