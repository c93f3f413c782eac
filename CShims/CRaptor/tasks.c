/*
 * tasks.c: async handlers. In tasks mode (config->start_task) the loop starts each
 * complete request as a Swift task: the start function is called on the loop thread and
 * returns at once, the task runs on Swift's cooperative pool, writes its response through
 * rv_respond_* as an app thread does (what the socket does not take is left to the loop on
 * EV_WRITE), and hands the connection back through the pool's completion stack and
 * ev_async (rv_task_finished, pool.c). No app thread exists in this mode. An HTTP/2
 * stream's task answers into the stream's sink and hands it back as a pool thread does
 * (h2_start_task, rv_h2_task_finished: h2_stream.c); its streamed body waits for room in the
 * stream's buffer through the loop (rv_h2_wait_room, h2_respond.c).
 *
 * Dispatch is pool.c's: conn.c queues the request in the loop iteration's batch
 * (pool_dispatch), and before the loop waits the batch starts as tasks instead of being
 * handed to threads, so the engine's per-request path is the pool's, and tasks mode costs
 * the other modes nothing per request.
 *
 * Backpressure: at most --max-inflight tasks run at once; further requests wait here,
 * oldest first, and past --max-pending waiting they are shed (503, pool_dispatch). While
 * --max-inflight requests are out the worker stops accepting (worker_update_accepting), so other
 * workers take the new connections.
 *
 * Cancellation: a task runs with its client's input watched (the read watcher stays on while
 * a request is dispatched); when the client half-closed or closed (POLLRDHUP: the end of its
 * input; over TLS also a close_notify alert waiting in the socket), the task is cancelled
 * (config->release_task), so a handler awaiting something sees CancellationError. The
 * engine already treats the end of a client's input as "nothing can be answered any more".
 *
 * A streamed body never blocks a thread of the cooperative pool: a write the socket does
 * not take is kept (rv_respond_stream_begin_nowait), and the task waits for the loop to
 * send it (rv_conn_wait_writable): the connection comes to the loop through a lock-free
 * stack and an ev_async (only the loop thread calls libev), the loop watches EV_WRITE under
 * the write timeout, sends, and resumes the task, which owns the connection again.
 */
#include <poll.h>

#include "h2.h"
#include "transport.h"

static void start_task(rv_worker *worker, rv_conn *conn) {
    if (__builtin_expect(conn->h2_stream, 0)) { /* an HTTP/2 stream: its own entry and way back (h2_stream.c) */
        h2_start_task(conn);
        return;
    }
    STAT_ADD(worker, RV_STAT_BUSY_THREADS, 1);
    worker->config->start_task(conn, worker->config->handler_context);
}

/* Inlined into tasks_start_batch as it was before start_task learnt HTTP/2 streams (called
 * out of line it cost HTTP/1.1 11 instructions per request: callgrind). */
static inline __attribute__((always_inline)) void start_waiting(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    uint32_t waiting = atomic_load_explicit(&pool->tasks_waiting, memory_order_relaxed);
    if (waiting == 0) return;
    /* in_flight counts every request dispatched and not collected: running, waiting here,
     * and this iteration's batch (not started yet either) */
    while (waiting > 0 && pool->in_flight - waiting - pool->batch_count < worker->config->max_inflight) {
        rv_conn *conn = pool->tasks_waiting_head;
        pool->tasks_waiting_head = conn->next;
        if (!pool->tasks_waiting_head) pool->tasks_waiting_tail = NULL;
        conn->next = NULL;
        waiting--;
        atomic_store_explicit(&pool->tasks_waiting, waiting, memory_order_relaxed);
        start_task(worker, conn);
    }
    rv_stats_set(worker->stats, RV_STAT_BACKLOG, waiting);
}

void tasks_start_waiting(rv_worker *worker) { start_waiting(worker); }

void tasks_start_batch(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    if (pool->tasks_waiting_tail) pool->tasks_waiting_tail->next = pool->batch_head;
    else pool->tasks_waiting_head = pool->batch_head;
    pool->tasks_waiting_tail = pool->batch_tail;
    uint32_t waiting = atomic_load_explicit(&pool->tasks_waiting, memory_order_relaxed);
    atomic_store_explicit(&pool->tasks_waiting, waiting + pool->batch_count, memory_order_relaxed);
    pool->batch_head = pool->batch_tail = NULL;
    pool->batch_count = 0;
    start_waiting(worker);
    worker_update_accepting(worker);
}

/* Lets the request's task go (`cancel`: cancelled first), unless that was done already. */
void tasks_release(rv_conn *conn, int cancel) {
    void *task = atomic_exchange_explicit(&conn->task, NULL, memory_order_acq_rel);
    if (task) conn->worker->config->release_task(task, cancel);
}

