/*
 * request_line.c: the request line (RFC 9112 3), checked byte by byte as it arrives:
 *
 *   request-line = method SP request-target SP HTTP-version CRLF
 *
 * - method: a token; one that http_parser does not know is 501, but only once the whole
 *   line is well formed ("this is not http" is a malformed line, 400).
 * - request-target: visible US-ASCII only (0x21-0x7E), at most max_target bytes (414
 *   at the first byte past it). An origin-form target ("/path?query", all but every
 *   request) is checked against RFC 3986 in the same pass (pchar, "/", "?", "%" HEXDIG
 *   HEXDIG). The rare forms are checked from their span when the SP after them arrives:
 *   "*" (OPTIONS only), absolute-form (scheme "://" authority path, the scheme letters
 *   only and at most one "@", as http_parser required), authority-form (CONNECT only,
 *   and always). A character error is reported when the target ends, so a target both
 *   too long and malformed is 414 however the bytes arrive.
 * - HTTP-version: "HTTP/" DIGIT "." DIGIT, case-sensitive; a major version other than 1
 *   is 505, anything else malformed 400. HTTP/1.x with x > 1 is served as HTTP/1.1.
 * - Exactly one SP between the parts (no HTAB), CRLF or a bare LF at the end (RFC 9112
 *   2.2); a CR not followed by LF is 400.
 */
#include <pthread.h>
#include <string.h>

#include "chars.h"
#include "parser.h"

/* ---- http_parser's methods: the ones we implement ---- */

#define MAX_METHODS 64

static struct known_method {
    const char *name;
    size_t length;
} methods[MAX_METHODS];
static unsigned method_count;
static pthread_once_t methods_once = PTHREAD_ONCE_INIT;

static void load_methods(void) {
    for (unsigned m = 0; m < MAX_METHODS; m++) {
        const char *name = http_method_str((enum http_method)m);
        if (name == NULL || strcmp(name, "<unknown>") == 0) break;
        methods[method_count++] = (struct known_method){name, strlen(name)};
    }
}

void request_line_init(void) { pthread_once(&methods_once, load_methods); }

static rv_method method_code(unsigned index) {
    switch (index) {
    case HTTP_GET: return RV_METHOD_GET;
    case HTTP_HEAD: return RV_METHOD_HEAD;
    case HTTP_POST: return RV_METHOD_POST;
    case HTTP_PUT: return RV_METHOD_PUT;
    case HTTP_DELETE: return RV_METHOD_DELETE;
    case HTTP_OPTIONS: return RV_METHOD_OPTIONS;
    case HTTP_PATCH: return RV_METHOD_PATCH;
    case HTTP_CONNECT: return RV_METHOD_CONNECT;
    case HTTP_TRACE: return RV_METHOD_TRACE;
    default: return RV_METHOD_OTHER;
    }
}

/* Static, so the parser's own use inlines it (an outside call cost 8 instructions per request). */
static inline __attribute__((always_inline)) int lookup_method(const uint8_t *s, size_t n, const char **name_out, rv_method *code_out) {
    for (unsigned i = 0; i < method_count; i++) {
        if (methods[i].length != n) continue;
        const char *name = methods[i].name;
        size_t k = 0;
        while (k < n && (uint8_t)name[k] == s[k]) k++;
        if (k < n) continue;
        *name_out = name;
        *code_out = method_code(i);
        return 1;
    }
    return 0;
}

int request_method_lookup(const uint8_t *s, size_t n, const char **name, rv_method *code) {
    request_line_init(); /* HTTP/2 may look methods up in a worker that made no parser yet */
    return lookup_method(s, n, name, code);
}

/* The method token [s, s + n) is complete. GET comes second in http_parser's list. */
static void method_done(rv_parser *p, const uint8_t *s, size_t n) {
    if (!lookup_method(s, n, &p->req.method_name, &p->req.method)) p->method_unknown = 1;
}

/* ---- the request-target ---- */

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static int is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

