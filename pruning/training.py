"""Small training helpers shared by dense training, ADMM training and masked retraining."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from patdnn.pruning.distributed import is_main, set_epoch, sum_over_ranks, unwrap
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
    if not isinstance(loader, Sized):
        return
    try:
        n = len(loader)
    except TypeError:  # a DataLoader of an iterable dataset has no length
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
    """``iterable`` under a tqdm bar when ``enabled`` (rank 0 only under torch.distributed)."""
    if not enabled or not is_main():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _forward_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn, where: str
) -> torch.Tensor:
    """``loss_fn(model(x), y)``; a batch that does not fit the model is a PruningError."""
    try:
        out = model(x)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise PruningError(
            f"{where}: a batch of shape {tuple(x.shape)} does not fit the model: {first_line(e)}"
        ) from e
    try:
        return loss_fn(out, y)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, IndexError, TypeError) as e:
        raise PruningError(
            f"{where}: the loss does not accept output {tuple(out.shape)} and target "
            f"{tuple(y.shape)}: {first_line(e)}"
        ) from e


def _layer_of(param_name: str) -> str:
    return param_name.rpartition(".")[0] or param_name


def _nonfinite_output_layer(model: nn.Module, x: torch.Tensor) -> str | None:
    """The first module (in execution order) whose output holds NaN or inf on ``x``."""
    found: list[str] = []
    handles = []
    for name, module in unwrap(model).named_modules():
        if not name:
            continue

        def hook(_m: nn.Module, _inp: Any, out: Any, name: str = name) -> None:
            if not found and isinstance(out, torch.Tensor) and not torch.isfinite(out).all():
                found.append(name)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            unwrap(model)(x)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else None


def check_finite_weights(model: nn.Module, where: str) -> None:
    """PruningError naming the layer if a parameter of ``model`` holds NaN or inf."""
    params = [(n, p) for n, p in unwrap(model).named_parameters() if p.is_floating_point()]
    if not params:
        return
    if bool(torch.stack([torch.isfinite(p.detach()).all() for _, p in params]).all()):
        return
    for n, p in params:
        if not torch.isfinite(p.detach()).all():
            raise PruningError(
                f"{where}: the weights of layer {_layer_of(n)!r} ({n}) hold NaN or infinite values"
            )


def _check_finite_grads(model: nn.Module, where: str) -> None:
    grads = [(n, p.grad) for n, p in unwrap(model).named_parameters() if p.grad is not None]
    if not grads or bool(torch.stack([torch.isfinite(g).all() for _, g in grads]).all()):
        return
    for n, g in grads:
        if not torch.isfinite(g).all():
            raise PruningError(
                f"{where}: the gradient of layer {_layer_of(n)!r} ({n}) is NaN or infinite "
                "(try a smaller learning rate or rho)"
            )


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
    epoch: int | None = None,
) -> float:
    """One pass over ``loader``; returns the mean task loss (without the penalty), over
    all ranks under torch.distributed.

    ``penalty()`` is added to the loss; ``step(optimizer)`` replaces ``optimizer.step()``
    (e.g. :meth:`MaskApplier.step`). ``epoch`` is passed to the sampler's ``set_epoch``
    (``DistributedSampler``) when it has one. A non-finite input, loss, gradient or
    weight, and a batch that does not fit the model, raise :class:`PruningError` naming
    ``desc`` (the phase and epoch), the batch and, where there is one, the layer.
    """
    loss_fn = loss_fn or F.cross_entropy
    device = _device_of(model)
    if epoch is not None:
        set_epoch(loader, epoch)
    model.train()
    total, count = 0.0, 0
    batches = progress_bar(loader, progress, desc=desc, leave=False, unit="batch")
    for i, batch in enumerate(batches):
        where = f"{desc or 'training'}, batch {i}"
        x, y = _split(batch)
        x, y = x.to(device), y.to(device)
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise PruningError(f"{where}: the input holds NaN or infinite values")
        optimizer.zero_grad(set_to_none=True)
        loss = _forward_loss(model, x, y, loss_fn, where)
        if not torch.isfinite(loss.detach()):
            layer = _nonfinite_output_layer(model, x)
            culprit = (
                f"first non-finite output: layer {layer!r}"
                if layer
                else "every layer's output is finite, the loss function produced it"
            )
            raise PruningError(f"{where}: the loss is {float(loss.detach())} ({culprit})")
        full = loss + penalty() if penalty is not None else loss
        if not torch.isfinite(full.detach()):
            raise PruningError(f"{where}: the ADMM penalty is {float((full - loss).detach())}")
        full.backward()
        _check_finite_grads(model, where)
        if step is not None:
            step(optimizer)
        else:
            optimizer.step()
        check_finite_weights(model, f"{where}, after the optimizer step")
        total += float(loss.detach()) * len(y)
        count += len(y)
    total, count_f = sum_over_ranks([total, float(count)], device)
    if count_f == 0:
        raise PruningError("the training loader is empty (it yields no batch)")
    return total / count_f


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable[Any]) -> float:
    """Top-1 accuracy of ``model`` over ``loader``, in [0, 1] (model left in its mode).

    Under torch.distributed every rank evaluates its own loader (e.g. a shard of the
    validation set) and the counts are summed over ranks; a DDP wrapper is bypassed.
    """
    check_loader(loader, "evaluation loader")
    model = unwrap(model)
    was_training = model.training
    device = _device_of(model)
    model.eval()
    correct, count = 0, 0
    try:
        for i, batch in enumerate(loader):
            x, y = _split(batch)
            out = _forward_loss(
                model, x.to(device), y.to(device), lambda o, _t: o, f"evaluation, batch {i}"
            )
            correct += int((out.argmax(dim=1) == y.to(device)).sum())
            count += len(y)
    finally:
        model.train(was_training)
    correct_f, count_f = sum_over_ranks([float(correct), float(count)], device)
    if count_f == 0:
        raise PruningError("the evaluation loader is empty (it yields no batch)")
    return correct_f / count_f


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
                run_epoch(
                    model,
                    loader,
                    opt,
                    loss_fn,
                    progress=progress,
                    desc=f"dense epoch {epoch + 1}/{epochs}",
                    epoch=epoch,
                )
            )
    return losses
