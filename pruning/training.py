"""Small training helpers shared by dense training, ADMM training and masked retraining."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from patdnn.pruning.errors import PruningError

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global RNG seeded, restoring the caller's RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_loader(loader: object, name: str = "loader") -> None:
    """Raise :class:`PruningError` for a loader that is missing, not iterable or empty."""
    if loader is None or not isinstance(loader, Iterable):
        raise PruningError(f"{name} must be an iterable of (input, target) batches, got {loader!r}")
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return
    if n == 0:
        raise PruningError(f"{name} is empty (it yields no batch)")


def _split(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise PruningError("a batch must be an (input, target) pair")


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def progress_bar(iterable: Iterable[Any], enabled: bool, **kwargs: Any) -> Iterable[Any]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def run_epoch(
    model: nn.Module,
    loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    loss_fn: LossFn | None = None,
    *,
    penalty: Callable[[], torch.Tensor] | None = None,
    step: Callable[[torch.optim.Optimizer], None] | None = None,
    progress: bool = False,
    desc: str = "",
) -> float:
    """One pass over ``loader``; returns the mean task loss (without the penalty).

    ``penalty()`` is added to the loss; ``step(optimizer)`` replaces ``optimizer.step()``
    (e.g. :meth:`MaskApplier.step`).
    """
    loss_fn = loss_fn or F.cross_entropy
    device = _device_of(model)
    model.train()
    total, count = 0.0, 0
    for batch in progress_bar(loader, progress, desc=desc, leave=False, unit="batch"):
        x, y = _split(batch)
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        full = loss + penalty() if penalty is not None else loss
        full.backward()
        if step is not None:
            step(optimizer)
        else:
            optimizer.step()
        total += float(loss.detach()) * len(y)
        count += len(y)
    if count == 0:
        raise PruningError("the training loader is empty (it yields no batch)")
    return total / count


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Any]) -> float:
    """Top-1 accuracy of ``model`` over ``loader``, in [0, 1] (model left in its mode)."""
    check_loader(loader, "evaluation loader")
    was_training = model.training
    device = _device_of(model)
    model.eval()
    correct, count = 0, 0
    try:
        for batch in loader:
            x, y = _split(batch)
            pred = model(x.to(device)).argmax(dim=1)
            correct += int((pred == y.to(device)).sum())
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise PruningError("the evaluation loader is empty (it yields no batch)")
    return correct / count


def make_optimizer(
    model: nn.Module, lr: float, optimizer: OptimizerFactory | None = None
) -> torch.optim.Optimizer:
    """``optimizer(model.parameters())``, by default Adam with learning rate ``lr``."""
    if optimizer is not None:
        return optimizer(model.parameters())
    return torch.optim.Adam(model.parameters(), lr=lr)


def train_dense(
    model: nn.Module,
    loader: Iterable[Any],
    epochs: int,
    *,
    lr: float = 3e-3,
    seed: int = 0,
    loss_fn: LossFn | None = None,
    optimizer: OptimizerFactory | None = None,
    progress: bool = False,
) -> list[float]:
    """Train ``model`` in place for ``epochs`` epochs (Adam by default); returns the
    mean loss of each epoch."""
    check_loader(loader, "train_loader")
    losses: list[float] = []
    with seeded(seed):
        opt = make_optimizer(model, lr, optimizer)
        for epoch in progress_bar(range(epochs), progress, desc="dense", unit="epoch"):
            losses.append(
                run_epoch(model, loader, opt, loss_fn, progress=progress, desc=f"dense {epoch}")
            )
    return losses
