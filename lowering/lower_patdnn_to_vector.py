"""`lower-patdnn-to-vector`: patdnn layer ops -> scf loops and `vector` code on memrefs.

PatDNN Section 5.3-5.4. The code generators live in the `patdnn.lowering.vector`
package, one module per kernel family (`conv`: pattern, dense, grouped and depthwise
convolutions; `pointwise`; `pooling`; `linear`; `sparse`: block-sparse 1x1 and linear;
`elementwise`), with the tiling
heuristics in `tiling` and the weight blob and workspace plan in `memory`; this file is
the pass. The function becomes `@f(inputs..., outputs..., %weights, %workspace)`: every
constant is a view into one weight blob given at run time (the module attribute
`patdnn.weights` lists its layout), every intermediate buffer a view into the caller's
workspace (the function attribute `patdnn.workspace` gives its size): the IR never holds
the numbers and the code never allocates memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp, TensorType, i64
from xdsl.passes import ModulePass

from patdnn.dialect.patdnn import Conv2dOp, PatternConv2dOp
from patdnn.dialect.weights import weights_of
from patdnn.errors import LoweringError
from patdnn.lowering.sparsify import is_pointwise, subsampled_input
from patdnn.lowering.vector.channel_tile import pack_layers, packed_away
from patdnn.lowering.vector.function import LAYER_OPS, FunctionLowering
from patdnn.lowering.vector.linear import pack_linear_layers
from patdnn.lowering.vector.memory import WEIGHTS_ATTR, WeightBlob
from patdnn.lowering.vector.tasks import record_schedule
from patdnn.lowering.vector.tiling import DEFAULT_TILING, TilingOptions


def subsample_strided_pointwise(fn: func.FuncOp) -> None:
    """A dense 1x1, unpadded convolution of one group and a stride other than 1 (ResNet's
    downsample layers) reads the pixels it uses through a `patdnn.pool2d` of a 1x1 window
    (`sparsify.subsampled_input`) and becomes a stride-1 layer: a flat pointwise layer,
    which takes the tile over output channels, over a plane of no padding lanes (its
    28 x 28 output rows would fill 2 vectors of 16 lanes with 28 each). Against the
    strided layer read from its phase copy (Zen 4, medians of 11 interleaved rounds, 1 /
    2 threads): 256->512 @56/2 1.22x / 1.15x, 512->1024 @28/2 1.14x / 1.15x,
    1024->2048 @14/2 2.32x / 2.27x; 64->128 @57/2 1.04x / 0.78x (the pool is a phase of
    its own)."""
    for layer in list(fn.body.walk()):
        if isinstance(layer, Conv2dOp) and is_pointwise(layer) and layer.stride_values != (1, 1):
            source = subsampled_input(layer)
            layer.operands = [source, *layer.operands[1:]]
            layer.strides = DenseArrayBase.from_list(i64, [1, 1])


@dataclass(frozen=True)
class LowerPatdnnToVectorPass(ModulePass):
    """
    Lowers patdnn layer ops to scf + vector code on memrefs (PatDNN Section 5.3).

    Options: `vector-width` (f32 lanes: 4 for NEON, 8 for AVX2, 16 for AVX-512),
    `vector-registers` (32 for NEON and AVX-512, 16 for AVX2), which sizes the default
    register tiles, and the thresholds of the default tiles (`prefetch-distance`,
    `prefetch-min-channels`, `stream-prefetch`, `stream-prefetch-min-bytes`, `fused-copy`,
    `row-prefetch`, `output-prefetch`, `channel-tiles`, `channel-panels`, `column-bases`,
    `narrow-tail`, `line-rows`, `slice-claims`: see
    `vector.tiling.TilingOptions`); a layer's `tuning`
    dictionary overrides the default tile.
    """

    name = "lower-patdnn-to-vector"

    vector_width: int = 4
    vector_registers: int = 32
    prefetch_distance: int = DEFAULT_TILING.prefetch_distance
    prefetch_min_channels: int = DEFAULT_TILING.prefetch_min_channels
    stream_prefetch: int = DEFAULT_TILING.stream_prefetch
    stream_prefetch_min_bytes: int = DEFAULT_TILING.stream_prefetch_min_bytes
    fused_copy: bool = DEFAULT_TILING.fused_copy
    row_prefetch: int = DEFAULT_TILING.row_prefetch
    output_prefetch: int = DEFAULT_TILING.output_prefetch
    channel_tiles: int = DEFAULT_TILING.channel_tiles
    channel_panels: int = DEFAULT_TILING.channel_panels
    column_bases: int = DEFAULT_TILING.column_bases
    narrow_tail: int = DEFAULT_TILING.narrow_tail
    line_rows: int = DEFAULT_TILING.line_rows
    slice_claims: int = DEFAULT_TILING.slice_claims
    parallel: bool = False
    """Each phase of tasks as a function of its own, for an entry point that runs them on
    a thread pool (see `vector.tasks`); without it, one function loops over them."""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.vector_width < 1:
            raise LoweringError(f"vector-width must be positive, got {self.vector_width}")
        if self.vector_registers < 8:
            raise LoweringError(f"vector-registers must be at least 8, got {self.vector_registers}")
        options = TilingOptions(
            prefetch_distance=self.prefetch_distance,
            prefetch_min_channels=self.prefetch_min_channels,
            stream_prefetch=self.stream_prefetch,
            stream_prefetch_min_bytes=self.stream_prefetch_min_bytes,
            fused_copy=self.fused_copy,
            row_prefetch=self.row_prefetch,
            output_prefetch=self.output_prefetch,
            channel_tiles=self.channel_tiles,
            channel_panels=self.channel_panels,
            column_bases=self.column_bases,
            narrow_tail=self.narrow_tail,
            line_rows=self.line_rows,
            slice_claims=self.slice_claims,
        )
        for name, value in vars(options).items():
            if value < 0:
                option = name.replace("_", "-")
                raise LoweringError(f"{option} must not be negative, got {value}")
        functions = [
            fn
            for fn in op.ops
            if isinstance(fn, func.FuncOp)
            and not fn.is_declaration
            and any(isinstance(o, (*LAYER_OPS, PatternConv2dOp)) for o in fn.body.walk())
        ]
        if self.channel_tiles > 2:
            raise LoweringError(f"channel-tiles must be 0, 1 or 2, got {self.channel_tiles}")
        if self.channel_panels > 2:
            raise LoweringError(f"channel-panels must be 0, 1 or 2, got {self.channel_panels}")
        if self.narrow_tail > 1:
            raise LoweringError(f"narrow-tail must be 0 or 1, got {self.narrow_tail}")
        if self.slice_claims > 2:
            raise LoweringError(f"slice-claims must be 0, 1 or 2, got {self.slice_claims}")
        for fn in functions:
            subsample_strided_pointwise(fn)
        blob = WeightBlob(weights_of(op))
        channel_tiles = pack_layers(
            functions, blob, self.vector_width, self.vector_registers, options
        )
        linear = pack_linear_layers(functions, blob, self.vector_width)
        packed = channel_tiles.keys() | linear.keys()
        for fn in functions:
            for const in fn.body.walk():
                if (
                    isinstance(const, arith.ConstantOp)
                    and isinstance(const.result.type, TensorType)
                    and not packed_away(const, packed)
                ):
                    const.value = blob.place(const.value)
        for fn in functions:
            lowering = FunctionLowering(
                fn,
                self.vector_width,
                blob,
                self.vector_registers,
                options,
                self.parallel,
                channel_tiles,
                linear,
            )
            for new_fn in lowering.run():
                op.body.block.insert_op_before(new_fn, fn)
            if lowering.schedule is not None:
                record_schedule(op, lowering.schedule)
            fn.detach()
            fn.erase(safe_erase=False)
        op.attributes[WEIGHTS_ATTR] = blob.attribute()
