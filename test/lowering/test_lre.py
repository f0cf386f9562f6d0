"""Load redundancy elimination (PatDNN Section 5.4) on random layers: it removes
vector loads, and the compiled code computes exactly the same numbers without them."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from xdsl.dialects import func, vector
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from patdnn.dialect.context import make_context, print_module
from patdnn.dialect.patdnn import Conv2dOp, PatternConv2dOp, PatternLibraryAttr
from patdnn.dialect.weights import WeightStore, attach_weights, make_constant, weights_of
from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass
from patdnn.lowering.fkw_layout import FKWLayoutPass
from patdnn.lowering.load_redundancy_elimination import LoadRedundancyEliminationPass
from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass
from patdnn.lowering.upstream import mlir_to_llvm_ir
from patdnn.lowering.vector.memory import pack_weight_blob, workspace_bytes
from patdnn.pruning.patterns import CANDIDATES, project_both
from patdnn.runtime.host import HostModule
from patdnn.runtime.signature import Signature
from patdnn.runtime.target import Target


@dataclass(frozen=True)
class Layer:
    id: str
    cin: int
    cout: int
    height: int
    width: int
    stride: int = 1
    padding: int = 1
    patterns: int | None = 8  # None: a dense layer
    connectivity: float = 1.0  # keep 1 kernel in `connectivity`
    empty_filters: int = 0
    vector_width: int = 4
    activation: str = "none"
    vertical: bool = False  # only patterns with the taps (0, 1) and (2, 1)


LAYERS = [
    Layer("8to16-9x11-k8-c2", 8, 16, 9, 11, connectivity=2.0, activation="relu"),
    # With stride 2, only taps two rows apart in one column read the same phase.
    Layer("3to5-7x5-s2-w8", 3, 5, 7, 5, stride=2, patterns=6, vector_width=8, vertical=True),
    Layer("4to6-9x9-s2-c1.2", 4, 6, 9, 9, stride=2, patterns=6, connectivity=1.2, vertical=True),
    Layer(
        "16to8-6x13-pad0-k12-c3.6",
        16,
        8,
        6,
        13,
        padding=0,
        patterns=12,
        connectivity=3.6,
        empty_filters=2,
    ),
    Layer(
        "12to12-10x10-k8-w16",
        12,
        12,
        10,
        10,
        connectivity=1.5,
        vector_width=16,
        activation="relu6",
    ),
    Layer("dense-6to8-8x9", 6, 8, 8, 9, patterns=None),
    Layer("dense-4to8-9x7-s2", 4, 8, 9, 7, stride=2, patterns=None, activation="relu"),
]


@dataclass
class LayerModule:
    module: ModuleOp
    weight: np.ndarray
    bias: np.ndarray
    out_shape: tuple[int, ...]


def layer_module(layer: Layer, rng: np.random.Generator) -> LayerModule:
    """`func @f(%x) { patdnn.pattern_conv2d (or conv2d) with a bias }` with random
    weights, pattern-pruned by the projections of `patdnn.pruning`."""
    weight = torch.from_numpy(rng.standard_normal((layer.cout, layer.cin, 3, 3), np.float32))
    if layer.patterns is not None:
        candidates = [p for p in CANDIDATES if not layer.vertical or {(0, 1), (2, 1)} <= set(p)]
        picks = rng.choice(len(candidates), size=layer.patterns, replace=False)
        library = tuple(candidates[int(i)] for i in sorted(picks))
        weight = project_both(weight, library, layer.connectivity)
        weight[rng.choice(layer.cout, size=layer.empty_filters, replace=False)] = 0.0
    w = weight.numpy()
    b = rng.standard_normal(layer.cout).astype(np.float32)
    h = (layer.height + 2 * layer.padding - 3) // layer.stride + 1
    wo = (layer.width + 2 * layer.padding - 3) // layer.stride + 1
    x_type = TensorType(f32, [1, layer.cin, layer.height, layer.width])
    y_type = TensorType(f32, [1, layer.cout, h, wo])
    block = Block(arg_types=[x_type])
    store = WeightStore()
    w_const = make_constant(w, f"{layer.id}.weight", store=store)
    b_const = make_constant(b, f"{layer.id}.bias", store=store)
    options = dict(
        bias=b_const,
        strides=(layer.stride, layer.stride),
        padding=(layer.padding, layer.padding),
        activation=layer.activation,
        layer=layer.id,
    )
    if layer.patterns is not None:
        conv: Conv2dOp | PatternConv2dOp = PatternConv2dOp(
            block.args[0], w_const, y_type, PatternLibraryAttr.from_patterns(library), **options
        )
    else:
        conv = Conv2dOp(block.args[0], w_const, y_type, **options)  # type: ignore[arg-type]
    block.add_ops([w_const, b_const, conv, func.ReturnOp(conv.result)])
    module = ModuleOp([func.FuncOp("f", ([x_type], [y_type]), Region(block))])
    attach_weights(module, store)
    module.verify()
    return LayerModule(module, w, b, (1, layer.cout, h, wo))


def vector_loads(module: ModuleOp) -> int:
    return sum(isinstance(op, vector.LoadOp) for op in module.walk())


def run(module: ModuleOp, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """Lowers `module` to LLVM IR for the host, JIT-compiles it and runs it on `x`."""
    target = Target.get("host")
    weights = pack_weight_blob(module) or b"\0"
    llvm_ir = mlir_to_llvm_ir(print_module(module, generic=True), target)
    signature = Signature.of(
        [x.shape], [out_shape], len(weights), workspace_size=workspace_bytes(module, "f")
    )
    result = HostModule(llvm_ir, "f", signature, target=target)(x, weights=weights)
    assert isinstance(result, np.ndarray)
    return result


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.id)
def test_lre_removes_loads_and_keeps_results(layer: Layer) -> None:
    rng = np.random.default_rng(zlib.crc32(layer.id.encode()))
    built = layer_module(layer, rng)
    module = built.module
    ctx = make_context()
    FilterKernelReorderPass().apply(ctx, module)
    FKWLayoutPass().apply(ctx, module)
    LowerPatdnnToVectorPass(vector_width=layer.vector_width).apply(ctx, module)
    module.verify()
    without = module.clone()
    attach_weights(without, weights_of(module))
    LoadRedundancyEliminationPass().apply(ctx, module)
    module.verify()

    before, after = vector_loads(without), vector_loads(module)
    assert after < before, f"{before} vector loads before LRE, {after} after"
    assert pack_weight_blob(module) == pack_weight_blob(without)

    x = rng.standard_normal((1, layer.cin, layer.height, layer.width)).astype(np.float32)
    with_lre = run(module, x, built.out_shape)
    without_lre = run(without, x, built.out_shape)
    assert np.array_equal(with_lre, without_lre)

    reference = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(built.weight),
        torch.from_numpy(built.bias),
        stride=layer.stride,
        padding=layer.padding,
    )
    if layer.activation == "relu":
        reference = torch.relu(reference)
    elif layer.activation == "relu6":
        reference = torch.clamp(reference, 0.0, 6.0)
    expected = reference.numpy()
    scale = max(float(np.abs(expected).max()), 1.0)
    assert float(np.abs(with_lre - expected).max()) < 1e-4 * scale
