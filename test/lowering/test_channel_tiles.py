"""The tile over output channels of flat pointwise layers (`vector.channel_tile`): its
packed weights, the default rules, tuning overrides, and its numbers against PyTorch on
edge shapes (odd channel counts, planes no tile divides, a single pixel, a residual with
ReLU6, hardswish, batch 2) on the host at 2, 4, 8 and 16 lanes, on `x86-avx2` and on
aarch64, reading its input in place and from packed panels."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, i64

import patdnn
import patdnn.lowering.pipeline as pipeline
from patdnn.lowering.autotune import candidate_tilings
from patdnn.lowering.vector.channel_tile import channel_tiling, pack_channel_weights
from patdnn.lowering.vector.tiling import (
    ConvTiling,
    TilingOptions,
    channel_panel_rule,
    channel_tile_rule,
)
from patdnn.runtime.target import Target

TOLERANCE = 1e-4


class Pointwise(nn.Module):
    """act(conv1x1(x) [+= x]), in-place as torchvision writes its blocks."""

    def __init__(self, cin: int, cout: int, act: nn.Module, residual: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.act = act
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.residual:
            y += x
        return self.act(y)


Shape = tuple[int, int, int, int, int, bool, str]
"""(cin, cout, height, width, batch, residual, activation)"""

SHAPES: list[Shape] = [
    (33, 20, 7, 7, 1, False, "relu"),  # 49 pixels: 8 tiles of 6 and one of 1
    (97, 37, 14, 14, 2, False, "hardswish"),  # 37 channels: 2 tiles of 16, 5 left
    (37, 37, 5, 3, 2, True, "relu6"),  # 15 pixels, residual + ReLU6
    (20, 20, 14, 14, 1, True, "relu6"),
    (96, 8, 8, 8, 1, False, "none"),  # one vector of channels (AVX2)
    (65, 131, 1, 1, 2, False, "relu"),  # a single pixel
    (131, 131, 1, 13, 2, True, "relu6"),  # 13 pixels: the panels of tile 1 load masked
]

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "none": nn.Identity,
}


@pytest.fixture(params=[0, 2], ids=["in-place", "panels"])
def channel_tiles_everywhere(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[None]:
    """Compiles with `lower-patdnn-to-vector{channel-tiles=2 channel-panels=0|2}`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    options = {"channel_tiles": 2, "channel_panels": request.param}
    monkeypatch.setattr(pipeline, "LowerPatdnnToVectorPass", functools.partial(lowering, **options))
    yield


def _check(target: str, shape: Shape, vector_width: int | None = None) -> None:
    cin, cout, h, w, batch, residual, act = shape
    torch.manual_seed(cin * 1000 + cout)
    model = Pointwise(cin, cout, ACTIVATIONS[act](), residual).eval()
    x = torch.randn(batch, cin, h, w) * 2.0
    with torch.no_grad():
        reference = model(x).numpy()
    compiled = patdnn.compile(model, x, target=target, keep_stages=False, vector_width=vector_width)
    (summary,) = compiled.layers  # the residual and activation in the layer's epilogue
    assert summary.kind == "conv"
    out = compiled(x)
    scale = max(float(np.abs(reference).max()), 1.0)
    assert float(np.abs(out - reference).max()) < TOLERANCE * scale


@pytest.mark.usefixtures("channel_tiles_everywhere")
@pytest.mark.parametrize("vector_width", [2, 4, 8, 16])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_host(shape: Shape, vector_width: int) -> None:
    """4, 8 and 16 lanes transpose the tile in the epilogue; 2 stores lane by lane."""
    _check("host", shape, vector_width)


