"""``prune()``: the whole PatDNN pruning flow in one call (PatDNN Sec. 4).

Extract the pattern library from the model's kernels, train with the extended ADMM,
hard-prune to the pattern + connectivity sets, retrain with masks, and report.
With ``admm_epochs=0`` this is one-shot projection followed by masked retraining.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from patdnn.pruning.admm import ADMMPruner, check_positive
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import select_layers
from patdnn.pruning.patterns import (
    Library,
    check_connectivity,
    check_num_patterns,
    extract_library,
    normalize_library,
)
from patdnn.pruning.report import EpochRecord, PruneReport
from patdnn.pruning.training import (
    LossFn,
    OptimizerFactory,
    check_loader,
    evaluate,
    make_optimizer,
    progress_bar,
    run_epoch,
    seeded,
)


@dataclass
class PruneResult:
    """The outcome of :func:`prune`.

    ``model``: the pruned copy (plain weights with zeros); ``library``: the pattern
    library, a tuple of sorted 4-tap tuples; ``masks``: ``{module name: bool mask of its
    weight}``; ``report``: a :class:`PruneReport`.
    """

    model: nn.Module
    library: Library
    masks: dict[str, torch.Tensor]
    report: PruneReport

    def __str__(self) -> str:
        return self.report.table()


def _check_epochs(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PruningError(f"{name} must be a non-negative int, got {value!r}")
    return value


def prune(
    model: nn.Module,
    train_loader: Iterable[Any],
    *,
    num_patterns: int = 8,
    connectivity: float = 3.6,
    admm_epochs: int = 20,
    retrain_epochs: int = 15,
    rho: float = 1e-3,
    lr: float = 1e-3,
    val_loader: Iterable[Any] | None = None,
    seed: int = 0,
    progress: bool = True,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    loss_fn: LossFn | None = None,
    rho_growth: float = 1.5,
    rho_every: int = 1,
    rho_max: float = 1.0,
    retrain_lr: float | None = None,
    optimizer: OptimizerFactory | None = None,
    library: Iterable[Iterable[tuple[int, int]]] | None = None,
) -> PruneResult:
    """Pattern + connectivity pruning of ``model`` with the extended ADMM.

    The input model is not modified; a deep copy is pruned and returned.

    - ``num_patterns`` (1..56): library size K, extracted from the model's kernels
      (or pass ``library`` to use a given one).
    - ``connectivity`` (>= 1): keep ``round(n / connectivity)`` kernels per layer.
    - ``admm_epochs``: ADMM training epochs (Z, Y, U, V updated at each epoch end; ``rho``
      multiplied by ``rho_growth`` every ``rho_every`` epochs, at most ``rho_max``).
      0 gives one-shot projection.
    - ``retrain_epochs``: masked retraining epochs after hard pruning, at ``retrain_lr``
      (default ``lr``).
    - ``optimizer``: factory ``params -> Optimizer`` (default Adam at ``lr``); a fresh
      one is made for each phase.
    - ``loss_fn(output, target)``: default cross-entropy; batches are ``(input, target)``.
    - ``val_loader``: if given, accuracy before, after hard pruning and at the end.
    - ``include``/``exclude``: layer names, see :func:`select_layers`.
    - ``seed``: seeds torch's RNG for the run (the caller's RNG state is restored).

    Raises :class:`PruningError` (a ``ValueError``) for bad input.
    """
    if not isinstance(model, nn.Module):
        raise PruningError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if library is None:
        check_num_patterns(num_patterns)
    conn = check_connectivity(connectivity)
    admm_epochs = _check_epochs("admm_epochs", admm_epochs)
    retrain_epochs = _check_epochs("retrain_epochs", retrain_epochs)
    rho = check_positive("rho", rho)
    lr = check_positive("lr", lr)
    retrain_lr = lr if retrain_lr is None else check_positive("retrain_lr", retrain_lr)
    check_loader(train_loader, "train_loader")
    if val_loader is not None:
        check_loader(val_loader, "val_loader")
    select_layers(model, include, exclude)  # fail early, before copying

    history: list[EpochRecord] = []
    with seeded(seed):
        pruned = copy.deepcopy(model)
        was_training = model.training
        lib = (
            normalize_library(library)
            if library is not None
            else extract_library(pruned, num_patterns, include=include, exclude=exclude)
        )
        acc_before = evaluate(pruned, val_loader) if val_loader is not None else None

        pruner = ADMMPruner(
            pruned,
            lib,
            connectivity=conn,
            rho=rho,
            rho_growth=rho_growth,
            rho_every=rho_every,
            rho_max=rho_max,
            include=include,
            exclude=exclude,
        )
        if admm_epochs:
            opt = make_optimizer(pruned, lr, optimizer)
            bar = progress_bar(range(admm_epochs), progress, desc="ADMM", unit="epoch")
            for epoch in bar:
                rho_used = pruner.rho
                loss = run_epoch(
                    pruned,
                    train_loader,
                    opt,
                    loss_fn,
                    penalty=pruner.penalty,
                    progress=progress,
                    desc=f"ADMM {epoch + 1}/{admm_epochs}",
                )
                pruner.epoch_end()
                res_z, res_y = pruner.residual_norms()
                history.append(EpochRecord("admm", epoch, loss, rho_used, res_z, res_y))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss:.4f}", rho=f"{rho_used:.2g}", wz=f"{res_z:.3g}")

        masks = pruner.hard_prune()
        acc_hard = evaluate(pruned, val_loader) if val_loader is not None else None

        applier = pruner.mask_applier()
        if retrain_epochs:
            opt = make_optimizer(pruned, retrain_lr, optimizer)
            bar = progress_bar(range(retrain_epochs), progress, desc="retrain", unit="epoch")
            for epoch in bar:
                loss = run_epoch(
                    pruned,
                    train_loader,
                    opt,
                    loss_fn,
                    step=applier.step,
                    progress=progress,
                    desc=f"retrain {epoch + 1}/{retrain_epochs}",
                )
                history.append(EpochRecord("retrain", epoch, loss))
                if hasattr(bar, "set_postfix"):
                    bar.set_postfix(loss=f"{loss:.4f}")
        applier.apply()
        acc_after = evaluate(pruned, val_loader) if val_loader is not None else None
        pruned.train(was_training)
        for p in pruned.parameters():
            p.grad = None

    masks = {name: m.detach().cpu().clone() for name, m in masks.items()}
    report = PruneReport.from_masks(
        masks,
        lib,
        accuracy_before=acc_before,
        accuracy_hard_pruned=acc_hard,
        accuracy_after=acc_after,
        history=tuple(history),
    )
    return PruneResult(model=pruned, library=lib, masks=masks, report=report)
