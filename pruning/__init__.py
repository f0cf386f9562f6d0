"""Pattern-based pruning with the extended ADMM (PatDNN, ASPLOS 2020, Sec. 3-4).

Every pruned 3x3 kernel keeps 4 taps forming one pattern of a small library (the centre
always kept), and only about 1 in ``connectivity`` kernels of a layer survives. 1x1
convolutions (connectivity ``pointwise``) and linear layers (ratio ``linear``) are
pruned in whole blocks of ``block_shape`` (default 4 outputs x 1 input), and depthwise
3x3 kernels optionally keep one library pattern each (``depthwise=True``). The
pieces are usable alone:

- :func:`extract_library`, :func:`project_patterns`, :func:`project_connectivity`,
  :func:`hard_prune_mask` (``patterns.py``);
- :func:`block_mask`, :func:`project_blocks` (``blocks.py``);
- :func:`select_layers`, :func:`select_sparse_layers`, :func:`layer_kind` (``layers.py``);
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
from patdnn.pruning.admm import ADMMPruner, LayerPlan, MaskApplier, plan_layers
from patdnn.pruning.api import PruneResult, prune
from patdnn.pruning.blocks import DEFAULT_BLOCK, DEFAULT_LINEAR_BLOCK, block_mask, project_blocks
from patdnn.pruning.errors import NoPrunableLayerError, PruningError
from patdnn.pruning.layers import is_prunable, layer_kind, select_layers, select_sparse_layers
from patdnn.pruning.patterns import (
    CANDIDATES,
    Library,
    Pattern,
    assign_patterns,
    check_filter_group,
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
    "DEFAULT_BLOCK",
    "DEFAULT_LINEAR_BLOCK",
    "ADMMPruner",
    "EpochRecord",
    "LayerPlan",
    "LayerReport",
    "LayerSensitivity",
    "Library",
    "LibraryError",
    "MaskApplier",
    "NoPrunableLayerError",
    "Pattern",
    "PruneReport",
    "PruneResult",
    "PruningError",
    "SensitivityReport",
    "assign_patterns",
    "block_mask",
    "check_filter_group",
    "connectivity_mask",
    "evaluate",
    "extract_library",
    "hard_prune_mask",
    "is_prunable",
    "kernels_to_keep",
    "layer_kind",
    "layer_sensitivity",
    "mask_pattern_ids",
    "pattern_counts",
    "pattern_mask",
    "plan_layers",
    "project_blocks",
    "project_both",
    "project_connectivity",
    "project_patterns",
    "prune",
    "select_layers",
    "select_sparse_layers",
    "train_dense",
]
