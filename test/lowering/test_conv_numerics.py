"""Compiled convolutions against PyTorch on the same (pattern-pruned) weights.

Every case is a small `nn.Sequential` of `nn.Conv2d` (+ `BatchNorm2d`, `ReLU`, `ReLU6`),
built once, compiled with `patdnn.compile` for the host (JIT) and for aarch64 (run under
qemu-aarch64), and compared with the model's own output: the largest absolute error
must stay below 1e-4 x max(|reference|, 1). Pattern layers are pruned with a random
library of 4-tap patterns (PatDNN Section 3.1) and a random connectivity (Section 3.2).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.dialects import arith, scf, vector
from xdsl.dialects.builtin import BoolAttr, DictionaryAttr, IntegerAttr, ModuleOp, i64
from xdsl.ir import Block, Operation

import patdnn
from patdnn.dialect.context import make_context, print_module
from patdnn.dialect.patdnn import Conv2dOp, FKWConv2dOp, PatternLibraryAttr
from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass
from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass
from patdnn.lowering.fkw_layout import FKWLayoutPass
from patdnn.lowering.load_redundancy_elimination import LoadRedundancyEliminationPass
from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass
from patdnn.lowering.upstream import mlir_to_llvm_ir
from patdnn.lowering.vector.conv import unscaled_bases
from patdnn.lowering.vector.memory import pack_weight_blob, workspace_bytes
from patdnn.pruning.patterns import CANDIDATES, Library
from patdnn.runtime.host import HostModule
from patdnn.runtime.signature import Signature
from patdnn.runtime.target import Target

TOLERANCE = 1e-4
TARGETS = ["host", "aarch64"]


# ---------------------------------------------------------------------------
# Pattern pruning of a layer
# ---------------------------------------------------------------------------


def random_library(rng: np.random.Generator, k: int) -> Library:
    """`k` distinct patterns drawn from the 56 candidates (all keep the centre)."""
    picks = rng.choice(len(CANDIDATES), size=k, replace=False)
    return tuple(CANDIDATES[int(i)] for i in sorted(picks))


def pattern_prune(
    conv: nn.Conv2d,
    library: Library,
    keep: float,
    rng: np.random.Generator,
    *,
    empty_filters: int = 0,
) -> None:
    """Prunes a 3x3 `conv` in place: every kernel keeps the taps of a random pattern of
    `library`; round(keep x kernels) random kernels survive connectivity pruning, and
    `empty_filters` random filters lose all their kernels."""
    cout, cin, kh, kw = conv.weight.shape
    assert (kh, kw) == (3, 3) and conv.groups == 1
    mask = np.zeros((cout, cin, 3, 3), dtype=np.float32)
    for f in range(cout):
        for c in range(cin):
            for r, q in library[int(rng.integers(len(library)))]:
                mask[f, c, r, q] = 1.0
    kernels = cout * cin
    kept = np.zeros(kernels, dtype=bool)
    kept[rng.choice(kernels, size=round(keep * kernels), replace=False)] = True
    mask *= kept.reshape(cout, cin, 1, 1)
    mask[rng.choice(cout, size=min(empty_filters, cout), replace=False)] = 0.0
    with torch.no_grad():
        conv.weight.mul_(torch.from_numpy(mask))


# ---------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One `nn.Conv2d` (+ batch norm, + activation); `patterns` = K prunes it."""

    cin: int
    cout: int
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    groups: int = 1
    bias: bool = True
    bn: bool = False
    act: str = "none"  # "relu", "relu6"
    patterns: int | None = None
    keep: float = 1.0
    empty_filters: int = 0


@dataclass(frozen=True)
class Case:
    id: str
    layers: tuple[Layer, ...]
    height: int
    width: int
    batch: int = 1


def P(cin: int, cout: int, patterns: int = 8, **kw: Any) -> Layer:  # noqa: N802
    return Layer(cin, cout, patterns=patterns, **kw)


def D(cin: int, cout: int, **kw: Any) -> Layer:  # noqa: N802
    return Layer(cin, cout, **kw)


