"""``prune()``: the whole PatDNN pruning flow in one call (PatDNN Sec. 4).

Extract the pattern library from the model's kernels, train with the extended ADMM,
hard-prune to the pattern + connectivity sets (3x3 convolutions), the block-sparse sets
(1x1 convolutions, linear layers) and, if asked, the pattern set (depthwise 3x3
convolutions), retrain with masks, and report.
With ``admm_epochs=0`` this is one-shot projection followed by masked retraining.
Works under ``torchrun`` with a ``DistributedDataParallel`` model (see
:mod:`patdnn.pruning.distributed`) and resumes from checkpoints (see
:mod:`patdnn.pruning.checkpoint`).
"""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from patdnn.pruning.admm import ADMMPruner, check_positive, plan_layers
from patdnn.pruning.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from patdnn.pruning.distributed import broadcast_object, unwrap
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import DEPTHWISE, PATTERN
from patdnn.pruning.patterns import (
    Library,
    check_num_patterns,
    extract_library,
    normalize_library,
)
from patdnn.pruning.report import EpochRecord, PruneReport
from patdnn.pruning.training import (
    LossFn,
    OptimizerFactory,
    check_finite_weights,
    check_loader,
    evaluate,
    first_line,
    make_optimizer,
    progress_bar,
    run_epoch,
    seeded,
)


