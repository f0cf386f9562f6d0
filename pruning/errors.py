"""The error raised for bad pruning input."""

from __future__ import annotations

from patdnn.errors import PatdnnError


class PruningError(PatdnnError, ValueError):
    """Bad input to pattern pruning: the message names the problem."""
