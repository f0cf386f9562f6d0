"""The function-level lowering: one tensor-level function becomes a memref function.

`forward(inputs..., outputs..., weights, workspace)`: tensors become memrefs, results are
written into the output memrefs the caller passes, constants are views into the weight
blob and intermediate buffers views into the workspace (`memory.py`; a concat's inputs
are views into its buffer, `concat_slices`); each layer op is handed to the generator of
its kernel family (`conv.py`, `pooling.py`, `linear.py`, `sparse.py`,
`elementwise.py`, `movement.py`), which splits its work into phases of tasks (`tasks.py`).

Serial, the function loops over each phase's tasks in place. Parallel, each phase
becomes a function `forward_task<k>(inputs..., outputs..., weights, workspace, task)`
(the views it reads are recreated at its top) and the module attribute
`patdnn.entries` lists them in order with their task counts: the entry point that runs
them on a thread pool is made from that list (`patdnn.runtime.threads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FunctionType,
    IndexType,
    IntegerAttr,
    MemRefType,
    TensorType,
    UnitAttr,
    f32,
    i8,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue

from patdnn.dialect.patdnn import (
    ActivateOp,
    AddOp,
    ConcatOp,
    Conv2dOp,
    FKWConv2dOp,
    GlobalAvgPoolOp,
    LinearOp,
    MulOp,
    PatternConv2dOp,
    Pool2dOp,
    ReshapeOp,
    SparseConv1x1Op,
    SparseLinearOp,
    UpsampleOp,
)
from patdnn.dialect.weights import WeightError, constant_array
from patdnn.errors import LoweringError
from patdnn.lowering.vector.channel_tile import ChannelTileGenerator, packed_away
from patdnn.lowering.vector.conv import ConvGenerator, ConvSpec
from patdnn.lowering.vector.depthwise import DepthwiseGenerator, is_depthwise
from patdnn.lowering.vector.elementwise import (
    emit_activation,
    emit_add,
    emit_channel_scale,
    emit_mul,
)
from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.fkw_group import GroupGenerator, is_grouped
from patdnn.lowering.vector.linear import emit_linear, emit_packed_linear
from patdnn.lowering.vector.memory import WORKSPACE_ATTR, Arena, WeightBlob
from patdnn.lowering.vector.movement import emit_concat, emit_upsample
from patdnn.lowering.vector.pooling import (
    emit_global_avg_pool,
    emit_strided_pool,
    pool_spec,
    reads_rows_in_place,
)
from patdnn.lowering.vector.sparse import emit_sparse_conv1x1, emit_sparse_linear
from patdnn.lowering.vector.tasks import EntrySchedule, Phases
from patdnn.lowering.vector.tiling import (
    DEFAULT_TILING,
    ConvTiling,
    TilingOptions,
    sparse_conv_lanes,
    sparse_spatial_parts,
)


def _memref_of(ty: Attribute) -> MemRefType[Attribute]:
    assert isinstance(ty, TensorType)
    return MemRefType(ty.element_type, ty.get_shape())


LAYER_OPS = (
    Conv2dOp,
    FKWConv2dOp,
    Pool2dOp,
    GlobalAvgPoolOp,
    LinearOp,
    AddOp,
    ActivateOp,
    MulOp,
    ConcatOp,
    UpsampleOp,
    ReshapeOp,
    SparseConv1x1Op,
    SparseLinearOp,
)


class FunctionLowering:
    """Rebuilds one tensor-level function as a memref function with vector code."""

    def __init__(
        self,
        fn: func.FuncOp,
        width: int,
        blob: WeightBlob,
        registers: int = 32,
        options: TilingOptions = DEFAULT_TILING,
        parallel: bool = False,
        channel_tiles: dict[Operation, tuple[DenseResourceAttr, ConvTiling]] | None = None,
        packed_linear: dict[Operation, DenseResourceAttr] | None = None,
    ):
        self.fn = fn
        self.channel_tiles = channel_tiles or {}
        """The layers with tiles over output channels: their packed weights and tiles
        (`channel_tile.pack_layers`)."""
        self.packed_linear = packed_linear or {}
        """The linear layers vectorised over their features: their packed weights
        (`linear.pack_linear_layers`)."""
        self.packed = self.channel_tiles.keys() | self.packed_linear.keys()
        """Every layer that reads packed weights (`channel_tile.packed_away`)."""
        self.parallel = parallel
        self.schedule: EntrySchedule | None = None
        """The phases of the parallel form (after `run`, with `parallel`)."""
        self.width = width
        self.blob = blob
        self.registers = registers
        self.options = options

    def run(self) -> list[func.FuncOp]:
        fn = self.fn
        old = fn.body.block
        ret = old.last_op
        assert isinstance(ret, func.ReturnOp)
        in_types = [_memref_of(a.type) for a in old.args]
        out_types = [_memref_of(t) for t in fn.function_type.outputs.data]
        workspace_type = MemRefType(i8, [0])
        block = Block(arg_types=[*in_types, *out_types, self.blob.memref_type(), workspace_type])
        blob_arg, workspace_arg = block.args[-2], block.args[-1]
        self.blob_arg = blob_arg
        arena = Arena(workspace_arg)
        self.em = Emitter(block, arena)
        self.phases = Phases(self.em, self.parallel)
        self.values: dict[SSAValue, Value] = dict(zip(old.args, block.args, strict=False))
        results = {r: block.args[len(in_types) + i] for i, r in enumerate(ret.arguments)}

        # Buffers: a reshape aliases its input, and a concat's input computed by a layer
        # is written in place into the concat's buffer (`concat_slices`), so a buffer
        # lives until the last use of any value that shares it.
        root: dict[SSAValue, SSAValue] = {}
        slices = concat_slices(old, set(results))
        for value, (concat, _, _) in slices.items():
            root[value] = concat.result
        last_use: dict[SSAValue, Operation] = {}
        for op in old.ops:
            for operand in op.operands:
                last_use[root.get(operand, operand)] = op
            if isinstance(op, ReshapeOp):
                root[op.result] = root.get(op.input, op.input)
        allocated: list[tuple[Value, SSAValue]] = []
        concat_buffers: dict[Operation, Value] = {}

        def concat_buffer(concat: ConcatOp) -> Value:
            """The concat's buffer, placed when its first input (or itself) is computed."""
            if concat not in concat_buffers:
                buffer = self.em.alloc(_memref_of(concat.result.type).get_shape())
                allocated.append((buffer, concat.result))
                concat_buffers[concat] = buffer
            return concat_buffers[concat]

        self.in_place: set[tuple[Operation, int]] = {(c, i) for c, _, i in slices.values()}
        for op in old.ops:
            if op is ret:
                break
            if isinstance(op, arith.ConstantOp):
                if packed_away(op, self.packed):
                    continue  # its layers read their packed weights
                assert isinstance(op.value, DenseResourceAttr)
                offset = self.blob.offset(op.value)
                view = memref.ViewOp(
                    blob_arg, self.em.index(offset), [], _memref_of(op.result.type)
                )
                self.em.emit(view)
                self.values[op.result] = view.result
                continue
            if isinstance(op, PatternConv2dOp):
                raise LoweringError(
                    f"layer '{op.layer_name}': run fkw-layout before lower-patdnn-to-vector"
                )
            if not isinstance(op, LAYER_OPS):
                raise LoweringError(f"{op.name} cannot be lowered to vector code")
            result = op.results[0]
            shape = _memref_of(result.type).get_shape()
            if isinstance(op, ReshapeOp):
                view_of = self.em.reinterpret(self.values[op.input], shape)
                if result in results:
                    with self.phases.open(1):
                        self.em.emit(memref.CopyOp(view_of, results[result]))
                self.values[result] = view_of
            else:
                if result in results:
                    out = results[result]
                elif result in slices:
                    concat, start, _ = slices[result]
                    ty = MemRefType(f32, shape)
                    out = arena.slice(self.em.emit, concat_buffer(concat), start, ty)
                elif isinstance(op, ConcatOp):
                    out = concat_buffer(op)
                else:
                    out = self.em.alloc(shape)
                    allocated.append((out, result))
                self.values[result] = out
                self.lower_layer(op, out)
            # Free buffers whose last reader was this op.
            for buf, value in list(allocated):
                if last_use.get(value) is op:
                    self.em.dealloc(buf)
                    allocated.remove((buf, value))

        for value in ret.arguments:
            if value not in self.values or isinstance(value.owner, Block):
                raise LoweringError("a function result must be computed by a layer op")
        for buf, _ in allocated:
            self.em.dealloc(buf)
        self.em.emit(func.ReturnOp())
        # The workspace holds every intermediate buffer and scratch copy; its size is
        # known once they all are placed: the argument is replaced by one of that size.
        workspace_size = arena.plan()
        sized = block.insert_arg(MemRefType(i8, [workspace_size]), len(block.args))
        workspace_arg.replace_all_uses_with(sized)
        block.erase_arg(workspace_arg)

        # Inputs, outputs, the blob and the workspace never overlap: tell LLVM, so loads
        # can be hoisted and reused across stores to the output.
        noalias = DictionaryAttr({"llvm.noalias": UnitAttr()})
        if self.parallel:
            return self.task_functions(block, workspace_size, noalias)
        lowered = func.FuncOp(
            fn.sym_name.data,
            FunctionType.from_lists([a.type for a in block.args], []),
            Region(block),
            arg_attrs=ArrayAttr([noalias] * len(block.args)),
        )
        lowered.attributes[WORKSPACE_ATTR] = IntegerAttr(workspace_size, i64)
        return [lowered]

    def task_functions(
        self, entry: Block, workspace_size: int, noalias: DictionaryAttr
    ) -> list[func.FuncOp]:
        """One function per phase: the entry block's constants and views that the phase
        reads, then the phase's body, with the task index as the last argument."""
        name = self.fn.sym_name.data
        arg_types = [a.type for a in entry.args]
        prologue = [op for op in entry.ops if not isinstance(op, func.ReturnOp)]
        functions: list[func.FuncOp] = []
        phases: list[tuple[str, int]] = []
        for k, (body, count) in enumerate(self.phases.blocks):
            needed = _values_from(prologue, body)
            block = Block(arg_types=[*arg_types, IndexType()])
            mapper: dict[SSAValue, SSAValue] = dict(zip(entry.args, block.args, strict=False))
            mapper[body.args[0]] = block.args[-1]
            for op in prologue:
                if op in needed:
                    block.add_op(op.clone(value_mapper=mapper))
            for op in body.ops:
                block.add_op(op.clone(value_mapper=mapper))
            block.add_op(func.ReturnOp())
            task_name = f"{name}_task{k}"
            functions.append(
                func.FuncOp(
                    task_name,
                    FunctionType.from_lists(block.arg_types, []),
                    Region(block),
                    arg_attrs=ArrayAttr([noalias] * len(arg_types) + [DictionaryAttr({})]),
                )
            )
            phases.append((task_name, count))
        self.schedule = EntrySchedule(name, workspace_size, tuple(phases))
        return functions

    def packed_view(self, attr: DenseResourceAttr) -> Value:
        """The weights a layer reads packed (`channel_tile.pack_layers`,
        `linear.pack_linear_layers`), as a view of the weight blob."""
        view = memref.ViewOp(
            self.blob_arg, self.em.index(self.blob.offset(attr)), [], _memref_of(attr.type)
        )
        return self.em.emit(view).results[0]

    def lower_layer(self, op: Operation, out: Value) -> None:
        em, v = self.em, self.width
        if isinstance(op, GlobalAvgPoolOp):
            shape = op.input.type.get_shape()
            emit_global_avg_pool(em, self.phases, v, self.values[op.input], out, shape)
        elif isinstance(op, LinearOp):
            n, k = op.input.type.get_shape()
            m = op.weight.type.get_shape()[0]
            bias = self.values[op.bias] if op.bias is not None else None
            if op in self.packed_linear:
                weight, emit = self.packed_view(self.packed_linear[op]), emit_packed_linear
            else:
                weight, emit = self.values[op.weight], emit_linear
            emit(em, self.phases, v, self.values[op.input], weight, bias, out, (n, k, m),
                 op.activation.data)  # fmt: skip
        elif isinstance(op, SparseConv1x1Op | SparseLinearOp):
            self.lower_sparse(op, out)
        elif isinstance(op, AddOp):
            size = int(np.prod(op.result.type.get_shape()))
            lhs, rhs = self.values[op.lhs], self.values[op.rhs]
            emit_add(em, self.phases, v, lhs, rhs, out, size, op.activation.data)
        elif isinstance(op, ActivateOp):
            size = int(np.prod(op.result.type.get_shape()))
            src = self.values[op.input]
            emit_activation(em, self.phases, v, src, out, size, op.activation.data)
        elif isinstance(op, MulOp):
            shape = op.lhs.type.get_shape()
            lhs, rhs = self.values[op.lhs], self.values[op.rhs]
            if op.is_channel_scale:
                emit_channel_scale(em, self.phases, v, lhs, rhs, out, shape)
            else:
                emit_mul(em, self.phases, v, lhs, rhs, out, int(np.prod(shape)))
        elif isinstance(op, ConcatOp):
            inputs: list[tuple[Value, Sequence[int], int]] = []
            channel = 0
            for i, x in enumerate(op.inputs):
                shape = x.type.get_shape()
                if (op, i) not in self.in_place:
                    inputs.append((self.values[x], shape, channel))
                channel += shape[1]
            emit_concat(em, self.phases, v, inputs, out, op.result.type.get_shape())
        elif isinstance(op, UpsampleOp):
            shape = op.input.type.get_shape()
            emit_upsample(em, self.phases, v, self.values[op.input], out, shape, op.scale_values)
        else:
            self.lower_conv(op, out)

    def lower_sparse(self, op: SparseConv1x1Op | SparseLinearOp, out: Value) -> None:
        """Block-sparse 1x1 convolutions and linear layers (`vector.sparse`)."""
        em = self.em
        arrays = (self.values[op.offset], self.values[op.index], self.values[op.values])
        bias = self.values[op.bias] if op.bias is not None else None
        if isinstance(op, SparseLinearOp):
            n, k = op.input.type.get_shape()
            m = op.result.type.get_shape()[1]
            emit_sparse_linear(
                em, self.phases, self.width, self.values[op.input], arrays, bias, out,
                (n, k, m), op.block_rows, op.activation.data,
            )  # fmt: skip
            return
        n, cin, h, w = op.input.type.get_shape()
        cout = op.result.type.get_shape()[1]

        def flat(ref: Value, channels: int) -> Value:
            return em.reinterpret(ref, [n, channels, h * w])

        residual = self.values[op.residual] if op.residual is not None else None
        emit_sparse_conv1x1(
            em, self.phases, self.width, sparse_conv_lanes(self.registers),
            flat(self.values[op.input], cin), arrays, bias,
            None if residual is None else flat(residual, cout), flat(out, cout),
            (n, cin, cout, h * w), op.block_rows, op.activation.data,
            sparse_spatial_parts(cin, h * w),
        )  # fmt: skip

    def lower_conv(self, op: Operation, out: Value) -> None:
        """Convolutions and pooling: the register-tiled generator."""
        if isinstance(op, Pool2dOp):
            spec = pool_spec(op, self.values[op.input], out)
            if reads_rows_in_place(spec):
                emit_strided_pool(self.generator(spec))
            else:
                self.generator(spec).emit()
            return
        assert isinstance(op, Conv2dOp | FKWConv2dOp)
        in_shape = op.input.type.get_shape()
        out_shape = op.result.type.get_shape()
        common: dict[str, Any] = dict(  # the fields every convolution's spec has
            layer=op.layer_name,
            batch=in_shape[0],
            cin=in_shape[1],
            height=in_shape[2],
            width=in_shape[3],
            cout=out_shape[1],
            out_h=out_shape[2],
            out_w=out_shape[3],
            stride=op.stride_values,
            padding=op.padding_values,
            activation=op.activation.data,
            tuning=op.tuning,
            input=self.values[op.input],
            output=out,
            bias=self.values[op.bias] if op.bias is not None else None,
            residual=self.values[op.residual] if op.residual is not None else None,
        )
        if isinstance(op, FKWConv2dOp):
            spec = ConvSpec(
                kernel=op.kernel_values,
                groups=1,
                patterns=op.patterns.patterns,
                fkw=(
                    self.values[op.reorder],
                    self.values[op.offset],
                    self.values[op.index],
                    self.values[op.pattern_bounds],
                    self.values[op.weight],
                ),
                filter_group=op.filter_group_value,
                filter_work=fkw_filter_work(op),
                **common,
            )
        elif op in self.channel_tiles:
            attr, tiling = self.channel_tiles[op]
            spec = ConvSpec(
                kernel=(1, 1),
                groups=1,
                patterns=(((0, 0),),),
                **common,
            ).flattened(self.em.reinterpret)
            generator = ChannelTileGenerator(
                self.em, spec, self.packed_view(attr), self.width, tiling, self.phases
            )
            generator.emit()
            return
        else:
            _, _, kh, kw = op.weight.type.get_shape()
            spec = ConvSpec(
                kernel=(kh, kw),
                groups=op.group_count,
                patterns=(tuple((r, q) for r in range(kh) for q in range(kw)),),
                dense_weight=self.values[op.weight],
                **common,
            )
        spec = spec.flattened(self.em.reinterpret)
        self.generator(spec).emit()

    def generator(self, spec: ConvSpec) -> ConvGenerator:
        kind = (
            DepthwiseGenerator
            if is_depthwise(spec)
            else GroupGenerator
            if is_grouped(spec)
            else ConvGenerator
        )
        return kind(self.em, spec, self.width, self.registers, self.options, phases=self.phases)


