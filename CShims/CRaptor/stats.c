/*
 * stats.c: a worker's counters and its request-duration buckets. The slot may live in a
 * MAP_SHARED mapping read by the master and the metrics server, so every access is a
 * relaxed atomic: exact at every instant is not needed, torn values are not allowed.
 */
#include "raptor.h"

uint64_t rv_stats_get(const rv_stats *stats, rv_stat which) {
    return __atomic_load_n(&stats->values[which], __ATOMIC_RELAXED);
}

void rv_stats_set(rv_stats *stats, rv_stat which, uint64_t value) {
    __atomic_store_n(&stats->values[which], value, __ATOMIC_RELAXED);
}

void rv_stats_add(rv_stats *stats, rv_stat which, int64_t delta) {
    __atomic_fetch_add(&stats->values[which], (uint64_t)delta, __ATOMIC_RELAXED);
}

const char *rv_stat_name(rv_stat which) {
    static const char *const names[RV_STAT_COUNT] = {
        [RV_STAT_PID] = "pid",
        [RV_STAT_INDEX] = "index",
        [RV_STAT_PHASE] = "phase",
        [RV_STAT_BOOTED] = "booted",
        [RV_STAT_STARTED_AT] = "started_at",
        [RV_STAT_LAST_CHECKIN] = "last_checkin",
        [RV_STAT_REQUESTS] = "requests",
        [RV_STAT_ACTIVE_CONNECTIONS] = "active_connections",
        [RV_STAT_KEEPALIVE_CONNECTIONS] = "keepalive_connections",
        [RV_STAT_BACKLOG] = "backlog",
        [RV_STAT_BUSY_THREADS] = "busy_threads",
        [RV_STAT_THREAD_CAPACITY] = "thread_capacity",
        [RV_STAT_BYTES_READ] = "bytes_read",
        [RV_STAT_BYTES_WRITTEN] = "bytes_written",
        [RV_STAT_RESPONSES_1XX] = "responses_1xx",
        [RV_STAT_RESPONSES_2XX] = "responses_2xx",
        [RV_STAT_RESPONSES_3XX] = "responses_3xx",
        [RV_STAT_RESPONSES_4XX] = "responses_4xx",
        [RV_STAT_RESPONSES_5XX] = "responses_5xx",
        [RV_STAT_PARSE_ERRORS] = "parse_errors",
        [RV_STAT_TIMEOUTS] = "timeouts",
        [RV_STAT_SHED_503] = "shed_503",
        [RV_STAT_ACCEPT_PAUSES] = "accept_pauses",
        [RV_STAT_FD_LIMIT_503] = "fd_limit_503",
        [RV_STAT_RSS_BYTES] = "rss_bytes",
        [RV_STAT_PROXY_ERRORS] = "proxy_errors",
        [RV_STAT_TLS_HANDSHAKE_ERRORS] = "tls_handshake_errors",
        [RV_STAT_H2_CONNECTIONS] = "h2_connections",
        [RV_STAT_H2_STREAMS] = "h2_streams",
    };
    return (unsigned)which < RV_STAT_COUNT ? names[which] : "";
}

rv_stat_kind rv_stat_kind_of(rv_stat which) {
    /* Unlisted stats are counters: one added to the enum shows up in the metrics (as
     * raptor_<name>_total) with no other change. */
    static const rv_stat_kind kinds[RV_STAT_COUNT] = {
        [RV_STAT_PID] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_INDEX] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_PHASE] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_BOOTED] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_STARTED_AT] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_LAST_CHECKIN] = RV_STAT_KIND_IDENTITY,
        [RV_STAT_ACTIVE_CONNECTIONS] = RV_STAT_KIND_GAUGE,
        [RV_STAT_KEEPALIVE_CONNECTIONS] = RV_STAT_KIND_GAUGE,
        [RV_STAT_BACKLOG] = RV_STAT_KIND_GAUGE,
        [RV_STAT_BUSY_THREADS] = RV_STAT_KIND_GAUGE,
        [RV_STAT_THREAD_CAPACITY] = RV_STAT_KIND_GAUGE,
        [RV_STAT_RSS_BYTES] = RV_STAT_KIND_GAUGE,
    };
    return (unsigned)which < RV_STAT_COUNT ? kinds[which] : RV_STAT_KIND_IDENTITY;
}

