/*
 * pool.c: the app threads.
 *
 * Dispatch: requests completed during one loop iteration are collected and appended to
 * the queue in one go just before the loop waits again (an ev_prepare watcher), waking
 * only as many idle threads as there are new requests. One lock per batch, not per
 * request. Idle threads sleep on a semaphore, not a condition variable: glibc's
 * pthread_cond_wait takes the mutex back in its contended state, so each woken thread's
 * unlock cost a futex call, and a thread woken under the lock found it held (measured with
 * strace: 5 futex calls per wake-up, 2 now: the post and the wait).
 * Completion: the thread that ran the handler pushes the connection on a lock-free stack;
 * the loop takes the whole stack with one atomic exchange right after each wake-up and
 * before each sleep. A finished keep-alive exchange with nothing more to do does not wake
 * the loop: the client's next request will, or at the latest the collect timer, which
 * runs every COLLECT_INTERVAL while requests are out (so a keep-alive timeout or a stats
 * counter is never more than that late). Nor does a new connection's only request
 * (Connection: close, answered in full, never polled by the loop): its thread closes the
 * socket itself (conn_close_by_owner) and the loop recycles the rest when it next collects.
 * Everything else that needs the loop (a close, output left to write, bytes of a next
 * request already read, a stop, paused accepting) pokes one ev_async, which libev
 * coalesces. No lock on the way back, and under load no wake-up per request.
 */
#include <errno.h>
#include <semaphore.h>
#include <stdlib.h>

#include "h2.h"
#include "transport.h"

/* How late a quiet completion may be collected when nothing else wakes the loop. */
#define COLLECT_INTERVAL 0.01

/* Acts on every finished request, oldest first. */
static void collect_completions(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    if (!atomic_load_explicit(&pool->done, memory_order_relaxed)) return;
    rv_conn *stack = atomic_exchange_explicit(&pool->done, NULL, memory_order_acquire);
    rv_conn *in_order = NULL; /* the stack is newest first: answer the oldest first */
    while (stack) {
        rv_conn *next = stack->next;
        stack->next = in_order;
        in_order = stack;
        stack = next;
    }
    while (in_order) {
        rv_conn *next = in_order->next;
        in_order->next = NULL;
        pool->in_flight--;
        if (in_order->read_stopped) {
            in_order->read_stopped = 0;
            atomic_fetch_sub_explicit(&pool->stopped_readers, 1, memory_order_relaxed);
        }
        conn_after_handler(in_order);
        in_order = next;
    }
    if (worker->config->start_task) tasks_start_waiting(worker);
    worker_update_accepting(worker);
}

static void done_async_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    collect_completions(watcher->data);
}

static void collect_cb(struct ev_loop *loop, ev_check *watcher, int revents) {
    (void)loop;
    (void)revents;
    collect_completions(watcher->data);
}

/* Fires only when the loop slept COLLECT_INTERVAL with requests out; the collect_cb of
 * the same wake-up does the work. */
static void collect_timer_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)loop;
    (void)timer;
    (void)revents;
}

/* Before the loop sleeps: bound the sleep while requests are out (a timer in libev's
 * heap, no syscall). */
static void arm_collect_timer(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    if (pool->in_flight > 0) {
        if (!ev_is_active(&pool->collect_timer)) ev_timer_start(worker->loop, &pool->collect_timer);
    } else if (ev_is_active(&pool->collect_timer)) {
        ev_timer_stop(worker->loop, &pool->collect_timer);
    }
}

/* Whether the loop must act on a finished request now rather than when it next wakes.
 * Read before the push: once pushed, the connection is the loop's. */
static int needs_loop_now(rv_worker *worker, const rv_conn *conn) {
    int waits_for_loop = conn->handback != HANDBACK_CLOSED &&
                         (conn->handback != HANDBACK_DONE || conn->close_after || conn->engine_error ||
                          conn->parsed != conn->length || transport_has_buffered_input(conn));
    return waits_for_loop || atomic_load_explicit(&worker->stopping, memory_order_relaxed) ||
           atomic_load_explicit(&worker->accept_paused, memory_order_relaxed);
}

