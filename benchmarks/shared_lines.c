/*
 * What it costs a core to write cache lines that the other core has read: the pattern
 * of a layer whose output buffer takes the bytes of a buffer that a layer mixing every
 * channel (a 1x1 convolution split by output channels) read on every thread.
 *
 * Two threads, pinned to cores 0 and 1, share a buffer of `KIB` KiB (default 294: the
 * 384 x 14 x 14 floats of a MobileNet-V2 block's depthwise output). A round: each thread
 * reads the buffer (its own half, or all of it), both meet at a barrier, then each
 * writes its own half, timed. The modes:
 *   own    each thread read only its own half: its lines are in its cache alone;
 *   shared each thread read all of it: every line is also in the other core's cache;
 *   evict  as shared, then each thread streams 2 MiB of its own data (more than an L2)
 *          before the writes.
 * Prints the median time of a half's writes per mode and per line.
 *
 *   cc -O2 -pthread benchmarks/shared_lines.c -o /tmp/shared_lines && /tmp/shared_lines [KIB]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 600, WARMUP = 100, LINE_FLOATS = 16, EVICT_FLOATS = (2 << 20) / 4 };

static float *buffer, *other[2];
static size_t floats;
static int mode;
static double times[ROUNDS];
static atomic_int arrived, generation;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void barrier(void) {
    int g = atomic_load(&generation);
    if (atomic_fetch_add(&arrived, 1) == 1) {
        atomic_store(&arrived, 0);
        atomic_fetch_add(&generation, 1);
    } else {
        while (atomic_load(&generation) == g) {
        }
    }
}

static void *run(void *arg) {
    int id = (int)(long)arg;
    cpu_set_t cores;
    CPU_ZERO(&cores);
    CPU_SET(id, &cores);
    pthread_setaffinity_np(pthread_self(), sizeof cores, &cores);
    size_t half = floats / 2, lo = id * half, hi = lo + half;
    volatile float sink = 0;
    for (int r = 0; r < ROUNDS; r++) {
        barrier();
        size_t from = mode == 0 ? lo : 0, to = mode == 0 ? hi : floats;
        float acc = 0;
        for (size_t i = from; i < to; i += LINE_FLOATS) acc += buffer[i];
        if (mode == 2)
            for (size_t i = 0; i < EVICT_FLOATS; i += LINE_FLOATS) other[id][i] += 1.0f;
        sink = acc;
        barrier();
        double start = now();
        for (size_t i = lo; i < hi; i++) buffer[i] = (float)r;
        if (id == 0) times[r] = now() - start;
        barrier();
    }
    (void)sink;
    return NULL;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t kib = argc > 1 ? (size_t)atol(argv[1]) : 294;
    floats = kib * 1024 / 4 / (2 * LINE_FLOATS) * (2 * LINE_FLOATS);
    buffer = aligned_alloc(64, floats * 4);
    for (int t = 0; t < 2; t++) {
        other[t] = aligned_alloc(64, EVICT_FLOATS * 4);
        memset(other[t], 0, EVICT_FLOATS * 4);
    }
    if (buffer == NULL || other[0] == NULL || other[1] == NULL || floats == 0) {
        fprintf(stderr, "shared_lines: out of memory or an empty buffer\n");
        return 1;
    }
    memset(buffer, 0, floats * 4);
    const char *names[] = {"own", "shared", "evict"};
    for (mode = 0; mode < 3; mode++) {
        pthread_t worker;
        if (pthread_create(&worker, NULL, run, (void *)1L) != 0) {
            fprintf(stderr, "shared_lines: cannot start a thread\n");
            return 1;
        }
        run((void *)0L);
        pthread_join(worker, NULL);
        qsort(times + WARMUP, ROUNDS - WARMUP, sizeof times[0], compare);
        double median = times[WARMUP + (ROUNDS - WARMUP) / 2];
        size_t lines = floats / 2 / LINE_FLOATS;
        printf("%-6s: %zu KiB written by one thread in %8.2f us, %6.1f ns a line\n",
               names[mode], floats * 2 / 1024, median * 1e6, median * 1e9 / (double)lines);
    }
    return 0;
}
