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
from typing import Any

import torch
from torch import nn

from patdnn.pruning.distributed import broadcast_tensors, unwrap
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
    model (no hooks, no parametrizations). A ``DistributedDataParallel`` model is
    unwrapped: the names are those of the wrapped module; DDP has averaged the gradients
    before :meth:`step` masks them, so every rank takes the same masked step.
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
        modules = dict(unwrap(model).named_modules())
        self._pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
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
            self._pairs.append((weight, mask))

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
    weight: torch.Tensor
    z: torch.Tensor
    y: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor


class ADMMPruner:
    """Extended ADMM for pattern + connectivity pruning (PatDNN Sec. 4.2).

    ``library`` is the pattern library (e.g. from :func:`extract_library`); layers are
    chosen by :func:`select_layers` with ``include``/``exclude``. ``connectivity`` is one
    ratio for every layer or a mapping ``{layer name: ratio}`` naming every pruned layer
    (see :func:`layer_connectivity`). ``rho`` is the initial penalty, multiplied by
    ``rho_growth`` every ``rho_every`` calls of :meth:`epoch_end`, never beyond ``rho_max``.

    ``model`` may be wrapped in ``DistributedDataParallel``: add :meth:`penalty` to the
    loss (DDP then averages its gradient), and Z, Y, U, V and the masks are broadcast
    from rank 0 after every projection (see :mod:`patdnn.pruning.distributed`).
    """

    def __init__(
        self,
        model: nn.Module,
        library: Iterable[Iterable[tuple[int, int]]],
        *,
        connectivity: float | Mapping[str, float] = 3.6,
        rho: float = 1e-3,
        rho_growth: float = 1.5,
        rho_every: int = 1,
        rho_max: float = 1.0,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
    ) -> None:
        self.library: Library = normalize_library(library)
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
        self.layers: dict[str, nn.Conv2d] = select_layers(unwrap(model), include, exclude)
        #: ``{layer name: connectivity ratio}``
        self.connectivity: dict[str, float] = layer_connectivity(connectivity, self.layers)
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
                    y=project_connectivity(w, self.connectivity[name]).clone(),
                    u=torch.zeros_like(w),
                    v=torch.zeros_like(w),
                )
        self._sync()

    def _sync(self) -> None:
        """Rank 0's Z, Y, U, V on every rank (no-op without torch.distributed)."""
        broadcast_tensors([t for s in self._state.values() for t in (s.z, s.y, s.u, s.v)])

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
        for name, s in self._state.items():
            w = s.weight.detach()
            s.z = project_patterns(w + s.u, self.library)
            s.u = s.u + w - s.z
            s.y = project_connectivity(w + s.v, self.connectivity[name])
            s.v = s.v + w - s.y
        self._sync()
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
            masks[name] = hard_prune_mask(s.weight.detach(), self.library, self.connectivity[name])
        broadcast_tensors(list(masks.values()))
        self._set_masks(masks)
        return masks

    def _set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        self.masks = masks
        self._applier = MaskApplier(self.model, masks)
        self._applier.apply()

    def state_dict(self) -> dict[str, object]:
        """Everything :meth:`load_state_dict` needs to continue: Z, Y, U, V per layer,
        rho, the update count, the masks (after :meth:`hard_prune`), library and ratios."""
        return {
            "library": [list(map(list, p)) for p in self.library],
            "connectivity": dict(self.connectivity),
            "rho": self.rho,
            "updates": self.updates,
            "layers": {
                name: {"z": s.z, "y": s.y, "u": s.u, "v": s.v} for name, s in self._state.items()
            },
            "masks": self.masks,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (untyped data, as `torch.load` gives it back); raises
        PruningError if it belongs to other layers, another library or other connectivity
        ratios."""
        library = normalize_library(state["library"])
        if library != self.library:
            raise PruningError("the saved ADMM state has another pattern library")
        if dict(state["connectivity"]) != self.connectivity:
            raise PruningError(
                f"the saved ADMM state has connectivity {state['connectivity']}, "
                f"not {self.connectivity}"
            )
        layers: Mapping[str, Mapping[str, torch.Tensor]]
        layers = state["layers"]
        if list(layers) != list(self._state):
            raise PruningError(
                f"the saved ADMM state prunes layers {list(layers)}, not {list(self._state)}"
            )
        for name, s in self._state.items():
            saved = layers[name]
            for key in ("z", "y", "u", "v"):
                if tuple(saved[key].shape) != tuple(s.weight.shape):
                    raise PruningError(
                        f"the saved ADMM state of layer {name!r} has shape "
                        f"{tuple(saved[key].shape)}, not {tuple(s.weight.shape)}"
                    )
                setattr(s, key, saved[key].to(device=s.weight.device, dtype=s.weight.dtype))
        self.rho = float(state["rho"])
        self.updates = int(state["updates"])
        masks = state.get("masks")
        if masks is not None:
            dev = {name: s.weight.device for name, s in self._state.items()}
            self._set_masks({n: m.to(dev[n]) for n, m in masks.items()})

    def mask_applier(self) -> MaskApplier:
        """The :class:`MaskApplier` for the masks of :meth:`hard_prune`."""
        if self._applier is None:
            raise PruningError("hard_prune() has not been called yet")
        return self._applier

    def apply_masks(self) -> None:
        """Re-apply the hard-pruning masks (call after each optimizer step)."""
        self.mask_applier().apply()


def layer_connectivity(
    connectivity: float | Mapping[str, float], layers: Iterable[str]
) -> dict[str, float]:
    """``{layer: ratio}`` for ``layers``: one ratio for all, or a mapping that must name
    each of ``layers`` and nothing else (every ratio a finite number >= 1)."""
    names = list(layers)
    if not isinstance(connectivity, Mapping):
        c = check_connectivity(connectivity)
        return {n: c for n in names}
    unknown = [n for n in connectivity if n not in names]
    if unknown:
        raise PruningError(
            f"connectivity names {unknown[0]!r}, which is not a pruned layer (pruned: "
            f"{', '.join(names)})"
        )
    missing = [n for n in names if n not in connectivity]
    if missing:
        raise PruningError(
            f"connectivity has no ratio for layer {missing[0]!r} (a mapping must name every "
            f"pruned layer: {', '.join(names)})"
        )
    out = {}
    for n in names:
        try:
            out[n] = check_connectivity(connectivity[n])
        except PruningError as e:
            raise PruningError(f"layer {n!r}: {e}") from None
    return out


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