PATTERN_CASES = [
    Case("3to5-7x9-k8-relu", (P(3, 5, act="relu"),), 7, 9),
    Case("1to1-13x5-k6-nobias", (P(1, 1, 6, bias=False),), 13, 5),
    Case("4to6-1x11-k8-keep0.5", (P(4, 6, keep=0.5),), 1, 11),
    Case("5to7-9x3-narrow-k12", (P(5, 7, 12, keep=0.75, act="relu6"),), 9, 3),
    Case("6to4-5x1-w1", (P(6, 4, 6, keep=0.5),), 5, 1),
    Case("8to12-7x9-pad0-k6", (P(8, 12, 6, padding=0, keep=0.5),), 7, 9),
    Case("8to12-13x11-s2", (P(8, 12, stride=2, keep=0.5, empty_filters=2),), 13, 11),
    Case("6to10-9x7-s2-pad0", (P(6, 10, 12, stride=2, padding=0, keep=0.4),), 9, 7),
    Case("4to8-12x10-s2-even", (P(4, 8, stride=2, act="relu"),), 12, 10),
    Case(
        "17to33-9x7-k12-keep0.25-empty",
        (P(17, 33, 12, keep=0.25, empty_filters=3, act="relu6"),),
        9,
        7,
    ),
    Case(
        "64to72-6x6-keep0.28-bn-relu",
        (P(64, 72, 8, keep=0.28, empty_filters=4, bias=False, bn=True, act="relu"),),
        6,
        6,
    ),
    Case("1to16-5x6-none-pruned-bn-relu6", (P(1, 16, 8, bn=True, act="relu6"),), 5, 6),
    Case("3to4-6x5-all-pruned", (P(3, 4, 8, keep=0.0),), 6, 5),
    Case("5to6-5x7-all-pruned-nobias", (P(5, 6, 6, keep=0.0, bias=False),), 5, 7),
    Case("2to3-7x7-batch2", (P(2, 3, keep=0.5, act="relu"),), 7, 7, batch=2),
    # Rows of 2 and 4 vectors of 16 lanes with a tail, and row counts no tile divides:
    # the AVX-512 default tiles (6 x 4 and 10 x 2) with their tail blocks; 53 columns
    # end in 5 (computed on 8 lanes, `narrow-tail`), 61 in 13 (on 16).
    Case("9to11-13x53-keep0.3-empty", (P(9, 11, keep=0.3, empty_filters=2, act="relu"),), 13, 53),
    Case("6to10-13x61-keep0.3", (P(6, 10, keep=0.3, act="relu"),), 13, 61),
    Case("6to9-15x57-s2", (P(6, 9, stride=2, keep=0.4),), 15, 57),
    Case("7to5-23x22-pad0-k6", (P(7, 5, 6, padding=0, keep=0.5),), 23, 22),
    # 14 and 28 outputs a row: with the halo, 16 and 32 floats, the rows of the copy
    # have no spare vector and the last lanes of a row read the next row
    Case("8to6-14x14-keep0.4", (P(8, 6, keep=0.4, act="relu"),), 14, 14),
    Case("5to7-28x28-keep0.3-empty", (P(5, 7, keep=0.3, empty_filters=1),), 28, 28),
    # Scratch planes of 64 and 144 cache lines, strided one line more (`plane_stride`):
    # 32 x 32 floats, and 2 x 2 stride phases of 24 x 24.
    Case("5to8-30x30-keep0.4-relu", (P(5, 8, keep=0.4, act="relu"),), 30, 30),
    Case("4to6-45x41-s2-keep0.5", (P(4, 6, stride=2, keep=0.5, empty_filters=1),), 45, 41),
    # 256 input channels: the kernels prefetched ahead, and on aarch64 the copy's rows
    # padded to whole lines (`line-rows`: 9 outputs and the halo, 16 floats, not 12)
    Case("256to4-5x9-keep0.3-prefetch", (P(256, 4, keep=0.3, act="relu"),), 5, 9),
    Case(
        "stem-dense-then-patterns",
        (
            D(3, 8, stride=2, act="relu"),
            P(8, 16, keep=0.5, act="relu"),
            P(16, 16, stride=2, keep=0.3, bias=False, bn=True, act="relu6"),
        ),
        11,
        13,
    ),
]

