"""One-shot projection of a whole model, without training."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

from patdnn.pruning.admm import layer_mask, plan_layers
from patdnn.pruning.distributed import unwrap
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import DEPTHWISE, PATTERN
from patdnn.pruning.patterns import Library, check_num_patterns, extract_library, normalize_library


def project_model(
    model: nn.Module,
    *,
    num_patterns: int = 8,
    connectivity: float | Mapping[str, float] = 3.6,
    pointwise: float | Mapping[str, float] | None = 3.6,
    linear: float | Mapping[str, float] | None = 10.0,
    block_shape: tuple[int, int] | Mapping[str, tuple[int, int]] | None = None,
    depthwise: bool = False,
    library: Iterable[Iterable[tuple[int, int]]] | None = None,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    filter_group: int = 1,
) -> Library:
    """Projects the layers :func:`patdnn.pruning.prune` would prune, in place, onto their
    sets with no ADMM and no retraining (PatDNN Sec. 4: the projections alone) and
    returns the pattern library used (extracted from the model's 3x3 kernels, depthwise
    ones too with ``depthwise=True``, unless given).

    The layers and the arguments are those of ``prune()``, with the same defaults: 3x3
    ``groups=1`` convolutions get the pattern then the connectivity projection, 1x1
    convolutions keep 1 in ``pointwise`` blocks and linear layers 1 in ``linear`` blocks
    (``None`` keeps the kind dense) of ``block_shape`` (default ``(4, 1)`` and ``(16,
    1)``), depthwise 3x3 convolutions the pattern projection with ``depthwise=True``; the
    first convolution and the last linear layer stay dense unless named in ``include``;
    ``filter_group`` groups the filters of 3x3 layers as in ``prune()``. The masks are
    :func:`patdnn.pruning.admm.layer_mask`, the ones ``prune()`` hard-prunes with.

    Raises :class:`PruningError` as ``prune()`` does for bad arguments, and when no
    layer is left to prune.
    """
    if library is None:
        check_num_patterns(num_patterns)
    inner = unwrap(model)
    layers, plans = plan_layers(
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
    if library is None:
        kernel_layers = [n for n, p in plans.items() if p.kind in (PATTERN, DEPTHWISE)]
        lib = extract_library([layers[n].weight.detach() for n in kernel_layers], num_patterns)
    else:
        lib = normalize_library(library)
    with torch.no_grad():
        for name, module in layers.items():
            weight = module.weight
            weight.mul_(layer_mask(weight.detach(), plans[name], lib).to(weight.dtype))
    return lib


def magnitude_mask(weight: torch.Tensor, keep: int) -> torch.Tensor:
    """Unstructured magnitude pruning: boolean mask of the ``keep`` largest-magnitude
    weights of ``weight`` (ties: earlier weight), the non-pattern baseline."""
    flat = weight.detach().reshape(-1).abs()
    if not 0 <= keep <= flat.numel():
        raise PruningError(f"cannot keep {keep} of {flat.numel()} weights")
    order = torch.sort(flat, descending=True, stable=True).indices[:keep]
    mask = torch.zeros(flat.numel(), dtype=torch.bool, device=weight.device)
    mask[order] = True
    return mask.reshape(weight.shape)
