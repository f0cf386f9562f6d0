"""`fkw-layout`: pattern convolutions -> FKW compressed storage (PatDNN Section 5.3).

Every `patdnn.pattern_conv2d` becomes a `patdnn.fkw_conv2d` whose weight operand is
replaced by the five FKW arrays (see `FKWConv2dOp`):

- `reorder[Cout]`: the original filter id of each stored filter (the op's
  `filter_order`, set by `filter-kernel-reorder`, or the identity);
- `offset[Cout+1]`: stored filter `j` owns kernels `offset[j] .. offset[j+1]`
  (an empty filter has `offset[j] == offset[j+1]`);
- `index[nnz]`: the input channel of each kernel;
- `pattern_bounds[Cout][K+1]`: cumulative kernel count per pattern inside each filter
  (`pattern_bounds[j][0] == 0`, `pattern_bounds[j][K]` = kernels of filter `j`);
- `weight[nnz][T]`: the T values of each kernel at its pattern's taps, in the order
  the library lists them.

Inside a filter, kernels are grouped by pattern (pattern id, then input channel), so
the generated code runs one specialised loop per pattern group.

*Filter groups*: when the stored filters `G*g .. G*g+G-1` share, at every input
channel, whether the kernel is kept and its pattern (pruned with `filter_group=G`,
see `patdnn.pruning.patterns`; `filter_group_size` detects it from the weights), the
layout is per group instead of per filter: `offset[groups+1]`,
`pattern_bounds[groups][K+1]`, `index` the group's kernels, and `weight[nnz][G*T]` the
values of the group's G filters at each kernel (`[kernel][filter][tap]`; zeros for the
missing filters of a smaller last group). One load of a kernel's input then feeds the G
filters.

`pack_fkw` and `unpack_fkw` are the pure numpy halves of the layout, usable alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith
from xdsl.dialects.builtin import DenseResourceAttr, ModuleOp
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

from patdnn.dialect.library import (
    MISFIT,
    LibraryError,
    Pattern,
    kernel_pattern_ids,
    misfit_message,
)
from patdnn.dialect.patdnn import FKWConv2dOp, PatternConv2dOp
from patdnn.dialect.weights import constant_array, is_inline_constant, make_constant, weights_of
from patdnn.errors import PatdnnError

FKW_ARRAY_NAMES = ("reorder", "offset", "index", "pattern_bounds", "weight")
"""The FKW arrays, in the operand order of `patdnn.fkw_conv2d`."""


class PatternMismatchError(PatdnnError):
    """A non-empty kernel whose non-zero taps no pattern of the library covers."""


class FKWLayoutError(PatdnnError):
    """FKW arrays that do not describe a layer of the given shape."""


def kernel_patterns(
    weight: np.ndarray, library: Sequence[Pattern], *, layer: str = "?"
) -> np.ndarray:
    """
    `kernel_pattern_ids`, for a layer whose every kernel fits: raises
    `PatternMismatchError` naming `layer`, the filter and the channel of the first
    kernel that fits no pattern.
    """
    try:
        ids = kernel_pattern_ids(weight, library)
    except LibraryError as e:
        raise FKWLayoutError(f"layer '{layer}': {e}") from None
    message = misfit_message(weight, ids)
    if message is not None:
        raise PatternMismatchError(f"layer '{layer}': {message}")
    return ids


GROUP_SIZES = (8, 4, 2)
"""The filter group sizes `filter_group_size` looks for, largest first."""

GROUP_WASTE = 1 / 16
"""The share of extra (all-zero) kernels a group layout may compute over the layer's
non-empty kernels (kernels trained to zero inside a kept group position)."""


def group_patterns(weight: np.ndarray, group: int, library: Sequence[Pattern]) -> np.ndarray:
    """The pattern of every (filter group, input channel) position of a [Cout, Cin, Kh,
    Kw] weight in stored order, int64 [groups, Cin]: the first pattern covering the
    non-zero taps of every kernel of the group at that channel (-1: all empty, `MISFIT`:
    no pattern covers them)."""
    starts = np.arange(0, weight.shape[0], group)
    union = np.add.reduceat(np.abs(weight), starts, axis=0) if starts.size else weight
    return kernel_pattern_ids(union, library)


def filter_group_size(
    weight: np.ndarray, library: Sequence[Pattern], sizes: Sequence[int] = GROUP_SIZES
) -> int:
    """The largest G of `sizes` such that the stored filters of a [Cout, Cin, Kh, Kw]
    weight, in groups of G (the last one smaller), share their kernel positions and
    patterns: every group position fits one pattern and the group layout computes at
    most `GROUP_WASTE` more kernels than are non-empty; 1 when none does."""
    cout = weight.shape[0]
    kept = int(np.count_nonzero(np.any(weight != 0, axis=(2, 3))))
    if kept == 0:
        return 1
    for group in sizes:
        if group < 2 or cout < 2 * group:
            continue
        try:
            ids = group_patterns(weight, group, library)
        except LibraryError:
            return 1
        if np.any(ids == MISFIT):
            continue
        members = np.diff(np.append(np.arange(0, cout, group), cout)).astype(np.int64)
        work = int(np.where(ids >= 0, members[:, None], 0).sum())
        if work <= kept * (1 + GROUP_WASTE):
            return group
    return 1


def _tap_arrays(library: Sequence[Pattern]) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the taps, [K, T] each, in library order."""
    counts = {len(p) for p in library}
    if len(counts) != 1:
        raise FKWLayoutError(
            "FKW storage needs patterns with the same number of taps, got "
            + ", ".join(str(len(p)) for p in library)
        )
    rows = np.array([[r for r, _ in p] for p in library], dtype=np.int64)
    cols = np.array([[c for _, c in p] for p in library], dtype=np.int64)
    return rows, cols


