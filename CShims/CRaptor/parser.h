/*
 * parser.h: the request parser's own state, shared by its files (private to the shim).
 *
 *   parser.c        the driver: phases, feeding, the body through http_parser
 *   request_line.c  method, request-target and its forms, version; uri-host
 *   fields.c        field lines (head and trailers) and the fields the server reads
 *   chunked.c       chunked framing (RFC 9112 7.1) beside http_parser
 *
 * One pass over the head: request_line.c and fields.c look at each byte of the request
 * line and field lines once, validate it, and record spans (offsets into the buffer, so
 * the buffer may move between feeds). http_parser sees only what it must to parse a
 * body (parser.c explains); a request without a body never reaches it.
 */
#ifndef RAPTOR_PARSER_H
#define RAPTOR_PARSER_H

#include <http_parser.h>
#include <stdint.h>

#include "body.h"
#include "raptor.h"

typedef enum phase {
    PH_LEAD = 0, /* skipping empty lines before the request line */
    PH_LEAD_CR,  /* a CR of a leading empty line; LF must follow */
    PH_HEAD,     /* request line and header fields */
    PH_BODY,     /* head done and valid; the body through http_parser */
    PH_DONE,     /* one whole request */
    PH_ERROR,
} phase;

/* Where the scan of the request line is. */
typedef enum line_state {
    LS_METHOD = 0,
    LS_TARGET_FIRST,
    LS_TARGET,     /* the bytes of the request-target */
    LS_TARGET_PCT, /* after "%" in an origin-form target: two hex digits must follow */
    LS_VERSION,
    LS_CR,         /* the request line's CR; LF must follow */
    LS_DONE,
} line_state;

/* Where the scan of a field section (header or trailer fields) is. */
typedef enum field_state {
    FS_LINE_START = 0,
    FS_NAME,
    FS_VALUE_START, /* OWS after the colon */
    FS_VALUE,
    FS_VALUE_CR,    /* a field line's CR; LF must follow */
    FS_EMPTY_CR,    /* the CR of the empty line that ends the section */
} field_state;

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
    CS_TRAILERS, /* the trailer section, scanned by fields.c */
    CS_END,
} chunk_state;

typedef enum target_form {
    TF_ORIGIN = 0,
    TF_ASTERISK,
    TF_ABSOLUTE,
    TF_AUTHORITY,
} target_form;

/* The fields the server itself reads (fields.c names them at the colon). */
typedef enum field_kind {
    FK_OTHER = 0,
    FK_HOST,
    FK_CONTENT_LENGTH,
    FK_TRANSFER_ENCODING,
    FK_CONNECTION,
    FK_EXPECT,
    FK_UPGRADE,
} field_kind;

/* What the fields the server reads said, gathered as their lines end. */
typedef struct field_facts {
    uint16_t host_count;
    uint16_t content_length_count;
    uint16_t transfer_encoding_count;
    rv_span host;           /* the (last) Host value */
    uint8_t host_plain;     /* it was checked as it was scanned (fields.c) */
    rv_span content_length; /* the (last) Content-Length value */
    /* Transfer-Encoding, all fields as one list (RFC 9110 5.3) */
    uint16_t te_members;
    uint16_t te_chunked;
    uint8_t te_last_is_chunked;
    uint8_t te_unknown; /* a coding other than chunked */
    uint8_t te_bad;     /* syntax error, or chunked with parameters */
    /* Connection options (RFC 9110 7.6.1) */
    uint8_t close;
    uint8_t keep_alive;
    uint8_t connection_upgrade;
    /* Upgrade with a non-empty value */
    uint8_t upgrade;
    /* Expect (RFC 9110 10.1.1) */
    uint8_t expect_continue;
    uint8_t expect_other;
} field_facts;

struct rv_parser {
    rv_limits limits;
    rv_body_sink sink;
    rv_request req;

    /* Everything from here on is per request and starts at zero (parser.c, state_clear). */
    phase ph;
    uint8_t head_done;
    uint8_t in_trailers; /* the last chunk is done: trailer bytes pin the buffer */

