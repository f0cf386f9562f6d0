/*
 * The default patdnn thread pool (see patdnn_pool.h): pthreads and C11 atomics, no
 * OpenMP. The caller of parallel_for works too. As in pthreadpool, each thread owns a
 * contiguous range of the tasks (thread t of T: [t*n/T, (t+1)*n/T)), runs it from the
 * front, and then steals from the back of the others' ranges, so threads that finish
 * early take more. The compiled layers number their tasks so that neighbouring tasks
 * touch neighbouring data; owning the same share of every layer, a thread mostly reads
 * what it wrote itself in the layer before, from its own cache. Against one shared
 * counter, 2 threads, MobileNet-V2 and ResNet-50: 1.02-1.03x on a quiet machine, 1.10-1.26x
 * with the cores oversubscribed.
 *
 * A job is published under a sequence number (a seqlock: odd while the caller writes
 * it), and every range carries the job's number beside its bounds: a thread claims task
 * i of job j only while a range still reads (j, start, end) with i at its start (its
 * owner) or end - 1 (a thief). So a worker that was descheduled, or is still on its way
 * in, can never take a task of a later job (unless 2^28 jobs ran meanwhile), and
 * parallel_for returns as soon as every task has run: it never waits for idle workers to
 * come and go. A job of more than 2^18 tasks runs as several jobs in a row. Workers spin briefly for the
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

/* A thread's range of the current job: (job << 36) | (start << 18) | end, on a line of
   its own. */
#define JOB_BITS 28
#define IDX_BITS 18
#define IDX_MASK ((UINT64_C(1) << IDX_BITS) - 1)
#define JOB_MASK ((UINT64_C(1) << JOB_BITS) - 1)
typedef struct range {
    _Alignas(PATDNN_LINE) _Atomic uint64_t bounds;
} range;

static uint64_t pack(uint64_t job, uint64_t start, uint64_t end) {
    return ((job & JOB_MASK) << (2 * IDX_BITS)) | (start << IDX_BITS) | end;
}

struct default_pool;
/* What a worker thread is started with: its pool and its index (the caller is 0). */
typedef struct seat {
    struct default_pool *pool;
    int id;
} seat;
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
    atomic_size_t first; /* the task index of the job's task 0 (a large job's chunk) */
    _Alignas(PATDNN_LINE) atomic_size_t finished;
    range *ranges; /* one a thread */
    seat *seats;   /* one a thread */
} default_pool;

/* A job as a thread read it: tasks first .. first + count - 1 of `task`. */
typedef struct job_args {
    patdnn_task_fn task;
    void *context;
    size_t first;
    size_t count;
} job_args;

/* Runs task `i` of a job and counts it; 1 when it was the job's last. */
static int run_one(default_pool *p, const job_args *a, size_t i) {
    a->task(a->context, a->first + i);
    size_t done = atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel) + 1;
    if (done == a->count) {
        pthread_mutex_lock(&p->mutex);
        if (p->caller_waits) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mutex);
        return 1;
    }
    return 0;
}

/* Thread `id` runs its own range of job `job` from the front, then steals from the
   back of the others' ranges, until none of the job's tasks is left. */
static void run_tasks(default_pool *p, int id, uint64_t job, const job_args *a) {
    PATDNN_POOL_LATE();
    job &= JOB_MASK;
    _Atomic uint64_t *own = &p->ranges[id].bounds;
    uint64_t seen = atomic_load_explicit(own, memory_order_relaxed);
    for (;;) {
        uint64_t s = (seen >> IDX_BITS) & IDX_MASK, e = seen & IDX_MASK;
        if (seen >> (2 * IDX_BITS) != job || s >= e) break;
        if (!atomic_compare_exchange_weak_explicit(own, &seen, pack(job, s + 1, e),
                                                   memory_order_acquire, memory_order_relaxed))
            continue;
        if (run_one(p, a, (size_t)s)) return;
        seen = atomic_load_explicit(own, memory_order_relaxed);
    }
    for (int k = 1; k < p->threads; k++) {
        _Atomic uint64_t *other = &p->ranges[(id + k) % p->threads].bounds;
        seen = atomic_load_explicit(other, memory_order_relaxed);
        for (;;) {
            uint64_t s = (seen >> IDX_BITS) & IDX_MASK, e = seen & IDX_MASK;
            if (seen >> (2 * IDX_BITS) != job || s >= e) break;
            if (!atomic_compare_exchange_weak_explicit(other, &seen, pack(job, s, e - 1),
                                                       memory_order_acquire, memory_order_relaxed))
                continue;
            if (run_one(p, a, (size_t)(e - 1))) return;
            seen = atomic_load_explicit(other, memory_order_relaxed);
        }
    }
}

