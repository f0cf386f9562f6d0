"""Block-sparse 1x1 convolutions and linear layers: the storage, the choice between sparse
and dense, and the compiled kernels against PyTorch (host and qemu-aarch64, 1 and 3
threads bitwise equal)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.errors import PatdnnError
from patdnn.lowering.sparsify import (
    SparseArrays,
    SparseLayoutError,
    choose_form,
    kept_blocks,
    pack_sparse,
    unpack_sparse,
)
from patdnn.lowering.vector.tiling import SparseOptions

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64",
)


def block_mask(
    shape: tuple[int, int], block: tuple[int, int], zeros: float, seed: int
) -> np.ndarray:
    """A 0/1 mask of W[out][in] keeping 1 - `zeros` of its (bo x bi) blocks (partial
    blocks at the edges count)."""
    bo, bi = block
    rows, cols = -(-shape[0] // bo), -(-shape[1] // bi)
    rng = np.random.default_rng(seed)
    kept = np.zeros(rows * cols, dtype=bool)
    kept[rng.choice(rows * cols, size=round((1 - zeros) * rows * cols), replace=False)] = True
    mask = np.repeat(np.repeat(kept.reshape(rows, cols), bo, 0), bi, 1)
    return mask[: shape[0], : shape[1]].astype(np.float32)


def _prune(weight: torch.Tensor, mask: np.ndarray) -> None:
    with torch.no_grad():
        flat = weight.view(weight.shape[0], -1)
        flat.mul_(torch.from_numpy(mask))


# -- storage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bo", [1, 4, 8])
@pytest.mark.parametrize("shape", [(13, 7), (8, 8), (1, 5), (9, 1)])
def test_pack_unpack_round_trip(bo: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(bo * 100 + shape[0])
    w = rng.standard_normal(shape).astype(np.float32)
    w[rng.random(shape) < 0.6] = 0.0
    w[0] = 0.0  # an empty row
    w[:, -1] = 0.0  # an empty column
    arrays = pack_sparse(w, bo)
    assert arrays.offset.dtype == np.int32 and arrays.index.dtype == np.int32
    assert arrays.values.shape == (arrays.index.shape[0], bo)
    assert arrays.offset.shape == (-(-shape[0] // bo) + 1,)
    assert kept_blocks(w, bo) == arrays.index.shape[0]
    assert (shape[1] - 1) not in set(arrays.index.tolist())
    np.testing.assert_array_equal(unpack_sparse(arrays, shape), w)


def test_pack_keeps_zeros_inside_a_kept_block() -> None:
    w = np.zeros((6, 4), np.float32)
    w[1, 2] = 5.0
    w[4, 0] = 6.0
    arrays = pack_sparse(w, 4)
    assert arrays.offset.tolist() == [0, 1, 2]
    assert arrays.index.tolist() == [2, 0]
    assert arrays.values.tolist() == [[0, 5, 0, 0], [6, 0, 0, 0]]
    empty = pack_sparse(np.zeros((5, 3), np.float32), 4)
    assert empty.offset.tolist() == [0, 0, 0] and empty.values.shape == (0, 4)


def test_unpack_rejects_bad_arrays() -> None:
    good = pack_sparse(np.eye(4, dtype=np.float32), 4)
    bad_index = SparseArrays(good.offset, np.array([0, 1, 2, 9], np.int32), good.values)
    with pytest.raises(SparseLayoutError, match=r"index\[3\] = 9 is outside the 4 input"):
        unpack_sparse(bad_index, (4, 4))
    with pytest.raises(SparseLayoutError, match="do not describe a 8x4 weight"):
        unpack_sparse(good, (8, 4))
    rows = SparseArrays(good.offset, good.index, np.ones((4, 4), np.float32))
    with pytest.raises(SparseLayoutError, match="rows past the 3 rows"):
        unpack_sparse(rows, (3, 4))


def test_choice_follows_the_estimate() -> None:
    shape = (64, 96)
    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape).astype(np.float32)
    blocky = w * block_mask(shape, (4, 1), 0.72, 1)
    choice = choose_form(blocky, "conv", 8)
    assert choice is not None and choice.sparse and choice.bo == 4 and choice.speedup > 2
    scattered = w * (rng.random(shape) > 0.6)
    choice = choose_form(scattered, "conv", 8)
    assert choice is not None and not choice.sparse  # 60 % zeros, most blocks kept
    assert choose_form(w, "conv", 8) is None  # below the threshold
    assert choose_form(blocky, "conv", 8, SparseOptions(threshold=0.8)) is None
    # Linear: the block size is the compiler's, from the weights: (8,1)-pruned -> 8.
    eight = w * block_mask(shape, (8, 1), 0.9, 2)
    choice = choose_form(eight, "linear", 8)
    assert choice is not None and choice.sparse and choice.bo == 8
    four = w * block_mask(shape, (4, 1), 0.9, 3)
    choice = choose_form(four, "linear", 8)
    assert choice is not None and choice.sparse and choice.bo == 4


# -- compiled kernels ------------------------------------------------------------------------


class SparseNet(nn.Module):
    """1x1 convolutions and linear layers with zeros of every kind, on a 7x9 plane (63
    pixels: not a multiple of any vector width) and output counts that are not multiples
    of the blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(5, 13, 1)  # (4,1) blocks, 72 %, bias, relu
        self.c2 = nn.Conv2d(13, 13, 1)  # (8,1) blocks, 75 %, residual, relu
        self.c3 = nn.Conv2d(13, 9, 1, bias=False)  # unstructured, 90 %
        self.c4 = nn.Conv2d(9, 11, 1)  # (2,2) blocks, 75 %, empty rows and columns, relu6
        self.c5 = nn.Conv2d(11, 11, 1)  # every weight zero: bias + residual
        self.fc1 = nn.Linear(11 * 63, 37)  # (4,1), 90 %, relu
        self.fc2 = nn.Linear(37, 10)  # (1,1) unstructured, 92 %
        self.fc3 = nn.Linear(10, 6)  # every weight zero
        _prune(self.c1.weight, block_mask((13, 5), (4, 1), 0.72, 1))
        _prune(self.c2.weight, block_mask((13, 13), (8, 1), 0.75, 2))
        _prune(self.c3.weight, block_mask((9, 13), (1, 1), 0.9, 3))
        mask = block_mask((11, 9), (2, 2), 0.75, 4)
        mask[[0, 5, 10]] = 0  # empty output channels
        mask[:, [1, 2]] = 0  # empty input channels
        _prune(self.c4.weight, mask)
        _prune(self.c5.weight, np.zeros((11, 11), np.float32))
        _prune(self.fc1.weight, block_mask((37, 693), (4, 1), 0.9, 5))
        _prune(self.fc2.weight, block_mask((10, 37), (1, 1), 0.92, 6))
        _prune(self.fc3.weight, np.zeros((6, 10), np.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.c1(x))
        a = torch.relu(self.c2(a) + a)
        a = self.c3(a)
        a = nn.functional.relu6(self.c4(a))
        a = torch.relu(self.c5(a) + a)
        a = torch.relu(self.fc1(torch.flatten(a, 1)))
        return self.fc3(self.fc2(a))


SHAPE = (2, 5, 7, 9)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        net = SparseNet().eval()
        # Bias values that matter after the zero layers.
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.Linear) and m.bias is not None:
                m.bias.uniform_(-0.5, 0.5)
    return net


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(7).standard_normal(SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def reference(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


def _check(compiled: patdnn.CompiledModel, x: np.ndarray, ref: np.ndarray) -> None:
    outputs = {}
    for n in (1, 3):
        compiled.num_threads = n
        outputs[n] = compiled(x)
        np.testing.assert_allclose(outputs[n], ref, rtol=1e-4, atol=1e-5)
    assert outputs[3].tobytes() == outputs[1].tobytes(), "3 threads differ from 1"


def test_every_layer_compiles_sparse_and_matches_pytorch(
    model: nn.Module, x: np.ndarray, reference: np.ndarray
) -> None:
    compiled = patdnn.compile(model, torch.from_numpy(x), name="sparse")
    ir = compiled.mlir("sparsify")
    assert ir.count("= patdnn.sparse_conv1x1") == 5
    assert ir.count("= patdnn.sparse_linear") == 3
    assert "layer 'c5': patdnn.sparse_conv1x1 (100% zero weights" in ir
    assert "patdnn.conv2d" not in ir and "patdnn.linear" not in ir
    # The weights are in the store, not in the IR text.
    assert "dense_resource<c2.sparse_values>" in ir
    _check(compiled, x, reference)


@pytest.mark.parametrize(("lanes", "spatial_parts"), [(1, 1), (2, 3), (4, 2)])
def test_other_tiles_and_ranges_match_pytorch(
    model: nn.Module,
    x: np.ndarray,
    reference: np.ndarray,
    lanes: int,
    spatial_parts: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 1x1 tiles of 16-register targets (2 vectors) and of 1 vector, and planes split
    into several ranges of tiles (inputs larger than an L2 cache), on this host."""
    import patdnn.lowering.vector.function as function

    monkeypatch.setattr(function, "sparse_conv_lanes", lambda registers: lanes)
    monkeypatch.setattr(function, "sparse_spatial_parts", lambda cin, plane: spatial_parts)
    compiled = patdnn.compile(model, torch.from_numpy(x), keep_stages=False)
    np.testing.assert_allclose(compiled(x), reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("block", [8, 16])
def test_linear_blocks_of_several_vectors(block: int) -> None:
    """Linear weights pruned by (8,1) or (16,1) blocks, compiled with 8 lanes: blocks of
    8 rows (one vector) or 16 (two vectors per block), 45 rows (a partial last block),
    3 images, relu."""
    torch.manual_seed(block)
    model = nn.Sequential(nn.Linear(70, 45), nn.ReLU()).eval()
    _prune(model[0].weight, block_mask((45, 70), (block, 1), 0.85, block))
    x = torch.randn(3, 70)
    compiled = patdnn.compile(model, x, vector_width=8)
    assert f"blocks of {block}x1 kept" in compiled.mlir("sparsify")
    with torch.no_grad():
        np.testing.assert_allclose(compiled(x.numpy()), model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_threshold_keeps_layers_dense(
    model: nn.Module, x: np.ndarray, reference: np.ndarray
) -> None:
    compiled = patdnn.compile(model, torch.from_numpy(x), sparse_threshold=0.95)
    ir = compiled.mlir("sparsify")
    # Only the all-zero layers reach 95 % zeros.
    assert ir.count("= patdnn.sparse_conv1x1") == 1
    assert ir.count("= patdnn.sparse_linear") == 1
    np.testing.assert_allclose(compiled(x), reference, rtol=1e-4, atol=1e-5)


@needs_aarch64_tools
def test_aarch64_matches_pytorch(model: nn.Module, x: np.ndarray, reference: np.ndarray) -> None:
    compiled = patdnn.compile(model, torch.from_numpy(x), target="aarch64", keep_stages=False)
    _check(compiled, x, reference)


def test_scattered_zeros_stay_dense_with_a_remark() -> None:
    torch.manual_seed(3)
    conv = nn.Conv2d(16, 16, 1).eval()
    _prune(conv.weight, (np.random.default_rng(0).random((16, 16)) > 0.6).astype(np.float32))
    x = torch.randn(1, 16, 5, 5)
    compiled = patdnn.compile(conv, x)
    ir = compiled.mlir("sparsify")
    assert "patdnn.sparse_conv1x1" not in ir
    assert "dense (" in ir and "blocks of 4x1 kept, estimated" in ir
    with torch.no_grad():
        np.testing.assert_allclose(compiled(x.numpy()), conv(x).numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True, float("nan")])
def test_bad_sparse_threshold(bad: object) -> None:
    with pytest.raises(PatdnnError, match="sparse_threshold must be a number in 0..1"):
        patdnn.compile(nn.Conv2d(2, 2, 1), torch.randn(1, 2, 3, 3), sparse_threshold=bad)  # type: ignore[arg-type]


def test_cli_sparse_threshold(tmp_path: Path) -> None:
    patdnn_cli = Path(sys.executable).parent / "patdnn"
    bad = subprocess.run(
        [str(patdnn_cli), "compile", "torchvision.models:resnet18", "--target", "host",
         "-o", str(tmp_path / "out"), "--sparse-threshold", "1.5"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--sparse-threshold: expected a number in 0..1, got '1.5'" in bad.stderr
    assert not (tmp_path / "out").exists()
    helps = subprocess.run(
        [str(patdnn_cli), "compile", "--help"], capture_output=True, text=True, timeout=120
    )
    assert "--sparse-threshold SHARE" in helps.stdout


class StridedNet(nn.Module):
    """ResNet's downsample: a stride-2 1x1 conv on a 9x11 plane (odd: the last row and
    column are read) with a residual from the main branch, and a stride-(3, 2) one."""

    def __init__(self) -> None:
        super().__init__()
        self.main = nn.Conv2d(6, 14, 3, stride=2, padding=1)
        self.down = nn.Conv2d(6, 14, 1, stride=2)  # (4,1) blocks, 72 %
        self.odd = nn.Conv2d(14, 10, 1, stride=(3, 2), bias=False)  # (4,1) blocks, 80 %
        _prune(self.down.weight, block_mask((14, 6), (4, 1), 0.72, 11))
        _prune(self.odd.weight, block_mask((10, 14), (4, 1), 0.8, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.main(x) + self.down(x))
        return self.odd(a)


def test_strided_1x1_compiles_sparse_and_matches_pytorch() -> None:
    torch.manual_seed(3)
    model = StridedNet().eval()
    x = np.random.default_rng(8).standard_normal((2, 6, 9, 11)).astype(np.float32)
    compiled = patdnn.compile(model, torch.from_numpy(x), name="strided")
    ir = compiled.mlir("sparsify")
    assert ir.count("= patdnn.sparse_conv1x1") == 2 and ir.count("= patdnn.pool2d") == 2
    kinds = {layer.name: layer.kind for layer in compiled.layers}
    assert kinds == {"main": "conv", "down": "sparse_conv1x1", "odd": "sparse_conv1x1"}
    shapes = {layer.name: layer.shape for layer in compiled.layers}
    assert shapes["down"] == "6->14 1x1/2 9x11->5x6"
    assert shapes["odd"] == "14->10 1x1/3 5x6->2x3"  # the first stride of (3, 2)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    _check(compiled, x, ref)