def fkw_filter_work(op: FKWConv2dOp) -> tuple[int, ...] | None:
    """The multiply-adds per output pixel of each stored filter of a pattern layer (the
    taps of its kept kernels, those of its group in filter groups), from its constant
    `pattern_bounds`; None when that is not a constant."""
    try:
        bounds = constant_array(op.pattern_bounds).astype(np.int64)
    except WeightError:
        return None
    taps = np.array([len(p) for p in op.patterns.patterns], dtype=np.int64)
    per_unit = np.diff(bounds, axis=1) @ taps
    group = op.filter_group_value
    cout = op.result.type.get_shape()[1]
    return tuple(int(w) for w in np.repeat(per_unit, group)[:cout])


def concat_slices(
    block: Block, outputs: set[SSAValue]
) -> dict[SSAValue, tuple[ConcatOp, int, int]]:
    """The concat inputs that their layers write straight into the concat's buffer:
    value -> (concat, byte offset, input index). Taken: an input computed by a layer
    (not a reshape or another concat, not a function result, not already taken) of a
    concat of one image (whose channel ranges are contiguous) that is not a function
    result itself. The others are copied by the concat."""
    slices: dict[SSAValue, tuple[ConcatOp, int, int]] = {}
    for op in block.ops:
        if not isinstance(op, ConcatOp) or op.result in outputs:
            continue
        if op.result.type.get_shape()[0] != 1:
            continue
        start = 0
        for i, value in enumerate(op.inputs):
            producer = value.owner
            if (
                isinstance(producer, LAYER_OPS)
                and not isinstance(producer, ReshapeOp | ConcatOp)
                and value not in outputs
                and value not in slices
            ):
                slices[value] = (op, start, i)
            start += 4 * int(np.prod(value.type.get_shape()))
    return slices


def _values_from(prologue: list[Operation], body: Block) -> set[Operation]:
    """The ops of `prologue` that `body` reads, directly or through other prologue ops."""
    owners = {op for op in prologue}
    needed: set[Operation] = set()
    stack = [
        operand.owner
        for op in body.walk()
        for operand in op.operands
        if isinstance(operand.owner, Operation) and operand.owner in owners
    ]
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        stack += [
            o.owner for o in op.operands if isinstance(o.owner, Operation) and o.owner in owners
        ]
    return needed
