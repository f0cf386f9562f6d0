"""The compiler reads the pattern library from the weights: any library of up to 56
patterns compiles as pattern convolutions with no option; `num_patterns` is only a cap."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.lowering.convert_torch_to_patdnn import PatternRemark
from patdnn.pruning.project import project_model


class ThreeConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 3, padding=1)
        self.conv2 = nn.Conv2d(24, 24, 3, padding=1)
        self.conv3 = nn.Conv2d(24, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


def _pruned(num_patterns: int) -> ThreeConvs:
    torch.manual_seed(num_patterns)
    model = ThreeConvs().eval()
    # Connectivity 1 keeps every kernel, so every pattern of the library is used.
    project_model(model, num_patterns=num_patterns, connectivity=1.0)
    return model


@pytest.mark.parametrize("num_patterns", [6, 8, 12, 20])
def test_library_of_any_size_compiles_as_pattern_convs(num_patterns: int) -> None:
    model = _pruned(num_patterns)
    x = torch.randn(1, 3, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PatternRemark)
        compiled = patdnn.compile(model, x, keep_stages=False)
    assert len(compiled.library) == num_patterns
    kinds = {layer.name: layer.kind for layer in compiled.layers}
    assert kinds == {"conv1": "conv", "conv2": "pattern conv", "conv3": "pattern conv"}
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(compiled(x), ref, rtol=1e-4, atol=1e-4)


def test_cap_that_leaves_a_layer_dense_says_how_to_lift_it() -> None:
    model = _pruned(12)
    x = torch.randn(1, 3, 10, 10)
    with pytest.warns(PatternRemark) as remarks:
        compiled = patdnn.compile(model, x, num_patterns=8, keep_stages=False)
    message = str(remarks[0].message)
    assert "layer 'conv2' stays dense" in message
    assert "the weights use 12 patterns" in message
    assert "raise num_patterns to 12 or leave it unset" in message
    assert {layer.kind for layer in compiled.layers} == {"conv"}
    with torch.no_grad():
        ref = model(x).numpy()
    np.testing.assert_allclose(compiled(x), ref, rtol=1e-4, atol=1e-4)
