"""`load-redundancy-elimination`: reuse input vectors already in registers.

PatDNN Section 5.4. In a pattern convolution tile, the taps of neighbouring output
rows read overlapping input rows (kernel level), and the filters of a tile read the
same input channel (filter level): the vector code reloads the same input vector
many times. This pass finds, inside each block, `vector.load`s of the same memref at
the same address and keeps the first. Addresses are compared as linear forms of their
index operands (`%oh + 2` and `(%oh + 1) + 1` are equal), so loads whose indices are
computed separately still match. A store to the same memref, or an op with a region
or unknown effects, ends the reuse of the loads before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, memref, vector
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter
from xdsl.traits import MemoryEffectKind, get_effects
from xdsl.transforms.dead_code_elimination import region_dce

LinearForm = tuple[tuple[tuple[int, int], ...], int]
"""Sum of (value id, coefficient) terms plus a constant."""


def linear_form(value: SSAValue) -> LinearForm:
    """`value` as a linear combination of opaque index values and a constant."""
    terms: dict[int, int] = {}
    const = 0

    def visit(v: SSAValue, coef: int) -> None:
        nonlocal const
        op = v.owner
        if isinstance(op, arith.ConstantOp) and isinstance(op.value, IntegerAttr):
            const += coef * op.value.value.data
            return
        if isinstance(op, arith.AddiOp):
            visit(op.lhs, coef)
            visit(op.rhs, coef)
            return
        if isinstance(op, arith.MuliOp):
            for a, b in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
                c = b.owner
                if isinstance(c, arith.ConstantOp) and isinstance(c.value, IntegerAttr):
                    visit(a, coef * c.value.value.data)
                    return
        terms[id(v)] = terms.get(id(v), 0) + coef

    visit(value, 1)
    return (tuple(sorted((k, c) for k, c in terms.items() if c)), const)


@dataclass
class LoadStats:
    before: int = 0
    removed: int = 0


def _writes_to(op: Operation) -> Sequence[SSAValue] | None:
    """The memrefs `op` may write; None when unknown (everything may change)."""
    if isinstance(op, vector.StoreOp | vector.MaskedStoreOp):
        return [op.base]
    if isinstance(op, memref.StoreOp):
        return [op.memref]
    if op.regions:
        return None
    effects = get_effects(op)
    if effects is None or any(
        e.kind in (MemoryEffectKind.WRITE, MemoryEffectKind.FREE) for e in effects
    ):
        return None
    return []


def eliminate_redundant_loads(block: Block, stats: LoadStats) -> None:
    available: dict[tuple[SSAValue, tuple[LinearForm, ...], object], SSAValue] = {}
    for op in list(block.ops):
        if isinstance(op, vector.LoadOp):
            stats.before += 1
            key = (op.base, tuple(linear_form(i) for i in op.indices), op.result.type)
            if key in available:
                op.result.replace_all_uses_with(available[key])
                Rewriter.erase_op(op)
                stats.removed += 1
            else:
                available[key] = op.result
            continue
        written = _writes_to(op)
        if written is None:
            available.clear()
        else:
            for ref in written:
                for key in [k for k in available if k[0] is ref]:
                    del available[key]
        for region in op.regions:
            for inner in region.blocks:
                eliminate_redundant_loads(inner, stats)


@dataclass(frozen=True)
class LoadRedundancyEliminationPass(ModulePass):
    """Merges repeated `vector.load`s of the same input vector (PatDNN Section 5.4)."""

    name = "load-redundancy-elimination"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        stats = LoadStats()
        for region in op.regions:
            for block in region.blocks:
                eliminate_redundant_loads(block, stats)
        # One call: region_dce walks nested regions itself.
        for region in op.regions:
            region_dce(region)
