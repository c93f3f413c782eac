/*
 * body.h: the request body sink (private to the C shim; Swift sees only rv_body).
 *
 * Bytes are kept in memory up to a limit, then everything is moved to an unlinked
 * temporary file and the rest appended there through the same buffer, written out when
 * it is full (at least RV_BODY_SPOOL_BUFFER bytes): a body of a million one-byte chunks
 * costs a few dozen write(2), not a million. The buffer belongs to the connection's
 * parser and is reused request after request; it is freed on reset only when it grew
 * past RV_BODY_KEEP_MAX, so one big upload does not pin memory forever.
 */
#ifndef RAPTOR_BODY_H
#define RAPTOR_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "raptor.h"

/* A buffer larger than this is freed on reset instead of being kept for reuse. */
#define RV_BODY_KEEP_MAX ((size_t)64 * 1024)

/* The least a spooled body collects before each write to its file. */
#define RV_BODY_SPOOL_BUFFER ((size_t)64 * 1024)

typedef struct rv_body_sink {
    uint8_t *buf;        /* reusable memory buffer (may be non-NULL while length == 0) */
    size_t cap;          /* allocated size of buf */
    uint64_t length;     /* bytes stored so far (memory, or file and buf) */
    int fd;              /* >= 0 once spooled to a temporary file */
    size_t pending;      /* spooled: bytes at the start of buf not yet in the file */
    uint64_t memory_max; /* from rv_limits.body_memory_max */
    /* Non-NULL: the bytes go to this function instead (a body streamed to its handler,
     * body_stream.c); nothing is stored, and the published body stays empty. */
    int (*divert)(void *context, const uint8_t *data, size_t length);
    void *divert_context;
} rv_body_sink;

void rv_body_sink_init(rv_body_sink *sink, uint64_t memory_max);

/* The body about to arrive has `expected` bytes (UINT64_MAX: unknown, e.g. chunked).
 * Reserves memory for it, or spools from the first byte when it cannot fit in memory.
 * Returns 0, or -1 with errno. */
int rv_body_sink_expect(rv_body_sink *sink, uint64_t expected);

/* Appends bytes (or hands them to `divert`). Returns 0, or -1 with errno (out of memory,
 * temp file, write error). */
int rv_body_sink_append(rv_body_sink *sink, const uint8_t *data, size_t length);

/* The body is complete: writes what is pending and rewinds the file (if any) so it
 * reads from offset 0. Returns 0, or -1 with errno. */
int rv_body_sink_finish(rv_body_sink *sink);

/* Copies the sink's state into the public view: data is NULL when the body is empty or
 * lives in a file. */
void rv_body_sink_publish(const rv_body_sink *sink, rv_body *out);

/* Forgets the body: closes the file, keeps the buffer unless it grew past
 * RV_BODY_KEEP_MAX (and keeps `divert`, which is the connection's). */
void rv_body_sink_reset(rv_body_sink *sink);

/* Frees the reusable buffer of an empty sink (after reset). */
void rv_body_sink_free_buffer(rv_body_sink *sink);

/* Frees everything. */
void rv_body_sink_destroy(rv_body_sink *sink);

/* Opens an unlinked read-write temporary file in $TMPDIR (or /tmp): O_TMPFILE when the
 * file system supports it, else mkostemp + unlink. Returns the fd or -1 with errno. */
int rv_body_open_temp(void);

#endif /* RAPTOR_BODY_H */
