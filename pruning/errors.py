"""The error raised for bad pruning input."""

from __future__ import annotations

from patdnn.errors import PatdnnError


class PruningError(PatdnnError, ValueError):
    """Bad input to pattern pruning, or a run that went wrong (NaN, a batch that does
    not fit the model): the message names the problem, the layer and the epoch."""


class NoPrunableLayerError(PruningError):
    """The model, after include/exclude and the kinds that are on, has no layer to prune
    (for example MobileNet-V2 with only 3x3 pattern pruning: its 3x3 layers are the stem
    and depthwise ones)."""
