"""Pattern-based pruning with the extended ADMM (PatDNN, ASPLOS 2020, Sec. 3-4).

Every pruned 3x3 kernel keeps 4 taps forming one pattern of a small library (the centre
always kept), and only about 1 in ``connectivity`` kernels of a layer survives. The
pieces are usable alone:

- :func:`extract_library`, :func:`project_patterns`, :func:`project_connectivity`,
  :func:`hard_prune_mask` (``patterns.py``);
- :func:`select_layers` (``layers.py``);
- :class:`ADMMPruner` and :class:`MaskApplier` for a custom training loop (``admm.py``);
- :class:`PruneReport` (``report.py``);
- :func:`layer_sensitivity`, accuracy with each layer alone pruned (``sensitivity.py``);
- :func:`prune`, the whole flow (``api.py``), under ``torchrun`` + DDP too
  (``distributed.py``) and resumable from checkpoints (``checkpoint.py``).

Example::

    from patdnn.pruning import prune
    from patdnn.pruning.digits import DigitsNet, load_digits, train_dense

    train, val = load_digits()
    model = DigitsNet()
    train_dense(model, train, epochs=20)
    result = prune(model, train, num_patterns=8, connectivity=3.6, val_loader=val)
    print(result.report)
    result.report.save_figure("patterns.png")
"""

from __future__ import annotations

from patdnn.dialect.library import LibraryError
from patdnn.pruning.admm import ADMMPruner, MaskApplier
from patdnn.pruning.api import PruneResult, prune
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import is_prunable, select_layers
from patdnn.pruning.patterns import (
    CANDIDATES,
    Library,
    Pattern,
    assign_patterns,
    connectivity_mask,
    extract_library,
    hard_prune_mask,
    kernels_to_keep,
    mask_pattern_ids,
    pattern_counts,
    pattern_mask,
    project_both,
    project_connectivity,
    project_patterns,
)
from patdnn.pruning.report import EpochRecord, LayerReport, PruneReport
from patdnn.pruning.sensitivity import LayerSensitivity, SensitivityReport, layer_sensitivity
from patdnn.pruning.training import evaluate, train_dense

__all__ = [
    "CANDIDATES",
    "ADMMPruner",
    "EpochRecord",
    "LayerReport",
    "LayerSensitivity",
    "Library",
    "LibraryError",
    "MaskApplier",
    "Pattern",
    "PruneReport",
    "PruneResult",
    "PruningError",
    "SensitivityReport",
    "assign_patterns",
    "connectivity_mask",
    "evaluate",
    "extract_library",
    "hard_prune_mask",
    "is_prunable",
    "kernels_to_keep",
    "layer_sensitivity",
    "mask_pattern_ids",
    "pattern_counts",
    "pattern_mask",
    "project_both",
    "project_connectivity",
    "project_patterns",
    "prune",
    "select_layers",
    "train_dense",
]
