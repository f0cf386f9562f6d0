"""Per-layer summary of a patdnn module: kind, shape, kernels kept, dense and pruned MACs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from patdnn.dialect.patdnn import Conv2dOp, FKWConv2dOp, PatternConv2dOp
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
    """Summaries of the layer ops of `module` (at the patdnn stage) and its pattern library."""
    layers: list[LayerSummary] = []
    library: list[list[tuple[int, int]]] = []
    for op in module.walk():
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
