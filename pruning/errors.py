"""The error raised for bad pruning input."""

from __future__ import annotations


class PruningError(ValueError):
    """Bad input to pattern pruning: the message names the problem."""
