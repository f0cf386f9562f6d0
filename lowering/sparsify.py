"""`sparsify`: 1x1 convolutions and linear layers with enough zero weights -> block-sparse ops.

A `patdnn.conv2d` with a 1x1 kernel (no padding, one group) or a
`patdnn.linear` whose weight W[out][in] has at least `threshold` zeros becomes a
`patdnn.sparse_conv1x1` / `patdnn.sparse_linear` when the cost estimate of
`vector.tiling` (`sparse_conv_cost`, `sparse_linear_cost` against the dense `out * in`)
says the sparse kernel is faster. The zeros are read from the weights: any zeros give
the right result; whole zero blocks make it fast. A strided 1x1 convolution (ResNet's
downsample layers) reads its input through a `patdnn.pool2d` with a 1x1 window and its
strides (the pixels it uses, copied once), then is a stride-1 sparse 1x1 convolution.

The weight is stored by blocks of `bo` consecutive output rows (see `SparseMatmulOp`):
for each block the input columns where any of its rows is non-zero, and their `bo`
values (zeros inside a kept block stored as they are). `bo` is the compiler's choice,
not the pruning's: 4 for a 1x1 convolution (`SPARSE_CONV_BLOCK`), for a linear layer the
candidate of `linear_block_candidates` with the lowest estimated cost.

Every rewritten layer, and every layer above the threshold that stays dense, gets a
`patdnn.remark` naming the layer, the chosen form and the estimate.

`pack_sparse` and `unpack_sparse` are the pure numpy halves of the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float32Type, ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.transforms.dead_code_elimination import dce

from patdnn.dialect.patdnn import Conv2dOp, LinearOp, Pool2dOp, SparseConv1x1Op, SparseLinearOp
from patdnn.dialect.weights import constant_array, is_inline_constant, make_constant, weights_of
from patdnn.errors import LoweringError, PatdnnError
from patdnn.lowering.convert_torch_to_patdnn import REMARK_ATTR
from patdnn.lowering.fkw_layout import weight_base
from patdnn.lowering.vector.pointwise import reads_in_place
from patdnn.lowering.vector.tiling import (
    DEFAULT_SPARSE,
    SPARSE_CONV_BLOCK,
    SparseOptions,
    linear_block_candidates,
    sparse_conv_cost,
    sparse_linear_cost,
)

SPARSE_ARRAY_NAMES = ("offset", "index", "values")
"""The sparse arrays, in the operand order of the sparse ops."""


class SparseLayoutError(PatdnnError):
    """Sparse arrays that do not describe a weight of the given shape."""


@dataclass(frozen=True, eq=False)
class SparseArrays:
    """A W[out][in] weight by blocks of `bo` output rows; see `SparseMatmulOp`."""

    offset: np.ndarray
    """int32 [ceil(out/bo) + 1]: the stored range of each block of rows."""
    index: np.ndarray
    """int32 [nnz]: the input column of each stored column block."""
    values: np.ndarray
    """float32 [nnz][bo]: the weights of each stored column block."""

    @property
    def block_rows(self) -> int:
        return int(self.values.shape[1])

    def named(self) -> tuple[tuple[str, np.ndarray], ...]:
        return tuple((name, getattr(self, name)) for name in SPARSE_ARRAY_NAMES)


def _row_blocks(weight: np.ndarray, bo: int) -> np.ndarray:
    """W[out][in] seen as [blocks][bo][in], the last block padded with zero rows."""
    rows, cols = weight.shape
    blocks = -(-rows // bo)
    if blocks * bo != rows:
        padded = np.zeros((blocks * bo, cols), dtype=np.float32)
        padded[:rows] = weight
        weight = padded
    return weight.reshape(blocks, bo, cols)


def kept_blocks(weight: np.ndarray, bo: int) -> int:
    """How many (bo x 1) blocks of W[out][in] hold a non-zero."""
    return int(np.count_nonzero(np.any(_row_blocks(weight, bo) != 0, axis=1)))


def pack_sparse(weight: np.ndarray, bo: int) -> SparseArrays:
    """The block-sparse storage of a float32 W[out][in] by blocks of `bo` rows."""
    if weight.ndim != 2 or bo < 1:
        raise SparseLayoutError(f"expected a 2-D weight and bo >= 1, got {weight.shape}, {bo}")
    view = _row_blocks(np.asarray(weight, dtype=np.float32), bo)
    kept = np.any(view != 0, axis=1)  # [blocks][in]
    b, c = np.nonzero(kept)  # block-major, columns increasing inside a block
    offset = np.zeros(view.shape[0] + 1, dtype=np.int32)
    offset[1:] = np.cumsum(kept.sum(axis=1))
    values = np.ascontiguousarray(view[b, :, c], dtype=np.float32).reshape(len(b), bo)
    return SparseArrays(offset, c.astype(np.int32), values)


def unpack_sparse(arrays: SparseArrays, shape: tuple[int, int]) -> np.ndarray:
    """The dense float32 W[out][in] of `arrays`."""
    from patdnn.dialect.patdnn import verify_sparse_arrays

    rows, cols = shape
    bo = arrays.block_rows
    blocks = -(-rows // bo)
    if arrays.offset.shape != (blocks + 1,) or arrays.values.shape[0] != arrays.index.shape[0]:
        raise SparseLayoutError(
            f"sparse arrays (offset {arrays.offset.shape}, index {arrays.index.shape}, "
            f"values {arrays.values.shape}) do not describe a {rows}x{cols} weight"
        )
    problem = verify_sparse_arrays(arrays.offset, arrays.index, blocks, cols)
    if problem is not None:
        raise SparseLayoutError(problem)
    dense = np.zeros((blocks, bo, cols), dtype=np.float32)
    block = np.repeat(np.arange(blocks), np.diff(arrays.offset.astype(np.int64)))
    dense[block, :, arrays.index.astype(np.int64)] = arrays.values
    if np.any(dense.reshape(blocks * bo, cols)[rows:]):
        raise SparseLayoutError(f"sparse values set rows past the {rows} rows of the weight")
    return dense.reshape(blocks * bo, cols)[:rows]


@dataclass(frozen=True)
class SparseChoice:
    """What `sparsify` decided for one layer."""

    sparse: bool
    bo: int
    kept: int
    """Stored (bo x 1) blocks."""
    zeros: float
    """The share of zero weights."""
    speedup: float
    """Estimated dense cost / sparse cost."""


def choose_form(
    weight: np.ndarray, kind: str, vector_width: int, options: SparseOptions = DEFAULT_SPARSE
) -> SparseChoice | None:
    """Sparse or dense for W[out][in] of a "conv" (1x1) or "linear" layer; None below
    the threshold share of zeros (no estimate made)."""
    zeros = 1.0 - np.count_nonzero(weight) / max(weight.size, 1)
    if zeros < options.threshold:
        return None
    dense = float(weight.size)
    if kind == "conv":
        bo = SPARSE_CONV_BLOCK
        kept = kept_blocks(weight, bo)
        cost = sparse_conv_cost(kept, bo, options)
    else:
        costs = []
        for bo in linear_block_candidates(vector_width):
            kept = kept_blocks(weight, bo)
            # Ties go to the larger block: fewer, longer vectors.
            costs.append((sparse_linear_cost(kept, bo, options), -bo, kept))
        cost, neg_bo, kept = min(costs)
        bo = -neg_bo
    speedup = dense / cost if cost > 0 else float("inf")
    return SparseChoice(speedup > 1.0, bo, kept, zeros, speedup)


def _remark(layer: str, choice: SparseChoice, kind: str, rows: int, cols: int) -> str:
    blocks = -(-rows // choice.bo) * cols
    form = f"patdnn.sparse_{'conv1x1' if kind == 'conv' else 'linear'}"
    what = form if choice.sparse else "dense"
    if choice.kept == 0:
        estimate = "nothing to multiply"
    else:
        estimate = f"estimated {choice.speedup:.2f}x the dense speed"
    return (
        f"layer '{layer}': {what} ({choice.zeros:.0%} zero weights, "
        f"{choice.kept} of {blocks} blocks of {choice.bo}x1 kept, {estimate})"
    )


def subsampled_input(layer: Conv2dOp) -> SSAValue:
    """The input of a 1x1, unpadded convolution as the same layer of stride 1 reads it:
    for other strides, the pixels it uses, through a `patdnn.pool2d` of a 1x1 window and
    the layer's strides inserted before it (copied once); the input itself otherwise."""
    if layer.stride_values == (1, 1):
        return layer.input
    n, cin = layer.input.type.get_shape()[:2]
    ho, wo = layer.result.type.get_shape()[2:]
    subsample = Pool2dOp(
        layer.input,
        TensorType(Float32Type(), [n, cin, ho, wo]),
        kind="max",
        kernel=(1, 1),
        strides=layer.stride_values,
        padding=(0, 0),
        layer=layer.layer.data if layer.layer is not None else None,
    )
    Rewriter.insert_op(subsample, InsertPoint.before(layer))
    return subsample.result


