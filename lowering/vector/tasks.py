"""Tasks: every layer's work split into independent pieces that a thread pool runs.

A layer is one or more *phases* (a convolution with a padded copy: the copy, then the
tiles); a phase is `count` tasks that write disjoint parts of its outputs and may run
in any order and on any thread; the phases of a function run one after the other, with
a barrier between them. Task boundaries are fixed here, at compile time, and do not
depend on the number of threads, so every thread count computes every output element
with the same instructions in the same order: the output is bitwise identical.

`Phases.open(count)` opens a phase and yields its task index. The serial form (the
lowering without `parallel`) loops over the tasks in place; the parallel form
(`FunctionLowering` with `parallel=True`) collects each phase as the body of its own
task function `<entry>_task<k>(args..., index)`, which the entry point hands to the
pool (`patdnn.runtime.threads`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    ArrayAttr,
    DictionaryAttr,
    IndexType,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    i64,
)
from xdsl.ir import Block

from patdnn.errors import LoweringError
from patdnn.lowering.vector.emitter import Emitter, Value

if TYPE_CHECKING:
    from patdnn.runtime.target import Target

TASKS_PER_PHASE = 16
"""How many tasks a phase is split into (when it has that much work): several per thread
of a 2- to 8-thread pool, so that the pool balances uneven tasks."""

ENTRIES_ATTR = "patdnn.entries"
"""Module attribute of a parallel lowering: for each entry point, its workspace size and
its phases, `{forward = [workspace, [["forward_task0", count], ...]]}`."""


@dataclass
class Phases:
    """Opens the phases of one function (see the module docstring)."""

    em: Emitter
    parallel: bool = False
    blocks: list[tuple[Block, int]] = field(default_factory=list[tuple[Block, int]])

    @contextmanager
    def open(self, count: int) -> Iterator[Value]:
        """A phase of `count` tasks; the body emitted inside the `with` is one task,
        whose index the `with` yields."""
        em = self.em
        if count < 1:
            raise LoweringError(f"a phase needs at least one task, got {count}")
        if self.parallel:
            block = Block(arg_types=[IndexType()])
            with em.at(block):
                yield block.args[0]
            self.blocks.append((block, count))
        elif count == 1:
            yield em.index(0)
        else:
            with em.loop(0, count) as task:
                yield task.iv


def serial_phases(em: Emitter) -> Phases:
    return Phases(em)


def split_count(units: int, limit: int = TASKS_PER_PHASE) -> int:
    """Into how many parts `units` pieces of work are split."""
    return max(1, min(units, limit))


BALANCE_WORKERS = (2, 4)
"""The pool sizes whose schedules `balanced_split` keeps close to the ideal."""

BALANCE_TOLERANCE = 0.03
"""How far above the ideal (the work over the threads) a split's greedy makespan may be."""


def greedy_makespan(work: Sequence[float], workers: int) -> float:
    """When the last of `workers` threads finishes tasks of costs `work` that each thread
    takes in index order as soon as it is free (the pool's shared counter)."""
    free = [0.0] * max(1, min(workers, len(work)))
    for cost in work:
        heapq.heappush(free, heapq.heappop(free) + cost)
    return max(free, default=0.0)


def split_excess(work: Sequence[float], workers: Sequence[int] = BALANCE_WORKERS) -> float:
    """The worst greedy makespan of `work` over pools of `workers` threads, relative to
    the ideal (its total over the threads): 1.0 is a perfect split."""
    total = sum(work)
    if total <= 0:
        return 1.0
    return max(greedy_makespan(work, n) * n / total for n in workers)


def balanced_split(
    candidates: Sequence[tuple[int, ...]],
    work: Callable[[tuple[int, ...]], Sequence[float]],
    workers: Sequence[int] = BALANCE_WORKERS,
    tolerance: float = BALANCE_TOLERANCE,
) -> tuple[int, ...]:
    """The split to use among `candidates` (in order of preference), given each one's
    task costs in task order (`work`): the first whose greedy makespan is within
    `tolerance` of the ideal on every pool size of `workers`; else, of those within it
    on the first pool size (the one that matters most), the one whose worst pool size is
    closest to the ideal; else the one closest to the ideal on the first pool size
    (each time the first of those within half a percent of the best). A pure function
    of the work, so the split (and the output) is the same for every thread count."""
    if not candidates:
        raise LoweringError("internal error: no task split to choose from")
    excess = [[split_excess(work(c), [n]) for n in workers] for c in candidates]

    def closest(chosen: list[int], score: Callable[[list[float]], float]) -> tuple[int, ...]:
        best = min(score(excess[i]) for i in chosen)
        return candidates[next(i for i in chosen if score(excess[i]) <= best + 0.005)]

    everywhere = [i for i, e in enumerate(excess) if max(e) <= 1 + tolerance]
    if everywhere:
        return candidates[everywhere[0]]
    first = [i for i, e in enumerate(excess) if e[0] <= 1 + tolerance]
    if first:
        return closest(first, max)
    return closest(list(range(len(candidates))), lambda e: e[0])


