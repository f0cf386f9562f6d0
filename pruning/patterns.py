"""The torch side of pattern pruning: library extraction from a model and the two
projections.

A *pattern* is a set of 4 taps of a 3x3 kernel, the centre (1, 1) always among them
(PatDNN, Sec. 3: C(8, 3) = 56 candidates). It is written as a sorted tuple of
``(row, col)`` pairs, e.g. ``((0, 1), (1, 0), (1, 1), (1, 2))``; a *library* is a tuple
of distinct patterns. The rules themselves (types, candidates, validation, extraction)
live in :mod:`patdnn.dialect.library`; this module applies them to torch tensors.

- :func:`extract_library` counts, over all kernels, the pattern each kernel would keep on
  its own (the centre plus its 3 largest other magnitudes) and returns the K most
  frequent (Sec. 4.1, pattern set design).
- :func:`project_patterns` keeps, in every kernel, the library pattern that retains the
  most L2 energy (the Euclidean projection onto the pattern set, Sec. 4.2).
- :func:`project_connectivity` keeps the ``round(n / connectivity)`` kernels of a layer
  with the largest L2 norms and zeroes the rest (connectivity pruning, Sec. 3 and 4.2).
- :func:`hard_prune_mask` composes both: pattern projection, then connectivity projection.

With ``group=G > 1`` (filter groups, :func:`check_filter_group`) the filters ``G*g ..
G*g+G-1`` of a layer share, per input channel, whether the kernel is kept and which
pattern it has (the last group is smaller when G does not divide the filter count): the
pattern projection picks, per group and input channel, the pattern keeping the most
energy summed over the group's kernels, and the connectivity projection keeps the
``round(groups * inputs / connectivity)`` (group, input channel) positions with the
largest summed L2 norms. Each filter keeps its own weight values; one set of input loads
then feeds the G filters of a group. ``group=1`` is PatDNN's per-kernel choice.

Every function is deterministic: ties go to the earlier library entry, the earlier kernel
(row-major over ``(out, in)``) or the earlier tap (row-major over the 3x3 grid).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import torch

from patdnn.dialect.library import (
    CANDIDATES,
    CENTRE,
    MAX_PATTERNS,
    TAPS_PER_PATTERN,
    Library,
    Pattern,
    Tap,
    check_num_patterns,
    design_library,
    normalize_library,
    normalize_pattern,
    preferred_counts,
    preferred_pattern_ids,
)
from patdnn.pruning.errors import PruningError

__all__ = [
    "CANDIDATES",
    "CENTRE",
    "MAX_PATTERNS",
    "TAPS_PER_PATTERN",
    "Library",
    "Pattern",
    "Tap",
    "check_num_patterns",
    "normalize_library",
    "normalize_pattern",
    "assign_patterns",
    "check_connectivity",
    "check_filter_group",
    "filter_groups",
    "connectivity_mask",
    "extract_library",
    "hard_prune_mask",
    "kernels_to_keep",
    "library_masks",
    "mask_pattern_ids",
    "pattern_counts",
    "pattern_mask",
    "pattern_projection_mask",
    "preferred_patterns",
    "project_both",
    "project_connectivity",
    "project_patterns",
]

if TYPE_CHECKING:
    from torch import nn


def _pattern_code(pattern: Pattern) -> int:
    """Bit set over the 9 flat positions of a 3x3 kernel."""
    return sum(1 << (3 * r + c) for r, c in pattern)


def pattern_mask(pattern: Pattern) -> torch.Tensor:
    """3x3 boolean mask of a pattern."""
    m = torch.zeros(3, 3, dtype=torch.bool)
    for r, c in pattern:
        m[r, c] = True
    return m


def library_masks(library: Library, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(K, 3, 3)`` tensor of the library's pattern masks (1 on kept taps)."""
    return torch.stack([pattern_mask(p) for p in library]).to(dtype)


def check_connectivity(connectivity: object) -> float:
    """Validate a connectivity ratio: a finite number >= 1 (1 keeps every kernel)."""
    if isinstance(connectivity, bool) or not isinstance(connectivity, numbers.Real):
        raise PruningError(f"connectivity must be a number >= 1, got {connectivity!r}")
    c = float(connectivity)
    if not math.isfinite(c) or c < 1.0:
        raise PruningError(f"connectivity must be a finite number >= 1, got {connectivity!r}")
    return c


