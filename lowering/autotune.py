"""`auto-tune`: parameter auto-tuning of the convolution layers (PatDNN Section 5.5).

The paper searches unroll factors, tiling sizes and loop order per layer on the target
device. Here, for every convolution (`patdnn.conv2d` and `patdnn.fkw_conv2d`), a few
candidate register tiles (`filters x rows x cols` output vectors) and prefetch distances
are compiled side by side into one module of single-layer functions, run on this
machine and timed; the fastest candidate is written into the op's `tuning` dictionary,
which `lower-patdnn-to-vector` reads. Layers of the same shape share one search.

Timing needs the code to run here, so tuning is for the host target: the pass takes the
host's vector width and register count unless told otherwise. Candidates are timed in
interleaved rounds (the minimum of each counts), which keeps a noisy machine from
favouring whichever candidate ran during a quiet moment.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import DictionaryAttr, FunctionType, IntegerAttr, ModuleOp, i64
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from patdnn.dialect.patdnn import Conv2dOp, FKWConv2dOp
from patdnn.dialect.weights import attach_weights, weights_of
from patdnn.errors import PatdnnError
from patdnn.lowering.load_redundancy_elimination import LoadRedundancyEliminationPass
from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass
from patdnn.lowering.sparsify import is_pointwise
from patdnn.lowering.summary import image_macs
from patdnn.lowering.vector.memory import pack_weight_blob, workspace_bytes
from patdnn.lowering.vector.pointwise import output_plane
from patdnn.lowering.vector.tiling import (
    CHANNEL_SHAPES,
    DENSE_SHAPES,
    DEPTHWISE_SHAPES,
    PATTERN_SHAPES,
    PREFETCH_DISTANCES,
    PREFETCH_SEARCH_MIN_CHANNELS,
    TUNING_KEYS,
    ConvTiling,
    channel_pixels,
    register_class,
)
from patdnn.runtime.target import Target
from patdnn.runtime.timing import interleaved_times

if TYPE_CHECKING:
    from patdnn.runtime.host import HostModule

__all__ = [
    "AutoTunePass",
    "CandidateModule",
    "LayerTuning",
    "candidate_tilings",
    "compile_candidates",
    "tune_module",
]

ConvOp = Conv2dOp | FKWConv2dOp


class AutoTuneError(PatdnnError):
    """Tuning could not run (a target that does not run here, bad options)."""


@dataclass
class LayerTuning:
    """The outcome of tuning one layer."""

    layer: str
    shape: str
    best: dict[str, int]
    default_ms: float
    best_ms: float
    candidates: int
    shared_with: str | None = None

    @property
    def gain(self) -> float:
        return self.default_ms / self.best_ms if self.best_ms > 0 else 1.0


def _as_dict(t: ConvTiling) -> dict[str, int]:
    """The `tuning` entries of a tile; those of the tile over output channels for the
    candidates of a flat pointwise layer only (which have `pixels`)."""
    entries = {"filters": t.filters, "rows": t.rows, "cols": t.cols, "prefetch": t.prefetch}
    if t.pixels:
        entries |= {"channel_vectors": t.channel_vectors, "pixels": t.pixels, "panels": t.panels}
    return entries


def _input_channels(op: ConvOp) -> int:
    return int(op.input.type.get_shape()[1])


def candidate_tilings(op: ConvOp, width: int, registers: int) -> list[ConvTiling]:
    """The register tiles tried for `op` (the default first), clamped to its output the
    way the lowering clamps them, without duplicates. Prefetch distances are searched
    afterwards, on the best tile."""
    _, cout, out_h, out_w = op.result.type.get_shape()
    dense = isinstance(op, Conv2dOp)
    groups = op.group_count if dense else 1
    per_group = cout // groups
    if isinstance(op, FKWConv2dOp):
        kernel, taps = op.kernel_values, len(op.patterns.patterns[0])
    else:
        kh, kw = op.weight.type.get_shape()[2:]
        kernel, taps = (kh, kw), kh * kw
    # A strided one runs flat too, after its subsample (`subsample_strided_pointwise`).
    flat_pointwise = isinstance(op, Conv2dOp) and is_pointwise(op)
    plane = out_h * out_w if flat_pointwise else 0
    stride = (1, 1) if flat_pointwise else op.stride_values
    out_h, out_w = output_plane(kernel, stride, op.padding_values, out_h, out_w)
    out_vectors = -(-out_w // width)
    regs = register_class(registers)
    cin = _input_channels(op)
    default = ConvTiling.default(
        dense=dense,
        filters_per_group=per_group,
        taps=taps,
        cin=cin,
        registers=registers,
        groups=groups,
        width=width,
        out_vectors=out_vectors,
        plane=plane,
        tail=out_w % width,
    )
    pixels = channel_pixels(registers) if plane else 0
    tiles = [replace(default, pixels=pixels)]
    if dense and per_group > 1:
        tiles += [
            ConvTiling(f, r, c, pixels=pixels)
            for f, r, c in DENSE_SHAPES[regs]
            if f <= per_group and (groups == 1 or per_group % f == 0)
        ]
        if plane:  # the tile over output channels (`channel_tile.py`), both input reads
            tiles += [
                ConvTiling(1, 1, 1, 0, k, min(p, plane), panels)
                for panels in (1, 0)
                for k, p in CHANNEL_SHAPES[regs]
                if (k - 1) * width < cout
            ]
    elif dense:
        tiles += [ConvTiling(1, r, c) for r, c in DEPTHWISE_SHAPES[regs]]
    else:
        tiles += [ConvTiling(1, r, c, default.prefetch) for r, c in PATTERN_SHAPES[regs]]
    unique: list[ConvTiling] = []
    for t in tiles:
        t = t.clamped(out_h, out_vectors)
        if t not in unique:
            unique.append(t)
    return unique


def _layer_key(op: ConvOp) -> tuple[object, ...]:
    """Layers with the same key share a search: same op kind, shapes and window (the
    bias and the activation only touch the epilogue)."""
    return (
        op.name,
        tuple(op.input.type.get_shape()),
        tuple(op.result.type.get_shape()),
        tuple((op.reorder if isinstance(op, FKWConv2dOp) else op.weight).type.get_shape()),
        op.stride_values,
        op.padding_values,
        op.group_count if isinstance(op, Conv2dOp) else 1,
        len(op.patterns.patterns) if isinstance(op, FKWConv2dOp) else 0,
        op.residual is not None,
    )


def _single_layer_function(op: ConvOp, name: str, tuning: dict[str, int]) -> func.FuncOp:
    """`func @name(input[, residual]) -> result` holding a copy of `op` and its constants,
    with `tuning` set."""
    dynamic = [op.input] + ([op.residual] if op.residual is not None else [])
    block = Block(arg_types=[v.type for v in dynamic])
    mapping: dict[SSAValue, SSAValue] = dict(zip(dynamic, block.args, strict=True))
    for operand in op.operands:
        if operand in mapping:
            continue
        owner = operand.owner
        if not isinstance(owner, arith.ConstantOp):
            raise AutoTuneError(
                f"layer '{op.layer_name}': operand defined by {getattr(owner, 'name', owner)}, "
                "expected a constant"
            )
        constant = owner.clone()
        block.add_op(constant)
        mapping[operand] = constant.result
    layer: Operation = op.clone(value_mapper=mapping)
    assert isinstance(layer, Conv2dOp | FKWConv2dOp)
    layer.tuning = DictionaryAttr({k: IntegerAttr(v, i64) for k, v in tuning.items()})
    block.add_op(layer)
    block.add_op(func.ReturnOp(layer.results[0]))
    ftype = FunctionType.from_lists([v.type for v in dynamic], [layer.results[0].type])
    return func.FuncOp(name, ftype, Region(block))


@dataclass
class CandidateModule:
    """The candidates of one layer, compiled side by side into one JIT module: function
    `i` is the layer lowered with tile `i`; all share the layer's weights blob."""

    host: HostModule
    names: list[str]
    weights: np.ndarray
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]

    def run(
        self, i: int, inputs: Sequence[np.ndarray], out: np.ndarray | None = None
    ) -> np.ndarray:
        """Candidate `i` on `inputs` (the layer input, then its residual if it has one)."""
        result = self.host.function(self.names[i])(*inputs, weights=self.weights, out=out)
        assert isinstance(result, np.ndarray)
        return result