@dataclass(frozen=True)
class SparsifyPass(ModulePass):
    """
    Rewrites 1x1 convolutions (no padding, one group; strided ones after a 1x1-window
    `patdnn.pool2d` that subsamples their input) and linear layers whose
    weights have at least `threshold` zeros into `patdnn.sparse_conv1x1` /
    `patdnn.sparse_linear` when the cost estimate says they are faster than dense.

    Options: `threshold` (share of zero weights, 0..1), `vector-width` (the target's f32
    lanes, for the linear block size), and the costs of `vector.tiling.SparseOptions`
    (`conv-mac-cost`, `conv-block-overhead`, `linear-block-overhead`).
    """

    name = "sparsify"

    threshold: float = DEFAULT_SPARSE.threshold
    vector_width: int = 8
    conv_mac_cost: float = DEFAULT_SPARSE.conv_mac_cost
    conv_block_overhead: float = DEFAULT_SPARSE.conv_block_overhead
    linear_block_overhead: float = DEFAULT_SPARSE.linear_block_overhead

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise LoweringError(f"threshold must be in 0..1, got {self.threshold}")
        if self.vector_width < 1:
            raise LoweringError(f"vector-width must be positive, got {self.vector_width}")
        costs = (self.conv_mac_cost, self.conv_block_overhead, self.linear_block_overhead)
        if any(c < 0 for c in costs):
            raise LoweringError("sparsify costs must not be negative")
        options = SparseOptions(self.threshold, *costs)
        for layer in list(op.walk()):
            if isinstance(layer, Conv2dOp) and is_pointwise(layer):
                self._rewrite(layer, "conv", options)
            elif isinstance(layer, LinearOp):
                self._rewrite(layer, "linear", options)
        dce(op)

    def _rewrite(self, layer: Conv2dOp | LinearOp, kind: str, options: SparseOptions) -> None:
        try:
            weight = constant_array(layer.weight)
        except PatdnnError:
            return  # a weight computed at run time stays dense
        weight = weight.reshape(weight.shape[0], -1)
        choice = choose_form(weight, kind, self.vector_width, options)
        if choice is None:
            return
        rows, cols = weight.shape
        remark = StringAttr(_remark(layer.layer_name, choice, kind, rows, cols))
        if not choice.sparse:
            layer.attributes[REMARK_ATTR] = remark
            return
        arrays = pack_sparse(weight, choice.bo)
        base = weight_base(layer.weight, layer.layer_name)
        inline = is_inline_constant(layer.weight)
        constants: list[Operation] = []
        for name, array in arrays.named():
            constant = make_constant(
                array, f"{base}.sparse_{name}", store=weights_of(layer), inline=inline
            )
            constant.result.name_hint = name
            Rewriter.insert_op(constant, InsertPoint.before(layer))
            constants.append(constant)
        results = [c.results[0] for c in constants]
        if isinstance(layer, Conv2dOp):
            new: Operation = SparseConv1x1Op(
                subsampled_input(layer),
                results,
                layer.result.type,
                bias=layer.bias,
                residual=layer.residual,
                activation=layer.activation.data,
                layer=layer.layer,
            )
        else:
            new = SparseLinearOp(
                layer.input,
                results,
                layer.result.type,
                bias=layer.bias,
                activation=layer.activation.data,
                layer=layer.layer,
            )
        new.attributes[REMARK_ATTR] = remark
        Rewriter.replace_op(layer, new)


def is_pointwise(op: Conv2dOp) -> bool:
    """A 1x1, unpadded, one-group convolution (any stride)."""
    _, _, kh, kw = op.weight.type.get_shape()
    return op.group_count == 1 and reads_in_place((kh, kw), (1, 1), op.padding_values)
