"""Checkpoints of a pruning run, so a long run that dies can resume.

:func:`patdnn.prune` with ``checkpoint_dir`` saves the whole state at every epoch end of
the ADMM and retraining phases into ``checkpoint_dir/prune.ckpt``: the weights, the ADMM
state (Z, Y, U, V, rho, masks), the phase and epoch, the optimizer state, the RNG states
(torch, CUDA, Python, NumPy; one per rank under torch.distributed), the history and the
accuracies measured so far. The file is written to a temporary name in the same folder,
flushed to disk, then renamed over the previous one, so the folder always holds the last
*complete* checkpoint. Rank 0 alone writes; on resume every rank reads the file, so
``checkpoint_dir`` must be on a file system all ranks see.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from patdnn.pruning.distributed import is_distributed, is_main, rank
from patdnn.pruning.errors import PruningError

CHECKPOINT_NAME = "prune.ckpt"
FORMAT = 1


def checkpoint_path(directory: str | os.PathLike[str]) -> Path:
    """The checkpoint file inside ``directory``."""
    return Path(directory) / CHECKPOINT_NAME


def rng_state() -> dict[str, Any]:
    """This process's RNG states."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def _all_rng_states() -> list[dict[str, Any]]:
    """Every rank's RNG states, in rank order (on every rank)."""
    mine = rng_state()
    if not is_distributed():
        return [mine]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, mine)
    return states


def save_checkpoint(directory: str | os.PathLike[str], state: dict[str, Any]) -> Path | None:
    """Write ``state`` plus the RNG states of every rank atomically to
    ``directory/prune.ckpt`` (rank 0 only; every rank must call it)."""
    full = dict(state, format=FORMAT, rng=_all_rng_states())
    path = checkpoint_path(directory)
    if not is_main():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(full, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The checkpoint in ``directory``, or None if there is none yet."""
    path = checkpoint_path(directory)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a foreign or damaged file
        raise PruningError(f"{path}: not a readable pruning checkpoint ({e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PruningError(f"{path}: not a pruning checkpoint of format {FORMAT}")
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore this rank's RNG states from a checkpoint (rank 0's if it had fewer ranks)."""
    states = state["rng"]
    set_rng_state(states[rank()] if rank() < len(states) else states[0])
