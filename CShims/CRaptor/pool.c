/*
 * pool.c: the app threads. The loop appends a complete request to the dispatch queue
 * (one mutex, one condition variable); a thread takes it, runs the handler, which
 * writes its own response, and hands the connection back through the completion list.
 * The loop learns of completions through one ev_async, which libev coalesces: one
 * wake-up drains every completion that arrived meanwhile.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine.h"

static void drain_completions(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    rv_pool *pool = &worker->pool;
    pthread_mutex_lock(&pool->done_lock);
    rv_conn *conn = pool->done_head;
    pool->done_head = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->done_lock);
    while (conn) {
        rv_conn *next = conn->next;
        conn->next = NULL;
        conn_after_handler(conn);
        conn = next;
    }
    worker_update_accepting(worker);
}

static void hand_back(rv_worker *worker, rv_conn *conn) {
    rv_pool *pool = &worker->pool;
    pthread_mutex_lock(&pool->done_lock);
    conn->next = NULL;
    if (pool->done_tail) pool->done_tail->next = conn;
    else pool->done_head = conn;
    pool->done_tail = conn;
    pthread_mutex_unlock(&pool->done_lock);
    ev_async_send(worker->loop, &pool->done_async);
}

static void *app_thread(void *argument) {
    rv_worker *worker = argument;
    rv_pool *pool = &worker->pool;
    const rv_worker_config *config = worker->config;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (!pool->queue_head && !pool->stopping) pthread_cond_wait(&pool->wake, &pool->lock);
        rv_conn *conn = pool->queue_head;
        if (!conn) { /* stopping, and the queue is drained */
            pthread_mutex_unlock(&pool->lock);
            return NULL;
        }
        pool->queue_head = conn->next;
        if (!pool->queue_head) pool->queue_tail = NULL;
        pool->pending--;
        rv_stats_set(worker->stats, RV_STAT_BACKLOG, pool->pending);
        pthread_mutex_unlock(&pool->lock);

        STAT_ADD(worker, RV_STAT_BUSY_THREADS, 1);
        config->handler(conn, config->handler_context);
        respond_ensure_finished(conn);
        STAT_ADD(worker, RV_STAT_BUSY_THREADS, -1);
        hand_back(worker, conn);
    }
}

int pool_start(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    uint32_t count = worker->config->threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_mutex_init(&pool->done_lock, NULL);
    ev_async_init(&pool->done_async, drain_completions);
    pool->done_async.data = worker;
    ev_async_start(worker->loop, &pool->done_async);
    if (count == 0) return 0;
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

void pool_dispatch(rv_worker *worker, rv_conn *conn) {
    rv_pool *pool = &worker->pool;
    uint32_t max_pending = worker->config->max_pending;
    if (max_pending > 0 && pool->pending >= max_pending) {
        /* Load shedding: a quick, honest 503 beats a request that waits for minutes. */
        STAT_ADD(worker, RV_STAT_SHED_503, 1);
        respond_error(conn, 503);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    conn->next = NULL;
    if (pool->queue_tail) pool->queue_tail->next = conn;
    else pool->queue_head = conn;
    pool->queue_tail = conn;
    pool->pending++;
    rv_stats_set(worker->stats, RV_STAT_BACKLOG, pool->pending);
    pthread_cond_signal(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    worker_update_accepting(worker);
}

/* Lets the threads finish what is queued, then joins them. */
void pool_stop(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (uint32_t i = 0; i < pool->thread_count; i++) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    pool->threads = NULL;
    pool->thread_count = 0;
}