def part_sizes(units: int, parts: int) -> list[int]:
    """The sizes of the `parts` ranges of `part_bounds` (the larger ones first)."""
    q, r = divmod(units, parts)
    return [q + 1] * r + [q] * (parts - r)


def decompose(em: Emitter, task: Value, sizes: Sequence[int]) -> list[Value]:
    """The mixed-radix digits of `task` for `sizes` (the first digit the most
    significant); a digit of size 1 is the constant 0."""
    digits: list[Value] = []
    inner = 1
    for size in sizes:
        inner *= size
    rest = task
    for size in sizes:
        inner //= size
        if size == 1:
            digits.append(em.index(0))
            continue
        digit = em.emit(arith.DivUIOp(rest, em.index(inner))).results[0] if inner > 1 else rest
        digits.append(digit)
        if inner > 1:
            rest = em.emit(arith.RemUIOp(rest, em.index(inner))).results[0]
    return digits


def part_bounds(em: Emitter, part: Value, units: int, parts: int) -> tuple[Value, Value]:
    """`[start(part), start(part + 1))`: part `part` of `units` pieces split into `parts`
    ranges whose sizes differ by at most one, the larger ones first: with `q, r =
    divmod(units, parts)`, parts `0 .. r-1` hold `q + 1` pieces and the others `q`,
    `start(p) = p * q + min(p, r)`. A pool hands tasks out in index order, so a thread
    that finishes early takes a small task last, not a large one (VGG-16's 64 @224: 38
    row blocks in 16 tasks of 2 or 3; greedy 2-thread schedules of its measured tasks
    reach 1.87-1.91x of one thread with the large ones spread, 1.99x with them first)."""
    if parts == 1:
        return em.index(0), em.index(units)
    q, r = divmod(units, parts)

    def at(p: Value) -> Value:
        start = em.mul(p, q)
        if r == 0:
            return start
        extra = em.minui(p, r)
        return em.add(start, extra)

    return at(part), at(em.add(part, 1))


def is_equal(em: Emitter, value: Value, constant: int) -> Value:
    op = arith.CmpiOp(value, em.index(constant), "eq")
    em.emit(op)
    return op.result


@dataclass(frozen=True)
class EntrySchedule:
    """The phases of a parallel entry point: task function names and task counts."""

    entry: str
    workspace: int
    phases: tuple[tuple[str, int], ...]

    def attribute(self) -> ArrayAttr:
        phases = ArrayAttr(
            ArrayAttr([StringAttr(name), IntegerAttr(count, i64)]) for name, count in self.phases
        )
        return ArrayAttr([IntegerAttr(self.workspace, i64), phases])


def record_schedule(module: ModuleOp, schedule: EntrySchedule) -> None:
    old = module.attributes.get(ENTRIES_ATTR)
    entries = dict(old.data) if isinstance(old, DictionaryAttr) else {}
    entries[schedule.entry] = schedule.attribute()
    module.attributes[ENTRIES_ATTR] = DictionaryAttr(entries)


def entry_schedules(module: ModuleOp) -> dict[str, EntrySchedule]:
    """The parallel entry points of a lowered module (empty for a serial lowering)."""
    attr = module.attributes.get(ENTRIES_ATTR)
    if not isinstance(attr, DictionaryAttr):
        return {}
    found: dict[str, EntrySchedule] = {}
    for entry, value in attr.data.items():
        assert isinstance(value, ArrayAttr)
        workspace, phases = value.data
        assert isinstance(workspace, IntegerAttr) and isinstance(phases, ArrayAttr)
        listed: list[tuple[str, int]] = []
        for phase in phases.data:
            assert isinstance(phase, ArrayAttr)
            name, count = phase.data
            assert isinstance(name, StringAttr) and isinstance(count, IntegerAttr)
            listed.append((name.data, count.value.data))
        found[entry] = EntrySchedule(entry, workspace.value.data, tuple(listed))
    return found


def parallel_llvm_ir(module: ModuleOp, target: Target) -> str:
    """LLVM IR of a module lowered with `parallel`: its task functions, and for each entry
    point the function that runs them on a thread pool (`patdnn.runtime.threads`)."""
    from patdnn.dialect.context import print_module
    from patdnn.lowering.upstream import mlir_to_llvm_ir
    from patdnn.runtime.compile import parse_llvm_ir
    from patdnn.runtime.threads import entry_llvm_ir

    llvm_ir = mlir_to_llvm_ir(print_module(module, generic=True), target)
    schedules = entry_schedules(module)
    if not schedules:
        return llvm_ir
    entries = [
        entry_llvm_ir(s.entry, _memref_arguments(module, s.phases[0][0]), s.phases)
        for s in schedules.values()
    ]
    return str(parse_llvm_ir("\n".join([llvm_ir, *entries]), target))


def _memref_arguments(module: ModuleOp, task_function: str) -> int:
    """The memref arguments of a task function (all but its task index)."""
    for fn in module.ops:
        if isinstance(fn, func.FuncOp) and fn.sym_name.data == task_function:
            return len(fn.function_type.inputs.data) - 1
    raise LoweringError(f"internal error: no task function {task_function!r}")