@dataclass(frozen=True, eq=False)
class FKWArrays:
    """The five FKW arrays of one layer (PatDNN Section 5.3); see `FKWConv2dOp`."""

    reorder: np.ndarray
    """int32 [Cout]: original filter id of each stored filter."""
    offset: np.ndarray
    """int32 [Cout+1]: kernel range of each stored filter."""
    index: np.ndarray
    """int32 [nnz]: input channel of each kernel."""
    pattern_bounds: np.ndarray
    """int32 [Cout][K+1]: cumulative kernel count per pattern inside each filter."""
    weight: np.ndarray
    """float32 [nnz][G*T]: the kept values of each kernel (of each of the group's G
    filters), in its pattern's tap order."""
    filter_group: int = 1
    """G: filters sharing each kernel (1: the per-filter layout)."""

    @property
    def nnz(self) -> int:
        """The number of non-empty kernels."""
        return int(self.index.shape[0])

    def named(self) -> tuple[tuple[str, np.ndarray], ...]:
        """(name, array) pairs in the operand order of `patdnn.fkw_conv2d`."""
        return tuple((name, getattr(self, name)) for name in FKW_ARRAY_NAMES)


def _check_order(filter_order: Sequence[int] | None, cout: int) -> np.ndarray:
    if filter_order is None:
        return np.arange(cout, dtype=np.int64)
    order = np.asarray(filter_order, dtype=np.int64)
    if order.shape != (cout,) or not np.array_equal(np.sort(order), np.arange(cout)):
        raise FKWLayoutError(
            f"filter order must be a permutation of 0..{cout - 1}, got {list(order)}"
        )
    return order


def pack_fkw(
    weight: np.ndarray,
    library: Sequence[Pattern],
    filter_order: Sequence[int] | None = None,
    *,
    layer: str = "?",
    filter_group: int = 1,
) -> FKWArrays:
    """
    FKW storage of a pattern-pruned [Cout, Cin, Kh, Kw] weight given in the original
    filter order. Stored filter `j` is original filter `filter_order[j]` (identity when
    None); its kernels are ordered by pattern id, then input channel. With
    `filter_group` G > 1 the units are the groups of G stored filters (see the module
    docstring), which must share their kernel positions and patterns.
    """
    if filter_group > 1:
        return _pack_groups(weight, library, filter_order, filter_group, layer)
    patterns = kernel_patterns(weight, library, layer=layer)
    cout, cin = patterns.shape
    k = len(library)
    rows, cols = _tap_arrays(library)
    order = _check_order(filter_order, cout)
    stored = patterns[order]
    # Kernels sorted by (stored filter, pattern, channel).
    j, c, p, bounds, offset = _kernel_lists(stored, k)
    values = weight[order[j][:, None], c[:, None], rows[p], cols[p]]
    return FKWArrays(
        reorder=order.astype(np.int32),
        offset=offset,
        index=c.astype(np.int32),
        pattern_bounds=bounds,
        weight=np.ascontiguousarray(values, dtype=np.float32).reshape(len(j), rows.shape[1]),
    )