/* ---- request durations ---- */

/* From 100 us to 10 s: most requests of a fast server take well under a millisecond, so
 * the usual client defaults (5 ms to 10 s) would put them all in the first bucket. */
static const uint64_t duration_bounds_us[RV_DURATION_BOUNDS] = {
    100,    250,    500,     1000,    2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

uint64_t rv_duration_bound_us(unsigned index) {
    return index < RV_DURATION_BOUNDS ? duration_bounds_us[index] : UINT64_MAX;
}

/* The fast requests stop at the first comparisons. */
void rv_stats_observe_duration(rv_stats *stats, uint64_t microseconds) {
    unsigned index = 0;
    while (index < RV_DURATION_BOUNDS && microseconds > duration_bounds_us[index]) index++;
    __atomic_fetch_add(&stats->duration_buckets[index], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats->duration_sum_us, microseconds, __ATOMIC_RELAXED);
}

uint64_t rv_stats_duration_bucket(const rv_stats *stats, unsigned index) {
    return index <= RV_DURATION_BOUNDS
               ? __atomic_load_n(&stats->duration_buckets[index], __ATOMIC_RELAXED)
               : 0;
}

uint64_t rv_stats_duration_sum_us(const rv_stats *stats) {
    return __atomic_load_n(&stats->duration_sum_us, __ATOMIC_RELAXED);
}

void rv_stats_accumulate(rv_stats *into, const rv_stats *from) {
    for (unsigned i = 0; i < RV_STAT_COUNT; i++) {
        if (rv_stat_kind_of((rv_stat)i) != RV_STAT_KIND_COUNTER) continue;
        rv_stats_add(into, (rv_stat)i, (int64_t)rv_stats_get(from, (rv_stat)i));
    }
    for (unsigned i = 0; i <= RV_DURATION_BOUNDS; i++)
        __atomic_fetch_add(&into->duration_buckets[i], rv_stats_duration_bucket(from, i),
                           __ATOMIC_RELAXED);
    __atomic_fetch_add(&into->duration_sum_us, rv_stats_duration_sum_us(from), __ATOMIC_RELAXED);
}

void rv_stats_copy(rv_stats *into, const rv_stats *from) {
    for (unsigned i = 0; i < RV_STAT_COUNT; i++) into->values[i] = rv_stats_get(from, (rv_stat)i);
    for (unsigned i = 0; i <= RV_DURATION_BOUNDS; i++)
        into->duration_buckets[i] = rv_stats_duration_bucket(from, i);
    into->duration_sum_us = rv_stats_duration_sum_us(from);
}

/* ---- the sequence lock (Boehm, "Can seqlocks get along with programming language memory
 * models?", 2012: relaxed data, fences around it) ---- */

void rv_seqlock_write_begin(uint64_t *sequence) {
    __atomic_store_n(sequence, __atomic_load_n(sequence, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void rv_seqlock_write_end(uint64_t *sequence) {
    __atomic_store_n(sequence, __atomic_load_n(sequence, __ATOMIC_RELAXED) + 1, __ATOMIC_RELEASE);
}

uint64_t rv_seqlock_read_begin(const uint64_t *sequence) {
    return __atomic_load_n(sequence, __ATOMIC_ACQUIRE);
}

int rv_seqlock_read_retry(const uint64_t *sequence, uint64_t begun) {
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return (begun & 1) != 0 || __atomic_load_n(sequence, __ATOMIC_RELAXED) != begun;
}

uint64_t rv_shared_load(const uint64_t *word) { return __atomic_load_n(word, __ATOMIC_RELAXED); }

void rv_shared_store(uint64_t *word, uint64_t value) {
    __atomic_store_n(word, value, __ATOMIC_RELAXED);
}
