/*
 * body.c: the request body sink; see body.h.
 */
#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RV_BODY_MIN_ALLOC ((size_t)4096)

static const char *temp_dir(void) {
    const char *dir = getenv("TMPDIR");
    return (dir != NULL && dir[0] != '\0') ? dir : "/tmp";
}

int rv_body_open_temp(void) {
    const char *dir = temp_dir();
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    /* EOPNOTSUPP/EISDIR/EINVAL: no O_TMPFILE on this file system or kernel; other
     * errors (ENOENT, EACCES) would fail below too and report their own errno. */
#endif
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/raptor-body-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int tfd = mkostemp(path, O_CLOEXEC);
    if (tfd < 0) return -1;
    (void)unlink(path);
    return tfd;
}

static int write_all(int fd, const uint8_t *data, size_t length) {
    while (length > 0) {
        ssize_t w = write(fd, data, length);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        data += (size_t)w;
        length -= (size_t)w;
    }
    return 0;
}

void rv_body_sink_init(rv_body_sink *sink, uint64_t memory_max) {
    sink->buf = NULL;
    sink->cap = 0;
    sink->length = 0;
    sink->fd = -1;
    sink->pending = 0;
    sink->memory_max = memory_max;
    sink->divert = NULL;
    sink->divert_context = NULL;
}

/* Reallocates the buffer to `cap` bytes, keeping what it holds. */
static int resize(rv_body_sink *sink, size_t cap) {
    uint8_t *resized = realloc(sink->buf, cap);
    if (resized == NULL) {
        errno = ENOMEM;
        return -1;
    }
    sink->buf = resized;
    sink->cap = cap;
    return 0;
}

/* Makes room for `need` bytes in memory (need <= memory_max). */
static int reserve(rv_body_sink *sink, uint64_t need) {
    if (need <= sink->cap) return 0;
    if (need > (uint64_t)SIZE_MAX) {
        errno = ENOMEM;
        return -1;
    }
    size_t cap = sink->cap < RV_BODY_MIN_ALLOC ? RV_BODY_MIN_ALLOC : sink->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = (size_t)need;
            break;
        }
        cap *= 2;
    }
    if ((uint64_t)cap > sink->memory_max && need <= sink->memory_max)
        cap = (size_t)sink->memory_max; /* never allocate past what memory may hold */
    return resize(sink, cap);
}

/* Moves the bytes held in memory to a new temporary file; from now on the buffer
 * (grown to RV_BODY_SPOOL_BUFFER if smaller) collects what comes next. */
static int spool(rv_body_sink *sink) {
    if (sink->cap < RV_BODY_SPOOL_BUFFER && resize(sink, RV_BODY_SPOOL_BUFFER) < 0) return -1;
    int fd = rv_body_open_temp();
    if (fd < 0) return -1;
    if (sink->length > 0 && write_all(fd, sink->buf, (size_t)sink->length) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    sink->fd = fd;
    sink->pending = 0;
    return 0;
}

static int flush_pending(rv_body_sink *sink) {
    if (sink->pending == 0) return 0;
    if (write_all(sink->fd, sink->buf, sink->pending) < 0) return -1;
    sink->pending = 0;
    return 0;
}

int rv_body_sink_expect(rv_body_sink *sink, uint64_t expected) {
    if (expected == 0 || expected == UINT64_MAX || sink->fd >= 0 || sink->divert) return 0;
    if (sink->length + expected > sink->memory_max) return spool(sink);
    return reserve(sink, sink->length + expected);
}

int rv_body_sink_append(rv_body_sink *sink, const uint8_t *data, size_t length) {
    if (length == 0) return 0;
    if (sink->divert) return sink->divert(sink->divert_context, data, length);
    if (sink->fd < 0 && sink->length + length > sink->memory_max) {
        if (spool(sink) < 0) return -1;
    }
    if (sink->fd >= 0) {
        if (sink->pending + length > sink->cap && flush_pending(sink) < 0) return -1;
        if (length >= sink->cap) {
            if (write_all(sink->fd, data, length) < 0) return -1; /* nothing to gather */
        } else {
            memcpy(sink->buf + sink->pending, data, length);
            sink->pending += length;
        }
    } else {
        if (reserve(sink, sink->length + length) < 0) return -1;
        memcpy(sink->buf + sink->length, data, length);
    }
    sink->length += length;
    return 0;
}

int rv_body_sink_finish(rv_body_sink *sink) {
    if (sink->fd < 0) return 0;
    if (flush_pending(sink) < 0) return -1;
    return lseek(sink->fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

void rv_body_sink_publish(const rv_body_sink *sink, rv_body *out) {
    out->length = sink->length;
    out->fd = sink->fd;
    out->data = (sink->fd < 0 && sink->length > 0) ? sink->buf : NULL;
}

void rv_body_sink_reset(rv_body_sink *sink) {
    if (sink->fd >= 0) {
        close(sink->fd);
        sink->fd = -1;
    }
    sink->length = 0;
    sink->pending = 0;
    if (sink->cap > RV_BODY_KEEP_MAX) rv_body_sink_free_buffer(sink);
}

void rv_body_sink_free_buffer(rv_body_sink *sink) {
    free(sink->buf);
    sink->buf = NULL;
    sink->cap = 0;
}

void rv_body_sink_destroy(rv_body_sink *sink) {
    if (sink->fd >= 0) close(sink->fd);
    rv_body_sink_free_buffer(sink);
    sink->fd = -1;
    sink->length = 0;
    sink->pending = 0;
}
