"""The `x86-avx2` target: this x86-64 machine with AVX-512 off (8 lanes, 16 ymm registers).

Every kernel family compiled for it is compared with PyTorch on the same pruned weights;
its assembly uses no 512-bit register and no mask register; it is accepted wherever a
target name is (API, saved models, command line, bench).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.bench import core
from patdnn.errors import PatdnnError
from patdnn.lowering.upstream import llvm_ir_to_assembly
from patdnn.runtime import target as target_module
from patdnn.runtime.target import Target, TargetError

pytestmark = pytest.mark.skipif(
    not Target.available("x86-avx2"), reason="the host has no AVX2 and FMA"
)

WIDE = re.compile(r"%zmm\d+|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b")
"""512-bit registers, mask registers, and the 16 upper xmm/ymm registers only EVEX
(AVX-512) encodes."""


class MixedNet(nn.Module):
    """One layer of each kind, channel counts and widths no multiple of 8 lanes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 13, 3, padding=1)  # dense 3x3, the first layer
        self.pat = nn.Conv2d(13, 21, 3, padding=1)  # pattern, padding 1, an empty filter
        self.pat2 = nn.Conv2d(21, 19, 3, stride=2, padding=0)  # pattern, stride 2, padding 0
        self.dw = nn.Conv2d(19, 19, 3, padding=1, groups=19)  # depthwise
        self.pw = nn.Conv2d(19, 27, 1)  # dense 1x1
        self.spw = nn.Conv2d(27, 44, 1)  # block-sparse 1x1
        self.fc = nn.Linear(44, 60)  # block-sparse linear
        self.head = nn.Linear(60, 10)  # dense linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in (self.stem, self.pat, self.pat2, self.dw, self.pw, self.spw):
            x = torch.relu(conv(x))
        return self.head(torch.relu(self.fc(x.mean((2, 3)))))


KINDS = {"stem": "conv", "pat": "pattern conv", "pat2": "pattern conv",
         "dw": "depthwise conv", "pw": "conv", "spw": "sparse_conv1x1",
         "fc": "sparse_linear"}  # fmt: skip


def mixed_net() -> MixedNet:
    torch.manual_seed(0)
    model = MixedNet().eval()
    core.pattern_prune(model.pat)
    core.pattern_prune(model.pat2)
    core.block_prune(model.spw.weight, 0.8, (4, 1))
    core.block_prune(model.fc.weight, 0.9, (16, 1))
    with torch.no_grad():
        model.pat.weight[5].zero_()  # a filter with no kernel left
    return model


@pytest.fixture(scope="module")
def compiled() -> tuple[MixedNet, torch.Tensor, patdnn.CompiledModel]:
    model = mixed_net()
    x = torch.randn(1, 3, 23, 19, generator=torch.Generator().manual_seed(1))
    return model, x, patdnn.compile(model, x, target="x86-avx2", keep_stages=False)


def test_the_target_is_the_host_without_avx512() -> None:
    host, avx2 = Target.get("host"), Target.get("x86-avx2")
    assert (avx2.triple, avx2.cpu, avx2.arch) == (host.triple, host.cpu, "x86_64")
    assert (avx2.vector_width, avx2.vector_registers) == (8, 16) and avx2.runs_on_host
    on = {f[1:] for f in avx2.features.split(",") if f.startswith("+")}
    assert {"avx2", "fma"} <= on
    assert not [f for f in on if f.startswith(("avx512", "avx10", "amx", "evex512"))]
    assert "x86-avx2" in Target.KNOWN and "x86-avx2" in Target.HOST_VARIANTS


def test_every_kernel_family_matches_pytorch(
    compiled: tuple[MixedNet, torch.Tensor, patdnn.CompiledModel],
) -> None:
    model, x, build = compiled
    assert build.target.name == "x86-avx2"
    assert {layer.name: layer.kind for layer in build.layers} == KINDS
    with torch.no_grad():
        ref = model(x).numpy()
    out = build(x)
    assert out.shape == ref.shape
    assert float(np.abs(out - ref).max()) / float(np.abs(ref).max()) < 1e-5


def test_no_512_bit_vector_in_the_code(
    compiled: tuple[MixedNet, torch.Tensor, patdnn.CompiledModel],
) -> None:
    model, x, build = compiled
    asm = llvm_ir_to_assembly(build.llvm_ir, build.target)
    assert re.search(r"vfmadd\d+ps\s+.*%ymm", asm)
    assert not WIDE.search(asm), WIDE.search(asm)
    optimized = build._get_runner().optimized_llvm_ir  # what the JIT compiles
    lanes = {int(n) for n in re.findall(r"<(\d+) x float>", optimized)}
    assert 8 in lanes and max(lanes) == 8, lanes
    if "+avx512f" in Target.get("host").features.split(","):
        # The same layers for the host do use them (the check above can fail).
        host = patdnn.compile(model, x, target="host", keep_stages=False)
        assert WIDE.search(llvm_ir_to_assembly(host.llvm_ir, host.target))


def test_saved_and_loaded(
    compiled: tuple[MixedNet, torch.Tensor, patdnn.CompiledModel], tmp_path: Path
) -> None:
    model, x, build = compiled
    build.save(tmp_path / "m")
    manifest = patdnn.api.read_manifest(tmp_path / "m")
    assert manifest["target"]["name"] == "x86-avx2"
    assert "+avx512f" not in manifest["target"]["features"]
    loaded = patdnn.load(tmp_path / "m")
    assert loaded.target == Target.get("x86-avx2")
    np.testing.assert_array_equal(loaded(x), build(x))


