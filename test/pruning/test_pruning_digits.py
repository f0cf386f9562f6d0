from __future__ import annotations

import torch
from torch import nn

from patdnn.pruning import prune, select_layers
from patdnn.pruning.digits import DigitsNet, digits_tensors, evaluate, load_digits, train_dense


def test_digits_split_is_fixed_and_complete() -> None:
    train, val = digits_tensors(seed=0)
    assert len(train) + len(val) == 1797 and len(val) == 450
    x, y = train.tensors
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert set(val.tensors[1].tolist()) == set(range(10))
    again, _ = digits_tensors(seed=0)
    assert torch.equal(again.tensors[0], x)
    other, _ = digits_tensors(seed=1)
    assert not torch.equal(other.tensors[0], x)


def test_digits_net_shape_and_layers() -> None:
    model = DigitsNet()
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert list(select_layers(model)) == ["conv2", "conv3", "conv4"]
    kinds = {type(m) for m in model.modules() if m is not model}
    assert kinds == {nn.Conv2d, nn.Linear}


def test_digits_train_prune_smoke() -> None:
    train, val = load_digits(batch_size=128)
    model = DigitsNet()
    losses = train_dense(model, train, epochs=4, lr=5e-3)
    assert losses[-1] < losses[0]
    dense = evaluate(model, val)
    assert dense > 0.8
    result = prune(model, train, admm_epochs=2, retrain_epochs=2, val_loader=val, progress=False)
    assert result.report.accuracy_before == dense
    assert result.report.accuracy_after is not None and result.report.accuracy_after > 0.7
    assert evaluate(result.model, val) == result.report.accuracy_after
    assert [layer.kernels_kept for layer in result.report.layers] == [142, 284, 569]