def check_filter_group(filter_group: object) -> int:
    """Validate a filter group size: an int >= 1 (1: every filter on its own)."""
    if isinstance(filter_group, bool) or not isinstance(filter_group, numbers.Integral):
        raise PruningError(f"filter_group must be an int >= 1, got {filter_group!r}")
    if filter_group < 1:
        raise PruningError(f"filter_group must be an int >= 1, got {filter_group!r}")
    return int(filter_group)


def filter_groups(num_filters: int, group: int, device: torch.device | None = None) -> torch.Tensor:
    """Group index of each of ``num_filters`` filters in groups of ``group`` (the last
    group smaller when ``group`` does not divide ``num_filters``)."""
    return torch.arange(num_filters, device=device) // group


def _group_sum(scores: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores`` (filters first) summed over each filter group, and each filter's group."""
    ids = filter_groups(scores.shape[0], group, scores.device)
    total = scores.new_zeros((-(-scores.shape[0] // group), *scores.shape[1:]))
    return total.index_add_(0, ids, scores), ids


def _check_kernels(weight: torch.Tensor, what: str = "weight") -> None:
    if weight.dim() < 2 or tuple(weight.shape[-2:]) != (3, 3):
        raise PruningError(f"{what} of shape {tuple(weight.shape)} does not hold 3x3 kernels")


def _kernel_weights(
    source: object,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> list[torch.Tensor]:
    from torch import nn

    from patdnn.pruning.layers import select_layers

    if isinstance(source, nn.Module):
        return [m.weight.detach() for m in select_layers(source, include, exclude).values()]
    if include is not None or exclude is not None:
        raise PruningError("include/exclude name layers and need a model, not tensors")
    if isinstance(source, torch.Tensor):
        return [source.detach()]
    if not isinstance(source, Iterable):
        raise PruningError(f"cannot read 3x3 kernels from {type(source).__name__}")
    return [t.detach() if isinstance(t, torch.Tensor) else torch.as_tensor(t) for t in source]


def _kernel_arrays(
    source: object, include: Iterable[str] | None, exclude: Iterable[str] | None
) -> list[np.ndarray]:
    """The 3x3 kernel weights of `source` (see :func:`extract_library`), checked, as
    float32 numpy arrays for :mod:`patdnn.dialect.library`."""
    weights = _kernel_weights(source, include, exclude)
    for w in weights:
        _check_kernels(w)
    return [w.cpu().float().numpy() for w in weights]


def preferred_patterns(weight: torch.Tensor) -> torch.Tensor:
    """Candidate index (into :data:`CANDIDATES`) each kernel would keep on its own
    (:func:`patdnn.dialect.library.preferred_pattern_ids`), as a tensor of shape
    ``weight.shape[:-2]``; all-zero kernels get ``-1``."""
    _check_kernels(weight)
    return torch.from_numpy(preferred_pattern_ids(weight.detach().cpu().float().numpy()))


def pattern_counts(
    source: nn.Module | torch.Tensor | Iterable[torch.Tensor],
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> dict[Pattern, int]:
    """How many kernels prefer each of the 56 candidates (all-zero kernels are not counted).

    ``source`` is as for :func:`extract_library`.
    """
    counts = preferred_counts(_kernel_arrays(source, include, exclude))
    return {p: int(counts[i]) for i, p in enumerate(CANDIDATES)}


def extract_library(
    source: nn.Module | torch.Tensor | Iterable[torch.Tensor],
    num_patterns: int = 8,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> Library:
    """The ``num_patterns`` most frequent preferred patterns of ``source``'s 3x3 kernels
    (:func:`patdnn.dialect.library.design_library`, PatDNN Sec. 4.1).

    ``source`` is a model (its prunable layers, see :func:`select_layers`, with
    ``include``/``exclude``), one weight tensor ``(..., 3, 3)`` or an iterable of them.
    """
    k = check_num_patterns(num_patterns)
    return design_library(_kernel_arrays(source, include, exclude), k)


def assign_patterns(weight: torch.Tensor, library: Library, group: int = 1) -> torch.Tensor:
    """Library index of the pattern keeping the most L2 energy, per kernel (with
    ``group > 1``: summed over the kernels of a filter group at one input channel).

    Returns a long tensor of shape ``weight.shape[:-2]``; ties go to the earlier pattern.
    """
    _check_kernels(weight)
    masks = library_masks(library, dtype=weight.dtype).to(weight.device).reshape(len(library), 9)
    energy = weight.detach().reshape(-1, 9).square() @ masks.T
    if check_filter_group(group) == 1:
        return energy.argmax(dim=1).reshape(weight.shape[:-2])
    energy = energy.reshape(*weight.shape[:-2], len(library))
    total, ids = _group_sum(energy, group)
    return total.argmax(dim=-1)[ids]


def pattern_projection_mask(weight: torch.Tensor, library: Library, group: int = 1) -> torch.Tensor:
    """Boolean mask (shape of ``weight``) of the best library pattern of every kernel
    (shared by each filter group's kernels at one input channel, see :func:`assign_patterns`)."""
    ids = assign_patterns(weight, library, group)
    masks = library_masks(library, dtype=torch.bool).to(weight.device)
    return masks[ids]


def project_patterns(weight: torch.Tensor, library: Library, group: int = 1) -> torch.Tensor:
    """Euclidean projection of ``weight`` onto the pattern set (PatDNN Sec. 4.2), of
    filter groups of ``group`` sharing their patterns."""
    return weight * pattern_projection_mask(weight, library, group).to(weight.dtype)


def kernels_to_keep(num_kernels: int, connectivity: float) -> int:
    """``max(1, round(num_kernels / connectivity))``, capped at ``num_kernels``."""
    c = check_connectivity(connectivity)
    return min(num_kernels, max(1, round(num_kernels / c)))


def connectivity_mask(weight: torch.Tensor, connectivity: float, group: int = 1) -> torch.Tensor:
    """Kernel-level boolean mask, shape ``weight.shape[:-2]``: the kernels with the
    largest L2 norms, ``round(n / connectivity)`` of them (at least 1; ties: earlier kernel).

    With ``group > 1`` the units are (filter group, input channel) positions scored by
    the summed norms of their kernels: ``round(groups * inputs / connectivity)`` of
    them are kept, each for every filter of its group."""
    _check_kernels(weight)
    norms = weight.detach().reshape(-1, 9).square().sum(dim=1)
    ids = None
    if check_filter_group(group) > 1:
        norms, ids = _group_sum(norms.reshape(weight.shape[:-2]), group)
    shape = norms.shape
    norms = norms.reshape(-1)
    n = norms.numel()
    keep = kernels_to_keep(n, connectivity)
    order = torch.sort(norms, descending=True, stable=True).indices[:keep]
    mask = torch.zeros(n, dtype=torch.bool, device=weight.device)
    mask[order] = True
    if ids is not None:
        return mask.reshape(shape)[ids]
    return mask.reshape(weight.shape[:-2])


def project_connectivity(weight: torch.Tensor, connectivity: float, group: int = 1) -> torch.Tensor:
    """Euclidean projection of ``weight`` onto the connectivity set (PatDNN Sec. 4.2),
    of filter groups of ``group`` sharing their kept kernel positions."""
    keep = connectivity_mask(weight, connectivity, group)
    return weight * keep[..., None, None].to(weight.dtype)


def hard_prune_mask(
    weight: torch.Tensor, library: Library, connectivity: float, group: int = 1
) -> torch.Tensor:
    """Mask of the intersection of both sets: pattern projection, then connectivity
    projection on the pattern-projected weights. Every kernel of the mask is all-False
    or exactly one library pattern, and exactly ``kernels_to_keep(n, connectivity)``
    kernels are non-empty (``group > 1``: positions of filter groups, see
    :func:`connectivity_mask`; the group's filters share kept positions and patterns)."""
    pmask = pattern_projection_mask(weight, library, group)
    kmask = connectivity_mask(weight * pmask.to(weight.dtype), connectivity, group)
    return pmask & kmask[..., None, None]


def project_both(
    weight: torch.Tensor, library: Library, connectivity: float, group: int = 1
) -> torch.Tensor:
    """``weight`` with :func:`hard_prune_mask` applied."""
    return weight * hard_prune_mask(weight, library, connectivity, group).to(weight.dtype)


def mask_pattern_ids(mask: torch.Tensor, library: Library) -> torch.Tensor:
    """Library index of each kernel of a pruning mask, ``-1`` for empty kernels.

    Raises :class:`PruningError` if a non-empty kernel is not exactly a library pattern.
    """
    _check_kernels(mask, "mask")
    flat = mask.reshape(-1, 9).to(torch.int64)
    codes = (flat * (2 ** torch.arange(9, dtype=torch.int64, device=mask.device))).sum(dim=1)
    lookup = {_pattern_code(p): i for i, p in enumerate(library)}
    ids = torch.full_like(codes, -1)
    for code in codes.unique().tolist():
        if code == 0:
            continue
        if code not in lookup:
            raise PruningError("a mask kernel is neither empty nor a library pattern")
        ids[codes == code] = lookup[code]
    return ids.reshape(mask.shape[:-2])
