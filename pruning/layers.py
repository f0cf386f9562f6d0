"""Which layers pattern pruning touches.

By default every ``nn.Conv2d`` with a 3x3 kernel and ``groups=1``, except the first
convolution of the model (in ``named_modules`` order), which stays dense as in PatDNN.
Callers may name the layers to ``include`` (this replaces the default choice,
and may name the first convolution) and the layers to ``exclude``, by their names in
``model.named_modules()``. Other kernel sizes are never pruned.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from patdnn.pruning.errors import PruningError


def is_prunable(module: nn.Module) -> bool:
    """A 3x3, ``groups=1`` 2-D convolution."""
    return (
        isinstance(module, nn.Conv2d) and tuple(module.kernel_size) == (3, 3) and module.groups == 1
    )


def _names(arg: Iterable[str] | str | None, what: str) -> list[str] | None:
    if arg is None:
        return None
    names = [arg] if isinstance(arg, str) else list(arg)
    for n in names:
        if not isinstance(n, str):
            raise PruningError(f"{what} must hold module names (str), got {n!r}")
    return names


def select_layers(
    model: nn.Module,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> dict[str, nn.Conv2d]:
    """The layers to prune, ``{name: conv}`` in model order.

    Raises :class:`PruningError` for an unknown name, an included layer that is not a
    3x3 ``groups=1`` convolution, or when no layer is left.
    """
    if not isinstance(model, nn.Module):
        raise PruningError(f"expected a torch.nn.Module, got {type(model).__name__}")
    modules = dict(model.named_modules())
    inc = _names(include, "include")
    exc = _names(exclude, "exclude")
    for what, names in (("include", inc), ("exclude", exc)):
        for n in names or ():
            if n not in modules:
                raise PruningError(f"{what} names {n!r}, which is not a module of the model")

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
        raise PruningError(
            "the model has no prunable layer (a 3x3 groups=1 Conv2d other than the first "
            "convolution, after include/exclude)"
        )
    return layers
