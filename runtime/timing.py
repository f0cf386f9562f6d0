"""Timing several contenders on a shared machine."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

__all__ = ["interleaved_times"]


def interleaved_times(calls: Sequence[Callable[[], object]], rounds: int) -> list[list[float]]:
    """The times in seconds of each call over `rounds` interleaved rounds, after one
    warm-up call each: a slow moment of a shared machine hits every contender alike."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[i].append(time.perf_counter() - start)
    return times