/* `urgent`: the caller knows the loop must act now whatever the connection says. */
static inline void hand_back(rv_worker *worker, rv_conn *conn, int urgent) {
    rv_pool *pool = &worker->pool;
    conn_close_by_owner(conn);
    urgent = urgent || needs_loop_now(worker, conn);
    rv_conn *top = atomic_load_explicit(&pool->done, memory_order_relaxed);
    do {
        conn->next = top;
    } while (!atomic_compare_exchange_weak_explicit(&pool->done, &top, conn, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* Pairs with pool_reader_stopped: either the loop sees this push or this thread sees
     * its count (both sequentially consistent), so a stopped reader is never forgotten. */
    if (urgent || atomic_load_explicit(&pool->stopped_readers, memory_order_seq_cst) > 0)
        ev_async_send(worker->loop, &pool->done_async);
}

void pool_hand_back(rv_worker *worker, rv_conn *conn, int urgent) { hand_back(worker, conn, urgent); }

void pool_reader_stopped(rv_worker *worker, rv_conn *conn) {
    rv_pool *pool = &worker->pool;
    conn->read_stopped = 1;
    atomic_fetch_add_explicit(&pool->stopped_readers, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&pool->done, memory_order_seq_cst))
        ev_feed_event(worker->loop, &pool->done_async, EV_ASYNC);
}

static void *app_thread(void *argument) {
    rv_worker *worker = argument;
    rv_pool *pool = &worker->pool;
    const rv_worker_config *config = worker->config;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (!pool->queue_head && !pool->stopping) {
            pool->idle++; /* whoever posts a token for this thread takes it off again */
            pthread_mutex_unlock(&pool->lock);
            while (sem_wait(&pool->wake) != 0) continue; /* EINTR */
            pthread_mutex_lock(&pool->lock);
        }
        rv_conn *conn = pool->queue_head;
        if (!conn) { /* stopping, and the queue is drained */
            pthread_mutex_unlock(&pool->lock);
            respond_thread_exit();
            return NULL;
        }
        pool->queue_head = conn->next;
        if (!pool->queue_head) pool->queue_tail = NULL;
        uint32_t pending = atomic_load_explicit(&pool->pending, memory_order_relaxed) - 1;
        atomic_store_explicit(&pool->pending, pending, memory_order_relaxed);
        rv_stats_set(worker->stats, RV_STAT_BACKLOG, pending);
        pthread_mutex_unlock(&pool->lock);
        if (conn->h2_stream) { /* an HTTP/2 stream: its own runner, its own way back */
            h2_run_on_thread(conn);
            continue;
        }

        STAT_ADD(worker, RV_STAT_BUSY_THREADS, 1);
        config->handler(conn, config->handler_context);
        respond_ensure_finished(conn);
        STAT_ADD(worker, RV_STAT_BUSY_THREADS, -1);
        hand_back(worker, conn, 0);
    }
}

/* Before the loop waits: act on finished requests, then hand this iteration's requests
 * to the threads. */
static void flush_batch(struct ev_loop *loop, ev_prepare *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    rv_pool *pool = &worker->pool;
    collect_completions(worker); /* may dispatch the next requests of pipelined connections */
    arm_collect_timer(worker);
    if (pool->batch_count == 0) return;
    if (worker->config->start_task) { /* tasks mode: once per loop iteration, not per request */
        tasks_start_batch(worker);
        return;
    }
    uint32_t count = pool->batch_count;
    pthread_mutex_lock(&pool->lock);
    if (pool->queue_tail) pool->queue_tail->next = pool->batch_head;
    else pool->queue_head = pool->batch_head;
    pool->queue_tail = pool->batch_tail;
    uint32_t pending = atomic_load_explicit(&pool->pending, memory_order_relaxed) + count;
    atomic_store_explicit(&pool->pending, pending, memory_order_relaxed);
    rv_stats_set(worker->stats, RV_STAT_BACKLOG, pending);
    uint32_t wake = count < pool->idle ? count : pool->idle;
    pool->idle -= wake;
    pthread_mutex_unlock(&pool->lock);
    /* After the unlock, so a woken thread finds the lock free. A token is never lost (a
     * thread counted idle that has not reached sem_wait yet returns from it at once), and
     * a thread that finds the queue already emptied by a busy one waits again. */
    while (wake--) sem_post(&pool->wake);
    pool->batch_head = pool->batch_tail = NULL;
    pool->batch_count = 0;
    worker_update_accepting(worker);
}

