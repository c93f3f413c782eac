/*
 * engine.c: one worker's life. Makes its own libev loop (ev_loop_new: the default loop
 * would install a SIGCHLD reaper that steals the master's waitpid results), accepts
 * with backpressure (and answers 503 at the descriptor limit), ticks once per second (the
 * heartbeat), and stops gracefully on SIGTERM/SIGINT or rv_worker_request_stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "h2.h"

/* The running worker, for rv_worker_request_stop (one worker per process). */
static rv_worker *_Atomic running_worker;

static void start_listeners(rv_worker *worker) {
    if (worker->listening) return;
    for (int i = 0; i < worker->config->listen_count; i++)
        ev_io_start(worker->loop, &worker->listeners[i]);
    worker->listening = 1;
}

static void stop_listeners(rv_worker *worker) {
    if (!worker->listening) return;
    for (int i = 0; i < worker->config->listen_count; i++)
        ev_io_stop(worker->loop, &worker->listeners[i]);
    worker->listening = 0;
}

/* Accepting follows backpressure: while many requests wait for an app thread (or, with
 * async handlers, --max-inflight are out), leave new connections in the kernel's queue,
 * where another worker (or this one, later) takes them. */
void worker_update_accepting(rv_worker *worker) {
    if (atomic_load_explicit(&worker->stopping, memory_order_relaxed) ||
        ev_is_active(&worker->accept_retry)) {
        stop_listeners(worker);
        return;
    }
    const rv_worker_config *config = worker->config;
    uint32_t threshold = config->accept_pause_backlog;
    int overloaded = config->start_task ? worker->pool.in_flight >= config->max_inflight
                                        : config->threads > 0 && threshold > 0 &&
                                              pool_waiting(worker) >= threshold;
    if (overloaded && !worker->accept_paused) {
        worker->accept_paused = 1;
        STAT_ADD(worker, RV_STAT_ACCEPT_PAUSES, 1);
        stop_listeners(worker);
    } else if (!overloaded) {
        worker->accept_paused = 0;
        start_listeners(worker);
    }
}

/* ---- out of descriptors ----
 * At the descriptor limit (EMFILE, or ENFILE system-wide) accept4 fails while the
 * listener stays readable, and the connections in its queue would wait unanswered until
 * some descriptor is freed. One descriptor is kept in reserve for them: given back for a
 * moment, it lets the worker take one waiting connection, answer it 503 and close it, then
 * it is taken again. The answer is prebuilt but for its Date: nothing to allocate, no
 * descriptor to linger with (what the client already sent is drained first, so the close
 * sends a FIN, not a reset that could destroy the answer). A TLS client, whose ClientHello
 * is what waits, cannot read an HTTP answer: it gets a fatal internal_error alert instead
 * (RFC 8446 6.2; an alert before the handshake travels in the clear), which its library
 * reports as the server's, not as a protocol error of the connection. */

static int open_reserve(void) { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

static void answer_out_of_descriptors(rv_worker *worker, int fd, int tls) {
    static const char status[] = "HTTP/1.1 503 Service Unavailable\r\nDate: ";
    static const char rest[] = "\r\nContent-Type: text/plain; charset=utf-8\r\n"
                               "Retry-After: 1\r\nContent-Length: 20\r\nConnection: close\r\n"
                               "\r\nService Unavailable\n";
    /* TLS record: alert (21), TLS 1.2 record version, 2 bytes: fatal (2), internal_error (80) */
    static const char alert[] = {21, 3, 3, 0, 2, 2, 80};
    char date[29], scratch[4096];
    for (int reads = 0; reads < 16 && recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; reads++) {
    }
    struct iovec parts[3] = {{(void *)status, sizeof status - 1},
                             {date, sizeof date},
                             {(void *)rest, sizeof rest - 1}};
    struct msghdr message = {.msg_iov = parts, .msg_iovlen = 3};
    if (tls) {
        parts[0] = (struct iovec){(void *)alert, sizeof alert};
        message.msg_iovlen = 1;
    } else {
        date_copy(date);
        STAT_ADD(worker, RV_STAT_RESPONSES_5XX, 1);
    }
    ssize_t sent = sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent > 0) STAT_ADD(worker, RV_STAT_BYTES_WRITTEN, sent);
    STAT_ADD(worker, RV_STAT_FD_LIMIT_503, 1);
    if (!worker->fd_limit_reported && worker->config->fd_limit_reached) {
        worker->fd_limit_reported = 1;
        worker->config->fd_limit_reached(worker->config->fd_limit_context);
    }
}

/* After accept4 failed with EMFILE or ENFILE: 1 when a waiting connection was answered
 * (or vanished), 0 when none waited, -1 when the reserve could not help (it is gone, or
 * another thread took the descriptor it freed). */
