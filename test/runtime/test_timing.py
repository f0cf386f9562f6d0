"""Timing on a shared machine: waiting for spinning threads before a timed call."""

from __future__ import annotations

import threading
import time

from patdnn.runtime.timing import interleaved_times, wait_until_idle


def _spin(seconds: float) -> threading.Thread:
    def spin() -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass

    thread = threading.Thread(target=spin)
    thread.start()
    return thread


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_waits_for_a_spinning_thread() -> None:
    """A thread that spins for 60 ms after the call: the next call waits for it."""
    start = time.perf_counter()
    thread = _spin(0.06)
    wait_until_idle()
    waited = time.perf_counter() - start
    thread.join()
    assert waited >= 0.05


def test_waits_for_a_thread_that_spins_in_bursts() -> None:
    """A pool that spins in bursts with short sleeps between them (as spinning pools show
    in a process's CPU time on a loaded machine) for 100 ms: the wait outlasts it."""

    def bursts() -> None:
        end = time.perf_counter() + 0.1
        while time.perf_counter() < end:
            burst = time.perf_counter() + 0.003
            while time.perf_counter() < burst:
                pass
            time.sleep(0.008)

    start = time.perf_counter()
    thread = threading.Thread(target=bursts)
    thread.start()
    wait_until_idle()
    waited = time.perf_counter() - start
    thread.join()
    assert waited >= 0.09


def test_idle_process_and_limit() -> None:
    start = time.perf_counter()
    wait_until_idle()
    assert time.perf_counter() - start < 0.1
    thread = _spin(0.5)
    start = time.perf_counter()
    wait_until_idle(limit=0.05)
    assert time.perf_counter() - start < 0.2
    thread.join()


def test_settled_rounds() -> None:
    calls = [lambda: _spin(0.02), lambda: None]
    times = interleaved_times(calls, 3, settle=True)
    assert [len(t) for t in times] == [3, 3]


def test_sampled_rounds() -> None:
    """With `sample`, a short call runs several times a round and its time is the mean;
    a call longer than the sample runs once."""
    ran = [0, 0]

    def short() -> None:
        ran[0] += 1
        _busy(0.002)

    def long() -> None:
        ran[1] += 1
        _busy(0.03)

    times = interleaved_times([short, long], 3, sample=0.02)
    assert ran[1] == 2 + 3  # warm-up, the call that sets the count, one a round
    assert ran[0] > 1 + 3  # several calls a round (about 10 on an idle core)
    assert all(0.0015 < t < 0.02 for t in times[0]), times[0]
    assert all(t > 0.025 for t in times[1]), times[1]


def test_rounds_rotate_the_order() -> None:
    """Round r starts with call r % n, each call once a round after one warm-up each."""
    order: list[int] = []
    calls = [lambda i=i: order.append(i) for i in range(3)]
    times = interleaved_times(calls, 4)
    assert [len(t) for t in times] == [4, 4, 4]
    assert order[:3] == [0, 1, 2]  # the warm-up calls
    assert order[3:] == [0, 1, 2, 1, 2, 0, 2, 0, 1, 0, 1, 2]
