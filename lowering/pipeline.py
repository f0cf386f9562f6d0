"""The compilation pipeline: torch dialect -> patdnn LR -> FKW -> vector -> LLVM IR.

Each step is a registered pass (runnable alone with `patdnn-opt -p NAME`); this module
strings them together for a target and keeps the IR after each stage on request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from patdnn.dialect.context import make_context, print_module
from patdnn.errors import PatdnnError
from patdnn.lowering import get_all_passes
from patdnn.lowering.autotune import LayerTuning, tune_module
from patdnn.lowering.summary import LayerSummary, summarize_layers
from patdnn.lowering.vector.memory import pack_weight_blob, workspace_bytes
from patdnn.lowering.vector.tasks import parallel_llvm_ir
from patdnn.runtime.target import Target

STAGES: tuple[str, ...] = (
    "torch",
    "patdnn",
    "sparsify",
    "filter-kernel-reorder",
    "fkw-layout",
    "auto-tune",
    "vector",
    "load-redundancy-elimination",
    "llvm",
)
"""Names accepted by `CompiledModel.mlir(stage)`; `llvm` is the LLVM IR text; `auto-tune`
exists when the model was compiled with tuning."""


@dataclass
class PipelineOptions:
    target: Target
    library: str = ""
    num_patterns: int = 8
    strict: bool = False
    vector_width: int | None = None
    keep_stages: bool = True
    entry: str = "forward"
    """The function the model was imported as."""
    tune: bool = False
    """Auto-tune the convolutions on this machine (`auto-tune`, host target only)."""
    num_threads: int = 1
    """The thread count `auto-tune` times its candidates at."""
    sparse_threshold: float = 0.5
    """The least share of zero weights of a 1x1 or linear layer for `sparsify`."""


@dataclass
class PipelineResult:
    module: ModuleOp
    llvm_ir: str
    weights: bytes
    workspace: int = 0
    """Bytes of scratch memory the entry point takes (its last argument)."""
    stages: dict[str, str] = field(default_factory=dict[str, str])
    layers: list[LayerSummary] = field(default_factory=list[LayerSummary])
    tuning: list[LayerTuning] = field(default_factory=list[LayerTuning])
    library: list[list[tuple[int, int]]] = field(default_factory=list[list[tuple[int, int]]])
    timings: dict[str, float] = field(default_factory=dict[str, float])


def _make_pass(name: str, **options: object) -> ModulePass:
    cls = get_all_passes()[name]()
    return cls(**options)  # type: ignore[call-arg]


def run_pipeline(
    module: ModuleOp,
    options: PipelineOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Runs every stage on `module` (in place) and returns the LLVM IR and weights."""
    ctx: Context = make_context()
    width = options.vector_width or options.target.vector_width
    result = PipelineResult(module, "", b"")

    def tune(module: ModuleOp) -> None:
        result.tuning = tune_module(
            module,
            target=options.target,
            vector_width=width,
            vector_registers=options.target.vector_registers,
            num_threads=options.num_threads,
        )

    def run(name: str, **pass_options: object) -> Callable[[ModuleOp], None]:
        return partial(_make_pass(name, **pass_options).apply, ctx)

    steps: list[tuple[str, Callable[[ModuleOp], None] | None]] = [
        ("torch", None),
        (
            "patdnn",
            run(
                "convert-torch-to-patdnn",
                library=options.library,
                num_patterns=options.num_patterns,
                strict=options.strict,
            ),
        ),
        ("sparsify", run("sparsify", threshold=options.sparse_threshold, vector_width=width)),
        ("filter-kernel-reorder", run("filter-kernel-reorder")),
        ("fkw-layout", run("fkw-layout")),
        # `auto-tune` as a function rather than its pass, to keep what it found.
        *([("auto-tune", tune)] if options.tune else []),
        (
            "vector",
            run(
                "lower-patdnn-to-vector",
                vector_width=width,
                vector_registers=options.target.vector_registers,
                parallel=True,
            ),
        ),
        ("load-redundancy-elimination", run("load-redundancy-elimination")),
    ]
    for stage, step in steps:
        start = time.perf_counter()
        if progress is not None:
            progress(stage)
        if step is not None:
            step(module)
        if stage == "sparsify":
            result.layers, result.library = summarize_layers(module)
        if options.keep_stages:
            result.stages[stage] = print_module(module)
        result.timings[stage] = time.perf_counter() - start
    start = time.perf_counter()
    if progress is not None:
        progress("llvm")
    try:
        module.verify()
    except Exception as e:  # a verifier failure here is a compiler bug; say where
        raise PatdnnError(f"internal error: the vector IR does not verify: {e}") from e
    result.weights = pack_weight_blob(module)
    result.workspace = workspace_bytes(module, options.entry)
    result.llvm_ir = parallel_llvm_ir(module, options.target)
    result.stages["llvm"] = result.llvm_ir
    result.timings["llvm"] = time.perf_counter() - start
    return result