int valid_host(const uint8_t *s, size_t n, int require_port) {
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
            while (j < close && rv_hex_value(s[j]) >= 0) j++, hex++;
            if (hex == 0 || j >= close || s[j] != '.') return 0;
            j++;
            if (j >= close) return 0;
            for (; j < close; j++)
                if (!rv_is_reg_name_char(s[j]) && s[j] != ':') return 0;
        } else {
            size_t colons = 0;
            for (size_t j = 1; j < close; j++) {
                uint8_t c = s[j];
                if (c == ':') colons++;
                else if (rv_hex_value(c) < 0 && c != '.') return 0;
            }
            if (colons < 2) return 0;
        }
        i = close + 1;
    } else {
        while (i < n && s[i] != ':') {
            if (s[i] == '%') {
                if (i + 2 >= n || rv_hex_value(s[i + 1]) < 0 || rv_hex_value(s[i + 2]) < 0) return 0;
                i += 3;
                continue;
            }
            if (!rv_is_reg_name_char(s[i])) return 0;
            i++;
        }
        if (i == 0) return 0; /* empty reg-name */
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

/* The part of an absolute-form target after "scheme://": an authority (IP-literal
 * brackets allowed, at most one "@") up to the first "/" or "?", then path and query. */
static const char *check_after_scheme(const uint8_t *t, size_t n) {
    size_t authority_end = 0;
    unsigned at_signs = 0;
    while (authority_end < n && t[authority_end] != '/' && t[authority_end] != '?')
        at_signs += t[authority_end++] == '@';
    if (at_signs > 1) return "invalid authority in the request-target";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = t[i];
        if (c == '%') {
            if (i + 2 >= n || rv_hex_value(t[i + 1]) < 0 || rv_hex_value(t[i + 2]) < 0)
                return "malformed percent-encoding in the request-target";
            i += 2;
            continue;
        }
        if (rv_is_target_char(c) || (i < authority_end && (c == '[' || c == ']'))) continue;
        return "character not allowed in the request-target";
    }
    return NULL;
}