def _kernel_lists(
    ids: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The kernel lists of `ids[unit][channel]` (pattern id, -1 for a pruned kernel) over
    `k` patterns: the kept kernels' unit, channel and pattern sorted by (unit, pattern,
    channel), the `pattern_bounds` of each unit and the `offset` of its first kernel."""
    units = ids.shape[0]
    j, c = np.nonzero(ids >= 0)
    p = ids[j, c]
    sort = np.lexsort((c, p, j))
    j, c, p = j[sort], c[sort], p[sort]
    counts = np.zeros((units, k), dtype=np.int64)
    np.add.at(counts, (j, p), 1)
    bounds = np.zeros((units, k + 1), dtype=np.int32)
    bounds[:, 1:] = np.cumsum(counts, axis=1)
    offset = np.zeros(units + 1, dtype=np.int32)
    offset[1:] = np.cumsum(counts.sum(axis=1))
    return j, c, p, bounds, offset


def _pack_groups(
    weight: np.ndarray,
    library: Sequence[Pattern],
    filter_order: Sequence[int] | None,
    group: int,
    layer: str,
) -> FKWArrays:
    """`pack_fkw` in groups of `group` stored filters."""
    cout, cin, kh, kw = weight.shape
    k = len(library)
    rows, cols = _tap_arrays(library)
    order = _check_order(filter_order, cout)
    stored = weight[order]
    try:
        ids = group_patterns(stored, group, library)
    except LibraryError as e:
        raise FKWLayoutError(f"layer '{layer}': {e}") from None
    if np.any(ids == MISFIT):
        g, c = (int(x) for x in np.argwhere(ids == MISFIT)[0])
        raise PatternMismatchError(
            f"layer '{layer}': the kernels of filters {g * group}..{g * group + group - 1} "
            f"(stored order) at channel {c} share no pattern of the library"
        )
    groups = ids.shape[0]
    j, c, p, bounds, offset = _kernel_lists(ids, k)
    padded = np.zeros((groups * group, cin, kh, kw), dtype=np.float32)
    padded[:cout] = stored
    # [group][channel][row][col][filter of the group]
    by_group = padded.reshape(groups, group, cin, kh, kw).transpose(0, 2, 3, 4, 1)
    values = by_group[j[:, None], c[:, None], rows[p], cols[p]]  # [nnz][T][G]
    taps = rows.shape[1]
    return FKWArrays(
        reorder=order.astype(np.int32),
        offset=offset,
        index=c.astype(np.int32),
        pattern_bounds=bounds,
        weight=np.ascontiguousarray(values.transpose(0, 2, 1), dtype=np.float32).reshape(
            len(j), group * taps
        ),
        filter_group=group,
    )


def unpack_fkw(arrays: FKWArrays, library: Sequence[Pattern], shape: Sequence[int]) -> np.ndarray:
    """The dense float32 [Cout, Cin, Kh, Kw] weight, in the original filter order."""
    cout, cin, kh, kw = (int(d) for d in shape)
    k = len(library)
    rows, cols = _tap_arrays(library)
    order = _check_order([int(v) for v in arrays.reorder], cout)
    offset = arrays.offset.astype(np.int64)
    bounds = arrays.pattern_bounds.astype(np.int64)
    nnz = arrays.nnz
    group = arrays.filter_group
    units = -(-cout // group)
    taps = rows.shape[1]
    if (
        group < 1
        or offset.shape != (units + 1,)
        or bounds.shape != (units, k + 1)
        or arrays.weight.shape != (nnz, group * taps)
        or offset[0] != 0
        or offset[-1] != nnz
        or np.any(np.diff(offset) < 0)
        or np.any(bounds[:, 0] != 0)
        or np.any(np.diff(bounds, axis=1) < 0)
        or not np.array_equal(bounds[:, -1], np.diff(offset))
    ):
        raise FKWLayoutError(
            f"FKW arrays (offset {offset.shape}, pattern_bounds {bounds.shape}, "
            f"weight {arrays.weight.shape}, {nnz} kernels) do not describe a layer of "
            f"{cout} filters in groups of {group} and {k} patterns"
        )
    index = arrays.index.astype(np.int64)
    if nnz and (index.min() < 0 or index.max() >= cin):
        raise FKWLayoutError(f"FKW index holds channels outside 0..{cin - 1}")
    if np.any(rows >= kh) or np.any(cols >= kw):
        raise FKWLayoutError(f"a pattern tap lies outside the {kh}x{kw} kernel")
    units_of = np.repeat(np.arange(units), np.diff(offset))
    pattern = np.repeat(np.tile(np.arange(k), units), np.diff(bounds, axis=1).reshape(-1))
    dense = np.zeros((cout, cin, kh, kw), dtype=np.float32)
    for f in range(group):
        stored = units_of * group + f
        valid = stored < cout
        p = pattern[valid]
        dense[order[stored[valid]][:, None], index[valid][:, None], rows[p], cols[p]] = (
            arrays.weight[valid, f * taps : (f + 1) * taps]
        )
    return dense


def layer_weight(op: PatternConv2dOp) -> np.ndarray:
    """The op's [Cout, Cin, Kh, Kw] weight in the original filter order: row `j` of
    the constant is the original filter `filter_order[j]`."""
    stored = constant_array(op.weight)
    order = op.filter_order_values
    if order is None:
        return stored
    weight = np.empty_like(stored)
    weight[list(order)] = stored
    return weight


def weight_base(value: SSAValue, layer: str) -> str:
    """The name the arrays derived from weight `value` are stored under: its resource
    handle without `.weight` / `.fkr`, or the layer's name for an inline constant."""
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, DenseResourceAttr):
        handle = owner.value.resource_handle.data
        return handle.removesuffix(".fkr").removesuffix(".weight")
    return layer


