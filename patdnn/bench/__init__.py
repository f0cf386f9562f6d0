"""The benchmark: patdnn against dense peers on layers and whole models (`patdnn bench`).

`core` holds the suites, the runs and the tables; `peers` the dense runtimes; `peak` the
FMA peak measured on this machine; `estimate` llvm-mca on the aarch64 inner loops.
"""

from patdnn.bench.core import (
    DENSE_LAYERS,
    MODELS,
    PATTERNS_8,
    PRUNE_MODES,
    VGG_LAYERS,
    main,
    parse_filter_groups,
    parse_prune,
    parse_targets,
    parse_threads,
    pattern_prune,
    run_estimate,
    run_layers,
    run_models,
    select_shapes,
)

__all__ = [
    "DENSE_LAYERS",
    "MODELS",
    "PATTERNS_8",
    "PRUNE_MODES",
    "VGG_LAYERS",
    "main",
    "parse_filter_groups",
    "parse_prune",
    "parse_targets",
    "parse_threads",
    "pattern_prune",
    "run_estimate",
    "run_layers",
    "run_models",
    "select_shapes",
]