void rv_task_attach(rv_conn *conn, void *task) {
    if (conn->worker->config->release_task) atomic_store_explicit(&conn->task, task, memory_order_release);
}

/* A TLS record of this type is an alert: from a client whose request is being answered, its
 * close_notify (the loop does not decrypt while the task owns the SSL object; the FIN behind
 * it may not have arrived yet). */
#define TLS_ALERT_RECORD 21

void tasks_check_client(rv_conn *conn) {
    if (!atomic_load_explicit(&conn->task, memory_order_relaxed)) return;
    struct pollfd peer = {.fd = conn->fd, .events = POLLIN | POLLRDHUP};
    int gone = poll(&peer, 1, 0) == 1 && (peer.revents & (POLLRDHUP | POLLHUP | POLLERR));
    uint8_t first;
    if (!gone && conn->tls && recv(conn->fd, &first, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
        gone = first == TLS_ALERT_RECORD;
    if (gone) tasks_release(conn, 1);
}

void rv_task_finished(rv_conn *conn) {
    rv_worker *worker = conn->worker;
    tasks_release(conn, 0);
    respond_ensure_finished(conn);
    STAT_ADD(worker, RV_STAT_BUSY_THREADS, -1);
    if (conn->body_stream) { /* the loop forgets the stream first, then collects */
        body_stream_task_finished(conn);
        return;
    }
    /* requests wait for this one's slot: the loop must start the next now */
    pool_hand_back(worker, conn, atomic_load_explicit(&worker->pool.tasks_waiting, memory_order_relaxed) > 0);
}

/* ---- a task waiting for writability ---- */

static void stop_waiting(rv_conn *conn, int result) {
    struct ev_loop *loop = conn->worker->loop;
    ev_io_stop(loop, &conn->writable);
    ev_timer_stop(loop, &conn->writable_timer);
    rv_writable_fn resume = conn->resume;
    void *context = conn->resume_context;
    conn->resume = NULL;
    conn->resume_context = NULL;
    resume(context, result); /* the connection is the task's again from here */
}

static void writable_cb(struct ev_loop *loop, ev_io *watcher, int revents) {
    (void)revents;
    rv_conn *conn = watcher->data;
    int flushed = respond_flush_pending(conn);
    if (flushed != 0) {
        stop_waiting(conn, flushed > 0 ? 0 : -1);
        return;
    }
    /* progress, or not: the write timeout counts from now; TLS may want the other way */
    ev_timer_again(loop, &conn->writable_timer);
    int events = transport_wait_events(conn, EV_WRITE);
    if (events != (watcher->events & (EV_READ | EV_WRITE))) {
        ev_io_stop(loop, watcher);
        ev_io_set(watcher, conn->fd, events);
        ev_io_start(loop, watcher);
    }
}

static void writable_timeout_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)loop;
    (void)revents;
    rv_conn *conn = timer->data;
    STAT_ADD(conn->worker, RV_STAT_TIMEOUTS, 1);
    stop_waiting(conn, -1);
}

static void writers_async_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)revents;
    rv_worker *worker = watcher->data;
    rv_conn *conn = atomic_exchange_explicit(&worker->pool.writers, NULL, memory_order_acquire);
    while (conn) {
        rv_conn *next = conn->next;
        conn->next = NULL;
        ev_io_init(&conn->writable, writable_cb, conn->fd, transport_wait_events(conn, EV_WRITE));
        conn->writable.data = conn;
        ev_init(&conn->writable_timer, writable_timeout_cb);
        conn->writable_timer.repeat = worker->config->write_timeout;
        conn->writable_timer.data = conn;
        ev_timer_again(loop, &conn->writable_timer);
        ev_io_start(loop, &conn->writable);
        conn = next;
    }
}

void rv_conn_wait_writable(rv_conn *conn, rv_writable_fn resume, void *context) {
    rv_worker *worker = conn->worker;
    rv_pool *pool = &worker->pool;
    conn->resume = resume;
    conn->resume_context = context;
    rv_conn *top = atomic_load_explicit(&pool->writers, memory_order_relaxed);
    do {
        conn->next = top;
    } while (!atomic_compare_exchange_weak_explicit(&pool->writers, &top, conn, memory_order_release,
                                                    memory_order_relaxed));
    ev_async_send(worker->loop, &pool->writers_async);
}

void tasks_start(rv_worker *worker) {
    rv_pool *pool = &worker->pool;
    atomic_init(&pool->tasks_waiting, 0);
    atomic_init(&pool->writers, NULL);
    ev_async_init(&pool->writers_async, writers_async_cb);
    pool->writers_async.data = worker;
    ev_async_start(worker->loop, &pool->writers_async);
    if (worker->config->stream_bodies) body_streams_start(worker);
}