/* The whole target of a form other than origin-form: returns NULL or why it is bad. */
static const char *check_other_form(rv_parser *p, const uint8_t *t, size_t n) {
    if (p->req.method == RV_METHOD_CONNECT) {
        /* CONNECT takes authority-form only (RFC 9112 3.2.3). */
        if (!valid_host(t, n, 1)) return "CONNECT needs an authority-form target";
        p->form = TF_AUTHORITY;
        return NULL;
    }
    if (t[0] == '*') {
        if (n != 1) return "invalid request-target form";
        if (p->req.method != RV_METHOD_OPTIONS) return "asterisk-form is for OPTIONS only";
        p->form = TF_ASTERISK;
        return NULL;
    }
    /* absolute-form: scheme "://" ...; http_parser took letters only as the scheme */
    size_t i = 0;
    while (i < n && is_alpha(t[i])) i++;
    if (i == 0 || i + 3 >= n || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/')
        return "invalid request-target form";
    p->form = TF_ABSOLUTE;
    return check_after_scheme(t + i + 3, n - i - 3);
}

/* The SP after the target: its span and form. Returns 0, or -1 after parser_fail. */
static int target_done(rv_parser *p, const uint8_t *buf, uint32_t end) {
    uint32_t n = end - p->target_off;
    p->req.target = (rv_span){p->target_off, n};
    const char *why = p->form == TF_ORIGIN ? p->target_error : check_other_form(p, buf + p->target_off, n);
    return why == NULL ? 0 : parser_refuse(p, 400, why);
}

/* ---- the scan ---- */

int request_line_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos_io, uint32_t end) {
    uint32_t lim = section_limit(p, end);
    uint32_t pos = *pos_io;
    while (pos < lim) {
        uint8_t c;
        switch (p->ls) {
        case LS_METHOD:
            while (pos < lim && rv_is_tchar(buf[pos])) pos++;
            if (pos == lim) continue; /* the loop ends: more bytes, or the limit */
            c = buf[pos];
            if (c != ' ' || pos == p->req_start)
                return parser_refuse(p, 400, c == '\t' ? "HTAB in the request line" : "invalid method token");
            method_done(p, buf + p->req_start, pos - p->req_start);
            p->ls = LS_TARGET_FIRST;
            pos++;
            break;

        case LS_TARGET_FIRST:
            c = buf[pos];
            if (c == ' ') return parser_refuse(p, 400, "extra whitespace in the request line");
            if (c == '\r' || c == '\n') return parser_refuse(p, 400, "missing request-target");
            p->target_off = pos;
            /* origin-form is checked as it arrives; any other form when it ends, where
             * check_other_form sets the form it found */
            p->form = (c == '/' && p->req.method != RV_METHOD_CONNECT) ? TF_ORIGIN : TF_ABSOLUTE;
            p->ls = LS_TARGET;
            /* fall through */
        case LS_TARGET: {
            /* The byte at target_lim would make the target one byte too long. */
            uint64_t target_limit = (uint64_t)p->target_off + p->limits.max_target;
            uint32_t tlim = (uint64_t)lim < target_limit ? lim : (uint32_t)target_limit;
            if (p->form == TF_ORIGIN) {
                while (pos < tlim && rv_is_target_char(buf[pos])) pos++;
            } else {
                while (pos < tlim && buf[pos] >= 0x21 && buf[pos] <= 0x7E) pos++;
            }
            if (pos == lim) continue; /* the loop ends: more bytes, or the limit */
            c = buf[pos];
            if (c == ' ') {
                if (target_done(p, buf, pos) < 0) return -1;
                p->ls = LS_VERSION;
                pos++;
                break;
            }
            if (c < 0x21 || c > 0x7E) {
                if (c == '\r' || c == '\n') return parser_refuse(p, 400, "missing HTTP version");
                return parser_refuse(p, 400, "invalid byte in the request-target");
            }
            if (pos == tlim) return parser_refuse(p, 414, "request-target too long");
            /* origin-form only: "%" or a visible byte outside the grammar */
            if (c == '%') {
                p->target_pct = 2;
                p->ls = LS_TARGET_PCT;
            } else if (p->target_error == NULL) {
                p->target_error = "character not allowed in the request-target";
            }
            pos++;
            break;
        }

        case LS_TARGET_PCT:
            /* Two hex digits; anything else is remembered and the scan goes on, so the
             * target's length still decides first. */
            c = buf[pos];
            if (rv_hex_value(c) >= 0) {
                if (--p->target_pct == 0) p->ls = LS_TARGET;
                if (pos - p->target_off + 1 > p->limits.max_target) return parser_refuse(p, 414, "request-target too long");
                pos++;
                break;
            }
            if (p->target_error == NULL) p->target_error = "malformed percent-encoding in the request-target";
            p->target_pct = 0;
            p->ls = LS_TARGET; /* this byte is looked at as a target byte */
            break;

        case LS_VERSION:
            /* all of "HTTP/x.y" CRLF at once when it is there, which it nearly always is */
            if (p->version_index == 0 && lim - pos >= 10 && memcmp(buf + pos, "HTTP/", 5) == 0 &&
                is_digit(buf[pos + 5]) && buf[pos + 6] == '.' && is_digit(buf[pos + 7]) && buf[pos + 8] == '\r' &&
                buf[pos + 9] == '\n') {
                p->version_major = (uint8_t)(buf[pos + 5] - '0');
                p->version_minor = (uint8_t)(buf[pos + 7] - '0');
                pos += 9;
                goto line_done;
            }
            c = buf[pos];
            if (p->version_index < 5) {
                if (c != (uint8_t)"HTTP/"[p->version_index])
                    return parser_refuse(p, 400, p->version_index == 0 && c == ' ' ? "extra whitespace in the request line"
                                                                : "malformed HTTP version");
            } else if (p->version_index == 5 || p->version_index == 7) {
                if (!is_digit(c)) return parser_refuse(p, 400, "malformed HTTP version");
                if (p->version_index == 5) p->version_major = (uint8_t)(c - '0');
                else p->version_minor = (uint8_t)(c - '0');
            } else if (p->version_index == 6) {
                if (c != '.') return parser_refuse(p, 400, "malformed HTTP version");
            } else if (c == '\r') {
                p->ls = LS_CR;
                pos++;
                break;
            } else if (c == '\n') {
                goto line_done;
            } else {
                return parser_refuse(p, 400, "garbage after the HTTP version");
            }
            p->version_index++;
            pos++;
            break;

        case LS_CR:
            if (buf[pos] != '\n') return parser_refuse(p, 400, "bare CR in the request line");
        line_done:
            if (p->version_major != 1) return parser_refuse(p, 505, "HTTP version not supported");
            if (p->method_unknown) return parser_refuse(p, 501, "method not implemented");
            p->ls = LS_DONE;
            *pos_io = pos + 1;
            return 1;

        case LS_DONE:
            *pos_io = pos;
            return 1;
        }
    }
    if (pos < end) return parser_refuse(p, 431, "header section too large");
    *pos_io = pos;
    return 0;
}