DENSE_CASES = [
    Case("dense3x3-3to8-9x7-relu", (D(3, 8, act="relu"),), 9, 7),
    Case("dense3x3-4to6-7x9-pad0-nobias", (D(4, 6, padding=0, bias=False),), 7, 9),
    Case("dense1x1-16to24-5x7", (D(16, 24, kernel=1, padding=0),), 5, 7),
    Case("dense1x1-3to5-4x3-s2", (D(3, 5, kernel=1, padding=0, stride=2),), 4, 3),
    # Strided 1x1 layers subsample first, then run flat (`subsample_strided_pointwise`):
    # odd planes, the tile over output channels (64 input channels), a batch of two.
    Case(
        "dense1x1-20to36-15x13-s2-relu",
        (D(20, 36, kernel=1, padding=0, stride=2, act="relu"),),
        15,
        13,
    ),
    Case("dense1x1-64to40-30x29-s2", (D(64, 40, kernel=1, padding=0, stride=2),), 30, 29),
    Case(
        "dense1x1-64to48-9x11-s2-bn-batch2",
        (D(64, 48, kernel=1, padding=0, stride=2, bn=True),),
        9,
        11,
        2,
    ),
    # The last pixels of the flat plane as dot products: 1 pixel past whole vectors on 16
    # and on 4 lanes (7 x 7), 4 on 16 lanes (14 x 14), 1 on 4 lanes (5 x 5), batch 2.
    Case("dense1x1-32to20-7x7-relu", (D(32, 20, kernel=1, padding=0, act="relu"),), 7, 7),
    Case("dense1x1-48to9-14x14-nobias", (D(48, 9, kernel=1, padding=0, bias=False),), 14, 14),
    Case("dense1x1-16to6-5x5-bn-batch2", (D(16, 6, kernel=1, padding=0, bn=True),), 5, 5, 2),
    # Input channels in chunks (`pointwise_chunk`): 2 to 4 chunks on 4 and 8 lanes, the
    # last one shorter; with the dot-product pixels (7 x 7), a masked last vector and a
    # channel count no vector divides (14 x 14), batch 2.
    Case("dense1x1-400to20-7x7-relu6", (D(400, 20, kernel=1, padding=0, act="relu6"),), 7, 7),
    Case("dense1x1-260to13-14x14-nobias", (D(260, 13, kernel=1, padding=0, bias=False),), 14, 14),
    Case("dense1x1-392to7-5x9-bn-batch2", (D(392, 7, kernel=1, padding=0, bn=True),), 5, 9, 2),
    Case("dense5x5-4to6-11x9-pad2-relu6", (D(4, 6, kernel=5, padding=2, act="relu6"),), 11, 9),
    Case(
        "dense7x7-3to8-13x11-s2-pad3-bn",
        (D(3, 8, kernel=7, stride=2, padding=3, bn=True),),
        13,
        11,
    ),
    Case("depthwise-8-7x9-relu6", (D(8, 8, groups=8, act="relu6"),), 7, 9),
    Case("depthwise-6-9x7-s2-bn", (D(6, 6, groups=6, stride=2, bias=False, bn=True),), 9, 7),
    # Depthwise (`vector.depthwise`): widths no multiple of 16 or 4, rows that straddle
    # both paddings, no padding, 5x5, channel multipliers, more groups than tasks, batch 2.
    Case("depthwise-5-13x21-s2", (D(5, 5, groups=5, stride=2, act="relu"),), 13, 21),
    Case("depthwise-7-11x37-pad0", (D(7, 7, groups=7, padding=0),), 11, 37),
    Case("depthwise-4-9x19-s2-pad0", (D(4, 4, groups=4, stride=2, padding=0),), 9, 19),
    Case("depthwise-3-6x1-s2", (D(3, 3, groups=3, stride=2),), 6, 1),
    Case("depthwise-3-5x2", (D(3, 3, groups=3, act="relu6"),), 5, 2),
    Case(
        "depthwise5x5-6-12x35-s2-pad2",
        (D(6, 6, kernel=5, groups=6, stride=2, padding=2, bias=False),),
        12,
        35,
    ),
    Case("depthwise-mult2-3to6-9x11", (D(3, 6, groups=3, act="relu"),), 9, 11),
    Case("depthwise-mult3-4to12-10x18-s2", (D(4, 12, groups=4, stride=2),), 10, 18),
    Case("depthwise-20-7x33-s2-batch2", (D(20, 20, groups=20, stride=2, bn=True),), 7, 33, 2),
    Case("depthwise-19-8x17-batch2", (D(19, 19, groups=19, act="relu6"),), 8, 17, 2),
    Case("grouped2-6to10-9x9-s2", (D(6, 10, groups=2, stride=2, act="relu"),), 9, 9),
    Case("grouped2-8to8-5x13", (D(8, 8, groups=2),), 5, 13),
]

CASES = {c.id: c for c in PATTERN_CASES + DENSE_CASES}


@dataclass
class Built:
    model: nn.Module
    input: torch.Tensor
    reference: np.ndarray
    library: Library | None
    pattern_layers: list[bool]


def _seed(case_id: str) -> int:
    return zlib.crc32(case_id.encode())


@cache
def build(case: Case) -> Built:
    """The model of `case` with pruned weights, an input and PyTorch's output."""
    rng = np.random.default_rng(_seed(case.id))
    torch.manual_seed(_seed(case.id))
    k = max((layer.patterns or 0 for layer in case.layers), default=0)
    library = random_library(rng, k) if k else None
    modules: list[nn.Module] = []
    for layer in case.layers:
        conv = nn.Conv2d(
            layer.cin,
            layer.cout,
            layer.kernel,
            stride=layer.stride,
            padding=layer.padding,
            groups=layer.groups,
            bias=layer.bias,
        )
        if layer.patterns is not None:
            assert library is not None
            pattern_prune(
                conv, library[: layer.patterns], layer.keep, rng, empty_filters=layer.empty_filters
            )
        modules.append(conv)
        if layer.bn:
            bn = nn.BatchNorm2d(layer.cout)
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
                bn.running_mean.uniform_(-0.3, 0.3)
                bn.running_var.uniform_(0.5, 2.0)
            modules.append(bn)
        if layer.act == "relu":  # in place, as torchvision writes its models
            modules.append(nn.ReLU(inplace=True))
        elif layer.act == "relu6":
            modules.append(nn.ReLU6(inplace=True))
    model = nn.Sequential(*modules).eval()
    x = torch.randn(case.batch, case.layers[0].cin, case.height, case.width) * 2.0
    with torch.no_grad():
        reference = model(x).numpy()
    # A layer with a pattern but no kernel left is still a pattern layer (all zeros).
    pattern_layers = [layer.patterns is not None for layer in case.layers]
    return Built(model, x, reference, library, pattern_layers)


def check_close(result: np.ndarray, reference: np.ndarray) -> None:
    assert result.shape == reference.shape
    scale = max(float(np.abs(reference).max(initial=0.0)), 1.0)
    error = float(np.abs(result - reference).max(initial=0.0))
    assert error < TOLERANCE * scale, f"max abs error {error} (scale {scale})"


def compile_case(case: Case, target: str, **options: Any) -> tuple[Built, Any]:
    built = build(case)
    compiled = patdnn.compile(
        built.model,
        built.input,
        target=target,
        library=built.library,
        keep_stages=False,
        **options,
    )
    return built, compiled


