"""Whole models compiled and compared with PyTorch on the same (pattern-projected) weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import patdnn
from patdnn.frontend.zoo import get_model
from patdnn.pruning import PruningError
from patdnn.pruning.layers import select_layers
from patdnn.pruning.project import project_model

HOST_CASES = [
    ("vgg16", 224),
    ("resnet18", 224),
    ("resnet50", 224),
    ("mobilenet_v2", 224),
    ("mobilenet_v3_small", 32),
    ("mobilenet_v3_large", 32),
    ("unet", (20, 28)),
]
AARCH64_CASES = [
    ("resnet18", 64),
    ("mobilenet_v2", 64),
    ("mobilenet_v3_small", 32),
    ("unet", (12, 20)),
]

# Small variants where the full model would make the test slow; the encoder-decoder with
# widths that are no multiple of the vector width (and odd planes at 1/4 size).
OPTIONS: dict[str, dict[str, object]] = {
    "mobilenet_v3_large": {"width_mult": 0.5},
    "unet": {"widths": (6, 12, 20)},
}


def _pruned(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = get_model(name, num_classes=10, **OPTIONS.get(name, {})).eval()
    # Batch norm statistics away from the identity, so folding is exercised.
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1, generator=generator)
            module.running_var.uniform_(0.5, 2.0, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.uniform_(-0.5, 0.5, generator=generator)
    if _prunable(model):
        project_model(model, num_patterns=8, connectivity=3.6)
    return model


def _prunable(model: torch.nn.Module) -> list[str]:
    """The layers pattern pruning takes (MobileNet-V2 has none: its 3x3 convs after the
    first are depthwise)."""
    try:
        return list(select_layers(model))
    except PruningError:
        return []


def _check(name: str, size: int | tuple[int, int], target: str) -> None:
    model = _pruned(name)
    h, w = size if isinstance(size, tuple) else (size, size)
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(2))
    compiled = patdnn.compile(model, x, target=target, keep_stages=False)
    with torch.no_grad():
        ref = model(x).numpy()
    out = compiled(x)
    scale = max(float(np.abs(ref).max()), 1e-30)
    assert out.shape == ref.shape
    assert float(np.abs(out - ref).max()) / scale < 1e-4
    # Exactly the pruned layers are compiled as pattern convolutions.
    pruned = sorted(layer.name for layer in compiled.layers if layer.kind == "pattern conv")
    assert pruned == sorted(_prunable(model))
    assert "llvm.mlir" not in compiled.llvm_ir
    assert len(compiled.llvm_ir) < 8_000_000


@pytest.mark.parametrize(("name", "size"), HOST_CASES, ids=[c[0] for c in HOST_CASES])
def test_model_host(name: str, size: int | tuple[int, int]) -> None:
    _check(name, size, "host")


@pytest.mark.parametrize(("name", "size"), AARCH64_CASES, ids=[c[0] for c in AARCH64_CASES])
def test_model_aarch64(name: str, size: int | tuple[int, int]) -> None:
    _check(name, size, "aarch64")