def test_tuned_build(tmp_path: Path) -> None:
    from cli_models import small_conv

    model = small_conv()
    x = torch.randn(1, 3, 100, 100)  # enough work for both layers to be tuned
    build = patdnn.compile(model, x, target="x86-avx2", tune=True, keep_stages=False)
    assert sorted(t.layer for t in build.tuning) == ["0", "2"]
    with torch.no_grad():
        np.testing.assert_allclose(build(x), model(x).numpy(), rtol=1e-4, atol=1e-5)
    # A depthwise layer (one filter a group) is tuned too.
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16)).eval()
    x = torch.randn(1, 16, 120, 120)
    build = patdnn.compile(model, x, target="x86-avx2", tune=True, keep_stages=False)
    assert [t.layer for t in build.tuning] == ["0"]
    with torch.no_grad():
        np.testing.assert_allclose(build(x), model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_host_without_avx2_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    features = dict(target_module._host_features())
    features["avx2"] = False
    monkeypatch.setattr(target_module, "_host_features", lambda: features)
    target_module._x86_avx2.cache_clear()
    try:
        with pytest.raises(TargetError, match="'x86-avx2' needs an x86-64 host with AVX2 and FMA"):
            Target.get("x86-avx2")
    finally:
        target_module._x86_avx2.cache_clear()


def test_unknown_target_names() -> None:
    with pytest.raises(TargetError, match="unknown target 'avx2'; known targets: host, x86-avx2"):
        Target.get("avx2")
    with pytest.raises(PatdnnError, match="unknown target 'x86-avx'"):
        patdnn.compile(mixed_net(), torch.randn(1, 3, 8, 8), target="x86-avx")
    assert core.parse_targets("host, x86-avx2,host") == ["host", "x86-avx2"]
    with pytest.raises(PatdnnError, match="--target 'host,avx512': unknown target 'avx512'"):
        core.parse_targets("host,avx512")


def test_command_line(tmp_path: Path) -> None:
    from test_cli import assert_user_error
    from test_cli import patdnn as run_patdnn

    out = tmp_path / "avx2"
    proc = run_patdnn("compile", "cli_models:small_conv", "--target", "x86-avx2", "-o", out,
                      "--input-shape", "1,3,8,8")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "patdnn compile cli_models:small_conv for x86-avx2" in proc.stdout
    assert f"patdnn.load({str(out)!r})" in proc.stdout
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32))
    proc = run_patdnn("run", out, "--input", x, "--output", y)
    assert proc.returncode == 0 and "on host (JIT" in proc.stdout, proc.stderr
    from cli_models import small_conv

    with torch.no_grad():
        expected = small_conv()(torch.from_numpy(np.load(x))).numpy()
    np.testing.assert_allclose(np.load(y), expected, rtol=1e-5, atol=1e-6)
    proc = run_patdnn("compile", "cli_models:small_conv", "--target", "avx2", "-o", out)
    assert proc.returncode == 2 and "invalid choice: 'avx2'" in proc.stderr
    proc = run_patdnn("bench", "layers", "--target", "host,avx2")
    assert_user_error(proc, "--target 'host,avx2': unknown target 'avx2'")
    proc = run_patdnn("bench", "layers", "--target", "x86-avx2,aarch64")
    assert_user_error(proc, "--target aarch64 does not run here")


@pytest.mark.parametrize(
    ("width", "stride", "padding", "tile"),
    [
        (9, 1, 1, (5, 2)),
        (27, 1, 1, (2, 4)),
        (53, 1, 1, (4, 2)),
        (113, 1, 1, (4, 2)),  # 15 vectors
        (30, 1, 0, (2, 4)),  # 28 outputs: VGG-16 @28's 4 vectors, the last half empty
        (58, 1, 0, (4, 2)),  # 56 outputs: 7 whole vectors, a tail tile of one
        (59, 2, 1, (2, 4)),  # 30 outputs
        (112, 2, 0, (4, 2)),  # 55 outputs
    ],
)
def test_every_default_pattern_tile(
    width: int, stride: int, padding: int, tile: tuple[int, int]
) -> None:
    """Output rows of 2, 4, 7 and 15 vectors: each row of the AVX2 `PATTERN_TILES` entry
    (5 x 2, 2 x 4, 4 x 2), each with a partial last vector and a partial row block,
    with padding 0 and stride 2 too, and a filter with no kernel left."""
    from patdnn.lowering.vector.tiling import pattern_tile

    torch.manual_seed(width)
    conv = nn.Conv2d(6, 11, 3, stride, padding).eval()
    core.pattern_prune(conv)
    with torch.no_grad():
        conv.weight[3].zero_()
    x = torch.randn(1, 6, 11 * stride, width)
    build = patdnn.compile(conv, x, target="x86-avx2", keep_stages=False)
    assert [layer.kind for layer in build.layers] == ["pattern conv"]
    out_w = (width + 2 * padding - 3) // stride + 1
    assert pattern_tile(16, 8, -(-out_w // 8)) == tile
    with torch.no_grad():
        ref = conv(x).numpy()
    assert float(np.abs(build(x) - ref).max()) / float(np.abs(ref).max()) < 1e-5


@pytest.mark.parametrize(("plane", "cout"), [(7, 26), (5, 3), (9, 40)])
def test_pointwise_on_short_rows(plane: int, cout: int) -> None:
    """1x1 layers whose flattened rows hold fewer than 8 vectors (3 filters x 4 vectors,
    the last partial; filters no multiple of 3) and one that holds more (5 x 2)."""
    torch.manual_seed(plane)
    conv = nn.Conv2d(20, cout, 1).eval()
    x = torch.randn(1, 20, plane, plane)
    build = patdnn.compile(conv, x, target="x86-avx2", keep_stages=False)
    with torch.no_grad():
        ref = conv(x).numpy()
    assert float(np.abs(build(x) - ref).max()) / float(np.abs(ref).max()) < 1e-5