# ---------------------------------------------------------------------------
# Tests through `patdnn.compile`
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", PATTERN_CASES, ids=lambda c: c.id)
def test_pattern_conv(case: Case, target: str) -> None:
    built, compiled = compile_case(case, target)
    kinds = [layer.kind for layer in compiled.layers]
    assert [kind == "pattern conv" for kind in kinds] == built.pattern_layers, kinds
    check_close(compiled(built.input), built.reference)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("case", DENSE_CASES, ids=lambda c: c.id)
def test_dense_conv(case: Case, target: str) -> None:
    built, compiled = compile_case(case, target)
    (summary,) = compiled.layers
    (layer,) = case.layers
    depthwise = layer.groups == layer.cin == layer.cout
    assert summary.kind == ("depthwise conv" if depthwise else "conv")
    check_close(compiled(built.input), built.reference)


@pytest.mark.parametrize(
    "case",
    [CASES[name] for name in ("17to33-9x7-k12-keep0.25-empty", "stem-dense-then-patterns")],
    ids=lambda c: c.id,
)
def test_library_extracted_from_weights(case: Case) -> None:
    """Without `library`, the pattern library is the most frequent kernel supports."""
    built = build(case)
    assert built.library is not None
    compiled = patdnn.compile(
        built.model, built.input, num_patterns=len(built.library), keep_stages=False
    )
    kinds = [layer.kind for layer in compiled.layers]
    assert [kind == "pattern conv" for kind in kinds] == built.pattern_layers, kinds
    assert set(map(tuple, compiled.library)) <= set(built.library)
    check_close(compiled(built.input), built.reference)


WIDTH_CASES = [
    CASES[name]
    for name in (
        "5to7-9x3-narrow-k12",
        "4to6-1x11-k8-keep0.5",
        "8to12-13x11-s2",
        "17to33-9x7-k12-keep0.25-empty",
        "dense5x5-4to6-11x9-pad2-relu6",
        "grouped2-6to10-9x9-s2",
        "dense1x1-400to20-7x7-relu6",
    )
]


@pytest.mark.parametrize("vector_width", [4, 8, 16])
@pytest.mark.parametrize("case", WIDTH_CASES, ids=lambda c: c.id)
def test_host_vector_widths(case: Case, vector_width: int) -> None:
    built, compiled = compile_case(case, "host", vector_width=vector_width)
    assert f"<{vector_width} x float>" in compiled.llvm_ir
    check_close(compiled(built.input), built.reference)


