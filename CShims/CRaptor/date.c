/*
 * date.c: the Date header value (RFC 9110 section 6.6.1, IMF-fixdate): the current second,
 * read from the clock by the thread that writes the response.
 *
 * Why not a timer: a 1 s ev_periodic that formatted time(NULL) lagged 1 to 2 s. libev fires
 * it on its precise clock a few milliseconds after the second begins, while time() reads
 * the kernel's coarse clock, which advances only at the next scheduler tick and still showed
 * the previous second: every refresh formatted the second just gone. No timer can be exact
 * for an app thread answering between the second's start and the loop's wake-up anyway.
 *
 * So each response reads CLOCK_REALTIME_COARSE, which the vDSO answers on every clocksource
 * without a syscall (a few nanoseconds), and each thread keeps the text of the last second
 * it formatted (formatting happens once per second per thread; nothing is shared, nothing
 * races). The coarse clock is the one file timestamps come from, but it trails the precise
 * clock: by 3 to 7 ms on this 250 Hz machine (a tick, plus the tick's own delay). Near the
 * end of a second (the last two ticks and 10 ms more) the precise clock is read instead, so
 * the Date is the precise current second, and never earlier than a Last-Modified taken from
 * a file written just before. (The precise clock has a vDSO path on common clocksources,
 * not on every one: this keeps even those machines at no syscall for ~98% of responses.)
 */
#include <string.h>
#include <time.h>

#include "engine.h"

typedef struct date_cache {
    time_t second;      /* the second `text` shows */
    long near_next_ns;  /* coarse readings at or past this nanosecond may trail a new second */
    char text[29];
} date_cache;

static _Thread_local date_cache cache = {.second = -1};

static void format(time_t second) {
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm utc;
    gmtime_r(&second, &utc);
    char *text = cache.text;
    memcpy(text, days[utc.tm_wday], 3);
    text[3] = ',';
    text[4] = ' ';
    text[5] = (char)('0' + utc.tm_mday / 10);
    text[6] = (char)('0' + utc.tm_mday % 10);
    text[7] = ' ';
    memcpy(text + 8, months[utc.tm_mon], 3);
    text[11] = ' ';
    int year = utc.tm_year + 1900;
    text[12] = (char)('0' + year / 1000 % 10);
    text[13] = (char)('0' + year / 100 % 10);
    text[14] = (char)('0' + year / 10 % 10);
    text[15] = (char)('0' + year % 10);
    text[16] = ' ';
    text[17] = (char)('0' + utc.tm_hour / 10);
    text[18] = (char)('0' + utc.tm_hour % 10);
    text[19] = ':';
    text[20] = (char)('0' + utc.tm_min / 10);
    text[21] = (char)('0' + utc.tm_min % 10);
    text[22] = ':';
    text[23] = (char)('0' + utc.tm_sec / 10);
    text[24] = (char)('0' + utc.tm_sec % 10);
    memcpy(text + 25, " GMT", 4);
    cache.second = second;
}

/* The current second, as the Date of a response this thread writes now will show it:
 * the coarse clock, or the precise one near the end of a second. */
static time_t current_second(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_nsec >= cache.near_next_ns) {
        if (cache.near_next_ns == 0) { /* this thread's first Date */
            struct timespec tick = {0, 0};
            clock_getres(CLOCK_REALTIME_COARSE, &tick);
            long margin = tick.tv_sec > 0 ? 1000000000L : 2 * tick.tv_nsec + 10000000L;
            cache.near_next_ns = margin < 1000000000L ? 1000000000L - margin : 1;
        }
        clock_gettime(CLOCK_REALTIME, &now);
    }
    return now.tv_sec;
}

void date_copy(char out[29]) {
    time_t second = current_second();
    if (second != cache.second) format(second);
    memcpy(out, cache.text, sizeof cache.text);
}

/* The second a Date written after this call shows at the earliest: the static files
 * clamp Last-Modified to it (RFC 9110 8.8.2.1). */
int64_t rv_date_now(void) { return (int64_t)current_second(); }