class FKWLayoutPattern(RewritePattern):
    """Replaces a `patdnn.pattern_conv2d` by a `patdnn.fkw_conv2d` and its arrays."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: PatternConv2dOp, rewriter: PatternRewriter, /) -> None:
        weight = layer_weight(op)
        order = op.filter_order_values
        library = op.patterns.patterns
        stored = weight if order is None else weight[list(order)]
        group = filter_group_size(stored, library)
        arrays = pack_fkw(weight, library, order, layer=op.layer_name, filter_group=group)
        inline = is_inline_constant(op.weight)
        base = weight_base(op.weight, op.layer_name)
        constants: list[arith.ConstantOp] = []
        for name, array in arrays.named():
            constant = make_constant(
                array, f"{base}.fkw_{name}", store=weights_of(op), inline=inline
            )
            constant.result.name_hint = name
            constants.append(rewriter.insert(constant, InsertPoint.before(op)))
        _, _, kh, kw = weight.shape
        fkw = FKWConv2dOp(
            op.input,
            [c.result for c in constants],
            op.result.type,
            kernel=(kh, kw),
            strides=op.stride_values,
            padding=op.padding_values,
            patterns=op.patterns,
            activation=op.activation.data,
            bias=op.bias,
            residual=op.residual,
            layer=op.layer,
            tuning=op.tuning,
            filter_group=group,
        )
        rewriter.replace(op, fkw)


@dataclass(frozen=True)
class FKWLayoutPass(ModulePass):
    """
    Stores every pattern convolution's weights in FKW format (PatDNN Section 5.3):
    `patdnn.pattern_conv2d` -> `patdnn.fkw_conv2d` with reorder, offset, index,
    pattern_bounds and weight arrays; kernels grouped by pattern inside each filter
    (inside each filter group when the filters share their kernels, see
    `filter_group_size`).
    """

    name = "fkw-layout"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FKWLayoutPattern()]), apply_recursively=False
        ).rewrite_module(op)
        dce(op)
