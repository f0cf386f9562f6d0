/*
 * run_model: run a model saved by patdnn (`CompiledModel.save(dir)` or `patdnn compile`)
 * from a plain C program, linked with the saved object file.
 *
 * Build (aarch64, static, runs on the device or under qemu-aarch64), with the default
 * thread pool that `save` writes next to the model:
 *   aarch64-linux-gnu-gcc -O2 -static -pthread -DPATDNN_HEADER='"<name>.h"' \
 *       examples/run_model.c out/patdnn_pool.c out/<name>.o -I out -o run_model -lm
 * Without -DPATDNN_HEADER the header is included as "patdnn_model.h".
 *
 * Run:
 *   run_model <name>.weights input.bin output.bin [THREADS]
 * input.bin holds N >= 1 inputs back to back (float32, NCHW, little endian, exactly
 * N * <ENTRY>_INPUT_BYTES bytes); the model runs once per input and output.bin receives
 * the N outputs back to back (float32). The count and time per run go to stderr.
 * THREADS (default 1) > 1 runs on the default pool of that many threads; 1 passes a NULL
 * pool (every task on this thread). An app with a pool of its own wraps it in a
 * patdnn_pool { parallel_for, context } instead (see the header).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(PATDNN_HEADER)
#include PATDNN_HEADER
#elif defined(__has_include)
#if __has_include("patdnn_model.h")
#include "patdnn_model.h"
#else
#error "name the model header: -DPATDNN_HEADER='\"<name>.h\"' (see examples/README.md)"
#endif
#else
#include "patdnn_model.h"
#endif

#if PATDNN_NUM_INPUTS != 1 || PATDNN_NUM_OUTPUTS != 1 || !PATDNN_HAS_WEIGHTS || \
    !PATDNN_HAS_WORKSPACE || !PATDNN_HAS_POOL
#error "run_model handles entry points with one input, one output, a weights blob, a workspace and a thread pool"
#endif

#include "patdnn_pool.h"

#define ALIGNMENT 64

static void die(const char *what, const char *path) {
    fprintf(stderr, "run_model: %s %s: %s\n", what, path, errno ? strerror(errno) : "bad size");
    exit(2);
}

/* Reads the whole file into a 64-byte aligned buffer; its size goes to *bytes. */
static void *read_file(const char *path, size_t *bytes) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) die("cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0) die("cannot seek", path);
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) die("cannot seek", path);
    size_t rounded = ((size_t)size + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    void *buffer = aligned_alloc(ALIGNMENT, rounded > 0 ? rounded : ALIGNMENT);
    if (buffer == NULL) die("out of memory reading", path);
    if (fread(buffer, 1, (size_t)size, f) != (size_t)size) die("cannot read", path);
    fclose(f);
    *bytes = (size_t)size;
    return buffer;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    static const size_t input_bytes[1] = PATDNN_INPUT_BYTES;
    static const size_t output_bytes[1] = PATDNN_OUTPUT_BYTES;
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s MODEL.weights INPUT.bin OUTPUT.bin [THREADS] (entry %s)\n",
                argv[0], PATDNN_ENTRY_NAME);
        return 1;
    }
    int threads = argc == 5 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > 256) {
        fprintf(stderr, "run_model: THREADS must be between 1 and 256, got %s\n", argv[4]);
        return 1;
    }
    /* NULL: the entry point runs every task on this thread. */
    patdnn_pool *pool = NULL;
    if (threads > 1 && (pool = patdnn_pool_create(threads)) == NULL) {
        fprintf(stderr, "run_model: cannot start %d threads\n", threads);
        return 3;
    }

    size_t weights_size, input_size;
    const uint8_t *weights = read_file(argv[1], &weights_size);
    const uint8_t *inputs = read_file(argv[2], &input_size);
    if (weights_size != PATDNN_WEIGHTS_BYTES) {
        fprintf(stderr, "run_model: %s has %zu bytes, the model expects %d\n", argv[1],
                weights_size, PATDNN_WEIGHTS_BYTES);
        return 2;
    }
    if (input_size == 0 || input_size % input_bytes[0] != 0) {
        fprintf(stderr, "run_model: %s has %zu bytes, not a multiple of one input (%zu)\n",
                argv[2], input_size, input_bytes[0]);
        return 2;
    }
    size_t count = input_size / input_bytes[0];
    size_t out_step = (output_bytes[0] + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    uint8_t *outputs = aligned_alloc(ALIGNMENT, count * out_step);
    float *input = aligned_alloc(ALIGNMENT, (input_bytes[0] + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT);
    /* The model's scratch memory: allocated once, reused by every run (one per thread). */
    size_t workspace_bytes = ((size_t)PATDNN_WORKSPACE_BYTES + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    uint8_t *workspace = aligned_alloc(ALIGNMENT, workspace_bytes > 0 ? workspace_bytes : ALIGNMENT);
    if (outputs == NULL || input == NULL || workspace == NULL) {
        fprintf(stderr, "run_model: out of memory\n");
        return 3;
    }

    double start = now_seconds();
    for (size_t i = 0; i < count; i++) {
        memcpy(input, inputs + i * input_bytes[0], input_bytes[0]);
        PATDNN_ENTRY(input, (float *)(outputs + i * out_step), weights, workspace, pool);
    }
    double elapsed = now_seconds() - start;
    patdnn_pool_destroy(pool);

    FILE *f = fopen(argv[3], "wb");
    if (f == NULL) die("cannot write", argv[3]);
    for (size_t i = 0; i < count; i++)
        if (fwrite(outputs + i * out_step, 1, output_bytes[0], f) != output_bytes[0])
            die("cannot write", argv[3]);
    if (fclose(f) != 0) die("cannot write", argv[3]);
    fprintf(stderr, "run_model: %s, %zu run(s), %d thread(s), %.3f ms/run\n", PATDNN_ENTRY_NAME,
            count, threads, 1e3 * elapsed / (double)count);
    return 0;
}
