/*
 * date.c: the Date header value (RFC 9110 section 6.6.1, IMF-fixdate), formatted once
 * per second by the loop and read by every thread that writes a response. Two slots and
 * an atomic index: the writer fills the slot readers are not pointed at, then flips.
 */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "engine.h"

static char slots[2][32];
static atomic_int current;
/* The second the current slot shows; stored after the flip, so a reader that sees it
 * finds that slot's text (or a later one) in every head it starts afterwards. */
static _Atomic int64_t current_second;

void date_refresh(void) {
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    int next = 1 - atomic_load_explicit(&current, memory_order_relaxed);
    char *slot = slots[next];
    memcpy(slot, days[utc.tm_wday], 3);
    slot[3] = ',';
    slot[4] = ' ';
    slot[5] = (char)('0' + utc.tm_mday / 10);
    slot[6] = (char)('0' + utc.tm_mday % 10);
    slot[7] = ' ';
    memcpy(slot + 8, months[utc.tm_mon], 3);
    slot[11] = ' ';
    int year = utc.tm_year + 1900;
    slot[12] = (char)('0' + year / 1000 % 10);
    slot[13] = (char)('0' + year / 100 % 10);
    slot[14] = (char)('0' + year / 10 % 10);
    slot[15] = (char)('0' + year % 10);
    slot[16] = ' ';
    slot[17] = (char)('0' + utc.tm_hour / 10);
    slot[18] = (char)('0' + utc.tm_hour % 10);
    slot[19] = ':';
    slot[20] = (char)('0' + utc.tm_min / 10);
    slot[21] = (char)('0' + utc.tm_min % 10);
    slot[22] = ':';
    slot[23] = (char)('0' + utc.tm_sec / 10);
    slot[24] = (char)('0' + utc.tm_sec % 10);
    memcpy(slot + 25, " GMT", 4);
    atomic_store_explicit(&current, next, memory_order_release);
    atomic_store_explicit(&current_second, (int64_t)now, memory_order_release);
}

void date_copy(char out[29]) {
    memcpy(out, slots[atomic_load_explicit(&current, memory_order_acquire)], 29);
}

int64_t rv_date_now(void) {
    int64_t second = atomic_load_explicit(&current_second, memory_order_acquire);
    /* No loop has formatted a Date yet (a library call outside a worker): the clock. */
    return second ? second : (int64_t)time(NULL);
}
