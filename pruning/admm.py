"""The extended ADMM of PatDNN (Sec. 4.2) for a user's own training loop.

Two constraint sets per layer, the pattern set S_p and the connectivity set S_c, get
auxiliary copies ``Z`` (in S_p) and ``Y`` (in S_c) of the weights ``W`` with scaled duals
``U`` and ``V``. Training minimises ``loss + rho/2 ||W - Z + U||^2 + rho/2 ||W - Y + V||^2``;
on a schedule (e.g. once per epoch)::

    Z <- proj_Sp(W + U);  U <- U + W - Z
    Y <- proj_Sc(W + V);  V <- V + W - Y

and ``rho`` grows by ``rho_growth`` every ``rho_every`` updates, capped at ``rho_max``
(the scaled duals are rescaled by ``rho_old / rho_new`` so the unscaled duals are kept).
Then :meth:`ADMMPruner.hard_prune` projects W onto the intersection (pattern, then
connectivity) and returns the masks, and masked retraining keeps the pruned weights at
exactly zero (:class:`MaskApplier`).

Usage in a custom loop::

    from patdnn.pruning import ADMMPruner, extract_library

    library = extract_library(model, num_patterns=8)
    pruner = ADMMPruner(model, library, connectivity=3.6, rho=1e-3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(admm_epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y) + pruner.penalty()
            loss.backward()
            opt.step()
        pruner.epoch_end()          # update Z, Y, U, V and rho

    masks = pruner.hard_prune()     # weights now pattern + connectivity pruned
    applier = pruner.mask_applier()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    for epoch in range(retrain_epochs):
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            applier.step(opt)       # mask grads, step, re-apply masks
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import select_layers
from patdnn.pruning.patterns import (
    Library,
    check_connectivity,
    hard_prune_mask,
    normalize_library,
    project_connectivity,
    project_patterns,
)


class MaskApplier:
    """Keeps pruned weights at exactly zero during retraining.

    ``masks`` maps module names (as in ``named_modules``) to boolean masks of the module's
    ``weight``. Call :meth:`step` instead of ``optimizer.step()``, or call
    :meth:`mask_grads` before and :meth:`apply` after it. Nothing is registered on the
    model (no hooks, no parametrizations).
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
        modules = dict(model.named_modules())
        self._pairs: list[tuple[nn.Parameter, torch.Tensor]] = []
        for name, mask in masks.items():
            if name not in modules:
                raise PruningError(f"mask for {name!r}, which is not a module of the model")
            weight = getattr(modules[name], "weight", None)
            if not isinstance(weight, torch.Tensor):
                raise PruningError(f"module {name!r} has no weight to mask")
            if tuple(mask.shape) != tuple(weight.shape):
                raise PruningError(
                    f"mask for {name!r} has shape {tuple(mask.shape)} but its weight has "
                    f"shape {tuple(weight.shape)}"
                )
            mask = mask.to(device=weight.device, dtype=weight.dtype)
            self._pairs.append((weight, mask))  # type: ignore[arg-type]

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the pruned weights."""
        for w, m in self._pairs:
            w.mul_(m)

    __call__ = apply

    @torch.no_grad()
    def mask_grads(self) -> None:
        """Zero the gradients of pruned weights."""
        for w, m in self._pairs:
            if w.grad is not None:
                w.grad.mul_(m)

    @torch.no_grad()
    def mask_optimizer_state(self, optimizer: torch.optim.Optimizer) -> None:
        """Zero the optimizer's per-weight state (momentum, Adam moments) at pruned weights."""
        for w, m in self._pairs:
            for value in optimizer.state.get(w, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == w.shape:
                    value.mul_(m)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """Masked optimizer step: mask grads, step, re-apply the masks and mask the state."""
        self.mask_grads()
        optimizer.step()
        self.apply()
        self.mask_optimizer_state(optimizer)


@dataclass
class _LayerState:
    weight: nn.Parameter
    z: torch.Tensor
    y: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


class ADMMPruner:
    """Extended ADMM for pattern + connectivity pruning (PatDNN Sec. 4.2).

    ``library`` is the pattern library (e.g. from :func:`extract_library`); layers are
    chosen by :func:`select_layers` with ``include``/``exclude``. ``rho`` is the initial
    penalty, multiplied by ``rho_growth`` every ``rho_every`` calls of :meth:`epoch_end`,
    never beyond ``rho_max``.
    """

    def __init__(
        self,
        model: nn.Module,
        library: Iterable[Iterable[tuple[int, int]]],
        *,
        connectivity: float = 3.6,
        rho: float = 1e-3,
        rho_growth: float = 1.5,
        rho_every: int = 1,
        rho_max: float = 1.0,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
    ) -> None:
        self.library: Library = normalize_library(library)
        self.connectivity = check_connectivity(connectivity)
        check_positive("rho", rho)
        check_positive("rho_max", rho_max)
        if not math.isfinite(rho_growth) or rho_growth < 1.0:
            raise PruningError(f"rho_growth must be >= 1, got {rho_growth!r}")
        if isinstance(rho_every, bool) or not isinstance(rho_every, int) or rho_every < 1:
            raise PruningError(f"rho_every must be a positive int, got {rho_every!r}")
        self.rho = min(float(rho), float(rho_max))
        self.rho_growth = float(rho_growth)
        self.rho_every = rho_every
        self.rho_max = float(rho_max)
        self.model = model
        self.layers: dict[str, nn.Conv2d] = select_layers(model, include, exclude)
        self.updates = 0
        self.masks: dict[str, torch.Tensor] | None = None
        self._applier: MaskApplier | None = None
        self._state: dict[str, _LayerState] = {}
        with torch.no_grad():
            for name, conv in self.layers.items():
                w = conv.weight.detach()
                self._state[name] = _LayerState(
                    weight=conv.weight,
                    z=project_patterns(w, self.library).clone(),
                    y=project_connectivity(w, self.connectivity).clone(),
                    u=torch.zeros_like(w),
                    v=torch.zeros_like(w),
                )

    def penalty(self) -> torch.Tensor:
        """``rho/2 (||W - Z + U||^2 + ||W - Y + V||^2)`` summed over layers
        (differentiable in W)."""
        total: torch.Tensor | None = None
        for s in self._state.values():
            term = (s.weight - s.z + s.u).square().sum() + (s.weight - s.y + s.v).square().sum()
            total = term if total is None else total + term
        assert total is not None
        return 0.5 * self.rho * total

    @torch.no_grad()
    def epoch_end(self) -> None:
        """ADMM update: re-project Z and Y, update U and V, then the rho schedule."""
        for s in self._state.values():
            w = s.weight.detach()
            s.z = project_patterns(w + s.u, self.library)
            s.u = s.u + w - s.z
            s.y = project_connectivity(w + s.v, self.connectivity)
            s.v = s.v + w - s.y
        self.updates += 1
        if self.updates % self.rho_every == 0:
            new_rho = min(self.rho * self.rho_growth, self.rho_max)
            scale = self.rho / new_rho
            for s in self._state.values():
                s.u = s.u * scale
                s.v = s.v * scale
            self.rho = new_rho

    @torch.no_grad()
    def residuals(self) -> dict[str, tuple[float, float]]:
        """Per layer ``(||W - Z||, ||W - Y||)``."""
        return {
            name: (
                float((s.weight - s.z).norm()),
                float((s.weight - s.y).norm()),
            )
            for name, s in self._state.items()
        }

    def residual_norms(self) -> tuple[float, float]:
        """``(||W - Z||, ||W - Y||)`` over all pruned layers."""
        res = self.residuals().values()
        return (
            math.sqrt(sum(a * a for a, _ in res)),
            math.sqrt(sum(b * b for _, b in res)),
        )

    @torch.no_grad()
    def hard_prune(self) -> dict[str, torch.Tensor]:
        """Project W onto the intersection of both sets in place; return the boolean masks."""
        masks: dict[str, torch.Tensor] = {}
        for name, s in self._state.items():
            mask = hard_prune_mask(s.weight.detach(), self.library, self.connectivity)
            s.weight.mul_(mask.to(s.weight.dtype))
            masks[name] = mask
        self.masks = masks
        self._applier = MaskApplier(self.model, masks)
        return masks

    def mask_applier(self) -> MaskApplier:
        """The :class:`MaskApplier` for the masks of :meth:`hard_prune`."""
        if self._applier is None:
            raise PruningError("hard_prune() has not been called yet")
        return self._applier

    def apply_masks(self) -> None:
        """Re-apply the hard-pruning masks (call after each optimizer step)."""
        self.mask_applier().apply()


def check_positive(name: str, value: object) -> float:
    """`value` as a float, or a `PruningError` unless it is a finite positive number."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise PruningError(f"{name} must be a positive number, got {value!r}")
    return float(value)
