"""Dense linear layers (`vector.linear`): the packed weights of the layers vectorised over
their features, which layers take them, and their numbers against PyTorch on edge
shapes (feature counts no group or vector divides, one input feature, batch 3, no
bias, every activation) on the host at 4, 8 and 16 lanes, on `x86-avx2` and on aarch64,
next to the dot-product form of the layers with fewer features."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.lowering.vector.linear import (
    FEATURE_VECTORS,
    feature_groups,
    pack_linear_weights,
)
from patdnn.runtime.target import Target

TOLERANCE = 1e-4

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {  # in place, as torchvision writes them
    "relu": lambda: nn.ReLU(inplace=True),
    "relu6": lambda: nn.ReLU6(inplace=True),
    "hardswish": lambda: nn.Hardswish(inplace=True),
    "none": nn.Identity,
}

Shape = tuple[int, int, int, bool, str]
"""(in features, out features, batch, bias, activation)"""

SHAPES: list[Shape] = [
    (300, 1000, 1, True, "none"),  # 16 lanes: 15 groups of 4 vectors, one of 3 (8 live)
    (33, 64, 3, True, "relu"),  # 16 lanes: one whole group; 4 lanes: 4 groups
    (1, 67, 2, False, "relu6"),  # one input feature; a partial last vector
    (129, 256, 1, False, "hardswish"),  # groups of 4 vectors only
    (70, 81, 1, True, "relu"),  # 8 lanes: 2 groups of 4 and a partial vector alone
    (45, 10, 2, True, "none"),  # fewer features than a group: dot products
]


def _check(target: str, shape: Shape, vector_width: int | None = None) -> None:
    k, m, batch, bias, act = shape
    torch.manual_seed(k * 1000 + m)
    model = nn.Sequential(nn.Linear(k, m, bias=bias), ACTIVATIONS[act]()).eval()
    x = torch.randn(batch, k)
    with torch.no_grad():
        reference = model(x).numpy()
    compiled = patdnn.compile(model, x, target=target, keep_stages=False, vector_width=vector_width)
    out = compiled(x)
    scale = max(float(np.abs(reference).max()), 1.0)
    assert float(np.abs(out - reference).max()) < TOLERANCE * scale


@pytest.mark.parametrize("vector_width", [4, 8, 16])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_host(shape: Shape, vector_width: int) -> None:
    _check("host", shape, vector_width)


@pytest.mark.parametrize("target", [t for t in ("x86-avx2", "aarch64") if Target.available(t)])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_targets(shape: Shape, target: str) -> None:
    _check(target, shape)


@pytest.mark.parametrize(("features", "packed"), [(1000, True), (64, True), (63, False)])
def test_packed_from_a_group_of_features(features: int, packed: bool) -> None:
    """At 16 lanes a layer of at least FEATURE_VECTORS * 16 features reads its weights
    packed (a blob entry of the packed size, the dense weights not placed); fewer keep
    the dot products over the dense weights."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, features)).eval()
    x = torch.randn(1, 40)
    compiled = patdnn.compile(model, x, vector_width=16)
    lowered = compiled.mlir("lower-patdnn-to-vector")
    floats = sum(feature_groups(features, 16)) * 16 * 40
    assert (f"tensor<{floats}xf32>" in lowered) == packed
    assert (f"tensor<{features}x40xf32>" not in lowered) == packed
    with torch.no_grad():
        reference = model(x).numpy()
    assert float(np.abs(compiled(x) - reference).max()) < TOLERANCE * max(
        float(np.abs(reference).max()), 1.0
    )


def test_packed_weights() -> None:
    """Groups of FEATURE_VECTORS vectors, each `[k][vectors * width]`, zero past m."""
    width, k = 4, 3
    m = FEATURE_VECTORS * width + 5  # a whole group, then 2 vectors (5 live features)
    weight = np.arange(m * k, dtype=np.float32).reshape(m, k) + 1
    assert feature_groups(m, width) == [FEATURE_VECTORS, 2]
    packed = pack_linear_weights(weight, width)
    group = FEATURE_VECTORS * width
    assert packed.shape == ((group + 2 * width) * k,)
    first = packed[: group * k].reshape(k, group)
    rest = packed[group * k :].reshape(k, 2 * width)
    for f in range(m):
        for i in range(k):
            got = first[i, f] if f < group else rest[i, f - group]
            assert got == weight[f, i]
    assert not rest[:, 5:].any()
