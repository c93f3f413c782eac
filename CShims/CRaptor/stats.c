/*
 * stats.c: a worker's counters. The slot may live in a MAP_SHARED mapping read by the
 * master, so every access is a relaxed atomic: exact at every instant is not needed,
 * torn values are not allowed.
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
    };
    return (unsigned)which < RV_STAT_COUNT ? names[which] : "";
}