def compile_candidates(
    op: ConvOp,
    tilings: Sequence[ConvTiling],
    target: Target,
    width: int,
    registers: int,
    num_threads: int = 1,
) -> CandidateModule:
    """Lowers `op` once per tiling into one module of multi-threaded entry points and
    JIT-compiles it for `target`, to run on `num_threads` threads."""
    from patdnn.lowering.vector.tasks import parallel_llvm_ir
    from patdnn.runtime.host import HostModule
    from patdnn.runtime.signature import Signature

    module = ModuleOp([])
    attach_weights(module, weights_of(op))  # the candidates read the layer's constants
    names = [f"candidate{i}" for i in range(len(tilings))]
    for name, tiling in zip(names, tilings, strict=True):
        module.body.block.add_op(_single_layer_function(op, name, _as_dict(tiling)))
    ctx = Context()
    LowerPatdnnToVectorPass(vector_width=width, vector_registers=registers, parallel=True).apply(
        ctx, module
    )
    LoadRedundancyEliminationPass().apply(ctx, module)
    weights = np.frombuffer(pack_weight_blob(module) or b"\0", dtype=np.uint8).copy()
    llvm_ir = parallel_llvm_ir(module, target)
    inputs = [tuple(op.input.type.get_shape())]
    if op.residual is not None:
        inputs.append(tuple(op.residual.type.get_shape()))
    output = tuple(op.result.type.get_shape())
    workspace = max(workspace_bytes(module, name) for name in names)
    signature = Signature.of(
        inputs, [output], weights_size=len(weights), workspace_size=workspace, pool=True
    )
    host = HostModule(llvm_ir, names[0], signature, target=target, num_threads=num_threads)
    return CandidateModule(host, names, weights, inputs, output)


