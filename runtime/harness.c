/*
 * Generic harness for an entry point compiled by patdnn.
 *
 * Build with the generated header as "patdnn_model.h" and patdnn_pool.h on the include
 * path:
 *   cc -O2 -pthread -I<dir> harness.c patdnn_pool.c model.o -o model -lm
 * Run:
 *   ./model IN0.bin [IN1.bin ...] [WEIGHTS.bin] OUT0.bin [OUT1.bin ...]
 * Inputs and weights are read as raw bytes of exactly the expected sizes; outputs are
 * written as raw bytes. PATDNN_REPEAT=N in the environment runs the entry N times and
 * prints the time per run on stderr. PATDNN_THREADS=N runs a multi-threaded entry point on
 * the default pool of N threads (1 or unset: NULL, the calling thread alone).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patdnn_model.h"
#if PATDNN_HAS_POOL
#include "patdnn_pool.h"
#endif

#ifndef PATDNN_ENTRY
#error "patdnn_model.h does not describe an entry point (PATDNN_ENTRY is not defined)"
#endif

#define ALIGNMENT 64
#define MAX1(n) ((n) > 0 ? (n) : 1)

static void *alloc_aligned(size_t bytes) {
    size_t rounded = (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    void *p = aligned_alloc(ALIGNMENT, rounded > 0 ? rounded : ALIGNMENT);
    if (p == NULL) {
        fprintf(stderr, "patdnn harness: out of memory (%zu bytes)\n", bytes);
        exit(3);
    }
    memset(p, 0, rounded > 0 ? rounded : ALIGNMENT);
    return p;
}

static void *read_exact(const char *path, size_t bytes) {
    void *buffer = alloc_aligned(bytes);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "patdnn harness: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t got = fread(buffer, 1, bytes, f);
    int extra = fgetc(f);
    fclose(f);
    if (got != bytes || extra != EOF) {
        fprintf(stderr, "patdnn harness: %s must hold exactly %zu bytes\n", path, bytes);
        exit(2);
    }
    return buffer;
}

static void write_all(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "patdnn harness: cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    static const size_t input_bytes[MAX1(PATDNN_NUM_INPUTS)] = PATDNN_INPUT_BYTES;
    static const size_t output_bytes[MAX1(PATDNN_NUM_OUTPUTS)] = PATDNN_OUTPUT_BYTES;
    const int expected = PATDNN_NUM_INPUTS + PATDNN_HAS_WEIGHTS + PATDNN_NUM_OUTPUTS;
    if (argc != expected + 1) {
        fprintf(stderr, "usage: %s %d input file(s)%s %d output file(s) (entry %s)\n", argv[0],
                PATDNN_NUM_INPUTS, PATDNN_HAS_WEIGHTS ? ", the weights file," : ",",
                PATDNN_NUM_OUTPUTS, PATDNN_ENTRY_NAME);
        return 1;
    }

    void *in[MAX1(PATDNN_NUM_INPUTS)];
    void *out[MAX1(PATDNN_NUM_OUTPUTS)];
    void *w = NULL;
    int a = 1;
    for (int i = 0; i < PATDNN_NUM_INPUTS; i++) in[i] = read_exact(argv[a++], input_bytes[i]);
    if (PATDNN_HAS_WEIGHTS) w = read_exact(argv[a++], PATDNN_WEIGHTS_BYTES);
    for (int i = 0; i < PATDNN_NUM_OUTPUTS; i++) out[i] = alloc_aligned(output_bytes[i]);
    /* Scratch memory for the intermediate buffers, allocated once for every run. */
    void *ws = PATDNN_HAS_WORKSPACE ? alloc_aligned(PATDNN_WORKSPACE_BYTES) : NULL;
    (void)in;
    (void)w;
    (void)ws;

    long repeat = 1;
    const char *repeat_env = getenv("PATDNN_REPEAT");
    if (repeat_env != NULL && atol(repeat_env) > 1) repeat = atol(repeat_env);

    void *pool = NULL;
    const char *threads_env = getenv("PATDNN_THREADS");
    long threads = threads_env != NULL ? atol(threads_env) : 1;
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "patdnn harness: PATDNN_THREADS must be between 1 and 256, got %s\n",
                threads_env);
        return 1;
    }
#if PATDNN_HAS_POOL
    if (threads > 1 && (pool = patdnn_pool_create((int)threads)) == NULL) {
        fprintf(stderr, "patdnn harness: cannot start %ld threads\n", threads);
        return 3;
    }
#endif
    (void)pool;

    double start = now_seconds();
    for (long r = 0; r < repeat; r++) PATDNN_CALL(in, out, w, ws, pool);
    double elapsed = now_seconds() - start;
#if PATDNN_HAS_POOL
    patdnn_pool_destroy(pool);
#endif
    if (repeat > 1)
        fprintf(stderr, "patdnn: %s, %ld runs, %.6f ms/run\n", PATDNN_ENTRY_NAME, repeat,
                1e3 * elapsed / (double)repeat);

    for (int i = 0; i < PATDNN_NUM_OUTPUTS; i++) write_all(argv[a++], out[i], output_bytes[i]);
    return 0;
}