static int refuse_with_reserve(rv_worker *worker, const ev_io *listener) {
    if (worker->reserve_fd < 0) return -1;
    close(worker->reserve_fd);
    int fd = accept4(listener->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    int failure = errno;
    if (fd >= 0) {
        const rv_worker_config *config = worker->config;
        answer_out_of_descriptors(worker, fd, config->listen_tls && config->listen_tls[listener - worker->listeners]);
        close(fd);
    }
    worker->reserve_fd = open_reserve();
    if (fd >= 0 || failure == ECONNABORTED || failure == EINTR) return 1;
    return failure == EAGAIN ? 0 : -1;
}

/* Takes one connection waiting on `listener`: 1 when it did, 0 when none waits (another
 * worker or thread took it), -1 when accept4 failed otherwise (errno says why). */
static int accept_waiting(rv_worker *worker, ev_io *listener) {
    for (;;) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        int fd = accept4(listener->fd, (struct sockaddr *)&peer, &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        const rv_worker_config *config = worker->config;
        ptrdiff_t index = listener - worker->listeners;
        conn_accepted(worker, fd, &peer, peer_length,
                      config->listen_proxy ? (rv_proxy_mode)config->listen_proxy[index] : RV_PROXY_OFF,
                      config->listen_tls ? config->listen_tls[index] : NULL);
        return 1;
    }
}

/* One connection per readiness of the listener, as nginx does by default (multi_accept
 * off). A listener stays readable while connections wait, so the loop comes back to it
 * at its next iteration, after serving what else epoll reported: a flood of new
 * connections cannot starve the ones the worker has. And the accept4 that would only
 * have found the queue empty is never made: with clients that connect one at a time (a
 * new connection per request) that was 0.8 failing accept4 per request (perf stat), and
 * the worker's CPU per request went from 1.09x to 0.97x h2o's (docs/BENCHMARKS.md). Only an
 * accept that failed for a reason that leaves connections waiting is tried again. */
static void accept_cb(struct ev_loop *loop, ev_io *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    if (accept_waiting(worker, watcher) >= 0) return;
    int failure = errno;
    /* One answered (or none waited): the listener reports the rest. */
    if ((failure == EMFILE || failure == ENFILE) && refuse_with_reserve(worker, watcher) >= 0) return;
    if (failure == EMFILE || failure == ENFILE || failure == ENOBUFS || failure == ENOMEM) {
        /* No reserve, or out of memory: stop asking for 100 ms instead of spinning on a
         * listener that stays readable. */
        ev_timer_set(&worker->accept_retry, 0.1, 0.);
        ev_timer_start(worker->loop, &worker->accept_retry);
        stop_listeners(worker);
    }
}

static void accept_retry_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = timer->data;
    if (worker->reserve_fd < 0) worker->reserve_fd = open_reserve();
    worker_update_accepting(worker);
}

static void tick_cb(struct ev_loop *loop, ev_periodic *tick, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = tick->data;
    time_t now = time(NULL);
    rv_stats_set(worker->stats, RV_STAT_LAST_CHECKIN, (uint64_t)now);
    const rv_worker_config *config = worker->config;
    if (config->ticket_keys && rv_tls_ticket_keys_rotate_if_due(config->ticket_keys, now) && config->log_debug)
        config->log_debug("TLS session ticket key rotated", config->handler_context);
    conn_slim_idle(worker);
}

/* Drained: no connection left, and no request out on a thread or a task. An HTTP/2 stream
 * outlives its connection while its handler runs (h2_connection_closed): the worker's memory
 * must too, until the stream came back. */
void worker_check_drained(rv_worker *worker) {
    if (atomic_load(&worker->stopping) && worker->connections == 0 && worker->pool.in_flight == 0)
        ev_break(worker->loop, EVBREAK_ALL);
}

static void shutdown_timeout_cb(struct ev_loop *loop, ev_timer *timer, int revents) {
    (void)revents;
    /* Past the shutdown timeout: stop waiting for what is still open. */
    ((rv_worker *)timer->data)->forced_stop = 1;
    ev_break(loop, EVBREAK_ALL);
}

/* Connections waiting in a listener's queue when the stop begins have completed their
 * handshake, and their clients may have sent requests already: closing the listener would
 * reset them. One accept per readiness can leave several there (a client that reconnected
 * after its 1,000th keep-alive request, just before a TERM, lost its pipelined requests
 * that way). They are taken before the worker counts as stopping, so that one answered and
 * closed at once cannot end the loop (worker_check_drained) with the rest still queued;
 * then they drain like the others. A connection arriving after this still meets a closing
 * listener, as with any server. Bounded, so that a flood cannot hold the stop back; at
 * the descriptor limit they get the reserve's 503. */
#define STOP_TAKES_MAX 4096 /* a full queue at net.core.somaxconn's default */

