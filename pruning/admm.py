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

1x1 convolutions and linear layers have one set, the block-sparse set (``Y``/``V``, the
projection keeping the top blocks by L2 norm, :mod:`patdnn.pruning.blocks`); depthwise
3x3 layers, when pruned, have the pattern set alone (``Z``/``U``).

Usage in a custom loop::

    from patdnn.pruning import ADMMPruner, extract_library

    library = extract_library(model, num_patterns=8)
    pruner = ADMMPruner(model, library, connectivity=3.6, rho=1e-3)  # 1x1: pointwise=3.6,
    # linear: linear=10.0, in (4, 1) and (16, 1) blocks; depthwise=True for depthwise
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

from patdnn.pruning.blocks import (
    DEFAULT_BLOCK,
    DEFAULT_LINEAR_BLOCK,
    block_mask,
    check_block_shape,
    project_blocks,
)
from patdnn.pruning.distributed import broadcast_tensors, unwrap
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import (
    DEPTHWISE,
    KINDS,
    LINEAR,
    PATTERN,
    POINTWISE,
    PrunedLayer,
    select_sparse_layers,
)
from patdnn.pruning.patterns import (
    Library,
    check_connectivity,
    check_filter_group,
    hard_prune_mask,
    normalize_library,
    pattern_projection_mask,
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
    """ADMM variables of one layer: ``z``/``u`` for the pattern set (3x3 and depthwise
    layers), ``y``/``v`` for the connectivity or block-sparse set (3x3, 1x1, linear)."""

    weight: torch.Tensor
    z: torch.Tensor | None
    y: torch.Tensor | None
    u: torch.Tensor | None
    v: torch.Tensor | None

    def tensors(self) -> list[torch.Tensor]:
        return [t for t in (self.z, self.y, self.u, self.v) if t is not None]


@dataclass(frozen=True)
class LayerPlan:
    """How one layer is pruned: its kind (see :mod:`patdnn.pruning.layers`), its ratio
    (connectivity for 3x3 and 1x1 convolutions, block ratio for linear layers; None for
    depthwise layers, which keep every kernel), its block shape (1x1 and linear) and its
    filter group (3x3: filters sharing kernel positions and patterns, see
    :mod:`patdnn.pruning.patterns`; 1 for every other kind)."""

    kind: str
    ratio: float | None
    block: tuple[int, int] | None
    group: int = 1

    def as_list(self) -> list[object]:
        out: list[object] = [self.kind, self.ratio, list(self.block) if self.block else None]
        return out + [self.group] if self.group != 1 else out


def plan_layers(
    model: nn.Module,
    *,
    connectivity: float | Mapping[str, float] = 3.6,
    pointwise: float | Mapping[str, float] | None = 3.6,
    linear: float | Mapping[str, float] | None = 10.0,
    block_shape: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
    depthwise: bool = False,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    filter_group: int = 1,
) -> tuple[dict[str, PrunedLayer], dict[str, LayerPlan]]:
    """The layers to prune (``{name: module}``) and how (``{name: LayerPlan}``).

    ``pointwise=None`` / ``linear=None`` turn 1x1 / linear pruning off, ``depthwise=True``
    turns depthwise pattern pruning on. Each ratio is one number for every layer of its
    kind or a mapping that names every pruned layer of that kind. ``block_shape`` is None
    (the per-kind defaults: :data:`DEFAULT_BLOCK` ``(4, 1)`` for 1x1 convolutions,
    :data:`DEFAULT_LINEAR_BLOCK` ``(16, 1)`` for linear layers), one ``(outputs,
    inputs)`` shape for every 1x1 and linear layer, or a mapping whose keys are pruned
    1x1 / linear layer names or the kinds ``"pointwise"`` / ``"linear"`` (a layer's own
    entry first, then its kind's, then the default). ``filter_group`` (an int >= 1)
    is the filter group of every 3x3 layer. Raises :class:`PruningError` naming the
    argument and layer at fault.
    """
    group = check_filter_group(filter_group)
    if not isinstance(depthwise, bool):
        raise PruningError(f"depthwise must be True or False, got {depthwise!r}")
    for what, value in (("pointwise", pointwise), ("linear", linear)):
        if value is not None and not isinstance(value, Mapping):
            check_ratio(what, value)
    kinds = [PATTERN]
    kinds += [POINTWISE] if pointwise is not None else []
    kinds += [LINEAR] if linear is not None else []
    kinds += [DEPTHWISE] if depthwise else []
    chosen = select_sparse_layers(unwrap(model), include, exclude, kinds=kinds)
    by_kind = {k: [n for n, (kind, _) in chosen.items() if kind == k] for k in KINDS}
    ratios: dict[str, float] = {}
    ratios |= layer_connectivity(connectivity, by_kind[PATTERN])
    if pointwise is not None:
        ratios |= layer_connectivity(pointwise, by_kind[POINTWISE], "pointwise")
    if linear is not None:
        ratios |= layer_connectivity(linear, by_kind[LINEAR], "linear")
    block_layers = by_kind[POINTWISE] + by_kind[LINEAR]
    defaults = {POINTWISE: DEFAULT_BLOCK, LINEAR: DEFAULT_LINEAR_BLOCK}
    if block_shape is None or isinstance(block_shape, Mapping):
        given = dict(block_shape or {})
        for n in given:
            if n not in block_layers and n not in defaults:
                raise PruningError(
                    f"block_shape names {n!r}, which is neither a pruned 1x1 or linear layer "
                    f"(pruned: {', '.join(block_layers) or 'none'}) nor a kind "
                    "('pointwise', 'linear')"
                )
        for kind in defaults:
            if kind in given:
                defaults[kind] = check_block_shape(given[kind], f"block_shape of {kind!r}")
        blocks = {
            n: check_block_shape(given[n], f"block_shape of layer {n!r}")
            if n in given
            else defaults[chosen[n][0]]
            for n in block_layers
        }
    else:
        shape = check_block_shape(block_shape)
        blocks = {n: shape for n in block_layers}
    plans = {
        n: LayerPlan(kind, ratios.get(n), blocks.get(n), group if kind == PATTERN else 1)
        for n, (kind, _) in chosen.items()
    }
    return {n: m for n, (_, m) in chosen.items()}, plans


def layer_mask(weight: torch.Tensor, plan: LayerPlan, library: Library) -> torch.Tensor:
    """The hard-pruning mask of one layer's ``weight`` under ``plan``: 3x3, the pattern
    then the connectivity projection (of the plan's filter groups); depthwise, the
    pattern projection; 1x1 and linear, the top blocks (:func:`block_mask`)."""
    if plan.kind == PATTERN:
        assert plan.ratio is not None
        return hard_prune_mask(weight, library, plan.ratio, plan.group)
    if plan.kind == DEPTHWISE:
        return pattern_projection_mask(weight, library)
    assert plan.ratio is not None and plan.block is not None
    return block_mask(weight, plan.ratio, plan.block)


class ADMMPruner:
    """Extended ADMM for pattern + connectivity + block pruning (PatDNN Sec. 4.2).

    ``library`` is the pattern library (e.g. from :func:`extract_library`); layers are
    chosen by :func:`select_sparse_layers` with ``include``/``exclude``, and how each is
    pruned by :func:`plan_layers` from ``connectivity`` (3x3 convolutions: one ratio for
    every layer or a mapping ``{layer name: ratio}`` naming every pruned 3x3 layer, see
    :func:`layer_connectivity`), ``pointwise`` (1x1 convolutions, connectivity in
    blocks), ``linear`` (linear layers, block ratio), ``block_shape`` and ``depthwise``.
    3x3 layers have the pattern set and the connectivity set, depthwise layers the
    pattern set alone, 1x1 and linear layers the block-sparse set alone (projection:
    the top blocks by L2 norm, :func:`project_blocks`). ``filter_group`` > 1 makes the
    filters of each group of a 3x3 layer share their kernel positions and patterns, in
    Z, Y and the hard-pruning mask alike. ``rho`` is the initial penalty,
    multiplied by ``rho_growth`` every ``rho_every`` calls of :meth:`epoch_end`, never
    beyond ``rho_max``.

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
        pointwise: float | Mapping[str, float] | None = 3.6,
        linear: float | Mapping[str, float] | None = 10.0,
        block_shape: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
        depthwise: bool = False,
        rho: float = 1e-3,
        rho_growth: float = 1.5,
        rho_every: int = 1,
        rho_max: float = 1.0,
        include: Iterable[str] | str | None = None,
        exclude: Iterable[str] | str | None = None,
        filter_group: int = 1,
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
        #: ``{layer name: module}`` of every pruned layer, and ``{layer name: LayerPlan}``
        self.layers, self.plans = plan_layers(
            model,
            connectivity=connectivity,
            pointwise=pointwise,
            linear=linear,
            block_shape=block_shape,
            depthwise=depthwise,
            include=include,
            exclude=exclude,
            filter_group=filter_group,
        )
        #: ``{3x3 layer name: connectivity ratio}``
        self.connectivity: dict[str, float] = {
            n: p.ratio for n, p in self.plans.items() if p.kind == PATTERN and p.ratio
        }
        self.updates = 0
        self.masks: dict[str, torch.Tensor] | None = None
        self._applier: MaskApplier | None = None
        self._state: dict[str, _LayerState] = {}
        with torch.no_grad():
            for name, module in self.layers.items():
                w = module.weight.detach()
                z = self._project_z(name, w)
                y = self._project_y(name, w)
                self._state[name] = _LayerState(
                    weight=module.weight,
                    z=None if z is None else z.clone(),
                    y=None if y is None else y.clone(),
                    u=None if z is None else torch.zeros_like(w),
                    v=None if y is None else torch.zeros_like(w),
                )
        self._sync()

    def _project_z(self, name: str, w: torch.Tensor) -> torch.Tensor | None:
        """Projection onto the pattern set (3x3 and depthwise layers)."""
        plan = self.plans[name]
        if plan.kind in (PATTERN, DEPTHWISE):
            return project_patterns(w, self.library, plan.group)
        return None

    def _project_y(self, name: str, w: torch.Tensor) -> torch.Tensor | None:
        """Projection onto the connectivity set (3x3) or the block-sparse set (1x1, linear)."""
        plan = self.plans[name]
        if plan.kind == PATTERN:
            assert plan.ratio is not None
            return project_connectivity(w, plan.ratio, plan.group)
        if plan.kind in (POINTWISE, LINEAR):
            assert plan.ratio is not None and plan.block is not None
            return project_blocks(w, plan.ratio, plan.block)
        return None

    def _hard_mask(self, name: str, w: torch.Tensor) -> torch.Tensor:
        return layer_mask(w, self.plans[name], self.library)

    def _sync(self) -> None:
        """Rank 0's Z, Y, U, V on every rank (no-op without torch.distributed)."""
        broadcast_tensors([t for s in self._state.values() for t in s.tensors()])

    def penalty(self) -> torch.Tensor:
        """``rho/2 (||W - Z + U||^2 + ||W - Y + V||^2)`` summed over layers (each layer's
        terms for the sets it has; differentiable in W)."""
        total: torch.Tensor | None = None
        for s in self._state.values():
            for aux, dual in ((s.z, s.u), (s.y, s.v)):
                if aux is None or dual is None:
                    continue
                term = (s.weight - aux + dual).square().sum()
                total = term if total is None else total + term
        assert total is not None
        return 0.5 * self.rho * total

    @torch.no_grad()
    def epoch_end(self) -> None:
        """ADMM update: re-project Z and Y, update U and V, then the rho schedule."""
        for name, s in self._state.items():
            w = s.weight.detach()
            if s.z is not None and s.u is not None:
                z = self._project_z(name, w + s.u)
                assert z is not None  # the layer has a pattern set, so it projects onto it
                s.z, s.u = z, s.u + w - z
            if s.y is not None and s.v is not None:
                y = self._project_y(name, w + s.v)
                assert y is not None  # likewise for its connectivity or block set
                s.y, s.v = y, s.v + w - y
        self._sync()
        self.updates += 1
        if self.updates % self.rho_every == 0:
            new_rho = min(self.rho * self.rho_growth, self.rho_max)
            scale = self.rho / new_rho
            for s in self._state.values():
                s.u = None if s.u is None else s.u * scale
                s.v = None if s.v is None else s.v * scale
            self.rho = new_rho

    @torch.no_grad()
    def residuals(self) -> dict[str, tuple[float, float]]:
        """Per layer ``(||W - Z||, ||W - Y||)`` (0 for a set the layer does not have)."""
        return {
            name: (
                0.0 if s.z is None else float((s.weight - s.z).norm()),
                0.0 if s.y is None else float((s.weight - s.y).norm()),
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
        """Project W onto the intersection of its sets in place; return the boolean masks
        (3x3: pattern then connectivity; depthwise: pattern; 1x1 and linear: blocks)."""
        masks: dict[str, torch.Tensor] = {}
        for name, s in self._state.items():
            masks[name] = self._hard_mask(name, s.weight.detach())
        broadcast_tensors(list(masks.values()))
        self._set_masks(masks)
        return masks

    def _set_masks(self, masks: dict[str, torch.Tensor]) -> None:
        self.masks = masks
        self._applier = MaskApplier(self.model, masks)
        self._applier.apply()

    def state_dict(self) -> dict[str, object]:
        """Everything :meth:`load_state_dict` needs to continue: Z, Y, U, V per layer,
        rho, the update count, the masks (after :meth:`hard_prune`), library, ratios and
        the per-layer plan."""
        return {
            "library": [list(map(list, p)) for p in self.library],
            "connectivity": dict(self.connectivity),
            "plans": {n: p.as_list() for n, p in self.plans.items()},
            "rho": self.rho,
            "updates": self.updates,
            "layers": {
                name: {
                    k: t
                    for k, t in (("z", s.z), ("y", s.y), ("u", s.u), ("v", s.v))
                    if t is not None
                }
                for name, s in self._state.items()
            },
            "masks": self.masks,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (untyped data, as `torch.load` gives it back); raises
        PruningError if it belongs to other layers, another library, other ratios or block
        shapes."""
        library = normalize_library(state["library"])
        if library != self.library:
            raise PruningError("the saved ADMM state has another pattern library")
        if dict(state["connectivity"]) != self.connectivity:
            raise PruningError(
                f"the saved ADMM state has connectivity {state['connectivity']}, "
                f"not {self.connectivity}"
            )
        plans = {n: p.as_list() for n, p in self.plans.items()}
        if state.get("plans") != plans:
            raise PruningError(
                f"the saved ADMM state prunes with {state.get('plans')}, not {plans} "
                "(layer: [kind, ratio, block shape])"
            )
        layers: Mapping[str, Mapping[str, torch.Tensor]]
        layers = state["layers"]
        if list(layers) != list(self._state):
            raise PruningError(
                f"the saved ADMM state prunes layers {list(layers)}, not {list(self._state)}"
            )
        for name, s in self._state.items():
            saved = layers[name]
            keys = [k for k in ("z", "y", "u", "v") if getattr(s, k) is not None]
            if sorted(saved) != sorted(keys):
                raise PruningError(
                    f"the saved ADMM state of layer {name!r} holds {sorted(saved)}, "
                    f"not {sorted(keys)}"
                )
            for key in keys:
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
    connectivity: float | Mapping[str, float], layers: Iterable[str], what: str = "connectivity"
) -> dict[str, float]:
    """``{layer: ratio}`` for ``layers``: one ratio for all, or a mapping that must name
    each of ``layers`` and nothing else (every ratio a finite number >= 1). ``what``
    names the argument in errors."""
    names = list(layers)
    if not isinstance(connectivity, Mapping):
        c = check_ratio(what, connectivity)
        return {n: c for n in names}
    unknown = [n for n in connectivity if n not in names]
    if unknown:
        raise PruningError(
            f"{what} names {unknown[0]!r}, which is not a pruned layer of its kind (pruned: "
            f"{', '.join(names) or 'none'})"
        )
    missing = [n for n in names if n not in connectivity]
    if missing:
        raise PruningError(
            f"{what} has no ratio for layer {missing[0]!r} (a mapping must name every "
            f"pruned layer of its kind: {', '.join(names)})"
        )
    out = {}
    for n in names:
        try:
            out[n] = check_ratio(what, connectivity[n])
        except PruningError as e:
            raise PruningError(f"layer {n!r}: {e}") from None
    return out


def check_ratio(name: str, value: object) -> float:
    """A pruning ratio (keep 1 in ``value``) as a float, or a `PruningError` naming
    ``name`` unless it is a finite number >= 1."""
    try:
        return check_connectivity(value)
    except PruningError:
        raise PruningError(f"{name} must be a finite number >= 1, got {value!r}") from None


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
