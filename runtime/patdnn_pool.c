/*
 * The default patdnn thread pool (see patdnn_pool.h): pthreads and C11 atomics, no
 * OpenMP. The caller of parallel_for works too; tasks are handed out by an atomic
 * counter, so threads that finish early take more.
 *
 * A job is published under a sequence number (a seqlock: odd while the caller writes
 * it), and the counter that hands out its tasks carries the job's number in its high
 * half: a thread claims task i of job j only while the counter still reads (j, i) with
 * i below the job's count. So a worker that was descheduled, or is still on its way in,
 * can never take a task of a later job, and parallel_for returns as soon as every task
 * has run: it never waits for idle workers to come and go. Workers spin briefly for the
 * next layer before sleeping on a condition variable, since layers follow each other
 * within microseconds.
 *
 * Host:    cc -O2 -shared -fPIC -pthread patdnn_pool.c -o libpatdnn_pool.so
 * aarch64: aarch64-linux-gnu-gcc -O2 -static -pthread app.c patdnn_pool.c model.o
 */
#define _POSIX_C_SOURCE 200809L

#include "patdnn_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define PATDNN_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define PATDNN_RELAX() __asm__ __volatile__("yield")
#else
#define PATDNN_RELAX() ((void)0)
#endif

/* Spin iterations before a thread sleeps (a few hundred microseconds). */
#define PATDNN_SPIN 20000

/* A hook between a worker's reading of a job and its claims (tests make it yield the
   CPU there, so that workers often arrive after their job is over). */
#ifndef PATDNN_POOL_LATE
#define PATDNN_POOL_LATE() ((void)0)
#endif

/* Keeps the counters that threads write on their own cache lines. */
#define PATDNN_LINE 64

typedef struct default_pool {
    patdnn_pool pool; /* first: a default_pool * is a patdnn_pool * */
    int threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    int stop;          /* under the mutex */
    int caller_waits;  /* under the mutex: the caller sleeps on `done` */
    /* The current job: written by the caller while `sequence` is odd. */
    _Alignas(PATDNN_LINE) atomic_ulong sequence;
    _Atomic(patdnn_task_fn) task;
    _Atomic(void *) task_context;
    atomic_size_t count;
    atomic_int sleepers; /* workers asleep on `wake`, or about to be */
    /* (job << 32) | next task index. */
    _Alignas(PATDNN_LINE) _Atomic uint64_t next;
    _Alignas(PATDNN_LINE) atomic_size_t finished;
} default_pool;

/* Claims and runs tasks of job `job` (whose count is `count`) until none is left. */
static void run_tasks(default_pool *p, uint64_t job, patdnn_task_fn task, void *context,
                      size_t count) {
    PATDNN_POOL_LATE();
    uint64_t seen = atomic_load_explicit(&p->next, memory_order_relaxed);
    for (;;) {
        if (seen >> 32 != job || (seen & 0xffffffffu) >= count) return;
        if (!atomic_compare_exchange_weak_explicit(&p->next, &seen, seen + 1,
                                                   memory_order_acquire, memory_order_relaxed))
            continue;
        task(context, (size_t)(seen & 0xffffffffu));
        size_t done = atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1;
        if (done == count) {
            /* The last task: wake the caller if it went to sleep. */
            pthread_mutex_lock(&p->mutex);
            if (p->caller_waits) pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mutex);
            return;
        }
        seen = atomic_load_explicit(&p->next, memory_order_relaxed);
    }
}

static void *worker(void *arg) {
    default_pool *p = arg;
    unsigned long seen = 0;
    for (;;) {
        unsigned long sequence = 0;
        for (int k = 0; k < PATDNN_SPIN; k++) {
            sequence = atomic_load_explicit(&p->sequence, memory_order_acquire);
            if (sequence != seen && !(sequence & 1)) break;
            PATDNN_RELAX();
        }
        if (sequence == seen || (sequence & 1)) {
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            for (;;) {
                sequence = atomic_load(&p->sequence);
                if ((sequence != seen && !(sequence & 1)) || p->stop) break;
                pthread_cond_wait(&p->wake, &p->mutex);
            }
            atomic_fetch_sub(&p->sleepers, 1);
            int stop = p->stop;
            pthread_mutex_unlock(&p->mutex);
            if (stop) return NULL;
        }
        /* Read the job, and keep it only if the caller did not start another meanwhile. */
        patdnn_task_fn task = atomic_load_explicit(&p->task, memory_order_relaxed);
        void *context = atomic_load_explicit(&p->task_context, memory_order_relaxed);
        size_t count = atomic_load_explicit(&p->count, memory_order_relaxed);
        PATDNN_POOL_LATE();
        atomic_thread_fence(memory_order_acquire);
        seen = atomic_load_explicit(&p->sequence, memory_order_relaxed);
        if (seen != sequence) continue;
        run_tasks(p, sequence >> 1, task, context, count);
    }
}

static void parallel_for(void *context, patdnn_task_fn task, void *task_context, size_t count) {
    default_pool *p = context;
    if (p->threads == 1 || count <= 1 || count > 0xffffffffu) {
        for (size_t i = 0; i < count; i++) task(task_context, i);
        return;
    }
    /* Publish the job: sequence odd, the job, its counter, sequence even. */
    unsigned long sequence = atomic_load_explicit(&p->sequence, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->sequence, sequence, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->task, task, memory_order_relaxed);
    atomic_store_explicit(&p->task_context, task_context, memory_order_relaxed);
    atomic_store_explicit(&p->count, count, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    uint64_t job = (sequence + 1) >> 1;
    atomic_store_explicit(&p->next, job << 32, memory_order_release);
    atomic_store(&p->sequence, sequence + 1); /* seq_cst: against `sleepers` below */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }

    run_tasks(p, job, task, task_context, count);

    for (int k = 0; k < PATDNN_SPIN; k++) {
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == count) return;
        PATDNN_RELAX();
    }
    pthread_mutex_lock(&p->mutex);
    p->caller_waits = 1;
    while (atomic_load(&p->finished) < count) pthread_cond_wait(&p->done, &p->mutex);
    p->caller_waits = 0;
    pthread_mutex_unlock(&p->mutex);
}

patdnn_pool *patdnn_pool_create(int num_threads) {
    if (num_threads < 1) return NULL;
    default_pool *p = calloc(1, sizeof *p);
    if (p == NULL) return NULL;
    p->pool.parallel_for = parallel_for;
    p->pool.context = p;
    p->threads = num_threads;
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->sequence, 0);
    atomic_init(&p->task, NULL);
    atomic_init(&p->task_context, NULL);
    atomic_init(&p->count, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->finished, 0);
    p->workers = calloc((size_t)num_threads, sizeof *p->workers);
    if (p->workers == NULL) {
        free(p);
        return NULL;
    }
    for (int i = 0; i < num_threads - 1; i++) {
        if (pthread_create(&p->workers[i], NULL, worker, p) != 0) {
            p->threads = i + 1;
            patdnn_pool_destroy(&p->pool);
            return NULL;
        }
    }
    return &p->pool;
}

int patdnn_pool_threads(const patdnn_pool *pool) {
    return ((const default_pool *)pool)->threads;
}

void patdnn_pool_destroy(patdnn_pool *pool) {
    if (pool == NULL) return;
    default_pool *p = (default_pool *)pool;
    pthread_mutex_lock(&p->mutex);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 0; i < p->threads - 1; i++) pthread_join(p->workers[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mutex);
    free(p->workers);
    free(p);
}
