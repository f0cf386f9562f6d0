"""The output of `patdnn.prune` compiles: every pruned layer becomes a pattern conv."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

import patdnn
from patdnn.pruning.digits import DigitsNet, digits_tensors


def test_pruned_digits_net_compiles_to_pattern_convs() -> None:
    train, _ = digits_tensors(seed=0)
    loader = DataLoader(Subset(train, range(256)), batch_size=64, shuffle=True)
    torch.manual_seed(0)
    result = patdnn.prune(
        DigitsNet(), loader, admm_epochs=1, retrain_epochs=1, seed=0, progress=False
    )
    assert list(result.masks) == ["conv2", "conv3", "conv4"]
    model = result.model.eval()

    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    compiled = patdnn.compile(model, x, target="host", keep_stages=False)

    kinds = {layer.name: layer.kind for layer in compiled.layers}
    assert kinds == {
        "conv1": "conv", "conv2": "pattern conv", "conv3": "pattern conv", "conv4": "pattern conv"
    }  # fmt: skip
    kept = {layer.name: layer.kernels_kept for layer in compiled.layers}
    for name in result.masks:
        assert kept[name] == int(result.masks[name].any(dim=(2, 3)).sum())
    assert {tuple(p) for p in compiled.library} <= set(result.library)

    with torch.no_grad():
        expected = model(x).numpy()
    got = compiled(x)
    assert got.shape == expected.shape == (1, 10)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()


def test_pruned_block_net_compiles_and_matches_torch() -> None:
    """1x1 and linear block masks and depthwise patterns: the compiled model computes
    what PyTorch computes on the same pruned weights (zeros are read from the weights)."""
    from patdnn.pruning.digits import DigitsBlockNet

    train, _ = digits_tensors(seed=0)
    loader = DataLoader(Subset(train, range(128)), batch_size=64, shuffle=True)
    torch.manual_seed(0)
    result = patdnn.prune(
        DigitsBlockNet(), loader, admm_epochs=1, retrain_epochs=0, depthwise=True, progress=False
    )
    assert list(result.masks) == ["conv2", "dw3", "pw3", "fc1"]
    model = result.model.eval()
    x = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    compiled = patdnn.compile(model, x, target="host", keep_stages=False)
    with torch.no_grad():
        expected = model(x).numpy()
    got = compiled(x)
    assert got.shape == expected.shape == (1, 10)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
