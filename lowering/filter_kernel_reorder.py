"""`filter-kernel-reorder`: filter kernel reorder, FKR (PatDNN Section 5.2).

Sorts the filters of every `patdnn.pattern_conv2d` so that neighbouring filters do the
same work: filters with the same number of non-empty kernels become neighbours (most
kernels first), then filters with the same pattern mix (per-pattern kernel counts,
descending lexicographic), then by original filter id. The weight rows are permuted
and the op's `filter_order` records the permutation; bias, residual and the result
stay in the original channel order.

Kernels inside a filter are grouped by pattern when `fkw-layout` builds the FKW arrays
(canonical order: pattern id, then input channel).

A layer whose filters come in groups sharing their kernel positions and patterns
(`fkw_layout.filter_group_size`) is reordered group by group, with the same key per
group, and a smaller last group stays last, so `fkw-layout` finds the same groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import DenseArrayBase, DenseResourceAttr, ModuleOp, i64
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.transforms.dead_code_elimination import dce

from patdnn.dialect.library import Pattern
from patdnn.dialect.patdnn import PatternConv2dOp
from patdnn.dialect.weights import is_inline_constant, make_constant, weights_of
from patdnn.lowering.fkw_layout import (
    filter_group_size,
    group_patterns,
    kernel_patterns,
    layer_weight,
)


def filter_kernel_order(
    weight: np.ndarray, library: Sequence[Pattern], *, layer: str = "?"
) -> list[int]:
    """
    The FKR filter order of a pattern-pruned [Cout, Cin, Kh, Kw] weight given in the
    original filter order: entry `j` is the original filter stored at row `j`.
    Sort key: non-empty kernels (descending), per-pattern kernel counts (descending
    lexicographic), original filter id. Filters in groups sharing their kernels move
    as whole groups (keyed by the group's kernels), the smaller last group last.
    """
    patterns = kernel_patterns(weight, library, layer=layer)
    cout = patterns.shape[0]
    group = filter_group_size(weight, library)
    if group > 1:
        patterns = group_patterns(weight, group, library)
    units = patterns.shape[0]
    mix = np.stack([(patterns == p).sum(axis=1) for p in range(len(library))], axis=1)
    count = mix.sum(axis=1)
    short = np.arange(units) * group + group > cout  # the smaller last group
    # np.lexsort sorts by its last key first.
    keys = (np.arange(units), *(-mix[:, p] for p in reversed(range(len(library)))), -count)
    unit_order = np.lexsort((*keys, short))
    return [int(u) * group + f for u in unit_order for f in range(group) if u * group + f < cout]


def _resource_handle(value: SSAValue) -> str | None:
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, DenseResourceAttr):
        return owner.value.resource_handle.data
    return None


class FilterKernelReorderPattern(RewritePattern):
    """Reorders the filters of one `patdnn.pattern_conv2d` (PatDNN Section 5.2)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: PatternConv2dOp, rewriter: PatternRewriter, /) -> None:
        weight = layer_weight(op)
        current = list(op.filter_order_values or range(weight.shape[0]))
        order = filter_kernel_order(weight, op.patterns.patterns, layer=op.layer_name)
        if op.filter_order is not None and order == current:
            return
        if order != current:
            handle = _resource_handle(op.weight)
            name = f"{handle.removesuffix('.fkr')}.fkr" if handle else f"{op.layer_name}.fkr"
            constant = make_constant(
                weight[order], name, store=weights_of(op), inline=is_inline_constant(op.weight)
            )
            constant.result.name_hint = op.weight.name_hint
            rewriter.insert(constant, InsertPoint.before(op))
            op.operands[1] = constant.result
        op.filter_order = DenseArrayBase.from_list(i64, order)
        rewriter.notify_op_modified(op)


@dataclass(frozen=True)
class FilterKernelReorderPass(ModulePass):
    """
    Filter kernel reorder (PatDNN Section 5.2): groups filters of every pattern
    convolution by kernel count and pattern mix; sets `filter_order`. Idempotent.
    """

    name = "filter-kernel-reorder"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FilterKernelReorderPattern()]),
            apply_recursively=False,
        ).rewrite_module(op)
        dce(op)
