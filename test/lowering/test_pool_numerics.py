"""Pooling windows against PyTorch: the windows of column stride 2, which read their
input rows in place (`pooling.emit_strided_pool`), and the others, which run on the
convolution generator's padded copy; max pools bit for bit, average pools within
rounding; odd sizes, padding at every edge, rows that are not a multiple of the vector,
batch 2, every vector width and aarch64 under qemu."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

import patdnn

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64",
)

# (id, pool, channels, height, width, batch, read in place)
CASES = [
    ("max2-13x21", nn.MaxPool2d(2), 5, 13, 21, 1, True),
    ("max2-224-row-of-7-vectors", nn.MaxPool2d(2), 3, 6, 224, 1, True),
    ("max3s2p1-11x37", nn.MaxPool2d(3, 2, 1), 20, 11, 37, 1, True),
    ("max3s2p1-7x7-batch2", nn.MaxPool2d(3, 2, 1), 4, 7, 7, 2, True),
    ("max3s2p1-2x2", nn.MaxPool2d(3, 2, 1), 3, 2, 2, 1, True),
    ("max3s2p1-9x66", nn.MaxPool2d(3, 2, 1), 2, 9, 66, 1, True),
    ("max3s2-pad0-10x35", nn.MaxPool2d(3, 2), 3, 10, 35, 1, True),
    ("max-rows1-cols2-pad", nn.MaxPool2d((3, 2), (1, 2), (1, 1)), 3, 8, 19, 1, True),
    ("max1x1s2-subsample", nn.MaxPool2d(1, 2), 17, 9, 31, 1, True),
    ("avg2-9x34", nn.AvgPool2d(2), 6, 9, 34, 1, True),
    ("avg3s2p1-15x15", nn.AvgPool2d(3, 2, 1), 3, 15, 15, 2, True),
    ("max3s1p1-generator", nn.MaxPool2d(3, 1, 1), 3, 9, 20, 1, False),
    ("max2s3-generator", nn.MaxPool2d(2, 3), 4, 11, 23, 1, False),
]


class Net(nn.Module):
    """The pool alone, on values of both signs (the padding must lose every max)."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


def _check(compiled: patdnn.CompiledModel, x: torch.Tensor, net: nn.Module, exact: bool) -> None:
    got = np.asarray(compiled(x))
    want = net(x.clone()).numpy()
    assert got.shape == want.shape
    if exact:
        assert np.array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("vector_width", [None, 4, 8])
@pytest.mark.parametrize(
    ("pool", "channels", "height", "width", "batch", "in_place"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_pool_matches_pytorch(
    pool: nn.Module,
    channels: int,
    height: int,
    width: int,
    batch: int,
    in_place: bool,
    vector_width: int | None,
) -> None:
    torch.manual_seed(0)
    net = Net(pool).eval()
    x = torch.randn(batch, channels, height, width)
    compiled = patdnn.compile(net, x, vector_width=vector_width)
    _check(compiled, x, net, isinstance(pool, nn.MaxPool2d))
    # A window read in place has no padded copy of its input (a view of the workspace).
    lowered = compiled.stages["lower-patdnn-to-vector"]
    assert ("memref.view" not in lowered) == in_place


@needs_aarch64_tools
@pytest.mark.parametrize(
    ("pool", "channels", "height", "width", "batch", "in_place"),
    [
        pytest.param(*c[1:], id=c[0])
        for c in CASES
        if c[0].startswith(("max3s2p1-11", "avg2", "max2-13"))
    ],
)
def test_pool_matches_pytorch_aarch64(
    pool: nn.Module, channels: int, height: int, width: int, batch: int, in_place: bool
) -> None:
    torch.manual_seed(1)
    net = Net(pool).eval()
    x = torch.randn(batch, channels, height, width)
    compiled = patdnn.compile(net, x, target="aarch64", keep_stages=False)
    _check(compiled, x, net, isinstance(pool, nn.MaxPool2d))


def test_pool_threads_same_bits() -> None:
    """The tasks of a pool read in place give the same bits on any thread count."""
    torch.manual_seed(2)
    net = Net(nn.MaxPool2d(3, 2, 1)).eval()
    x = torch.randn(2, 40, 17, 45)
    compiled = patdnn.compile(net, x, keep_stages=False)
    outs = []
    for threads in (1, 2, 3, 8):
        compiled.num_threads = threads
        outs.append(np.asarray(compiled(x)))
    for out in outs[1:]:
        assert np.array_equal(out, outs[0])
    _check(compiled, x, net, True)
