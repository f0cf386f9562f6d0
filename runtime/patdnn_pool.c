/*
 * The default patdnn thread pool (see patdnn_pool.h): pthreads and C11 atomics, no
 * OpenMP. The caller of parallel_for works too; tasks are handed out by an atomic
 * counter, so threads that finish early take more. Workers spin briefly for the next
 * layer before sleeping on a condition variable, since layers follow each other within
 * microseconds.
 *
 * Host:    cc -O2 -shared -fPIC -pthread patdnn_pool.c -o libpatdnn_pool.so
 * aarch64: aarch64-linux-gnu-gcc -O2 -static -pthread app.c patdnn_pool.c model.o
 */
#define _POSIX_C_SOURCE 200809L

#include "patdnn_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define PATDNN_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define PATDNN_RELAX() __asm__ __volatile__("yield")
#else
#define PATDNN_RELAX() ((void)0)
#endif

/* Spin iterations before a thread sleeps (a few tens of microseconds). */
#define PATDNN_SPIN 20000

typedef struct default_pool {
    patdnn_pool pool; /* first: a default_pool * is a patdnn_pool * */
    int threads;
    pthread_t *workers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    pthread_cond_t done;
    /* The current job, set under the mutex. */
    patdnn_task_fn task;
    void *task_context;
    size_t count;
    int open;    /* workers may still join the job */
    int active;  /* workers inside the job */
    int stop;
    atomic_ulong generation;
    atomic_size_t next;
    atomic_size_t finished;
} default_pool;

static void run_tasks(default_pool *p, patdnn_task_fn task, void *context, size_t count) {
    for (;;) {
        size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= count) return;
        task(context, i);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

static void *worker(void *arg) {
    default_pool *p = arg;
    unsigned long seen = 0;
    for (;;) {
        for (int k = 0; k < PATDNN_SPIN; k++) {
            if (atomic_load_explicit(&p->generation, memory_order_acquire) != seen) break;
            PATDNN_RELAX();
        }
        pthread_mutex_lock(&p->mutex);
        while (atomic_load(&p->generation) == seen && !p->stop) pthread_cond_wait(&p->wake, &p->mutex);
        if (p->stop) {
            pthread_mutex_unlock(&p->mutex);
            return NULL;
        }
        seen = atomic_load(&p->generation);
        if (!p->open) {
            pthread_mutex_unlock(&p->mutex);
            continue;
        }
        p->active++;
        patdnn_task_fn task = p->task;
        void *context = p->task_context;
        size_t count = p->count;
        pthread_mutex_unlock(&p->mutex);

        run_tasks(p, task, context, count);

        pthread_mutex_lock(&p->mutex);
        if (--p->active == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mutex);
    }
}

static void parallel_for(void *context, patdnn_task_fn task, void *task_context, size_t count) {
    default_pool *p = context;
    if (p->threads == 1 || count <= 1) {
        for (size_t i = 0; i < count; i++) task(task_context, i);
        return;
    }
    pthread_mutex_lock(&p->mutex);
    p->task = task;
    p->task_context = task_context;
    p->count = count;
    p->open = 1;
    atomic_store(&p->next, 0);
    atomic_store(&p->finished, 0);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mutex);

    run_tasks(p, task, task_context, count);

    for (int k = 0; k < PATDNN_SPIN; k++) {
        if (atomic_load_explicit(&p->finished, memory_order_acquire) == count) break;
        PATDNN_RELAX();
    }
    pthread_mutex_lock(&p->mutex);
    while (atomic_load(&p->finished) < count || p->active > 0) pthread_cond_wait(&p->done, &p->mutex);
    p->open = 0;
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
    atomic_init(&p->generation, 0);
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
