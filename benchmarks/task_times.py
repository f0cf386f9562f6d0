"""The thread CPU time of every task of a VGG-16 3x3 pattern layer, and the greedy
schedules those times imply on 2 and 4 threads: a shared machine's wall times move by
2x, the CPU time of a task much less.

The layer runs its phases on a pool that calls the tasks one after the other on the
calling thread and times each (`CLOCK_THREAD_CPUTIME_ID`); `--splits 3x5,3x4` compiles
the layer with those tiles' splits (row ranges x filter classes) instead of the one
`ConvGenerator.task_split` chooses, and times all builds in interleaved rounds.

    python benchmarks/task_times.py --layers 512@14 --splits 3x5,3x4 --rounds 15
"""

from __future__ import annotations

import argparse
import ctypes
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from patdnn.bench.core import _compile, vgg_case
from patdnn.errors import PatdnnError
from patdnn.lowering.vector import conv
from patdnn.lowering.vector.tasks import greedy_makespan
from patdnn.runtime.host import HostModule
from patdnn.runtime.threads import POOL_SOURCE

TIMING_POOL = r"""
#define _POSIX_C_SOURCE 200809L
#include "patdnn_pool.h"
#include <time.h>
enum { MAX_TASKS = 1 << 16 };
static double times[MAX_TASKS];
static int phases[MAX_TASKS];
static size_t recorded;
static int phase;
static patdnn_pool *inner; /* NULL: the tasks one after the other on the caller */
static patdnn_task_fn current;
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static void timed(void *task_context, size_t i) {
    double start = now();
    current(task_context, i);
    if (recorded + i < MAX_TASKS) {
        times[recorded + i] = now() - start;
        phases[recorded + i] = phase;
    }
}
static void parallel_for(void *context, patdnn_task_fn task, void *task_context, size_t count) {
    (void)context;
    current = task;
    if (inner != NULL) {
        inner->parallel_for(inner->context, timed, task_context, count);
    } else {
        for (size_t i = 0; i < count; i++) timed(task_context, i);
    }
    recorded += count;
    phase++;
}
static patdnn_pool pool = {parallel_for, NULL};
void *timing_pool(int threads) {
    if (threads > 1 && inner == NULL) inner = patdnn_pool_create(threads);
    return &pool;
}
void timing_reset(void) { recorded = 0; phase = 0; }
size_t timing_count(void) { return recorded < MAX_TASKS ? recorded : MAX_TASKS; }
double timing_time(size_t i) { return times[i]; }
int timing_phase(size_t i) { return phases[i]; }
"""

LAYERS = {"64@224": (64, 224), "128@112": (128, 112), "256@56": (256, 56),
          "512@28": (512, 28), "512@14": (512, 14)}  # fmt: skip


def timing_library(folder: Path) -> ctypes.CDLL:
    cc = shutil.which("cc")
    if cc is None:
        raise PatdnnError("task_times needs a C compiler 'cc' on PATH")
    source, library = folder / "timing_pool.c", folder / "libtiming_pool.so"
    source.write_text(TIMING_POOL)
    command = [cc, "-O2", "-std=c11", "-shared", "-fPIC", "-pthread", f"-I{POOL_SOURCE.parent}",
               str(source), str(POOL_SOURCE), "-o", str(library)]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PatdnnError(f"building the timing pool failed: {proc.stderr.strip()}")
    lib = ctypes.CDLL(str(library))
    lib.timing_pool.restype = ctypes.c_void_p
    lib.timing_pool.argtypes = [ctypes.c_int]
    lib.timing_count.restype = ctypes.c_size_t
    lib.timing_time.restype = ctypes.c_double
    lib.timing_time.argtypes = [ctypes.c_size_t]
    lib.timing_phase.argtypes = [ctypes.c_size_t]
    return lib