    /* the request line (request_line.c) */
    line_state ls;
    uint8_t version_index; /* bytes of "HTTP/x.y" matched */
    uint8_t version_major;
    uint8_t version_minor;
    uint8_t form;
    uint8_t method_unknown; /* a valid token we do not implement: 501 once the line is whole */
    uint8_t target_pct;     /* hex digits still due after "%" */
    const char *target_error; /* the first character error in the target: 400 at its end */
    uint32_t req_start;       /* first byte of the request line */
    uint32_t target_off;      /* first byte of the request-target */
    uint32_t head_end;        /* just after the empty line that ends the head */

    /* the field section being scanned (fields.c), head or trailers */
    field_state fs;
    field_kind kind;        /* of the field whose line is being scanned */
    uint32_t section_start; /* first byte that counts against max_head */
    uint32_t head_budget;   /* bytes the section may take from there */
    uint32_t field_lines;   /* header and trailer field lines so far */
    uint32_t line_off;      /* first byte of the current field line */
    uint32_t value_off;     /* first byte of its value after OWS */
    field_facts facts;

    /* the body */
    http_parser hp;
    uint8_t hp_complete; /* http_parser called on_message_complete */
    uint16_t cb_status;  /* a callback's failure: the answer */
    const char *cb_reason;
    chunk_state cs;
    uint64_t chunk_size;
    uint64_t chunk_left;
    uint64_t chunk_total;
    uint32_t chunk_line_len;
};

/* ---- parser.c ---- */
/* Records the answer and stops the parser; returns RV_PARSE_ERROR. */
rv_parse_result parser_fail(rv_parser *p, unsigned status, const char *reason);
/* The same for the scans, which return -1 on failure. */
int parser_refuse(rv_parser *p, unsigned status, const char *reason);

/* How far a scan may look in a feed ending at `end`: there, or at the first byte that
 * would put the section (the head, or a trailer section) past max_head. */
static inline uint32_t section_limit(const rv_parser *p, uint32_t end) {
    uint64_t limit = (uint64_t)p->section_start + p->head_budget;
    return (uint64_t)end < limit ? end : (uint32_t)limit;
}
/* Feeds http_parser body bytes: returns how many it took (it stops after the end of
 * the message), or -1 after parser_fail. */
long parser_body_feed(rv_parser *p, const uint8_t *data, size_t length);

/* ---- request_line.c ---- */
/* Resolves http_parser's method names once (call before the first parse). */
void request_line_init(void);
/* A method token known to http_parser: its static name and code (HTTP/2's :method is looked
 * up here too, so both protocols know the same methods). 0 when unknown (501). */
int request_method_lookup(const uint8_t *s, size_t n, const char **name, rv_method *code);
/* Scans request-line bytes [*pos, lim). Returns 1 when the line is complete and valid
 * (*pos just after its LF), 0 when more bytes are needed (*pos == lim), -1 after
 * parser_fail. */
int request_line_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos, uint32_t lim);
/* uri-host [":" port] (RFC 9110 7.2, RFC 3986 3.2.2); require_port for authority-form. */
int valid_host(const uint8_t *s, size_t n, int require_port);

/* ---- fields.c ---- */
/* Starts a field section at `start` that may take `budget` bytes (to max_head). */
void fields_begin(rv_parser *p, uint32_t start, uint32_t budget);
/* Scans field lines [*pos, end): 1 at the end of the section (*pos just after its empty
 * line), 0 for more bytes, -1 after parser_fail. */
int fields_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos, uint32_t end);
/* The head is complete: checks what the fields say (Host, Content-Length,
 * Transfer-Encoding, Expect, limits) and fills in the request. */
rv_parse_result fields_finish_head(rv_parser *p, const uint8_t *buf);

/* ---- chunked.c ---- */
/* Scans chunked body bytes [*pos, end), handing http_parser what it must see. Returns
 * 1 when the body and its trailer section are complete (*pos just after them), 0 for
 * more bytes, -1 after parser_fail. */
int chunked_scan(rv_parser *p, const uint8_t *buf, uint32_t *pos, uint32_t end);

#endif /* RAPTOR_PARSER_H */