int pool_start(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    uint32_t count = worker->config->threads;
    pthread_mutex_init(&pool->lock, NULL);
    sem_init(&pool->wake, 0, 0);
    atomic_init(&pool->done, NULL);
    atomic_init(&pool->stopped_readers, 0);
    /* Inline (--threads 0) nothing is ever dispatched or handed back: no watcher of the
     * pool's may cost the loop anything. Tasks mode hands back as the threads do. */
    if (count == 0 && !worker->config->start_task) return 0;
    ev_async_init(&pool->done_async, done_async_cb);
    pool->done_async.data = worker;
    ev_async_start(worker->loop, &pool->done_async);
    /* Right after the loop wakes, before any watcher of this iteration runs, so a
     * connection whose next request woke the loop is back in the loop's hands first. */
    ev_check_init(&pool->collect, collect_cb);
    ev_set_priority(&pool->collect, EV_MAXPRI);
    pool->collect.data = worker;
    ev_check_start(worker->loop, &pool->collect);
    ev_timer_init(&pool->collect_timer, collect_timer_cb, COLLECT_INTERVAL, COLLECT_INTERVAL);
    ev_prepare_init(&pool->flush, flush_batch);
    pool->flush.data = worker;
    ev_prepare_start(worker->loop, &pool->flush);
    if (worker->config->start_task) {
        tasks_start(worker);
        return 0;
    }
    pool->threads = calloc(count, sizeof *pool->threads);
    if (!pool->threads) return -1;
    for (uint32_t i = 0; i < count; i++) {
        int failed = pthread_create(&pool->threads[i], NULL, app_thread, worker);
        if (failed) {
            pool_stop(worker);
            errno = failed;
            return -1;
        }
        pool->thread_count++;
    }
    return 0;
}

/* Requests waiting for a thread, counting this iteration's batch (loop thread). */
uint32_t pool_waiting(const rv_worker *worker) {
    return atomic_load_explicit(&worker->pool.pending, memory_order_relaxed) +
           worker->pool.batch_count;
}

/* Tasks mode: requests dispatched beyond --max-inflight (this iteration's batch and those
 * waiting for a slot). */
static uint32_t tasks_beyond_limit(const rv_worker *worker) {
    uint32_t in_flight = worker->pool.in_flight, max_inflight = worker->config->max_inflight;
    return in_flight > max_inflight ? in_flight - max_inflight : 0;
}

int pool_dispatch(rv_worker *worker, rv_conn *conn) {
    rv_pool *pool = &worker->pool;
    uint32_t max_pending = worker->config->max_pending;
    if (max_pending > 0 &&
        (worker->config->start_task ? tasks_beyond_limit(worker) : pool_waiting(worker)) >= max_pending)
        return -1;
    conn->next = NULL;
    if (pool->batch_tail) pool->batch_tail->next = conn;
    else pool->batch_head = conn;
    pool->batch_tail = conn;
    pool->batch_count++;
    pool->in_flight++;
    return 0;
}

/* Lets the threads finish what is queued, then joins them. */
void pool_stop(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    uint32_t wake = pool->idle;
    pool->idle = 0;
    pthread_mutex_unlock(&pool->lock);
    while (wake--) sem_post(&pool->wake);
    for (uint32_t i = 0; i < pool->thread_count; i++) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pool->threads = NULL;
    pool->thread_count = 0;
}