static void take_waiting_connections(rv_worker *worker) {
    for (int i = 0; i < worker->config->listen_count; i++) {
        ev_io *listener = &worker->listeners[i];
        for (int taken = 0; taken < STOP_TAKES_MAX; taken++) {
            int result = accept_waiting(worker, listener);
            if (result < 0 && (errno == EMFILE || errno == ENFILE)) result = refuse_with_reserve(worker, listener);
            if (result <= 0) break;
        }
    }
}

/* Once the queue was taken, the worker lets go of its listening sockets: where no other
 * process holds one any more (a full stop, the master having closed its copies first, or
 * --single), the socket closes, and a client connecting from then on is refused, which it
 * can retry elsewhere, rather than accepted into a queue nobody reads and reset at exit
 * with its request unanswered. The descriptor numbers stay taken, on /dev/null, for their
 * owner to close (Server, or the exit). During a restart the master and the next worker
 * keep the socket open, and its epoll registration stays too (libev leaves a stopped
 * watcher's descriptor in the set, ev_epoll.c): the first new connection it reports makes
 * libev, failing to remove it under that number, rebuild its epoll set once. */
static void release_listeners(rv_worker *worker) {
    int placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (placeholder < 0) return; /* the sockets stay until the exit, as before */
    for (int i = 0; i < worker->config->listen_count; i++) dup3(placeholder, worker->listeners[i].fd, O_CLOEXEC);
    close(placeholder);
}

/* Graceful stop: no new connections; open ones go on being read, each answer from now on
 * says Connection: close, and a connection idle for the grace closes (conn.c, "a graceful
 * stop"); requests in flight and queued finish. Past the shutdown timeout, whatever is
 * still open is dropped. */
static void begin_stop(rv_worker *worker) {
    if (atomic_load(&worker->stopping)) return;
    take_waiting_connections(worker);
    atomic_store(&worker->stopping, 1);
    stop_listeners(worker);
    release_listeners(worker);
    ev_timer_stop(worker->loop, &worker->accept_retry);
    ev_timer_set(&worker->shutdown_timer, worker->config->shutdown_timeout, 0.);
    ev_timer_start(worker->loop, &worker->shutdown_timer);
    conn_stop_all(worker);
    worker_check_drained(worker);
}

static void signal_cb(struct ev_loop *loop, ev_signal *watcher, int revents) {
    (void)loop;
    (void)revents;
    begin_stop(watcher->data);
}

static void stop_async_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    begin_stop(watcher->data);
}

/* A stop asked before the loop ran (during a worker's boot hook, say). Set before the
 * running worker is looked up, and checked after rv_worker_run publishes itself, so
 * whatever the interleaving one of the two sides sees the other. */
static atomic_int stop_requested;

void rv_worker_request_stop(void) {
    atomic_store(&stop_requested, 1);
    rv_worker *worker = atomic_load(&running_worker);
    if (worker) ev_async_send(worker->loop, &worker->stop_async); /* async-signal-safe */
}

static void stop_signal_handler(int signal_number) {
    (void)signal_number;
    int saved = errno;
    rv_worker_request_stop();
    errno = saved;
}

/* The loop reads INT and TERM from a signalfd in the threads that block them; a thread
 * the embedding program started itself may not block them, and this handler turns a
 * signal delivered there into the same graceful stop instead of the default death. */
void rv_install_stop_signal_handlers(void) {
    struct sigaction action = {0};
    action.sa_handler = stop_signal_handler;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
}

int rv_stop_when_parent_dies(pid_t parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return -1;
    if (getppid() != parent) rv_worker_request_stop(); /* it died before prctl */
    return 0;
}

static void free_caches(rv_worker *worker) {
    while (worker->free_conns) {
        rv_conn *conn = worker->free_conns;
        worker->free_conns = conn->next;
        free(conn);
    }
    for (uint32_t i = 0; i < worker->free_buffer_count; i++) free(worker->free_buffers[i]);
    free(worker->free_buffers);
    for (uint32_t i = 0; i < worker->free_parser_count; i++) rv_parser_destroy(worker->free_parsers[i]);
    free(worker->free_parsers);
}

/* After a stop: drop stop signals that came meanwhile (a second SIGTERM must not kill the
 * embedding program after a graceful stop), then unblock them again. */
static void restore_signal_mask(const sigset_t *stop_signals, const sigset_t *previous_mask) {
    struct timespec no_wait = {0, 0};
    while (sigtimedwait(stop_signals, NULL, &no_wait) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, previous_mask, NULL);
}

/* A server's worker (in_process NULL) owns the process's stop signals: INT and TERM stop
 * it, SIGPIPE is ignored. A worker in a program that owns its signals (in_process.c)
 * touches none of that. */
