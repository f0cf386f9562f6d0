"""Per-layer summary of a patdnn module: kind, shape, kernels kept, dense and pruned MACs.

Taken after `sparsify`, so block-sparse 1x1 convolutions and linear layers show as
`sparse_conv1x1` / `sparse_linear`: their kernels are single weights (kept: the non-zero
ones) and their MACs the stored block values the kernel multiplies (a strided one shows
its own stride and input plane, not the subsample's). Dense linear layers are not listed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from patdnn.dialect.patdnn import (
    Conv2dOp,
    FKWConv2dOp,
    PatternConv2dOp,
    Pool2dOp,
    SparseConv1x1Op,
    SparseLinearOp,
)
from patdnn.dialect.weights import constant_array


@dataclass
class LayerSummary:
    """One layer: what it is and how much work it does."""

    name: str
    kind: str
    shape: str
    kernels_kept: int
    kernels: int
    dense_macs: int
    macs: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _kept_kernels(weight: np.ndarray) -> int:
    """The kernels of a [Cout, Cin/groups, Kh, Kw] weight that are not all zero."""
    kernels = weight.shape[0] * weight.shape[1]
    return int(np.count_nonzero(np.abs(weight).reshape(kernels, -1).sum(axis=1)))


def image_macs(op: Conv2dOp | PatternConv2dOp | FKWConv2dOp, *, dense: bool = False) -> int:
    """The multiply-accumulates of a convolution for one image of its batch: every tap of
    every kernel at every output position. A pattern layer counts the taps of its kept
    kernels only, unless `dense` asks for the dense layer's count."""
    _, cin, _, _ = op.input.type.get_shape()
    _, cout, ho, wo = op.result.type.get_shape()
    if isinstance(op, FKWConv2dOp):
        kh, kw = op.kernel_values
        if dense:
            return cout * cin * kh * kw * ho * wo
        nnz, taps = op.weight.type.get_shape()
        return nnz * taps * ho * wo
    _, cin_g, kh, kw = op.weight.type.get_shape()
    if isinstance(op, PatternConv2dOp) and not dense:
        taps = len(op.patterns.patterns[0])
        return _kept_kernels(constant_array(op.weight)) * taps * ho * wo
    return cout * cin_g * kh * kw * ho * wo


def summarize_layers(module: ModuleOp) -> tuple[list[LayerSummary], list[list[tuple[int, int]]]]:
    """Summaries of the layer ops of `module` (at the patdnn or sparsify stage) and its
    pattern library."""
    layers: list[LayerSummary] = []
    library: list[list[tuple[int, int]]] = []
    for op in module.walk():
        if isinstance(op, SparseConv1x1Op | SparseLinearOp):
            layers.append(_sparse_summary(op))
            continue
        if not isinstance(op, Conv2dOp | PatternConv2dOp):
            continue
        n, cin, h, w = op.input.type.get_shape()
        _, cout, ho, wo = op.result.type.get_shape()
        weight = constant_array(op.weight)
        _, cin_g, kh, kw = weight.shape
        kernels = weight.shape[0] * cin_g
        kept = _kept_kernels(weight)
        dense_macs = n * image_macs(op, dense=True)
        macs = n * image_macs(op)
        if isinstance(op, PatternConv2dOp):
            kind = "pattern conv"
            library = [list(p) for p in op.patterns.patterns]
        else:
            kind = "depthwise conv" if op.group_count == cin == cout else "conv"
        stride = op.stride_values[0]
        shape = f"{cin}->{cout} {kh}x{kw}/{stride} {h}x{w}->{ho}x{wo}"
        layers.append(LayerSummary(op.layer_name, kind, shape, kept, kernels, dense_macs, macs))
    return layers, library


def _sparse_summary(op: SparseConv1x1Op | SparseLinearOp) -> LayerSummary:
    in_shape = op.input.type.get_shape()
    out_shape = op.result.type.get_shape()
    values = constant_array(op.values)
    kept = int(np.count_nonzero(values))
    if isinstance(op, SparseConv1x1Op):
        n, cin, h, w = in_shape
        _, cout, ho, wo = out_shape
        pixels, kind, stride = n * ho * wo, "sparse_conv1x1", 1
        source = op.input.owner
        if isinstance(source, Pool2dOp) and source.kernel_values == (1, 1):
            # a strided 1x1 layer: `sparsify` subsampled its input
            _, _, h, w = source.input.type.get_shape()
            stride = source.stride_values[0]
        shape = f"{cin}->{cout} 1x1/{stride} {h}x{w}->{ho}x{wo}"
    else:
        n, cin = in_shape[0], int(np.prod(in_shape[1:]))
        cout = out_shape[-1]
        pixels, kind, shape = n, "sparse_linear", f"{cin}->{cout}"
    return LayerSummary(
        op.layer_name, kind, shape, kept, cout * cin, pixels * cout * cin, pixels * values.size
    )