@pytest.mark.usefixtures("channel_tiles_everywhere")
@pytest.mark.parametrize("target", [t for t in ("x86-avx2", "aarch64") if Target.available(t)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_targets(shape: Shape, target: str) -> None:
    _check(target, shape)


def _takes_channel_tiles(target: Target) -> bool:
    """Whether the default rule gives 96->37 @14 the tile over output channels on
    `target` (AVX2 and AVX-512, not NEON)."""
    return (target.vector_registers, target.vector_width) in ((16, 8), (32, 16))


@pytest.mark.parametrize(
    "target",
    [
        t
        for t in ("x86-avx2", "host")
        if Target.available(t) and _takes_channel_tiles(Target.get(t))
    ],
)
def test_default_rule_compiles_channel_tiles(target: str) -> None:
    """With the default options `x86-avx2` (and an AVX-512 host) takes the tile over
    output channels for a layer the rule picks (its weights packed: a blob entry of the
    packed shape, the dense weights not placed)."""
    width = Target.get(target).vector_width
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(96, 37, 1), nn.ReLU6()).eval()
    x = torch.randn(1, 96, 14, 14)
    compiled = patdnn.compile(model, x, target=target)
    lowered = compiled.mlir("lower-patdnn-to-vector")
    assert f"tensor<{-(-37 // width)}x96x{width}xf32>" in lowered
    assert "tensor<37x96x1x1xf32>" not in lowered
    with torch.no_grad():
        reference = model(x).numpy()
    assert float(np.abs(compiled(x) - reference).max()) < TOLERANCE * max(
        float(np.abs(reference).max()), 1.0
    )


def test_packed_weights() -> None:
    weight = np.arange(5 * 3, dtype=np.float32).reshape(5, 3, 1, 1)
    packed = pack_channel_weights(weight, 4)
    assert packed.shape == (2, 3, 4)
    for co in range(5):
        for ci in range(3):
            assert packed[co // 4, ci, co % 4] == weight[co, ci, 0, 0]
    assert not packed[1, :, 1:].any()  # zero past the 5 channels


@pytest.mark.parametrize(
    ("mode", "registers", "width", "plane", "cin", "cout", "panels", "vectors"),
    [
        (1, 16, 8, 196, 96, 24, 0, 2),
        (1, 16, 8, 3136, 64, 256, 0, 2),
        (1, 16, 8, 64, 96, 24, 0, 2),
        (1, 16, 8, 49, 512, 2048, 0, 0),  # AVX2 @7 in place: the pixel tile (3 x 4) is faster
        (1, 16, 8, 49, 512, 2048, 1, 2),  # ... but not than the tile reading packed panels
        (1, 16, 8, 2, 256, 128, 1, 2),
        (1, 16, 8, 1, 1280, 1000, 1, 0),  # a single pixel: the tile over pixels
        (1, 16, 8, 196, 32, 192, 1, 0),
        (1, 32, 16, 196, 512, 128, 0, 2),  # AVX-512 ...
        (1, 32, 16, 49, 512, 2048, 0, 2),  # ... @7 too
        (1, 32, 16, 1, 1280, 1000, 0, 2),  # ... and a single pixel
        (1, 32, 16, 3136, 144, 24, 0, 0),  # ... but not fewer than 2 vectors of channels
        (1, 32, 16, 784, 48, 288, 0, 0),  # ... nor fewer than 64 input channels
        (1, 32, 4, 196, 512, 128, 0, 0),  # NEON keeps the tile over pixels
        (0, 16, 8, 196, 512, 128, 1, 0),
        (2, 32, 4, 49, 8, 8, 0, 2),
    ],
)
def test_rule(
    mode: int, registers: int, width: int, plane: int, cin: int, cout: int, panels: int,
    vectors: int,
) -> None:  # fmt: skip
    assert channel_tile_rule(mode, registers, plane, cin, panels, width, cout) == vectors


@pytest.mark.parametrize(
    ("mode", "registers", "cout", "panels"),
    [
        (1, 16, 128, 1),
        (1, 16, 2048, 1),
        (1, 16, 96, 0),  # few channel tiles to repay the pack
        (1, 32, 2048, 0),
        (0, 16, 2048, 0),
        (2, 32, 8, 1),
    ],
)
def test_panel_rule(mode: int, registers: int, cout: int, panels: int) -> None:
    assert channel_panel_rule(mode, registers, cout) == panels


def _tiling(
    tuning: dict[str, int], registers: int = 16, mode: int = 1, cout: int = 20, size: int = 14
) -> ConvTiling | None:
    return channel_tiling(
        kernel=(1, 1),
        stride=(1, 1),
        padding=(0, 0),
        groups=1,
        cin=96,
        cout=cout,
        out_h=size,
        out_w=size,
        tuning=DictionaryAttr({k: IntegerAttr(v, i64) for k, v in tuning.items()}),
        width=8,
        registers=registers,
        options=TilingOptions(channel_tiles=mode),
    )


def test_tuning_overrides_the_rule() -> None:
    assert _tiling({}) == ConvTiling(1, 1, 1, 0, 2, 6)
    assert _tiling({"channel_vectors": 0}) is None
    assert _tiling({}, registers=32) is None
    assert _tiling({"channel_vectors": 1, "pixels": 4}, registers=32) == ConvTiling(
        1, 1, 1, 0, 1, 4
    )
    assert _tiling({"channel_vectors": 4}, mode=0) == ConvTiling(1, 1, 1, 0, 3, 6)  # 20 channels
    strided = channel_tiling(
        kernel=(1, 1), stride=(2, 2), padding=(0, 0), groups=1, cin=96, cout=20, out_h=7,
        out_w=7, tuning=None, width=8, registers=16, options=TilingOptions(channel_tiles=2),
    )  # fmt: skip
    assert strided is None
    # 160 channels take packed panels by default, and @7 the tile over output channels
    assert _tiling({}, cout=160, size=7) == ConvTiling(1, 1, 1, 0, 2, 6, 1)
    assert _tiling({"panels": 0}, cout=160) == ConvTiling(1, 1, 1, 0, 2, 6, 0)
    assert _tiling({"panels": 1}) == ConvTiling(1, 1, 1, 0, 2, 6, 1)
    # an entry overrides only itself: the rule's tile over output channels, in place
    assert _tiling({"panels": 0}, cout=160, size=7) == ConvTiling(1, 1, 1, 0, 2, 6, 0)


def test_auto_tune_candidates() -> None:
    """auto-tune tries tiles over output channels for a flat pointwise layer (the
    default first: the rule's tile), and only there."""
    from patdnn.dialect.context import make_context
    from patdnn.dialect.patdnn import Conv2dOp
    from patdnn.frontend.importer import import_model
    from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass

    model = nn.Sequential(nn.Conv2d(96, 20, 1), nn.Conv2d(20, 8, 3, padding=1)).eval()
    module = import_model(model, torch.randn(1, 96, 14, 14)).module
    ConvertTorchToPatdnnPass().apply(make_context(), module)
    pointwise, dense = [op for op in module.walk() if isinstance(op, Conv2dOp)]
    tiles = candidate_tilings(pointwise, 8, 16)
    assert tiles[0].channel_vectors == 2
    assert any(t.channel_vectors == 0 for t in tiles)
    assert all(t.channel_vectors <= 3 for t in tiles)  # 20 channels: at most 3 vectors
    assert {t.panels for t in tiles if t.channel_vectors} == {0, 1}
    assert all(t.channel_vectors == 0 for t in candidate_tilings(dense, 8, 16))


@pytest.mark.usefixtures("channel_tiles_everywhere")
def test_few_channel_tiles_split_their_pixels() -> None:
    """144->24 @56 (MobileNet-V2): 2 channel tiles of 16 channels, 522 pixel tiles; the
    tiles' phase is 2 x 8 tasks, not 2."""
    model = Pointwise(144, 24, nn.Identity(), False).eval()
    x = torch.randn(1, 144, 56, 56)
    compiled = patdnn.compile(model, x, target="host", keep_stages=True, vector_width=8)
    text = compiled.mlir("lower-patdnn-to-vector")
    counts = [int(c) for c in re.findall(r'_task\d+", (\d+) : i64', text)]
    assert counts[-1] == 16 and len(counts) <= 2  # (with panels: the pack's phase first)
