"""Timing several contenders on a shared machine."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence

__all__ = ["interleaved_times", "wait_until_idle"]

IDLE_WINDOW = 0.01
"""Seconds over which `wait_until_idle` watches this process's CPU time. The CPU time of
a thread spinning on another core reaches `getrusage` in steps (at scheduler ticks, and
when a spinning pool yields or blocks in between): in 2 ms windows the pools of ONNX
Runtime, PyTorch and ncnn, spinning after a call of MobileNet-V2 at 2 threads, showed
one busy window in 3 to 8, so three idle 2 ms windows in a row came while they still
spun (in the 100 ms after such a wait they used a median 33 ms of CPU, ONNX Runtime, and
4-6 ms, PyTorch and ncnn, in 4 to 8 of 8 trials); after three idle 10 ms windows, none
but one trial of ONNX Runtime in 8."""

IDLE_WINDOWS = 3
"""Consecutive idle windows that `wait_until_idle` asks for (a thread that spins on a
loaded machine may miss one)."""

IDLE_LIMIT = 1.0
"""The longest `wait_until_idle` waits, in seconds (ONNX Runtime's pool spins 100-200 ms
after a call on a loaded machine)."""


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def wait_until_idle(
    window: float = IDLE_WINDOW, windows: int = IDLE_WINDOWS, limit: float = IDLE_LIMIT
) -> None:
    """Sleeps until the threads of this process used less than a tenth of the CPU time
    of `windows` windows of `window` seconds in a row (or `limit` seconds have passed).
    Thread pools spin after a call, waiting for the next one: ONNX Runtime's for 45 ms
    (quiet machine) to 200 ms (loaded), OpenMP's (PyTorch, ncnn) for 10-30 ms, each
    taking a core meanwhile.
    Timed right after one of them, another contender would run its threads on the cores
    they spin on."""
    end = time.perf_counter() + limit
    idle = 0
    while idle < windows and time.perf_counter() < end:
        before = _cpu_seconds()
        time.sleep(window)
        idle = idle + 1 if _cpu_seconds() - before < window / 10 else 0


def _stream_count(call: Callable[[], object], sample: float) -> int:
    """How many calls of `call` take about `sample` seconds (at least 1), from the time
    of one more call."""
    start = time.perf_counter()
    call()
    return max(1, round(sample / max(time.perf_counter() - start, 1e-9)))


def interleaved_times(
    calls: Sequence[Callable[[], object]], rounds: int, settle: bool = False, sample: float = 0.0
) -> list[list[float]]:
    """The times in seconds of each call over `rounds` interleaved rounds, after one
    warm-up call each: a slow moment of a shared machine hits every contender alike.
    The rounds rotate the order of the calls (round `r` starts with call `r % n`), so
    that no contender always runs first or always right after the same other one: with
    a fixed order, two builds of one layer timed against each other (VGG-16 conv 128
    @112, 4 x 2 and 4 x 3 tiles, Zen 3) came out 4-11 % in favour of whichever ran
    second, in both orders.
    With `sample`, a round's time of a call is the mean of a stream of calls lasting
    about `sample` seconds (their number, at least 1, fixed per call from the time of a
    second call after every call's warm-up, which pays for first touches of memory and
    lazy set-up): one call of a few milliseconds is at the mercy of a single scheduler
    tick of a shared machine (MobileNet-V2 at 2 threads, one call a round: medians of
    3.47 and 6.44 ms in two runs of one build).
    With `settle`, for multi-threaded contenders of different thread pools: each timed
    call starts once the threads of the one before stopped spinning
    (`wait_until_idle`), right after an untimed call of its own, which wakes its
    threads (on this VM an idle core takes 1.6 to 3.9 ms to run a woken thread after
    20 ms asleep, 50 us after 2 ms): each contender is timed warm, as in a stream of
    inferences, and alone on the machine."""
    for call in calls:
        call()
    counts = [_stream_count(call, sample) if sample else 1 for call in calls]
    times: list[list[float]] = [[] for _ in calls]
    for r in range(rounds):
        for i in [(r + k) % len(calls) for k in range(len(calls))]:
            call = calls[i]
            if settle:
                wait_until_idle()
                call()
            start = time.perf_counter()
            for _ in range(counts[i]):
                call()
            times[i].append((time.perf_counter() - start) / counts[i])
    return times