static void *worker(void *arg) {
    seat *me = arg;
    default_pool *p = me->pool;
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
        job_args a = {atomic_load_explicit(&p->task, memory_order_relaxed),
                      atomic_load_explicit(&p->task_context, memory_order_relaxed),
                      atomic_load_explicit(&p->first, memory_order_relaxed),
                      atomic_load_explicit(&p->count, memory_order_relaxed)};
        PATDNN_POOL_LATE();
        atomic_thread_fence(memory_order_acquire);
        seen = atomic_load_explicit(&p->sequence, memory_order_relaxed);
        if (seen != sequence) continue;
        run_tasks(p, me->id, sequence >> 1, &a);
    }
}

/* Runs tasks first .. first + count - 1 (count <= IDX_MASK) on the pool's threads. */
static void run_job(default_pool *p, patdnn_task_fn task, void *task_context, size_t first,
                    size_t count) {
    /* Publish the job: sequence odd, the job, its ranges, sequence even. */
    unsigned long sequence = atomic_load_explicit(&p->sequence, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->sequence, sequence, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&p->task, task, memory_order_relaxed);
    atomic_store_explicit(&p->task_context, task_context, memory_order_relaxed);
    atomic_store_explicit(&p->first, first, memory_order_relaxed);
    atomic_store_explicit(&p->count, count, memory_order_relaxed);
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    uint64_t job = (sequence + 1) >> 1;
    uint64_t threads = (uint64_t)p->threads;
    for (uint64_t t = 0; t < threads; t++) {
        uint64_t start = count * t / threads, end = count * (t + 1) / threads;
        atomic_store_explicit(&p->ranges[t].bounds, pack(job, start, end), memory_order_release);
    }
    atomic_store(&p->sequence, sequence + 1); /* seq_cst: against `sleepers` below */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }

    job_args a = {task, task_context, first, count};
    run_tasks(p, 0, job, &a);

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

static void parallel_for(void *context, patdnn_task_fn task, void *task_context, size_t count) {
    default_pool *p = context;
    if (p->threads == 1 || count <= 1) {
        for (size_t i = 0; i < count; i++) task(task_context, i);
        return;
    }
    for (size_t first = 0; first < count; first += IDX_MASK) {
        size_t rest = count - first;
        run_job(p, task, task_context, first, rest < IDX_MASK ? rest : IDX_MASK);
    }
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
    atomic_init(&p->first, 0);
    atomic_init(&p->count, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->finished, 0);
    p->workers = calloc((size_t)num_threads, sizeof *p->workers);
    p->seats = calloc((size_t)num_threads, sizeof *p->seats);
    p->ranges = aligned_alloc(PATDNN_LINE, (size_t)num_threads * sizeof *p->ranges);
    if (p->workers == NULL || p->seats == NULL || p->ranges == NULL) {
        free(p->workers); free(p->seats); free(p->ranges);
        free(p);
        return NULL;
    }
    for (int i = 0; i < num_threads; i++) atomic_init(&p->ranges[i].bounds, 0);
    for (int i = 0; i < num_threads - 1; i++) {
        p->seats[i + 1].pool = p; p->seats[i + 1].id = i + 1;
        if (pthread_create(&p->workers[i], NULL, worker, &p->seats[i + 1]) != 0) {
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
    free(p->seats);
    free(p->ranges);
    free(p);
}
