"""The compilation pipeline: torch dialect -> patdnn LR -> FKW -> vector -> LLVM IR.

Each step is a registered pass (runnable alone with `patdnn-opt -p NAME`); this module
strings them together for a target in an xDSL `PassPipeline` and keeps the IR after
each stage, named after its pass, on request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline

from patdnn.dialect.context import make_context, print_module
from patdnn.errors import PatdnnError
from patdnn.lowering.autotune import AutoTunePass, LayerTuning, tune_module
from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass
from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass
from patdnn.lowering.fkw_layout import FKWLayoutPass
from patdnn.lowering.load_redundancy_elimination import LoadRedundancyEliminationPass
from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass
from patdnn.lowering.sparsify import SparsifyPass
from patdnn.lowering.summary import LayerSummary, summarize_layers
from patdnn.lowering.vector.memory import pack_weight_blob, workspace_bytes
from patdnn.lowering.vector.tasks import parallel_llvm_ir
from patdnn.runtime.target import Target

TORCH_STAGE = "torch"
"""The stage of the imported IR, before any pass."""

LLVM_STAGE = "llvm"
"""The stage of the LLVM IR text (upstream `mlir-opt` and `mlir-translate`)."""

STAGES: tuple[str, ...] = (
    TORCH_STAGE,
    ConvertTorchToPatdnnPass.name,
    SparsifyPass.name,
    FilterKernelReorderPass.name,
    FKWLayoutPass.name,
    AutoTunePass.name,
    LowerPatdnnToVectorPass.name,
    LoadRedundancyEliminationPass.name,
    LLVM_STAGE,
)
"""Names accepted by `CompiledModel.mlir(stage)`: `torch`, the name of each pass, then
`llvm`, the LLVM IR text; `auto-tune` exists when the model was compiled with tuning."""


@dataclass
class PipelineOptions:
    target: Target
    library: str = ""
    num_patterns: int | None = 8
    """The cap on the library read from the weights (None: every pattern they use)."""
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


@dataclass(frozen=True)
class _AutoTuneStage(ModulePass):
    """`auto-tune` for the pipeline's target, keeping what each search found."""

    name = AutoTunePass.name

    target: Target
    vector_width: int
    num_threads: int
    found: list[LayerTuning] = field(default_factory=list[LayerTuning])

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        self.found[:] = tune_module(
            op,
            target=self.target,
            vector_width=self.vector_width,
            vector_registers=self.target.vector_registers,
            num_threads=self.num_threads,
        )


def pipeline_passes(options: PipelineOptions) -> tuple[ModulePass, ...]:
    """The passes from the torch dialect to the vector IR, in order."""
    width = options.vector_width or options.target.vector_width
    tune: tuple[ModulePass, ...] = (
        (_AutoTuneStage(options.target, width, options.num_threads),) if options.tune else ()
    )
    return (
        ConvertTorchToPatdnnPass(
            library=options.library, num_patterns=options.num_patterns, strict=options.strict
        ),
        SparsifyPass(threshold=options.sparse_threshold, vector_width=width),
        FilterKernelReorderPass(),
        FKWLayoutPass(),
        *tune,
        LowerPatdnnToVectorPass(
            vector_width=width,
            vector_registers=options.target.vector_registers,
            column_bases=int(options.target.column_bases),
            line_rows=int(options.target.line_rows),
            parallel=True,
        ),
        LoadRedundancyEliminationPass(),
    )


def run_pipeline(
    module: ModuleOp,
    options: PipelineOptions,
    *,
    progress: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Runs every stage on `module` (in place) and returns the LLVM IR and weights;
    `progress` is called with each stage's name as it starts."""
    ctx: Context = make_context()
    result = PipelineResult(module, "", b"")
    start = time.perf_counter()

    def begin(stage: str) -> None:
        nonlocal start
        start = time.perf_counter()
        if progress is not None:
            progress(stage)

    def end(stage: str) -> None:
        if stage == SparsifyPass.name:
            result.layers, result.library = summarize_layers(module)
        if options.keep_stages:
            result.stages[stage] = print_module(module)
        result.timings[stage] = time.perf_counter() - start

    def between(done: ModulePass | None, module: ModuleOp, next: ModulePass | None) -> None:
        if done is not None:
            end(done.name)
        if next is not None:
            begin(next.name)

    begin(TORCH_STAGE)
    end(TORCH_STAGE)
    passes = pipeline_passes(options)
    PassPipeline(passes, between).apply(ctx, module)
    for p in passes:
        if isinstance(p, _AutoTuneStage):
            result.tuning = p.found
    begin(LLVM_STAGE)
    try:
        module.verify()
    except Exception as e:  # a verifier failure here is a compiler bug; say where
        raise PatdnnError(f"internal error: the vector IR does not verify: {e}") from e
    result.weights = pack_weight_blob(module)
    result.workspace = workspace_bytes(module, options.entry)
    result.llvm_ir = parallel_llvm_ir(module, options.target)
    result.stages[LLVM_STAGE] = result.llvm_ir
    result.timings[LLVM_STAGE] = time.perf_counter() - start
    return result
