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


def test_waits_for_a_spinning_thread() -> None:
    """A thread that spins for 60 ms after the call: the next call waits for it."""
    start = time.perf_counter()
    thread = _spin(0.06)
    wait_until_idle()
    waited = time.perf_counter() - start
    thread.join()
    assert waited >= 0.05


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
