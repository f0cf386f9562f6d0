"""A small helper for writing loop nests of upstream ops (scf, arith, memref, vector).

The code generators append ops to the current block of an `Emitter`; `loop` opens an
`scf.for` whose body becomes the current block while the `with` lasts. Index constants
are made once per function, at the top of its entry block.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from xdsl.dialects import arith, memref, scf, vector
from xdsl.dialects.builtin import (
    BoolAttr,
    DenseArrayBase,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    MemRefType,
    StridedLayoutAttr,
    VectorType,
    f32,
    i1,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def, var_operand_def

from patdnn.runtime.signature import ALIGNMENT

Value = SSAValue


def shape_of(value: Value) -> tuple[int, ...]:
    """The static shape of a memref or vector value."""
    ty = value.type
    if not isinstance(ty, MemRefType | VectorType):
        raise TypeError(f"expected a memref or a vector, got {ty}")
    return tuple(ty.get_shape())


@dataclass
class Loop:
    """The induction variable and loop-carried values of an open `scf.for`."""

    iv: Value
    carried: list[Value]
    op: scf.ForOp
    results: list[Value] = field(default_factory=list[Value])
    yielded: list[Value] | None = None

    def yield_(self, values: Sequence[Value]) -> None:
        self.yielded = list(values)


@irdl_op_definition
class PrefetchOp(IRDLOperation):
    """Upstream `memref.prefetch` (xDSL 0.74 lacks it): a read prefetch, into the
    innermost cache level (`locality` 3) or without keeping the line in the caches it
    passes (`locality` 0: a stream read once, x86 `prefetchnta`). Built here and printed
    for `mlir-opt`; never parsed."""

    name = "memref.prefetch"

    memref = operand_def(MemRefType)
    indices = var_operand_def(IndexType)
    isWrite = prop_def(BoolAttr)
    localityHint = prop_def(IntegerAttr)
    isDataCache = prop_def(BoolAttr)

    def __init__(
        self, ref: Value, indices: Sequence[Value], locality: int = 3, write: bool = False
    ):
        super().__init__(
            operands=[ref, list(indices)],
            properties={
                "isWrite": BoolAttr.from_bool(write),
                "localityHint": IntegerAttr(locality, i32),
                "isDataCache": BoolAttr.from_bool(True),
            },
        )


ATOMIC_KINDS = {"assign": 3, "ori": 14}
"""`memref.atomic_rmw` kinds by name: the values of MLIR's `AtomicRMWKind` in the pinned
`mlir-opt` (it prints `atomic_rmw ori` as `kind = 14`; the enum has grown over MLIR's
releases, so a test checks the LLVM IR for the `or` and `xchg` they stand for)."""


class BufferPlan(Protocol):
    """Where `Emitter.alloc` puts buffers: `memory.Arena`, the workspace plan."""

    def allocate(self, emit: Callable[[Operation], Operation], ty: MemRefType[Attribute]) -> Value:
        """A buffer of type `ty`, its ops appended by `emit`."""
        ...

    def release(self, view: Value) -> bool:
        """Ends the lifetime of a buffer from `allocate`; False for any other memref."""
        ...


class Emitter:
    """Appends ops to a block; caches constants in the function's entry block. With an
    `Arena`, `alloc` places buffers in the caller's workspace instead of the heap."""

    def __init__(self, entry: Block, arena: BufferPlan | None = None):
        self.entry = entry
        self.block = entry
        self.arena = arena
        self._constants: dict[tuple[str, object], Value] = {}
        self._constant_anchor: Operation | None = None

    def emit(self, op: Operation) -> Operation:
        self.block.add_op(op)
        return op

    def _constant(self, key: tuple[str, object], op: Operation) -> Value:
        if key not in self._constants:
            if self._constant_anchor is not None:
                self.entry.insert_op_after(op, self._constant_anchor)
            elif self.entry.first_op is not None:
                self.entry.insert_op_before(op, self.entry.first_op)
            else:
                self.entry.add_op(op)
            self._constant_anchor = op
            self._constants[key] = op.results[0]
        return self._constants[key]

    def index(self, value: int) -> Value:
        op = arith.ConstantOp.from_int_and_width(value, IndexType())
        return self._constant(("index", value), op)

    def const_f32(self, value: float) -> Value:
        return self._constant(("f32", value), arith.ConstantOp(FloatAttr(value, f32)))

    def splat(self, value: float, width: int) -> Value:
        from xdsl.dialects.builtin import DenseIntOrFPElementsAttr

        ty = VectorType(f32, [width])
        attr = DenseIntOrFPElementsAttr.from_list(ty, [value] * width)
        return self._constant(("splat", (value, width)), arith.ConstantOp(attr, ty))

    def mask(self, active: int, width: int) -> Value:
        """A constant `vector<width x i1>` with the first `active` lanes set."""
        ty = VectorType(i1, [width])
        return self._constant(
            ("mask", (active, width)), vector.CreateMaskOp([self.index(active)], ty)
        )

    # -- integer arithmetic on indices, folding constants ---------------------------------

    def add(self, a: Value, b: int | Value) -> Value:
        if isinstance(b, int):
            if b == 0:
                return a
            b = self.index(b)
        return self.emit(arith.AddiOp(a, b)).results[0]

    def minui(self, a: Value, b: int | Value) -> Value:
        """The smaller of two indices."""
        if isinstance(b, int):
            b = self.index(b)
        return self.emit(arith.MinUIOp(a, b)).results[0]

    def maxui(self, a: Value, b: int | Value) -> Value:
        """The larger of two indices."""
        if isinstance(b, int):
            b = self.index(b)
        return self.emit(arith.MaxUIOp(a, b)).results[0]

    def mul(self, a: Value, b: int) -> Value:
        if b == 1:
            return a
        return self.emit(arith.MuliOp(a, self.index(b))).results[0]

    def load_index(self, ref: Value, indices: Sequence[Value]) -> Value:
        """An i32 array element as an index."""
        value = self.emit(memref.LoadOp.get(ref, list(indices))).results[0]
        assert isinstance(value.type, IntegerType)
        return self.emit(arith.IndexCastOp(value, IndexType())).results[0]

    def load(self, ref: Value, indices: Sequence[Value]) -> Value:
        return self.emit(memref.LoadOp.get(ref, list(indices))).results[0]

    def const_i32(self, value: int) -> Value:
        return self._constant(("i32", value), arith.ConstantOp.from_int_and_width(value, 32))

    def atomic(self, kind: str, ref: Value, indices: Sequence[Value], value: Value) -> Value:
        """`ref[indices]` combined with the i32 `value` in one atomic read-modify-write
        (`memref.atomic_rmw`, ordered acquire-release): `kind` "ori" or "assign"; returns
        the value it replaced."""
        op = memref.AtomicRMWOp.create(
            operands=[value, ref, *indices],
            result_types=[i32],
            properties={"kind": IntegerAttr(ATOMIC_KINDS[kind], i64)},
        )
        return self.emit(op).results[0]

    # -- vectors -------------------------------------------------------------------------

    def broadcast(self, scalar: Value, width: int) -> Value:
        return self.emit(vector.BroadcastOp(scalar, VectorType(f32, [width]))).results[0]

    def splat_lane(self, value: Value, lane: int) -> Value:
        """Lane `lane` of vector `value` in every lane (a shuffle)."""
        ty = value.type
        assert isinstance(ty, VectorType), f"splat_lane takes a vector, got {ty}"
        mask = DenseArrayBase.from_list(i64, [lane] * ty.get_shape()[0])
        op = vector.ShuffleOp(value, value, mask, result_type=ty)
        return self.emit(op).results[0]

    def shuffle(self, a: Value, b: Value, lanes: Sequence[int]) -> Value:
        """The lanes `lanes` of `a` followed by `b` (`vector.shuffle`)."""
        ty = a.type
        assert isinstance(ty, VectorType), f"shuffle takes vectors, got {ty}"
        mask = DenseArrayBase.from_list(i64, list(lanes))
        return self.emit(vector.ShuffleOp(a, b, mask, result_type=ty)).results[0]

    def low_lanes(self, value: Value, width: int) -> Value:
        """The first `width` lanes of `value`, as a vector of `width` (a shuffle; the low
        half of a 512-bit register is its 256-bit register, no instruction)."""
        mask = DenseArrayBase.from_list(i64, list(range(width)))
        op = vector.ShuffleOp(value, value, mask, result_type=VectorType(f32, [width]))
        return self.emit(op).results[0]

    def extract_lane(self, value: Value, lane: int) -> Value:
        """Lane `lane` of an f32 vector, as a scalar."""
        return self.emit(vector.ExtractOp(value, [lane], f32)).results[0]

    def even_lanes(self, low: Value, high: Value, first: int = 0) -> Value:
        """Lanes `first`, `first + 2`, `first + 4`, ... of `low` followed by `high`: the
        stride-2 deinterleave of two contiguous vectors (one shuffle; `first` 1: the odd
        lanes)."""
        ty = low.type
        assert isinstance(ty, VectorType), f"even_lanes takes vectors, got {ty}"
        mask = DenseArrayBase.from_list(i64, list(range(first, 2 * ty.get_shape()[0], 2)))
        return self.emit(vector.ShuffleOp(low, high, mask, result_type=ty)).results[0]

    def vload(self, ref: Value, indices: Sequence[Value], width: int) -> Value:
        return self.emit(vector.LoadOp(ref, list(indices), VectorType(f32, [width]))).results[0]

    def prefetch(
        self, ref: Value, indices: Sequence[Value], locality: int = 3, write: bool = False
    ) -> None:
        self.emit(PrefetchOp(ref, indices, locality, write))

    def vstore(self, value: Value, ref: Value, indices: Sequence[Value]) -> None:
        self.emit(vector.StoreOp(value, ref, list(indices)))

    def vload_masked(
        self, ref: Value, indices: Sequence[Value], active: int, width: int, fill: float = 0.0
    ) -> Value:
        """The first `active` lanes from memory, `fill` in the others (a plain load when
        `active` is the whole vector)."""
        if active == width:
            return self.vload(ref, indices, width)
        ty = VectorType(f32, [width])
        op = vector.MaskedLoadOp.create(
            operands=[ref, *indices, self.mask(active, width), self.splat(fill, width)],
            result_types=[ty],
        )
        return self.emit(op).results[0]

    def vstore_masked(
        self, value: Value, ref: Value, indices: Sequence[Value], active: int
    ) -> None:
        """The first `active` lanes of `value` (a plain store when that is all of them)."""
        (width,) = shape_of(value)
        if active == width:
            self.vstore(value, ref, indices)
            return
        self.emit(vector.MaskedStoreOp(ref, list(indices), self.mask(active, width), value))

    def select(self, condition: Value, a: Value, b: Value) -> Value:
        """`a` where the i1 `condition` holds, else `b`."""
        return self.emit(arith.SelectOp(condition, a, b)).results[0]

    def fma(self, a: Value, b: Value, acc: Value) -> Value:
        return self.emit(vector.FMAOp(a, b, acc)).results[0]

    def addf(self, a: Value, b: Value) -> Value:
        return self.emit(arith.AddfOp(a, b)).results[0]

    def mulf(self, a: Value, b: Value) -> Value:
        return self.emit(arith.MulfOp(a, b)).results[0]

    def maxf(self, a: Value, b: Value) -> Value:
        return self.emit(arith.MaximumfOp(a, b)).results[0]

    def minf(self, a: Value, b: Value) -> Value:
        return self.emit(arith.MinimumfOp(a, b)).results[0]

    def divf(self, a: Value, b: Value) -> Value:
        return self.emit(arith.DivfOp(a, b)).results[0]

    def activation(self, value: Value, kind: str) -> Value:
        """An activation (`patdnn.dialect.patdnn.Activation`) on a vector or an f32 scalar
        ("none": unchanged). Hardswish `x * min(max(x + 3, 0), 6) / 6` and hardsigmoid
        `min(max(x + 3, 0), 6) / 6` in ATen's order of operations (a division, as ATen
        does, not a product by 1/6)."""
        width = value.type.get_shape()[0] if isinstance(value.type, VectorType) else 0

        def const(c: float) -> Value:
            return self.splat(c, width) if width else self.const_f32(c)

        if kind in ("relu", "relu6"):
            value = self.maxf(value, const(0.0))
        if kind == "relu6":
            value = self.minf(value, const(6.0))
        if kind in ("hardswish", "hardsigmoid"):
            gate = self.minf(self.maxf(self.addf(value, const(3.0)), const(0.0)), const(6.0))
            if kind == "hardswish":
                value = self.divf(self.mulf(value, gate), const(6.0))
            else:
                value = self.divf(gate, const(6.0))
        return value

    def reduce_add(self, value: Value) -> Value:
        """The sum of a vector's lanes, as an f32."""
        op = vector.ReductionOp.create(
            operands=[value],
            result_types=[f32],
            properties={"kind": vector.CombiningKindAttr(vector.CombiningKindFlag.ADD)},
        )
        return self.emit(op).results[0]

    def reinterpret(
        self, ref: Value, shape: Sequence[int], outer_stride: int | None = None
    ) -> Value:
        """The same contiguous buffer seen with another static shape (with
        `outer_stride`, elements between two entries of the first dimension when that is
        more than the rest of the shape holds)."""
        strides = [1] * len(shape)
        for i in range(len(shape) - 2, -1, -1):
            strides[i] = strides[i + 1] * shape[i + 1]
        if outer_stride is not None and len(shape) > 1 and outer_stride != strides[0]:
            strides[0] = outer_stride
            ty = MemRefType(f32, list(shape), StridedLayoutAttr(strides, None))
        else:
            ty = MemRefType(f32, list(shape))
        op = memref.ReinterpretCastOp.create(
            operands=[ref],
            result_types=[ty],
            properties={
                "static_offsets": DenseArrayBase.from_list(i64, [0]),
                "static_sizes": DenseArrayBase.from_list(i64, list(shape)),
                "static_strides": DenseArrayBase.from_list(i64, strides),
                "operandSegmentSizes": DenseArrayBase.from_list(i32, [1, 0, 0, 0]),
            },
        )
        return self.emit(op).results[0]

    # -- buffers -------------------------------------------------------------------------

    def alloc(self, shape: Sequence[int], element: Attribute = f32) -> Value:
        if self.arena is not None:
            return self.arena.allocate(self.emit, MemRefType(element, list(shape)))
        return self.emit(memref.AllocOp.get(element, ALIGNMENT, list(shape))).results[0]

    def dealloc(self, ref: Value) -> None:
        if self.arena is None or not self.arena.release(ref):
            self.emit(memref.DeallocOp.get(ref))

    # -- control flow --------------------------------------------------------------------

    def in_range(self, value: Value, low: int, high: int) -> Value:
        """`low <= value < high` for an index value, as an i1."""
        above = arith.CmpiOp(value, self.index(low), "sge")
        below = arith.CmpiOp(value, self.index(high), "slt")
        self.emit(above)
        self.emit(below)
        return self.emit(arith.AndIOp(above.result, below.result)).results[0]

    @contextmanager
    def if_else(self, condition: Value) -> Iterator[tuple[Block, Block]]:
        """`scf.if` without results; fill the two blocks with `with em.at(block):`."""
        then_block, else_block = Block(), Block()
        self.emit(scf.IfOp(condition, [], Region([then_block]), Region([else_block])))
        yield then_block, else_block
        for block in (then_block, else_block):
            block.add_op(scf.YieldOp())

    @contextmanager
    def at(self, block: Block) -> Iterator[None]:
        """Emit into `block` while the `with` lasts."""
        outer = self.block
        self.block = block
        try:
            yield
        finally:
            self.block = outer

    # -- loops ---------------------------------------------------------------------------

    @contextmanager
    def loop(
        self, lower: int | Value, upper: int | Value, step: int = 1, carried: Sequence[Value] = ()
    ) -> Iterator[Loop]:
        """`scf.for` from lower to upper; the body is the current block inside the `with`.
        Call `loop.yield_(values)` for loop-carried values; the results are then in
        `loop.results` after the `with`."""
        lb = self.index(lower) if isinstance(lower, int) else lower
        ub = self.index(upper) if isinstance(upper, int) else upper
        body = Block(arg_types=[IndexType(), *(v.type for v in carried)])
        op = scf.ForOp(lb, ub, self.index(step), list(carried), body)
        self.emit(op)
        outer = self.block
        self.block = body
        handle = Loop(body.args[0], list(body.args[1:]), op)
        try:
            yield handle
            if carried and handle.yielded is None:
                raise AssertionError("a loop with carried values must yield")
            self.emit(scf.YieldOp(*(handle.yielded or [])))
        finally:
            self.block = outer
        handle.results = list(op.results)