int worker_run(const rv_worker_config *config, rv_in_process *in_process) {
    /* a vanished client is an error return, not a death */
    if (!in_process) signal(SIGPIPE, SIG_IGN);
    rv_worker *worker = calloc(1, sizeof *worker);
    if (!worker) return -1;
    worker->settings = *config;
    worker->config = &worker->settings;
    worker->stats = config->stats;
    worker->in_process = in_process;
    /* Signals arrive through a signalfd, and are blocked in this thread before the app
     * threads exist, so they inherit the mask: a SIGTERM never interrupts a handler's
     * system call (an inline handler runs on this very thread). */
    sigset_t stop_signals, previous_mask;
    sigemptyset(&stop_signals);
    if (!in_process) {
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
    }
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous_mask);
    if (!in_process) rv_install_stop_signal_handlers();
    worker->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV | (in_process ? 0 : EVFLAG_SIGNALFD));
    worker->listeners = calloc((size_t)(config->listen_count > 0 ? config->listen_count : 1),
                               sizeof *worker->listeners);
    worker->free_buffers = calloc(RV_POOLED, sizeof *worker->free_buffers);
    worker->free_parsers = calloc(RV_POOLED, sizeof *worker->free_parsers);
    if (!worker->loop || !worker->listeners || !worker->free_buffers || !worker->free_parsers) {
        pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
        if (worker->loop) ev_loop_destroy(worker->loop);
        free(worker->listeners);
        free_caches(worker);
        free(worker);
        errno = ENOMEM;
        return -1;
    }
    struct ev_loop *loop = worker->loop;
    worker->reserve_fd = open_reserve();

    for (int i = 0; i < config->listen_count; i++) {
        int fd = config->listen_fds[i];
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        ev_io_init(&worker->listeners[i], accept_cb, fd, EV_READ);
        worker->listeners[i].data = worker;
    }
    ev_init(&worker->accept_retry, accept_retry_cb);
    worker->accept_retry.data = worker;
    ev_periodic_init(&worker->tick, tick_cb, 0., 1., 0);
    worker->tick.data = worker;
    ev_periodic_start(loop, &worker->tick);
    ev_signal_init(&worker->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&worker->sigint, signal_cb, SIGINT);
    worker->sigterm.data = worker->sigint.data = worker;
    if (!in_process) {
        ev_signal_start(loop, &worker->sigterm);
        ev_signal_start(loop, &worker->sigint);
    }
    ev_async_init(&worker->stop_async, stop_async_cb);
    worker->stop_async.data = worker;
    ev_async_start(loop, &worker->stop_async);
    ev_init(&worker->shutdown_timer, shutdown_timeout_cb);
    worker->shutdown_timer.data = worker;
    conn_reading_init(worker);
    if (config->http2) h2_worker_start(worker);

    if (pool_start(worker) != 0) {
        int saved = errno;
        pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
        if (worker->reserve_fd >= 0) close(worker->reserve_fd);
        ev_loop_destroy(loop);
        free(worker->listeners);
        free_caches(worker);
        free(worker);
        errno = saved;
        return -1;
    }
    rv_stats_set(worker->stats, RV_STAT_THREAD_CAPACITY,
                 config->start_task ? config->max_inflight : config->threads);
    rv_stats_set(worker->stats, RV_STAT_LAST_CHECKIN, (uint64_t)time(NULL));
    rv_stats_set(worker->stats, RV_STAT_BOOTED, 1);
    start_listeners(worker);
    if (in_process) {
        in_process_serving(worker);
    } else {
        atomic_store(&running_worker, worker);
        /* A stop asked before now begins inside the loop: ev_run forgets an ev_break made
         * before it runs, so a drained worker would wait out the shutdown timeout. */
        if (atomic_exchange(&stop_requested, 0)) ev_async_send(loop, &worker->stop_async);
    }

    /* Signal watchers (in process: the adoption watcher) keep the loop alive; it ends by
     * ev_break once a stop has drained every connection or the shutdown timeout passed. */
    ev_run(loop, 0);

    if (in_process) {
        in_process_stopped(worker);
    } else {
        atomic_store(&running_worker, NULL);
        atomic_store(&stop_requested, 0);
    }
    if (worker->forced_stop) {
        /* Handlers still run on app threads and use the worker's memory: leave both to
         * the process exit that follows, rather than wait for a handler that hangs (in
         * process: to the program, told so). */
        return in_process ? 1 : 0;
    }
    pool_stop(worker);
    ev_loop_destroy(loop);
    restore_signal_mask(&stop_signals, &previous_mask);
    if (worker->reserve_fd >= 0) close(worker->reserve_fd);
    free_caches(worker);
    free(worker->listeners);
    free(worker);
    return 0;
}

int rv_worker_run(const rv_worker_config *config) { return worker_run(config, NULL); }

/* From any thread (in_process.c): the same graceful stop as SIGTERM, for this worker. */
void worker_request_stop(rv_worker *worker) { ev_async_send(worker->loop, &worker->stop_async); }