@dataclass
class PruneResult:
    """The outcome of :func:`prune`.

    ``model``: the pruned copy (plain weights with zeros; unwrapped if the input was
    wrapped in ``DistributedDataParallel``); ``library``: the pattern
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


def _rewrap(original: nn.Module, module: nn.Module) -> nn.Module:
    """``module`` wrapped like ``original`` (DistributedDataParallel / DataParallel)."""
    if isinstance(original, nn.parallel.DistributedDataParallel):
        return nn.parallel.DistributedDataParallel(
            module,
            device_ids=original.device_ids,
            output_device=original.output_device,
            forward_sync_buffers=original.forward_sync_buffers,
            process_group=original.process_group,
            find_unused_parameters=original.find_unused_parameters,
            gradient_as_bucket_view=original.gradient_as_bucket_view,
        )
    if isinstance(original, nn.DataParallel):
        return nn.DataParallel(
            module, device_ids=original.device_ids, output_device=original.output_device
        )
    return module


#: The arguments a checkpoint must agree on to be resumed.
_RESUME_KEYS = (
    "layers",
    "num_patterns",
    "library",
    "connectivity",
    "plans",
    "rho",
    "rho_growth",
    "rho_every",
    "rho_max",
    "lr",
    "retrain_lr",
    "seed",
)


def _check_resumable(ckpt: dict[str, Any], config: dict[str, Any], where: str) -> None:
    saved = ckpt.get("config", {})
    for key in _RESUME_KEYS:
        if saved.get(key) != config[key]:
            raise PruningError(
                f"{where}: the checkpoint was made with {key}={saved.get(key)!r}, this run has "
                f"{key}={config[key]!r} (use another checkpoint_dir or the same arguments)"
            )


def prune(
    model: nn.Module,
    train_loader: Iterable[Any],
    *,
    num_patterns: int = 8,
    connectivity: float | Mapping[str, float] = 3.6,
    pointwise: float | Mapping[str, float] | None = 3.6,
    linear: float | Mapping[str, float] | None = 10.0,
    block_shape: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
    depthwise: bool = False,
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
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    filter_group: int = 1,
) -> PruneResult:
    """Pattern + connectivity + block pruning of ``model`` with the extended ADMM.

    The input model is not modified; a deep copy is pruned and returned. Which layers
    are pruned: see :mod:`patdnn.pruning.layers` (by default every 3x3 and 1x1
    ``groups=1`` convolution and every linear layer except the first convolution, the
    stem, and the last linear layer, the classifier, which stay dense unless named in
    ``include``; depthwise 3x3 convolutions only with ``depthwise=True``).

    - ``num_patterns`` (1..56): library size K, extracted from the model's 3x3 kernels
      (depthwise ones too with ``depthwise=True``), or pass ``library`` to use a given one.
    - ``connectivity`` (>= 1): keep ``round(n / connectivity)`` kernels per 3x3 layer; a
      mapping ``{layer name: ratio}`` sets it per layer and must name every pruned 3x3
      layer (see ``patdnn.pruning.sensitivity`` to choose the ratios).
    - ``pointwise`` (>= 1, default 3.6): connectivity of 1x1 convolutions, in blocks: keep
      ``round(n / pointwise)`` of the ``n`` blocks of each layer; a mapping must name
      every pruned 1x1 layer; None keeps them dense.
    - ``linear`` (>= 1, default 10): block sparsity of linear layers, keep 1 in
      ``linear`` blocks; a mapping must name every pruned linear layer; None keeps them
      dense.
    - ``block_shape``: ``(outputs, inputs)`` per block; by default ``(4, 1)`` for 1x1
      convolutions and ``(16, 1)`` for linear layers (one index per 16 values: what makes
      a sparse GEMV fast, see :mod:`patdnn.pruning.blocks`); partial last blocks when it
      does not divide. One shape sets every 1x1 and linear layer; a mapping sets the
      layers it names and/or the kinds ``"pointwise"`` and ``"linear"``.
    - ``filter_group`` (int >= 1, default 1): in every 3x3 layer the filters ``G*g ..
      G*g+G-1`` share, per input channel, whether the kernel is kept and its pattern
      (chosen on the group's summed scores; the last group is smaller when G does not
      divide the filter count), each filter keeping its own weights; 1 is PatDNN's
      per-kernel choice (see :mod:`patdnn.pruning.patterns`).
    - ``depthwise``: pattern-prune depthwise 3x3 convolutions too (each kernel keeps one
      library pattern, every kernel kept); default False.
    - ``admm_epochs``: ADMM training epochs (Z, Y, U, V updated at each epoch end; ``rho``
      multiplied by ``rho_growth`` every ``rho_every`` epochs, at most ``rho_max``).
      0 gives one-shot projection.
    - ``retrain_epochs``: masked retraining epochs after hard pruning, at ``retrain_lr``
      (default ``lr``).
    - ``optimizer``: factory ``params -> Optimizer`` (default Adam at ``lr``); a fresh
      one is made for each phase.
    - ``loss_fn(output, target)``: default cross-entropy; batches are ``(input, target)``.
    - ``val_loader``: if given, accuracy before, after hard pruning and at the end.
    - ``include``/``exclude``: layer names, see :func:`select_sparse_layers`.
    - ``seed``: seeds torch's RNG for the run (the caller's RNG state is restored).
    - ``checkpoint_dir``: save the whole state at every epoch end (atomically, rank 0);
      ``resume=True`` continues from the checkpoint there (or starts afresh if there is
      none yet) and ends with the same result as an uninterrupted run.

    Under ``torchrun``, ``model`` may be a ``DistributedDataParallel`` model: the copy is
    wrapped the same way for training, masks and auxiliary variables are rank 0's on
    every rank, a ``DistributedSampler``'s ``set_epoch`` is called, and only rank 0 shows
    progress and writes checkpoints.

    Raises :class:`PruningError` (a ``PatdnnError`` and ``ValueError``) for bad input,
    for a batch that does not fit the model, and when an input, weight, gradient or the
    loss becomes NaN or infinite (naming the layer, the phase and the epoch).
    """
    if not isinstance(model, nn.Module):
        raise PruningError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    inner = unwrap(model)
    if library is None:
        check_num_patterns(num_patterns)
    admm_epochs = _check_epochs("admm_epochs", admm_epochs)
    retrain_epochs = _check_epochs("retrain_epochs", retrain_epochs)
    rho = check_positive("rho", rho)
    lr = check_positive("lr", lr)
    retrain_lr = lr if retrain_lr is None else check_positive("retrain_lr", retrain_lr)
    check_loader(train_loader, "train_loader")
    if val_loader is not None:
        check_loader(val_loader, "val_loader")
    layers, plans = plan_layers(  # fail early, before copying
        inner,
        connectivity=connectivity,
        pointwise=pointwise,
        linear=linear,
        block_shape=block_shape,
        depthwise=depthwise,
        include=include,
        exclude=exclude,
        filter_group=filter_group,
    )
    conn = {n: p.ratio for n, p in plans.items() if p.kind == PATTERN}
    kernel_layers = [n for n, p in plans.items() if p.kind in (PATTERN, DEPTHWISE)]
    given_library = normalize_library(library) if library is not None else None
    if resume and checkpoint_dir is None:
        raise PruningError("resume=True needs a checkpoint_dir")
    check_finite_weights(inner, "the initial weights")
    config: dict[str, Any] = {
        "layers": list(layers),
        "num_patterns": None if given_library else num_patterns,
        "library": [list(map(list, p)) for p in given_library] if given_library else None,
        "connectivity": conn,
        "plans": {n: p.as_list() for n, p in plans.items()},
        "rho": rho,
        "rho_growth": rho_growth,
        "rho_every": rho_every,
        "rho_max": rho_max,
        "lr": lr,
        "retrain_lr": retrain_lr,
        "seed": seed,
    }
    ckpt_file = str(checkpoint_path(checkpoint_dir)) if checkpoint_dir is not None else ""
    ckpt = load_checkpoint(checkpoint_dir) if resume and checkpoint_dir is not None else None
    if ckpt is not None:
        _check_resumable(ckpt, config, ckpt_file)

    history: list[EpochRecord] = []
    acc_hard: float | None = None
    with seeded(seed):
        pruned = copy.deepcopy(inner)
        was_training = inner.training
        if ckpt is not None:
            try:
                pruned.load_state_dict(ckpt["model"])
            except RuntimeError as e:
                raise PruningError(
                    f"{ckpt_file}: the checkpoint weights do not fit the model: {first_line(e)}"
                ) from e
        trained = _rewrap(model, pruned)  # DDP: syncs rank 0's weights
        if ckpt is not None:
            lib = normalize_library(ckpt["library"])
            acc_before = ckpt["accuracy_before"]
            acc_hard = ckpt["accuracy_hard_pruned"]
            history = [EpochRecord(**h) for h in ckpt["history"]]
        else:
            lib = given_library or extract_library(
                [pruned.get_parameter(f"{n}.weight").detach() for n in kernel_layers],
                num_patterns,
            )
            lib = broadcast_object(lib)
            acc_before = evaluate(pruned, val_loader) if val_loader is not None else None

        pruner = ADMMPruner(
            trained,
            lib,
            connectivity=connectivity,
            pointwise=pointwise,
            linear=linear,
            block_shape=block_shape,
            depthwise=depthwise,
            rho=rho,
            rho_growth=rho_growth,
            rho_every=rho_every,
            rho_max=rho_max,
            include=include,
            exclude=exclude,
            filter_group=filter_group,
        )
        phase, done = "admm", 0
        if ckpt is not None:
            pruner.load_state_dict(ckpt["pruner"])
            phase, done = ckpt["phase"], ckpt["epoch"] + 1
            restore_rng(ckpt)

        def save(phase: str, epoch: int, opt: torch.optim.Optimizer) -> None:
            if checkpoint_dir is None:
                return
            save_checkpoint(
                checkpoint_dir,
                {
                    "config": config,
                    "phase": phase,
                    "epoch": epoch,
                    "model": pruned.state_dict(),
                    "pruner": pruner.state_dict(),
                    "optimizer": opt.state_dict(),
                    "library": [list(map(list, p)) for p in lib],
                    "history": [dataclasses.asdict(h) for h in history],
                    "accuracy_before": acc_before,
                    "accuracy_hard_pruned": acc_hard,
                },
            )

        if phase == "admm":
            if admm_epochs > done:
                opt = make_optimizer(trained, lr, optimizer)
                if ckpt is not None:
                    opt.load_state_dict(ckpt["optimizer"])
                bar = progress_bar(range(done, admm_epochs), progress, desc="ADMM", unit="epoch")
                for epoch in bar:
                    rho_used = pruner.rho
                    loss = run_epoch(
                        trained,
                        train_loader,
                        opt,
                        loss_fn,
                        penalty=pruner.penalty,
                        progress=progress,
                        desc=f"ADMM epoch {epoch + 1}/{admm_epochs}",
                        epoch=epoch,
                    )
                    pruner.epoch_end()
                    res_z, res_y = pruner.residual_norms()
                    history.append(EpochRecord("admm", epoch, loss, rho_used, res_z, res_y))
                    save("admm", epoch, opt)
                    if (set_postfix := getattr(bar, "set_postfix", None)) is not None:
                        set_postfix(loss=f"{loss:.4f}", rho=f"{rho_used:.2g}", wz=f"{res_z:.3g}")
            pruner.hard_prune()
            acc_hard = evaluate(pruned, val_loader) if val_loader is not None else None
            done = 0
        assert pruner.masks is not None
        masks = pruner.masks

        applier = pruner.mask_applier()
        if retrain_epochs > done:
            opt = make_optimizer(trained, retrain_lr, optimizer)
            if ckpt is not None and phase == "retrain":
                opt.load_state_dict(ckpt["optimizer"])
            bar = progress_bar(range(done, retrain_epochs), progress, desc="retrain", unit="epoch")
            for epoch in bar:
                loss = run_epoch(
                    trained,
                    train_loader,
                    opt,
                    loss_fn,
                    step=applier.step,
                    progress=progress,
                    desc=f"retrain epoch {epoch + 1}/{retrain_epochs}",
                    epoch=admm_epochs + epoch,
                )
                history.append(EpochRecord("retrain", epoch, loss))
                save("retrain", epoch, opt)
                if (set_postfix := getattr(bar, "set_postfix", None)) is not None:
                    set_postfix(loss=f"{loss:.4f}")
        applier.apply()
        acc_after = evaluate(pruned, val_loader) if val_loader is not None else None
        pruned.train(was_training)
        for p in pruned.parameters():
            p.grad = None

    masks = {name: m.detach().cpu().clone() for name, m in masks.items()}
    report = PruneReport.from_masks(
        masks,
        lib,
        pruner.plans,
        accuracy_before=acc_before,
        accuracy_hard_pruned=acc_hard,
        accuracy_after=acc_after,
        history=tuple(history),
    )
    return PruneResult(model=pruned, library=lib, masks=masks, report=report)
