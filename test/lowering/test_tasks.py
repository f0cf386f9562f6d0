"""The task split helpers of `lowering/vector/tasks.py`: part sizes, greedy makespans,
and the work-balanced choice of a split."""

from __future__ import annotations

import pytest

from patdnn.errors import LoweringError
from patdnn.lowering.vector.tasks import (
    balanced_split,
    greedy_makespan,
    part_sizes,
    split_excess,
)


@pytest.mark.parametrize("units, parts", [(1, 1), (7, 1), (7, 3), (14, 14), (38, 16), (56, 16)])
def test_part_sizes_cover_every_unit_once(units: int, parts: int) -> None:
    sizes = part_sizes(units, parts)
    assert len(sizes) == parts and sum(sizes) == units
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_greedy_makespan() -> None:
    assert greedy_makespan([], 2) == 0.0
    assert greedy_makespan([3.0], 4) == 3.0
    # In index order, each task to the thread that is free first.
    assert greedy_makespan([2.0, 2.0, 1.0, 1.0, 2.0], 2) == 5.0
    assert greedy_makespan([1.0, 1.0, 1.0, 3.0], 2) == 4.0
    assert greedy_makespan([3.0, 1.0, 1.0, 1.0], 2) == 3.0
    # 9 equal tasks and a small one: 5 tasks on one thread of 2.
    assert split_excess([1.0] * 9 + [0.2], [2]) == pytest.approx(5 * 2 / 9.2)
    assert split_excess([1.0] * 14, [2, 4]) == pytest.approx(4 * 4 / 14)
    assert split_excess([0.0, 0.0], [2]) == 1.0


def _rows_by_classes(sizes: dict[tuple[int, int], list[float]]):
    def work(split: tuple[int, ...]) -> list[float]:
        return sizes[(split[0], split[1])]

    return work


def test_balanced_split_keeps_the_first_balanced_candidate() -> None:
    work = _rows_by_classes({(4, 1): [1.0] * 4, (8, 1): [1.0] * 8, (2, 2): [1.0, 3.0, 1.0, 3.0]})
    assert balanced_split([(4, 1), (8, 1)], work) == (4, 1)
    assert balanced_split([(2, 2), (8, 1)], work) == (8, 1)


def test_balanced_split_falls_back_to_the_first_pool_size() -> None:
    # (3, 1): balanced on 2 threads, not on 4; (2, 1) on neither.
    work = _rows_by_classes(
        {(3, 1): [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], (2, 1): [2.0, 1.0], (5, 1): [1.0] * 5}
    )
    assert balanced_split([(2, 1), (5, 1), (3, 1)], work) == (3, 1)
    assert balanced_split([(2, 1), (5, 1)], work) == (5, 1)


def test_balanced_split_is_deterministic_and_needs_candidates() -> None:
    work = _rows_by_classes({(1, 1): [1.0], (1, 2): [1.0, 1.0]})
    first = balanced_split([(1, 1), (1, 2)], work)
    assert all(balanced_split([(1, 1), (1, 2)], work) == first for _ in range(5))
    with pytest.raises(LoweringError, match="no task split"):
        balanced_split([], work)