class ChunkedResidual(nn.Module):
    """relu(conv1x1(x) + x) over enough input channels to run in chunks, written as
    torchvision writes its blocks (an in-place add and ReLU): the residual and the
    activation apply once, after the last chunk."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        out += x
        return self.relu(out)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("plane", [(7, 7), (6, 11)])
def test_pointwise_chunks_with_residual(target: str, plane: tuple[int, int]) -> None:
    torch.manual_seed(7)
    model = ChunkedResidual(264).eval()
    x = torch.randn(1, 264, *plane)
    with torch.no_grad():
        reference = model(x).numpy()
    compiled = patdnn.compile(model, x, target=target, keep_stages=False)
    (summary,) = compiled.layers
    assert summary.kind == "conv"
    check_close(compiled(x), reference)


# ---------------------------------------------------------------------------
# Tile overrides: the pipeline by hand, with `tuning` set on the layer op
# ---------------------------------------------------------------------------


def compile_with_tuning(
    built: Built, tuning: dict[str, int], vector_width: int, **lowering: int
) -> tuple[HostModule, bytes, int, ModuleOp]:
    """Runs the pipeline stage by stage, setting `tuning` on every layer before the
    vector lowering (with the `lowering` options of `lower-patdnn-to-vector`). Returns
    the JIT-compiled module, its weights, the size of the largest register tile (the most
    vectors an `scf.for` carries) and the lowered module."""
    from patdnn.frontend.importer import import_model

    imported = import_model(built.model, built.input)
    module: ModuleOp = imported.module
    ctx = make_context()
    library = str(PatternLibraryAttr.from_patterns(built.library)) if built.library else ""
    ConvertTorchToPatdnnPass(library=library).apply(ctx, module)
    FilterKernelReorderPass().apply(ctx, module)
    FKWLayoutPass().apply(ctx, module)
    attr = DictionaryAttr({k: IntegerAttr(v, i64) for k, v in tuning.items()})
    for op in module.walk():
        if isinstance(op, Conv2dOp | FKWConv2dOp):
            op.tuning = attr
    LowerPatdnnToVectorPass(vector_width=vector_width, **lowering).apply(ctx, module)
    LoadRedundancyEliminationPass().apply(ctx, module)
    module.verify()
    tile = max([len(op.results) for op in module.walk() if isinstance(op, scf.ForOp)])
    if tile == 0:  # a tile unrolled over its taps (depthwise): its chains of FMAs
        tile = max(
            _fma_chains(block) for op in module.walk() for r in op.regions for block in r.blocks
        )
    weights = pack_weight_blob(module) or b"\0"
    target = Target.get("host")
    llvm_ir = mlir_to_llvm_ir(print_module(module, generic=True), target)
    signature = Signature.of(
        imported.input_shapes,
        imported.output_shapes,
        len(weights),
        workspace_size=workspace_bytes(module, "forward"),
    )
    return HostModule(llvm_ir, "forward", signature, target=target), weights, tile, module


def _fma_widths(module: ModuleOp) -> set[int]:
    """The lane counts of the module's vector FMAs."""
    return {
        op.results[0].type.get_shape()[0] for op in module.walk() if isinstance(op, vector.FMAOp)
    }  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("case", "tuning", "lanes", "widths"),
    [
        (CASES["9to11-13x53-keep0.3-empty"], {}, 16, {8, 16}),  # 53 = 3 x 16 + 5
        (CASES["6to10-13x61-keep0.3"], {}, 16, {16}),  # 61 = 3 x 16 + 13
        (CASES["17to33-9x7-k12-keep0.25-empty"], {}, 16, {8}),  # 7 columns: one vector
        (CASES["dense3x3-3to8-9x7-relu"], {}, 16, {8}),
        (CASES["depthwise-7-11x37-pad0"], {}, 16, {8, 16}),  # 35 = 2 x 16 + 3
        (CASES["6to9-15x57-s2"], {}, 16, {16}),  # 29 = 16 + 13
        # 8 lanes: tiles of one filter only
        (CASES["5to7-28x28-keep0.3-empty"], {}, 8, {4, 8}),  # 28 = 3 x 8 + 4
        (CASES["3to5-7x9-k8-relu"], {}, 8, {4, 8}),  # 9 = 8 + 1
        (CASES["9to11-13x53-keep0.3-empty"], {}, 8, {8}),  # 53 = 6 x 8 + 5
        (CASES["depthwise-7-11x37-pad0"], {}, 8, {4, 8}),  # 35 = 4 x 8 + 3
        (CASES["dense5x5-4to6-11x9-pad2-relu6"], {}, 8, {8}),  # 2 filters a tile
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_narrow_tail(case: Case, tuning: dict[str, int], lanes: int, widths: set[int]) -> None:
    """The last vector of a row that holds at most half a vector of outputs is computed
    on half the lanes (`narrow-tail`, the default): on 16 lanes in every tile, on 8 in
    tiles of one filter; every other vector at the full width, and with `narrow-tail=0`
    all of them. The numbers match PyTorch either way."""
    built = build(case)
    for narrow, expected in ((1, widths), (0, {lanes})):
        runner, weights, _, module = compile_with_tuning(built, tuning, lanes, narrow_tail=narrow)
        assert _fma_widths(module) == expected
        check_close(runner(built.input.numpy(), weights=weights), built.reference)


def _fma_chains(block: Block) -> int:
    """The FMA chains that start in `block`: FMAs whose accumulator is not an FMA's."""
    fmas = [op for op in block.ops if isinstance(op, vector.FMAOp)]
    return sum(1 for op in fmas if not isinstance(op.acc.owner, vector.FMAOp))


# (id, case, tuning, vector width, accumulators of the largest tile). Rows and columns
# are clamped to the output; `filters` applies to dense layers only (a filter of a
# pattern layer has its own kernel list) and must divide the filters of a group.
TILE_CASES: Sequence[tuple[str, Case, dict[str, int], int, int]] = [
    ("pattern-rows1-cols1", CASES["17to33-9x7-k12-keep0.25-empty"], {"rows": 1, "cols": 1}, 4, 1),
    ("pattern-rows3-cols3", CASES["8to12-13x11-s2"], {"rows": 3, "cols": 3}, 4, 3 * 2),
    ("pattern-rows8-cols4-clamped", CASES["3to5-7x9-k8-relu"], {"rows": 8, "cols": 4}, 4, 7 * 3),
    ("pattern-filters2", CASES["8to12-13x11-s2"], {"rows": 2, "cols": 1, "filters": 2}, 8, 2),
    # the AVX-512 defaults: 6 x 4 (4 vectors, 13 rows), 5 x 4 where the last vector is
    # narrowed to 8 lanes (53 columns), 10 x 2 clamped (8 x 29 outputs), 10 x 2 with a
    # tail row block (21 x 20 outputs)
    ("pattern-avx512-6x4", CASES["6to10-13x61-keep0.3"], {}, 16, 6 * 4),
    ("pattern-avx512-narrow-5x4", CASES["9to11-13x53-keep0.3-empty"], {}, 16, 5 * 4),
    ("pattern-avx512-10x2-clamped", CASES["6to9-15x57-s2"], {}, 16, 8 * 2),
    ("pattern-avx512-10x2-pad0", CASES["7to5-23x22-pad0-k6"], {}, 16, 10 * 2),
    # the default pattern tile at 4 lanes (6 x 4), clamped: 9 columns are 3 vectors
    ("pattern-filters5", CASES["3to5-7x9-k8-relu"], {"filters": 5, "rows": 1}, 4, 3),
    ("pattern-filters3-pad0", CASES["8to12-7x9-pad0-k6"], {"filters": 3}, 4, 5 * 2),
    (
        "dense-filters2-rows3",
        CASES["dense3x3-3to8-9x7-relu"],
        {"filters": 2, "rows": 3, "cols": 1},
        4,
        2 * 3,
    ),
    (
        "dense-cols3",
        CASES["dense5x5-4to6-11x9-pad2-relu6"],
        {"filters": 1, "rows": 1, "cols": 3},
        4,
        3,
    ),
    (
        "dense-filters3-spare2",
        CASES["dense3x3-3to8-9x7-relu"],
        {"filters": 3, "rows": 2, "cols": 1},
        4,
        3 * 2,
    ),
    ("grouped-filters5", CASES["grouped2-6to10-9x9-s2"], {"filters": 5, "rows": 2}, 4, 5 * 2 * 2),
    ("grouped-filters4-ignored", CASES["grouped2-6to10-9x9-s2"], {"filters": 4, "rows": 1}, 4, 2),
    ("depthwise-rows5", CASES["depthwise-8-7x9-relu6"], {"rows": 5, "cols": 2}, 8, 5 * 2),
]


@pytest.mark.parametrize(
    ("case", "tuning", "vector_width", "tile"),
    [pytest.param(c, t, w, n, id=name) for name, c, t, w, n in TILE_CASES],
)
def test_tile_overrides(case: Case, tuning: dict[str, int], vector_width: int, tile: int) -> None:
    built = build(case)
    runner, weights, largest_tile, _ = compile_with_tuning(built, tuning, vector_width)
    assert largest_tile == tile
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


PREFETCH_CASES = [
    Case("17to33-9x7-k12-keep0.25-empty", (P(17, 33, 12, keep=0.25, empty_filters=3),), 9, 7),
    Case("8to12-13x11-s2", (P(8, 12, stride=2, keep=0.5, empty_filters=2),), 13, 11),
    Case("9to13-12x30-k8-keep0.4-empty", (P(9, 13, keep=0.4, empty_filters=2),), 12, 30),
]


@pytest.mark.parametrize("case", PREFETCH_CASES, ids=lambda c: c.id)
def test_prefetch_keeps_results(case: Case) -> None:
    """Prefetching the next kernels' input lines and their FKW streams (on by default for
    wide layers; here for every layer, through the `prefetch-min-channels` and
    `stream-prefetch-min-bytes` options) changes no number, including at the end of the
    kernel list where the prefetch index is clamped."""
    built = build(case)
    width = Target.get("host").vector_width
    runner, weights, _, module = compile_with_tuning(
        built, {}, width, prefetch_min_channels=1, stream_prefetch_min_bytes=0
    )
    hints = {
        op.properties["localityHint"].value.data  # type: ignore[union-attr]
        for op in module.walk()
        if op.name == "memref.prefetch"
    }
    assert hints == {0, 3}
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


def _reads(op: Operation) -> bool:
    """Whether `op` is a prefetch for reading."""
    return op.name == "memref.prefetch" and not _writes(op)


def _writes(op: Operation) -> bool:
    """Whether `op` is a prefetch for writing."""
    return op.name == "memref.prefetch" and op.properties["isWrite"] == BoolAttr.from_bool(True)


def _prefetch_offsets(loop: scf.ForOp) -> list[int]:
    """The constant offsets (from the kernel's base) of the input-line prefetches in the
    body of `loop`."""
    offsets = []
    for op in loop.body.block.ops:
        if not _reads(op) or op.properties["localityHint"].value.data != 3:  # type: ignore[union-attr]
            continue
        index = op.operands[1].owner
        if isinstance(index, arith.AddiOp) and isinstance(index.rhs.owner, arith.ConstantOp):
            offsets.append(index.rhs.owner.value.value.data)  # type: ignore[union-attr]
        else:
            offsets.append(0)
    return offsets


@pytest.mark.parametrize(
    ("case", "vector_width", "tuning", "lines"),
    [
        (PREFETCH_CASES[0], 16, {"rows": 9}, {1}),
        (PREFETCH_CASES[0], 4, {"rows": 9}, {2}),
        (PREFETCH_CASES[2], 8, {"rows": 3, "cols": 4}, {2}),
        (PREFETCH_CASES[2], 8, {"rows": 3, "cols": 2}, {2, 1}),
        (PREFETCH_CASES[2], 8, {"rows": 3, "cols": 3}, {3, 2}),
    ],
    ids=["16-lanes", "4-lanes", "8-lanes-4-vectors", "8-lanes-2-vectors", "8-lanes-3-vectors"],
)
def test_prefetch_one_per_line(
    case: Case, vector_width: int, tuning: dict[str, int], lines: set[int]
) -> None:
    """A kernel's prefetches touch each 64-byte input line that its valid lanes read,
    once (`lines` a row, by column tile): with 16 lanes a scratch row starts on a line,
    and the 7 outputs and their 2-column halo are one line, over the tile's 9 rows and 2
    halo rows; with 4 lanes a row may start inside a line: the first and the last float
    of its 9. With 8 lanes the 30 outputs and their halo are scratch rows of 32 floats:
    tiles of 4 or 2 vectors start on a line (2 lines; the first 2 vectors and their halo
    2, the last 2 one); tiles of 3 do not (the second starts inside a line), so each row
    also prefetches its last float. The numbers stay the same."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(
        built, tuning, vector_width, prefetch_min_channels=1
    )
    loops = [op for op in module.walk() if isinstance(op, scf.ForOp) and _prefetch_offsets(op)]
    found = set()
    for loop in loops:
        offsets = _prefetch_offsets(loop)
        per_row, rest = divmod(len(offsets), tuning["rows"] + 2)
        assert rest == 0
        found.add(per_row)
        if vector_width == 16 or tuning.get("cols", 1) % 2 == 0:
            assert len({o // 16 for o in offsets}) == len(offsets)
    assert found == lines
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


def _prefetch_hints(module: ModuleOp) -> list[int]:
    """The locality hints of the input prefetches (not those of the output's lines)."""
    return [
        op.properties["localityHint"].value.data  # type: ignore[union-attr]
        for op in module.walk()
        if _reads(op)
    ]


@pytest.mark.parametrize(
    ("case", "rows", "counts"),
    [
        # stride 1, 9 rows: blocks of 4, 4 and 1 rows; 7 outputs and the halo: 1 line
        (CASES["17to33-9x7-k12-keep0.25-empty"], 4, {4 * 1, 1 * 1}),
        # 13 rows: 6, 6 and 1; 53 columns and the halo (one tile of 4 vectors): 4 lines
        (CASES["9to11-13x53-keep0.3-empty"], 6, {6 * 4, 1 * 4}),
        (CASES["8to12-13x11-s2"], 4, set()),  # strided: no row copy to stream
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_row_prefetch(case: Case, rows: int, counts: set[int]) -> None:
    """A pattern layer that does not prefetch kernels ahead (fewer than
    `prefetch-min-channels` inputs) prefetches the next row block's rows into L2
    (locality 2): in each filter loop, one prefetch per line of its column tile for
    each output row of the block; the numbers stay the same, and `row-prefetch=0`
    turns it off."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(built, {"rows": rows}, 16)
    assert set(_prefetch_hints(module)) == ({2} if counts else set())
    found = set()
    for loop in module.walk():
        if isinstance(loop, scf.ForOp):
            count = sum(1 for o in loop.body.block.ops if _reads(o))
            if count:
                found.add(count)
    assert found == counts
    check_close(runner(built.input.numpy(), weights=weights), built.reference)
    _, _, _, off = compile_with_tuning(built, {"rows": rows}, 16, row_prefetch=0)
    assert _prefetch_hints(off) == []


@pytest.mark.parametrize(
    ("case", "rows", "vector_width", "lines"),
    [
        # 7 outputs a row: one vector of 16 lanes, its first and last float
        (CASES["17to33-9x7-k12-keep0.25-empty"], 4, 16, 2),
        # 53 outputs: one tile of 4 vectors (53 floats: 4 lines and the last float)
        (CASES["9to11-13x53-keep0.3-empty"], 6, 16, 5),
        (CASES["8to12-13x11-s2"], 4, 4, 2),  # strided, a tile of 2 x 4 lanes
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_output_prefetch(case: Case, rows: int, vector_width: int, lines: int) -> None:
    """Every tile of a pattern layer prefetches for writing the output lines it stores
    (locality 3), one per line of each of its rows before its kernels; the numbers stay
    the same, and `output-prefetch=0` turns it off."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(built, {"rows": rows}, vector_width)
    writes = [op for op in module.walk() if _writes(op)]
    assert writes
    assert {op.properties["localityHint"].value.data for op in writes} == {3}  # type: ignore[union-attr]
    outputs = {op.operands[0] for op in writes}
    assert len(outputs) == 1  # the layer's output, nothing else
    per_block = {len([o for o in block.ops if _writes(o)]) for op in module.walk()
                 for r in op.regions for block in r.blocks} - {0}  # fmt: skip
    assert max(per_block) == rows * lines
    check_close(runner(built.input.numpy(), weights=weights), built.reference)
    _, _, _, off = compile_with_tuning(built, {"rows": rows}, vector_width, output_prefetch=0)
    assert not any(_writes(op) for op in off.walk())


@pytest.mark.parametrize(
    ("case", "vector_width", "row"),
    [
        (CASES["8to6-14x14-keep0.4"], 16, 16),  # 14 + 2 halo columns: one vector
        (CASES["5to7-28x28-keep0.3-empty"], 16, 32),
        (CASES["5to7-28x28-keep0.3-empty"], 8, 32),
        (CASES["9to11-13x53-keep0.3-empty"], 16, 64),  # 55 floats: 4 vectors
        (CASES["8to12-13x11-s2"], 4, 8),  # 6 outputs and a halo column a phase row
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_scratch_rows_fit_the_output(case: Case, vector_width: int, row: int) -> None:
    """A row of the padded copy holds the output's columns and the halo, rounded up to
    a vector, not a vector more; the last output vector's spare lanes read on into the
    next row (or the slack after the buffer) and are never stored."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(built, {}, vector_width)
    views = [
        op.results[0].type.get_shape()  # type: ignore[union-attr]
        for op in module.walk()
        if op.name == "memref.reinterpret_cast" and len(op.results[0].type.get_shape()) == 5  # type: ignore[union-attr]
    ]
    assert views and all(shape[-1] == row for shape in views)
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


@pytest.mark.parametrize(
    ("case", "vector_width", "plane", "stride"),
    [
        (CASES["5to8-30x30-keep0.4-relu"], 8, 1024, 1040),
        (CASES["4to6-45x41-s2-keep0.5"], 8, 2304, 2320),
        (CASES["5to7-28x28-keep0.3-empty"], 8, 960, 960),  # 60 lines: kept as it is
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_scratch_planes_odd_lines(case: Case, vector_width: int, plane: int, stride: int) -> None:
    """A scratch plane of 64 cache lines or more is strided an odd number of lines, so
    the same rows of successive channels spread over every L1 set; a smaller one keeps
    its size. The results stay exact."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(built, {}, vector_width)
    views = [
        op.results[0].type  # type: ignore[union-attr]
        for op in module.walk()
        if op.name == "memref.reinterpret_cast" and len(op.results[0].type.get_shape()) == 5  # type: ignore[union-attr]
    ]
    assert views
    for view in views:
        assert int(np.prod(view.get_shape()[1:])) == plane
        strides = view.get_strides()
        assert (strides[0] if strides else plane) == stride
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


@pytest.mark.parametrize(
    ("case", "tuning", "rebased"),
    [
        (CASES["9to11-13x53-keep0.3-empty"], {}, True),
        (CASES["6to9-15x57-s2"], {}, True),
        (CASES["7to5-23x22-pad0-k6"], {}, True),
        (CASES["8to12-13x11-s2"], {}, True),
        (CASES["dense3x3-3to8-9x7-relu"], {"rows": 6}, True),
        (CASES["dense5x5-4to6-11x9-pad2-relu6"], {"rows": 4}, True),
        # rows of 12 floats, tiles of 1 row: every tap within `ldur` reach of the base
        (CASES["dense3x3-3to8-9x7-relu"], {"rows": 1}, False),
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_column_bases_keep_results(case: Case, tuning: dict[str, int], rebased: bool) -> None:
    """`column-bases` (on for aarch64, where the host runs it here at 4 lanes): the input
    vectors of a tile that lie no whole number of vectors from its base and beyond an
    unscaled load's reach (`UNSCALED_REACH`) are read from a clamped base of their column
    shift; a tile whose taps all lie closer keeps its one base. The numbers stay the same."""
    built = build(case)
    runner, weights, _, module = compile_with_tuning(built, tuning, 4, column_bases=1)
    _, _, _, off = compile_with_tuning(built, tuning, 4)

    def clamps(m: ModuleOp) -> int:
        return sum(1 for op in m.walk() if isinstance(op, arith.MinUIOp))

    assert (clamps(module) > clamps(off)) == rebased
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


@pytest.mark.parametrize(
    ("case", "tuning"),
    [
        (CASES["9to11-13x53-keep0.3-empty"], {}),
        (CASES["6to9-15x57-s2"], {}),
        (CASES["7to5-23x22-pad0-k6"], {}),
        (CASES["8to12-13x11-s2"], {}),
        (CASES["dense3x3-3to8-9x7-relu"], {"rows": 6}),
        (CASES["dense5x5-4to6-11x9-pad2-relu6"], {"rows": 4}),
        (CASES["9to11-13x53-keep0.3-empty"], {"rows": 1, "cols": 1}),
    ],
    ids=lambda x: getattr(x, "id", str(x)),
)
def test_unscaled_bases_keep_results(case: Case, tuning: dict[str, int]) -> None:
    """`column-bases=2` (the aarch64 target's): every input vector of a tile is read
    from a clamped base of its window (`unscaled_bases`), within `ldur` reach and never a
    whole vector away, clamped against the tile's `window_bound` (pattern tiles) or the
    buffer's last index (dense tiles). The numbers stay the same."""
    built = build(case)
    runner, weights, _, _ = compile_with_tuning(built, tuning, 4, column_bases=2)
    check_close(runner(built.input.numpy(), weights=weights), built.reference)


def test_unscaled_bases_reach() -> None:
    """Each offset lies within -64..63 floats of its base (`ldur q`: -256..255 bytes) and
    at another column residue; the bases lie at most 3 floats past the last offset they
    serve; None when every residue of the vector occurs."""
    for row, rows, cols in ((64, 8, 4), (228, 8, 4), (16, 8, 4), (32, 8, 4), (12, 1, 3)):
        offsets = [r * row + 4 * u + q for r in range(rows) for u in range(cols) for q in range(3)]
        bases = unscaled_bases(offsets, 4)
        assert bases is not None
        for at in offsets:
            assert -64 <= at - bases[at] <= 63 and (at - bases[at]) % 4
        assert max(bases.values()) <= max(offsets) + 3
    assert unscaled_bases([0, 1, 2, 3], 4) is None


def test_line_rows() -> None:
    """`line-rows` (on for aarch64): a pattern layer that prefetches kernels ahead pads
    its copy's rows to whole lines, 53 outputs and the halo (55 floats, 56 in vectors of 4
    lanes) to 64; a tile of 4 vectors then starts each row on a line and prefetches its 2
    lines, not 3 (the last float's line too), over its 3 rows and 2 halo rows. The
    numbers stay the same."""
    built = build(CASES["9to11-13x53-keep0.3-empty"])
    tuning = {"rows": 3, "cols": 4}
    per_row = {}
    for line_rows in (0, 1):
        runner, weights, _, module = compile_with_tuning(
            built, tuning, 4, prefetch_min_channels=1, line_rows=line_rows
        )
        views = [
            op.results[0].type.get_shape()  # type: ignore[union-attr]
            for op in module.walk()
            if op.name == "memref.reinterpret_cast" and len(op.results[0].type.get_shape()) == 5  # type: ignore[union-attr]
        ]
        assert {shape[-1] for shape in views} == {64 if line_rows else 56}
        loops = [op for op in module.walk() if isinstance(op, scf.ForOp) and _prefetch_offsets(op)]
        per_row[line_rows] = max(len(_prefetch_offsets(loop)) // (3 + 2) for loop in loops)
        check_close(runner(built.input.numpy(), weights=weights), built.reference)
    assert per_row == {0: 3, 1: 2}