def _time_candidates(
    op: ConvOp,
    tilings: Sequence[ConvTiling],
    target: Target,
    width: int,
    registers: int,
    rounds: int,
    num_threads: int = 1,
) -> list[float]:
    """Compiles `op` once per tiling and times each on random inputs at `num_threads`
    threads, in seconds."""
    candidates = compile_candidates(op, tilings, target, width, registers, num_threads)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape, dtype=np.float32) for shape in candidates.input_shapes]
    out = np.empty(candidates.output_shape, dtype=np.float32)

    def call(i: int) -> Callable[[], object]:
        return lambda: candidates.run(i, arrays, out)

    return [min(t) for t in interleaved_times([call(i) for i in range(len(tilings))], rounds)]


def tune_module(
    module: ModuleOp,
    *,
    target: Target | None = None,
    vector_width: int | None = None,
    vector_registers: int | None = None,
    rounds: int = 5,
    min_macs: int = 2_000_000,
    progress: Callable[[LayerTuning], None] | None = None,
    num_threads: int = 1,
) -> list[LayerTuning]:
    """Tunes every convolution of `module` (at the `fkw-layout` stage) on this machine and
    sets its `tuning`; returns what each search found. Layers with fewer than `min_macs`
    multiply-accumulates keep the default tile. Candidates run on `num_threads` threads,
    the count the model will run at: a tile that suits one core's share of the cache
    may not suit two cores sharing it."""
    target = target or Target.get("host")
    if not target.runs_on_host:
        raise AutoTuneError(
            f"auto-tuning times the code on this machine; target {target.name!r} "
            f"({target.triple}) does not run here"
        )
    width = vector_width or target.vector_width
    registers = vector_registers or target.vector_registers
    results: list[LayerTuning] = []
    searched: dict[tuple[object, ...], LayerTuning] = {}
    for op in module.walk():
        if not isinstance(op, Conv2dOp | FKWConv2dOp) or image_macs(op) < min_macs:
            continue
        key = _layer_key(op)
        if key in searched:
            found = searched[key]
            shared = replace(found, layer=op.layer_name, candidates=0, shared_with=found.layer)
        else:
            shared = _search(op, target, width, registers, rounds, num_threads)
            searched[key] = shared
        op.tuning = _merge(op.tuning, shared.best)
        results.append(shared)
        if progress is not None:
            progress(shared)
    return results


