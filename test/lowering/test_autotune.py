"""Parameter auto-tuning (`auto-tune`, `patdnn.compile(..., tune=True)`) and the register
tiles it chooses between: every candidate computes the same numbers as PyTorch, the
chosen tile lands in the op's `tuning`, and tuning refuses targets that do not run here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr, i64

import patdnn
from patdnn.bench import PATTERNS_8, pattern_prune
from patdnn.dialect.context import make_context
from patdnn.dialect.patdnn import Conv2dOp, FKWConv2dOp
from patdnn.errors import PatdnnError
from patdnn.frontend.importer import import_model
from patdnn.lowering.autotune import (
    AutoTuneError,
    _time_candidates,
    candidate_tilings,
    compile_candidates,
    tune_module,
)
from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass
from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass
from patdnn.lowering.fkw_layout import FKWLayoutPass
from patdnn.lowering.vector.tiling import TUNING_KEYS, ConvTiling
from patdnn.runtime.target import Target

TOLERANCE = 1e-4


def small_model(channels: int = 12) -> nn.Module:
    """A dense first layer (3 -> C, 5x5), a pattern layer (C -> C) and a pointwise one
    with a residual add: the three kinds of tile search."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, channels, 5, padding=2)
            self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
            self.conv3 = nn.Conv2d(channels, channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.conv1(x))
            z = torch.relu(self.conv2(y))
            return torch.relu(self.conv3(z) + y)

    torch.manual_seed(0)
    model = Net().eval()
    pattern_prune(model.conv2, PATTERNS_8, connectivity=2.0)
    return model


def fkw_module(model: nn.Module, x: torch.Tensor):  # type: ignore[no-untyped-def]
    module = import_model(model, x).module
    ctx = make_context()
    ConvertTorchToPatdnnPass().apply(ctx, module)
    FilterKernelReorderPass().apply(ctx, module)
    FKWLayoutPass().apply(ctx, module)
    return module


def conv_ops(module):  # type: ignore[no-untyped-def]
    return [op for op in module.walk() if isinstance(op, Conv2dOp | FKWConv2dOp)]


def test_default_tiles_fit_the_registers() -> None:
    """16 vector registers (AVX2): dense 3x3 tiles of 8 accumulators, pointwise 10; 32: 16."""
    small = ConvTiling.default(dense=True, filters_per_group=64, taps=9, cin=64, registers=16)
    large = ConvTiling.default(dense=True, filters_per_group=64, taps=9, cin=64, registers=32)
    assert small.filters * small.rows * small.cols == 8
    assert large.filters * large.rows * large.cols == 16
    pointwise = ConvTiling.default(dense=True, filters_per_group=64, taps=1, cin=64, registers=16)
    assert (pointwise.filters, pointwise.rows, pointwise.cols) == (5, 1, 2)
    for vectors, tile in ((7, (3, 1, 4)), (8, (5, 1, 2)), (25, (5, 1, 2))):
        short = ConvTiling.default(dense=True, filters_per_group=64, taps=1, cin=64,
                                   registers=16, out_vectors=vectors)  # fmt: skip
        assert (short.filters, short.rows, short.cols) == tile, vectors
    grouped = ConvTiling.default(
        dense=True, filters_per_group=64, taps=1, cin=64, registers=16, groups=2
    )
    assert grouped.filters == 4
    pattern = ConvTiling.default(dense=False, filters_per_group=64, taps=4, cin=512, registers=16)
    assert (pattern.filters, pattern.prefetch > 0) == (1, True)
    narrow = ConvTiling.default(dense=False, filters_per_group=64, taps=4, cin=16, registers=16)
    assert narrow.prefetch == 0


