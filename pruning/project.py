"""One-shot projection of a whole model, without training."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import select_layers
from patdnn.pruning.patterns import Library, extract_library, normalize_library, project_both


def project_model(
    model: nn.Module,
    *,
    num_patterns: int = 8,
    connectivity: float = 3.6,
    library: Iterable[Iterable[tuple[int, int]]] | None = None,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> Library:
    """Projects the prunable layers of `model` in place onto the pattern and
    connectivity sets (PatDNN Sec. 4: the projections, with no ADMM and no retraining)
    and returns the library used (extracted from the model unless given)."""
    layers = select_layers(model, include, exclude)
    if library is None:
        lib = extract_library(model, num_patterns, include=include, exclude=exclude)
    else:
        lib = normalize_library(library)
    with torch.no_grad():
        for conv in layers.values():
            conv.weight.copy_(project_both(conv.weight, lib, connectivity))
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