def _merge(tuning: DictionaryAttr | None, best: dict[str, int]) -> DictionaryAttr:
    entries = dict(tuning.data) if tuning is not None else {}
    for key in TUNING_KEYS:
        entries.pop(key, None)
    entries.update({k: IntegerAttr(v, i64) for k, v in best.items()})
    return DictionaryAttr(entries)


def _shape_text(op: ConvOp) -> str:
    _, cin, h, w = op.input.type.get_shape()
    _, cout, ho, wo = op.result.type.get_shape()
    kind = "pattern" if isinstance(op, FKWConv2dOp) else "dense"
    return f"{kind} {cin}->{cout} {h}x{w}->{ho}x{wo}"


def _search(
    op: ConvOp, target: Target, width: int, registers: int, rounds: int, num_threads: int = 1
) -> LayerTuning:
    """Tiles first (default prefetch), then prefetch distances on the best tile."""
    tilings = candidate_tilings(op, width, registers)
    times = _time_candidates(op, tilings, target, width, registers, rounds, num_threads)
    default_s = times[0]
    best = min(range(len(tilings)), key=times.__getitem__)
    best_tiling, best_s = tilings[best], times[best]
    tried = len(tilings)
    if isinstance(op, FKWConv2dOp) and _input_channels(op) >= PREFETCH_SEARCH_MIN_CHANNELS:
        variants = [
            ConvTiling(best_tiling.filters, best_tiling.rows, best_tiling.cols, d)
            for d in PREFETCH_DISTANCES
            if d != best_tiling.prefetch
        ]
        # The best tile again, so both searches are compared in the same conditions.
        again = _time_candidates(
            op, [best_tiling, *variants], target, width, registers, rounds, num_threads
        )
        tried += len(variants)
        scale = best_s / again[0] if again[0] > 0 else 1.0
        for variant, t in zip(variants, again[1:], strict=True):
            if t * scale < best_s:
                best_tiling, best_s = variant, t * scale
    return LayerTuning(
        op.layer_name, _shape_text(op), _as_dict(best_tiling), default_s * 1e3, best_s * 1e3, tried
    )


@dataclass(frozen=True)
class AutoTunePass(ModulePass):
    """
    Times candidate register tiles and prefetch distances of every convolution on this
    machine and keeps the fastest in the op's `tuning` (PatDNN Section 5.5). Run it after
    `fkw-layout`. Options: `rounds` (timing rounds per candidate), `min-macs` (smaller
    layers keep the default), `vector-width` and `vector-registers` (0: the host's).
    """

    name = "auto-tune"

    rounds: int = 5
    min_macs: int = 2_000_000
    vector_width: int = 0
    vector_registers: int = 0
    num_threads: int = 1
    """The thread count the candidates are timed at."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.rounds < 1:
            raise AutoTuneError(f"rounds must be positive, got {self.rounds}")
        tune_module(
            op,
            vector_width=self.vector_width or None,
            vector_registers=self.vector_registers or None,
            rounds=self.rounds,
            min_macs=self.min_macs,
            num_threads=self.num_threads,
        )