@pytest.mark.parametrize(
    ("registers", "width", "out_w", "tile"),
    [
        (16, 8, 224, (4, 2)),
        (16, 8, 112, (4, 2)),
        (16, 8, 56, (4, 2)),
        (16, 8, 28, (2, 4)),
        (16, 8, 14, (5, 2)),
        (32, 4, 224, (6, 4)),
        (32, 4, 14, (6, 4)),
        (32, 16, 224, (6, 4)),
        (32, 16, 56, (6, 4)),
        (32, 16, 40, (6, 4)),  # clamped to 6 x 3 by the lowering
        (32, 16, 28, (10, 2)),
        (32, 16, 14, (14, 1)),  # AVX-512, one vector a row: tall tiles
    ],
)
def test_pattern_tile_by_output_width(
    registers: int, width: int, out_w: int, tile: tuple[int, int]
) -> None:
    """The default pattern tile follows the output row's vectors (`PATTERN_TILES`), and
    its accumulators, one weight and one input fit the registers."""
    t = ConvTiling.default(
        dense=False,
        filters_per_group=64,
        taps=4,
        cin=64,
        registers=registers,
        width=width,
        out_vectors=-(-out_w // width),
    )
    assert (t.rows, t.cols) == tile
    assert t.rows * t.cols + 2 <= registers


def test_tuning_overrides_and_clamps() -> None:
    tuning = DictionaryAttr(
        {"rows": IntegerAttr(9, i64), "cols": IntegerAttr(3, i64), "filters": IntegerAttr(5, i64)}
    )
    t = ConvTiling(4, 1, 2).tuned(tuning, dense=True, filters_per_group=12)
    # One group: 5 filters a tile, the last tile takes the 2 left.
    assert (t.filters, t.rows, t.cols) == (5, 9, 3)
    assert t.clamped(out_h=4, out_vectors=2) == ConvTiling(5, 4, 2)
    # Several groups: a tile stays inside a group, so 5 must divide its 12 filters.
    grouped = ConvTiling(4, 1, 2).tuned(tuning, dense=True, filters_per_group=12, groups=2)
    assert grouped.filters == 4
    # What auto-tune writes for a depthwise layer (one filter a group, no prefetch).
    depthwise = DictionaryAttr({k: IntegerAttr(v, i64) for k, v in
                                {"filters": 1, "rows": 5, "cols": 2, "prefetch": 0}.items()})  # fmt: skip
    t = ConvTiling(1, 4, 2, 2).tuned(depthwise, dense=True, filters_per_group=1, groups=32)
    assert t == ConvTiling(1, 5, 2, 0)


@pytest.mark.parametrize("registers", [16, 32])
def test_candidates(registers: int) -> None:
    x = torch.randn(1, 3, 13, 11)
    module = fkw_module(small_model(), x)
    for op in conv_ops(module):
        tiles = candidate_tilings(op, 4, registers)
        assert len(tiles) == len(set(tiles)) >= 3
        _, cout, ho, wo = op.result.type.get_shape()
        for t in tiles:
            assert t.filters <= cout
            assert t.rows <= max(ho, 1)
            if isinstance(op, FKWConv2dOp):
                assert t.filters == 1


def test_strided_pointwise_candidates_run_flat() -> None:
    """A strided 1x1 layer runs flat after its subsample, so its candidates are those of
    a flat pointwise layer (tiles over output channels among them), and each gives
    PyTorch's output (9 x 8 outputs of a 17 x 15 input)."""
    torch.manual_seed(3)
    layer = nn.Conv2d(64, 40, 1, stride=2).eval()
    x = torch.randn(1, 64, 17, 15)
    (op,) = conv_ops(fkw_module(nn.Sequential(layer), x))
    target = Target.get("host")
    tiles = candidate_tilings(op, target.vector_width, target.vector_registers)
    assert any(t.channel_vectors for t in tiles)
    candidates = compile_candidates(op, tiles, target, target.vector_width, target.vector_registers)
    with torch.no_grad():
        ref = layer(x).numpy()
    for i, tile in enumerate(tiles):
        out = candidates.run(i, [x.numpy()])
        assert np.abs(out - ref).max() <= TOLERANCE * max(1.0, float(np.abs(ref).max())), tile


def test_every_candidate_computes_the_same() -> None:
    """The candidate tiles of each layer, compiled side by side, all give PyTorch's
    output for that layer (13 x 11 outputs: row and column tails for every tile)."""
    model = small_model()
    x = torch.randn(1, 3, 13, 11)
    module = fkw_module(model, x)
    target = Target.get("host")
    with torch.no_grad():
        y1 = torch.relu(model.conv1(x))
        y2 = torch.relu(model.conv2(y1))
        y3 = torch.relu(model.conv3(y2) + y1)
    expected = {"conv1": ([x], y1), "conv2": ([y1], y2), "conv3": ([y2, y1], y3)}
    for op in conv_ops(module):
        inputs, reference = expected[op.layer_name]
        arrays = [np.ascontiguousarray(t.numpy()) for t in inputs]
        tiles = candidate_tilings(op, target.vector_width, target.vector_registers)
        candidates = compile_candidates(
            op, tiles, target, target.vector_width, target.vector_registers
        )
        ref = reference.numpy()
        for i, tile in enumerate(tiles):
            out = candidates.run(i, arrays)
            error = np.abs(out - ref).max()
            assert error <= TOLERANCE * max(1.0, float(np.abs(ref).max())), (op.layer_name, tile)


def test_candidates_are_timed() -> None:
    module = fkw_module(small_model(), torch.randn(1, 3, 13, 11))
    target = Target.get("host")
    op = conv_ops(module)[1]
    tiles = candidate_tilings(op, target.vector_width, target.vector_registers)
    times = _time_candidates(
        op, tiles, target, target.vector_width, target.vector_registers, rounds=1
    )
    assert len(times) == len(tiles) and all(0 < t < 1 for t in times)


def test_tune_module_sets_tuning() -> None:
    x = torch.randn(1, 3, 13, 11)
    module = fkw_module(small_model(), x)
    seen = []
    results = tune_module(module, rounds=1, min_macs=0, progress=seen.append)
    ops = conv_ops(module)
    assert len(results) == len(ops) == len(seen) == 3
    for op, result in zip(ops, results, strict=True):
        assert op.tuning is not None
        assert {
            k: v.value.data for k, v in op.tuning.data.items() if k in TUNING_KEYS
        } == result.best
        assert result.best_ms > 0 and result.candidates >= 3


def test_small_layers_keep_the_default() -> None:
    x = torch.randn(1, 3, 13, 11)
    module = fkw_module(small_model(), x)
    assert tune_module(module, rounds=1, min_macs=10**12) == []
    assert all(op.tuning is None for op in conv_ops(module))


def test_layers_of_one_shape_share_a_search() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    module = fkw_module(model.eval(), torch.randn(1, 8, 9, 9))
    first, second = tune_module(module, rounds=1, min_macs=0)
    assert second.shared_with == first.layer and second.candidates == 0
    assert second.best == first.best


def test_compiled_with_tuning_matches_pytorch() -> None:
    """Every layer of this model does enough work to be tuned (2M MACs and more)."""
    model = small_model(channels=32)
    x = torch.randn(1, 3, 48, 45)
    compiled = patdnn.compile(model, x, target="host", tune=True)
    assert [t.layer for t in compiled.tuning] == ["conv1", "conv2", "conv3"]
    assert "tuning = {" in compiled.mlir("auto-tune")
    with torch.no_grad():
        ref = model(x).numpy()
    out = compiled(x)
    assert np.abs(out - ref).max() <= TOLERANCE * max(1.0, float(np.abs(ref).max()))


def test_tuning_needs_a_target_that_runs_here() -> None:
    with pytest.raises(PatdnnError, match="does not run here"):
        patdnn.compile(small_model(), torch.randn(1, 3, 13, 11), target="aarch64", tune=True)
    module = fkw_module(small_model(), torch.randn(1, 3, 13, 11))
    with pytest.raises(AutoTuneError, match="does not run here"):
        tune_module(module, target=Target.get("aarch64"))
