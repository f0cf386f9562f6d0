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

from patdnn.dialect.library import LibraryError, Pattern, kernel_pattern_ids, misfit_message
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
    """float32 [nnz][T]: the kept values of each kernel, in its pattern's tap order."""

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
) -> FKWArrays:
    """
    FKW storage of a pattern-pruned [Cout, Cin, Kh, Kw] weight given in the original
    filter order. Stored filter `j` is original filter `filter_order[j]` (identity when
    None); its kernels are ordered by pattern id, then input channel.
    """
    patterns = kernel_patterns(weight, library, layer=layer)
    cout, cin = patterns.shape
    k = len(library)
    rows, cols = _tap_arrays(library)
    order = _check_order(filter_order, cout)
    stored = patterns[order]
    # Kernels sorted by (stored filter, pattern, channel).
    j, c = np.nonzero(stored >= 0)
    p = stored[j, c]
    sort = np.lexsort((c, p, j))
    j, c, p = j[sort], c[sort], p[sort]
    counts = np.zeros((cout, k), dtype=np.int64)
    np.add.at(counts, (j, p), 1)
    bounds = np.zeros((cout, k + 1), dtype=np.int32)
    bounds[:, 1:] = np.cumsum(counts, axis=1)
    offset = np.zeros(cout + 1, dtype=np.int32)
    offset[1:] = np.cumsum(counts.sum(axis=1))
    values = weight[order[j][:, None], c[:, None], rows[p], cols[p]]
    return FKWArrays(
        reorder=order.astype(np.int32),
        offset=offset,
        index=c.astype(np.int32),
        pattern_bounds=bounds,
        weight=np.ascontiguousarray(values, dtype=np.float32).reshape(len(j), rows.shape[1]),
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
    if (
        offset.shape != (cout + 1,)
        or bounds.shape != (cout, k + 1)
        or arrays.weight.shape != (nnz, rows.shape[1])
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
            f"{cout} filters and {k} patterns"
        )
    index = arrays.index.astype(np.int64)
    if nnz and (index.min() < 0 or index.max() >= cin):
        raise FKWLayoutError(f"FKW index holds channels outside 0..{cin - 1}")
    if np.any(rows >= kh) or np.any(cols >= kw):
        raise FKWLayoutError(f"a pattern tap lies outside the {kh}x{kw} kernel")
    filters = np.repeat(order, np.diff(offset))
    pattern = np.repeat(np.tile(np.arange(k), cout), np.diff(bounds, axis=1).reshape(-1))
    dense = np.zeros((cout, cin, kh, kw), dtype=np.float32)
    dense[filters[:, None], index[:, None], rows[pattern], cols[pattern]] = arrays.weight
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
        arrays = pack_fkw(weight, op.patterns.patterns, order, layer=op.layer_name)
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
        )
        rewriter.replace(op, fkw)


@dataclass(frozen=True)
class FKWLayoutPass(ModulePass):
    """
    Stores every pattern convolution's weights in FKW format (PatDNN Section 5.3):
    `patdnn.pattern_conv2d` -> `patdnn.fkw_conv2d` with reorder, offset, index,
    pattern_bounds and weight arrays; kernels grouped by pattern inside each filter.
    """

    name = "fkw-layout"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(
            GreedyRewritePatternApplier([FKWLayoutPattern()]), apply_recursively=False
        ).rewrite_module(op)
        dce(op)
