"""Runs that go wrong end in a PruningError naming the layer, the phase and the epoch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from patdnn.errors import PatdnnError
from patdnn.pruning import PruningError, evaluate, prune

FAST = dict(admm_epochs=2, retrain_epochs=1, progress=False)


def test_pruning_error_is_a_project_error() -> None:
    assert issubclass(PruningError, PatdnnError) and issubclass(PruningError, ValueError)


def test_nan_in_initial_weights(tiny_model, tiny_loader) -> None:
    with torch.no_grad():
        tiny_model.conv3.weight[0, 0, 1, 1] = float("nan")
    with pytest.raises(PruningError, match=r"the initial weights: the weights of layer 'conv3'"):
        prune(tiny_model, tiny_loader, **FAST)


def test_nan_in_input(tiny_model) -> None:
    x = torch.randn(32, 1, 6, 6)
    x[20, 0, 2, 2] = float("inf")
    loader = DataLoader(TensorDataset(x, torch.zeros(32, dtype=torch.long)), batch_size=16)
    with pytest.raises(PruningError, match=r"ADMM epoch 1/2, batch 1: the input holds NaN"):
        prune(tiny_model, loader, **FAST)


def test_nan_output_names_the_layer(tiny_model, tiny_loader) -> None:
    tiny_model.conv3.register_forward_hook(lambda _m, _i, out: out * float("nan"))
    with pytest.raises(
        PruningError,
        match=r"ADMM epoch 1/2, batch 0: the loss is nan "
        r"\(first non-finite output: layer 'conv3'\)",
    ):
        prune(tiny_model, tiny_loader, **FAST)


def test_nan_loss_from_the_loss_function(tiny_model, tiny_loader) -> None:
    def loss_fn(out, y):
        return F.cross_entropy(out, y) * float("nan")

    with pytest.raises(PruningError, match="the loss function produced it"):
        prune(tiny_model, tiny_loader, loss_fn=loss_fn, **FAST)


def test_nan_gradient_names_the_layer(tiny_model, tiny_loader) -> None:
    def loss_fn(out, y):  # finite value, NaN gradient: 0 * d/dx sqrt(x - x) at 0
        return F.cross_entropy(out, y) + 0.0 * torch.sqrt(out - out).sum()

    expected = r"ADMM epoch 1/2, batch 0: the gradient of layer 'conv1'"
    with pytest.raises(PruningError, match=expected):
        prune(tiny_model, tiny_loader, loss_fn=loss_fn, **FAST)


class Overflowing(torch.optim.SGD):
    """An SGD whose step overflows the third parameter (conv2.weight)."""

    def step(self, closure=None):  # type: ignore[override]
        super().step(closure)
        with torch.no_grad():
            self.param_groups[0]["params"][2].mul_(float("inf"))


def test_weights_that_blow_up_name_the_layer(tiny_model, tiny_loader) -> None:
    with pytest.raises(
        PruningError,
        match=r"ADMM epoch 1/2, batch 0, after the optimizer step: the weights of layer 'conv2'",
    ):
        prune(tiny_model, tiny_loader, optimizer=lambda p: Overflowing(p, lr=0.01), **FAST)


def test_nan_in_retraining_names_the_phase(tiny_model, tiny_loader) -> None:
    calls = [0]

    def loss_fn(out, y):
        calls[0] += 1
        loss = F.cross_entropy(out, y)
        return loss * float("inf") if calls[0] > 2 * len(tiny_loader) else loss

    with pytest.raises(PruningError, match=r"retrain epoch 1/1, batch 0: the loss is"):
        prune(tiny_model, tiny_loader, loss_fn=loss_fn, **FAST)


def test_batch_that_does_not_fit(tiny_model) -> None:
    rgb = DataLoader(TensorDataset(torch.randn(8, 3, 6, 6), torch.zeros(8, dtype=torch.long)))
    with pytest.raises(
        PruningError, match=r"batch 0: a batch of shape \(1, 3, 6, 6\) does not fit the model"
    ):
        prune(tiny_model, rgb, **FAST)
    labels = DataLoader(TensorDataset(torch.randn(8, 1, 6, 6), torch.zeros(8, 2, dtype=torch.long)))
    with pytest.raises(PruningError, match=r"the loss does not accept output \(1, 3\)"):
        prune(tiny_model, labels, **FAST)
    with pytest.raises(PruningError, match=r"evaluation, batch 0: a batch of shape"):
        evaluate(tiny_model, rgb)