def parse_split(text: str) -> tuple[int, int]:
    try:
        rows, classes = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise PatdnnError(f"--splits: expected ROWSxCLASSES such as 3x4, got {text!r}") from None
    if rows < 1 or classes < 1:
        raise PatdnnError(f"--splits: both parts of {text!r} must be positive")
    return rows, classes


def build(channels: int, size: int, split: tuple[int, int] | None, pool: int) -> Callable[[], None]:
    """The layer compiled (with the tiles' split `split`, None: the chosen one), as a
    call that runs it on the timing pool at address `pool`."""
    case = vgg_case(channels, size)
    chosen = conv.ConvGenerator.task_split
    if split is not None:

        def forced(self: conv.ConvGenerator) -> tuple[int, int, int]:
            return chosen(self)[0], split[0], split[1]

        conv.ConvGenerator.task_split = forced
    try:
        model = _compile(case.pruned, case.x, "host", 2)
    finally:
        conv.ConvGenerator.task_split = chosen
    runner = HostModule(model.llvm_ir, model.entry, model.signature, target=model.target)
    # One thread: the entry point gets this pool in place of NULL.
    runner._pool.pointer = pool  # pyright: ignore[reportPrivateUsage]
    x = case.x.numpy()
    out = np.empty(model.signature.outputs[0].shape, dtype=np.float32)
    weights = model.weights
    return lambda: runner(x, weights=weights, out=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default=",".join(LAYERS), help="e.g. 256@56,512@14")
    parser.add_argument("--splits", default="", help="tiles' splits ROWSxCLASSES, e.g. 3x5,3x4")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--threads", type=int, default=1, help="1: serial, N: the default pool")
    args = parser.parse_args()
    try:
        names = [n.strip() for n in args.layers.split(",")]
        unknown = [n for n in names if n not in LAYERS]
        if unknown:
            raise PatdnnError(f"--layers: unknown {unknown[0]!r}; known: {', '.join(LAYERS)}")
        splits = [parse_split(s) for s in args.splits.split(",") if s.strip()] or [None]
        if args.rounds < 1 or args.threads < 1:
            raise PatdnnError("--rounds and --threads must be positive")
        with tempfile.TemporaryDirectory() as folder:
            lib = timing_library(Path(folder))
            for name in names:
                report(name, splits, args.rounds, lib, args.threads)
    except PatdnnError as e:
        sys.exit(f"error: {e}")


def report(
    name: str, splits: list[tuple[int, int] | None], rounds: int, lib: ctypes.CDLL, threads: int
) -> None:
    calls = [build(*LAYERS[name], split, lib.timing_pool(threads)) for split in splits]
    runs: list[list[list[tuple[int, float]]]] = [[] for _ in calls]
    for r in range(rounds + 1):
        for call, timed in zip(calls, runs, strict=True):
            lib.timing_reset()
            call()
            if r:  # the first round warms up
                count = lib.timing_count()
                timed.append([(lib.timing_phase(i), lib.timing_time(i)) for i in range(count)])
    for split, timed in zip(splits, runs, strict=True):
        tasks = [statistics.median(t[i][1] for t in timed) for i in range(len(timed[0]))]
        phase_of = [p for p, _ in timed[0]]
        phases = [[t for p, t in zip(phase_of, tasks, strict=True) if p == q]
                  for q in sorted(set(phase_of))]  # fmt: skip
        total = sum(tasks)
        span = {n: sum(greedy_makespan(p, n) for p in phases) for n in (2, 4)}
        label = "chosen split" if split is None else f"tiles {split[0]}x{split[1]}"
        label += f", {threads} thread(s)"
        print(
            f"{name} {label}: tasks {'+'.join(str(len(p)) for p in phases)}, CPU "
            f"{total * 1e3:.3f} ms; greedy makespan 2 threads {span[2] * 1e3:.3f} ms "
            f"({total / span[2]:.2f}x), 4 threads {span[4] * 1e3:.3f} ms ({total / span[4]:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
