"""Which layers pruning touches, and how.

Four kinds of layers are pruned (:func:`layer_kind`):

- ``"pattern"``: ``nn.Conv2d`` 3x3, ``groups=1``: pattern + connectivity pruning;
- ``"pointwise"``: ``nn.Conv2d`` 1x1, ``groups=1``: connectivity pruning in blocks
  (see :mod:`patdnn.pruning.blocks`);
- ``"linear"``: ``nn.Linear``: block sparsity;
- ``"depthwise"``: ``nn.Conv2d`` 3x3 with ``groups == in_channels > 1``: pattern pruning
  only (each kernel keeps one library pattern), off by default.

By default every layer of an enabled kind is pruned except the first convolution of
the model (in ``named_modules`` order, the stem that sees the image's few channels) and
the last ``nn.Linear`` (the final classifier): both stay dense, as in PatDNN. Callers
may name the layers to ``include`` (this replaces the default choice and may name the
stem or the classifier) and the layers to ``exclude``, by their names in
``model.named_modules()``. Other layers (5x5, grouped non-depthwise convs, ...) are
never pruned.

:func:`select_layers` is the pattern (3x3) part alone, :func:`select_sparse_layers`
every kind.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TypeAlias

from torch import nn

from patdnn.pruning.errors import NoPrunableLayerError, PruningError


def is_prunable(module: nn.Module) -> bool:
    """A 3x3, ``groups=1`` 2-D convolution (a pattern-pruned layer)."""
    return layer_kind(module) == PATTERN


PATTERN = "pattern"
POINTWISE = "pointwise"
LINEAR = "linear"
DEPTHWISE = "depthwise"
#: Every kind of pruned layer.
KINDS = (PATTERN, POINTWISE, LINEAR, DEPTHWISE)

PrunedLayer: TypeAlias = nn.Conv2d | nn.Linear
"""The modules pruning touches (see :func:`layer_kind`)."""
#: How reports and errors name each kind.
KIND_LABELS = {
    PATTERN: "3x3 pattern",
    POINTWISE: "1x1 blocks",
    LINEAR: "linear blocks",
    DEPTHWISE: "depthwise pattern",
}
_KIND_WHAT = {
    PATTERN: "a 3x3 groups=1 Conv2d",
    POINTWISE: "a 1x1 groups=1 Conv2d",
    LINEAR: "a Linear layer",
    DEPTHWISE: "a depthwise 3x3 Conv2d",
}


def layer_kind(module: nn.Module) -> str | None:
    """How ``module`` is pruned (one of :data:`KINDS`), or None if it never is."""
    if isinstance(module, nn.Linear):
        return LINEAR
    if not isinstance(module, nn.Conv2d):
        return None
    kernel = tuple(module.kernel_size)
    if module.groups == 1:
        dense_kinds: dict[tuple[int, ...], str] = {(3, 3): PATTERN, (1, 1): POINTWISE}
        return dense_kinds.get(kernel)
    if kernel == (3, 3) and module.groups == module.in_channels:
        return DEPTHWISE
    return None


def _names(arg: Iterable[str] | str | None, what: str) -> list[str] | None:
    if arg is None:
        return None
    names = [arg] if isinstance(arg, str) else list(arg)
    for n in names:
        if not isinstance(n, str):
            raise PruningError(f"{what} must hold module names (str), got {n!r}")
    return names


def _modules_and_names(
    model: nn.Module, include: Iterable[str] | str | None, exclude: Iterable[str] | str | None
) -> tuple[dict[str, nn.Module], list[str] | None, list[str] | None]:
    """The model's modules by name and the checked ``include`` / ``exclude`` names."""
    if not isinstance(model, nn.Module):
        raise PruningError(f"expected a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    inc = _names(include, "include")
    exc = _names(exclude, "exclude")
    for what, names in (("include", inc), ("exclude", exc)):
        for n in names or ():
            if n not in modules:
                raise PruningError(f"{what} names {n!r}, which is not a module of the model")
    return modules, inc, exc


def select_layers(
    model: nn.Module,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> dict[str, nn.Conv2d]:
    """The layers to prune, ``{name: conv}`` in model order.

    Raises :class:`PruningError` for an unknown name, an included layer that is not a
    3x3 ``groups=1`` convolution, or when no layer is left.
    """
    modules, inc, exc = _modules_and_names(model, include, exclude)

    if inc is not None:
        chosen = set(inc)
        for n in inc:
            if not is_prunable(modules[n]):
                raise PruningError(
                    f"include names {n!r}, which is not a 3x3 groups=1 Conv2d "
                    f"({modules[n].__class__.__name__})"
                )
    else:
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
        first = convs[0] if convs else None
        chosen = {n for n in convs if n != first and is_prunable(modules[n])}
    chosen -= set(exc or ())

    layers: dict[str, nn.Conv2d] = {}
    for n, m in modules.items():
        if n in chosen:
            assert isinstance(m, nn.Conv2d)
            layers[n] = m
    if not layers:
        raise NoPrunableLayerError(
            "the model has no prunable layer (a 3x3 groups=1 Conv2d other than the first "
            "convolution, after include/exclude)"
        )
    return layers


def select_sparse_layers(
    model: nn.Module,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    *,
    kinds: Collection[str] = (PATTERN, POINTWISE, LINEAR),
) -> dict[str, tuple[str, PrunedLayer]]:
    """The layers to prune of the enabled ``kinds``, ``{name: (kind, module)}`` in model
    order (the default choice and ``include``/``exclude`` as in the module docstring).

    Raises :class:`PruningError` for an unknown name, an included layer that is not
    prunable or whose kind is not enabled, or when no layer is left.
    """
    modules, inc, exc = _modules_and_names(model, include, exclude)

    if inc is not None:
        chosen = set(inc)
        for n in inc:
            kind = layer_kind(modules[n])
            if kind is None:
                raise PruningError(
                    f"include names {n!r}, which is not a prunable layer "
                    f"({modules[n].__class__.__name__}; prunable: 3x3 or 1x1 groups=1 "
                    "Conv2d, depthwise 3x3 Conv2d, Linear)"
                )
            if kind not in kinds:
                raise PruningError(
                    f"include names {n!r}, {_KIND_WHAT[kind]}, but {KIND_LABELS[kind]} "
                    "pruning is off"
                )
    else:
        convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
        linears = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
        stay_dense = {convs[0]} if convs else set()
        stay_dense |= {linears[-1]} if linears else set()
        chosen = {n for n in modules if n not in stay_dense and layer_kind(modules[n]) in kinds}
    chosen -= set(exc or ())

    layers: dict[str, tuple[str, PrunedLayer]] = {}
    for n, m in modules.items():
        kind = layer_kind(m)
        if n in chosen and kind is not None and isinstance(m, nn.Conv2d | nn.Linear):
            layers[n] = (kind, m)
    if not layers:
        enabled = ", ".join(KIND_LABELS[k] for k in KINDS if k in kinds) or "none"
        raise NoPrunableLayerError(
            f"the model has no prunable layer (enabled kinds: {enabled}; the first "
            "convolution and the last Linear stay dense unless included by name; after "
            "include/exclude)"
        )
    return layers
