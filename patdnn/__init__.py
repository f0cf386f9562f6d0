"""patdnn: pattern-based pruning and a pattern-aware CNN compiler.

`patdnn.prune` trains a model into pattern + connectivity sparsity (extended ADMM);
`patdnn.compile` turns it into vector code for aarch64 (NEON) or the host;
`patdnn.load` reads a saved compiled model back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patdnn.api import CompiledModel, compile, load
    from patdnn.pruning import PruneResult, prune

__all__ = ["CompiledModel", "PruneResult", "compile", "load", "prune"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `import patdnn` stays light, torch loads only when needed.
    if name in ("compile", "load", "CompiledModel"):
        from patdnn import api

        return getattr(api, name)
    if name in ("prune", "PruneResult"):
        from patdnn import pruning

        return getattr(pruning, name)
    raise AttributeError(f"module 'patdnn' has no attribute '{name}'")
