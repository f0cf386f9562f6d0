"""The error raised for bad pruning input."""

from __future__ import annotations

from patdnn.errors import PatdnnError


class PruningError(PatdnnError, ValueError):
    """Bad input to pattern pruning, or a run that went wrong (NaN, a batch that does
    not fit the model): the message names the problem, the layer and the epoch."""
