/*
 * patdnn thread pools: the interface a compiled entry point runs its tasks on, and the
 * project's default pthread pool.
 *
 * An entry point `forward(..., const patdnn_pool *pool)` splits every layer into tasks
 * whose boundaries are fixed at compile time, and runs the layers one after the other:
 * for each one it calls `pool->parallel_for(pool->context, task, task_context, count)`,
 * which returns when all `count` tasks have run (the barrier between layers). With
 * pool == NULL it runs the tasks itself, one after the other. Any thread count gives
 * bitwise-identical outputs. Any pool fits (pthreadpool's pthreadpool_parallelize_1d,
 * an app's own): wrap it in a patdnn_pool.
 */
#ifndef PATDNN_POOL_H
#define PATDNN_POOL_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BEGIN PATDNN POOL ABI */
#ifndef PATDNN_POOL_ABI
#define PATDNN_POOL_ABI
/* One task: runs task `task_index` of a layer, whose arguments are `task_context`. */
typedef void (*patdnn_task_fn)(void *task_context, size_t task_index);

/* A thread pool. parallel_for(context, task, task_context, task_count) must call
   task(task_context, i) exactly once for every i in [0, task_count), on any threads and
   in any order, and return only when every call has returned. */
typedef struct patdnn_pool {
    void (*parallel_for)(void *context, patdnn_task_fn task, void *task_context,
                         size_t task_count);
    void *context;
} patdnn_pool;
#endif
/* END PATDNN POOL ABI */

/* The default pool: `num_threads` threads in all (the calling thread and
   num_threads - 1 workers); each runs its own contiguous share of a layer's tasks, then
   steals from the others'. NULL on failure (num_threads < 1, out of memory, or a thread
   that cannot start). One call of parallel_for at a time per pool. */
patdnn_pool *patdnn_pool_create(int num_threads);

/* The number of threads of a pool from patdnn_pool_create. */
int patdnn_pool_threads(const patdnn_pool *pool);

/* Stops the workers and frees a pool from patdnn_pool_create (NULL is allowed). */
void patdnn_pool_destroy(patdnn_pool *pool);

#ifdef __cplusplus
}
#endif

#endif /* PATDNN_POOL_H */
