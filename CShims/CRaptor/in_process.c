/*
 * in_process.c: a worker run on a thread of a program that owns its signals (the test
 * client, RaptorTesting). The same loop, parser and response code as a server's worker
 * (engine.c's worker_run), with three differences, none of them on a request's path:
 * - no signal is touched process-wide: no INT/TERM handler or watcher, SIGPIPE blocked in
 *   the worker's own threads (writes to a vanished client return EPIPE) instead of ignored;
 * - it stops through its own handle (rv_worker_stop), so several run in one process;
 * - it serves connected sockets handed to it from other threads (rv_worker_adopt): the
 *   server's end of a socket pair, as if accepted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

struct rv_in_process {
    rv_worker_serving_fn serving;
    void *context;
    ev_async adopt_async;
    pthread_mutex_t lock; /* guards the fields below */
    int *adopted;         /* sockets handed over, not yet taken by the loop */
    uint32_t adopted_count, adopted_capacity;
    int closed; /* the loop ended: nothing more is adopted */
};

/* On the loop thread: the sockets handed over since the last time become connections. */
static void adopt_cb(struct ev_loop *loop, ev_async *watcher, int revents) {
    (void)loop;
    (void)revents;
    rv_worker *worker = watcher->data;
    rv_in_process *state = worker->in_process;
    pthread_mutex_lock(&state->lock);
    int *adopted = state->adopted;
    uint32_t count = state->adopted_count;
    state->adopted = NULL;
    state->adopted_count = state->adopted_capacity = 0;
    pthread_mutex_unlock(&state->lock);
    for (uint32_t i = 0; i < count; i++) {
        if (atomic_load(&worker->stopping)) {
            close(adopted[i]);
            continue;
        }
        struct sockaddr_storage peer = {.ss_family = AF_UNIX};
        socklen_t peer_length = sizeof peer;
        if (getpeername(adopted[i], (struct sockaddr *)&peer, &peer_length) != 0) {
            peer.ss_family = AF_UNIX; /* an unnamed peer, as from a Unix listener */
            peer_length = sizeof peer.ss_family;
        }
        conn_accepted(worker, adopted[i], &peer, peer_length, RV_PROXY_OFF, NULL);
    }
    free(adopted);
}

void in_process_serving(rv_worker *worker) {
    rv_in_process *state = worker->in_process;
    ev_async_init(&state->adopt_async, adopt_cb);
    state->adopt_async.data = worker;
    ev_async_start(worker->loop, &state->adopt_async);
    state->serving(worker, state->context);
}

void in_process_stopped(rv_worker *worker) {
    rv_in_process *state = worker->in_process;
    ev_async_stop(worker->loop, &state->adopt_async);
    pthread_mutex_lock(&state->lock);
    state->closed = 1;
    for (uint32_t i = 0; i < state->adopted_count; i++) close(state->adopted[i]);
    state->adopted_count = 0;
    pthread_mutex_unlock(&state->lock);
}

int rv_worker_adopt(rv_worker *worker, int fd) {
    rv_in_process *state = worker->in_process;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&state->lock);
    int failure = 0;
    if (state->closed || atomic_load(&worker->stopping)) {
        failure = ESHUTDOWN;
    } else if (state->adopted_count == state->adopted_capacity) {
        uint32_t capacity = state->adopted_capacity ? state->adopted_capacity * 2 : 8;
        int *grown = realloc(state->adopted, capacity * sizeof *grown);
        if (grown) {
            state->adopted = grown;
            state->adopted_capacity = capacity;
        } else {
            failure = ENOMEM;
        }
    }
    if (!failure) state->adopted[state->adopted_count++] = fd;
    pthread_mutex_unlock(&state->lock);
    if (failure) {
        close(fd);
        errno = failure;
        return -1;
    }
    ev_async_send(worker->loop, &state->adopt_async);
    return 0;
}

void rv_worker_stop(rv_worker *worker) { worker_request_stop(worker); }

int rv_worker_run_in_process(const rv_worker_config *config, rv_worker_serving_fn serving,
                             void *context) {
    rv_in_process state = {.serving = serving, .context = context};
    pthread_mutex_init(&state.lock, NULL);
    pthread_setname_np(pthread_self(), RV_IN_PROCESS_THREAD_NAME);
    /* Blocked before the app threads start, so they inherit it. */
    sigset_t pipe_signal, previous_mask;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, &previous_mask);
    int result = worker_run(config, &state);
    respond_thread_exit(); /* the loop thread wrote the responses of inline handlers */
    /* A SIGPIPE left pending by a write to a vanished client must not reach the program
     * once the mask is restored. */
    struct timespec no_wait = {0, 0};
    while (sigtimedwait(&pipe_signal, NULL, &no_wait) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &previous_mask, NULL);
    free(state.adopted);
    pthread_mutex_destroy(&state.lock);
    return result;
}
