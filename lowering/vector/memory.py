"""Memory planning of a lowered function: the weight blob and the workspace.

The lowered entry point is `forward(inputs..., outputs..., weights, workspace)`.
Every constant is a `memref.view` into the weight blob `memref<Nxi8>` (`WeightBlob`
assigns the byte ranges, the module attribute `patdnn.weights` records them and
`pack_weight_blob` builds the bytes); every intermediate buffer and scratch copy is a
view into the caller's workspace (`Arena` plans the offsets from the buffers' lifetimes),
and the function's `patdnn.workspace` attribute records the workspace size in bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IndexType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
    i8,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue

from patdnn.dialect.weights import WeightStore, numpy_dtype, weights_of
from patdnn.errors import LoweringError
from patdnn.runtime.signature import ALIGNMENT

Value = SSAValue

WEIGHTS_ATTR = "patdnn.weights"
"""Module attribute: the blob layout, `[[dense_resource<handle> : tensor<..>, offset], ...]`."""

WORKSPACE_ATTR = "patdnn.workspace"
"""Function attribute: the bytes of workspace the lowered function takes (its last argument)."""


@dataclass
class _Request:
    nbytes: int
    start: int
    end: int | None
    offset_op: arith.ConstantOp
    slices: list[tuple[int, arith.ConstantOp]] = field(
        default_factory=list[tuple[int, arith.ConstantOp]]
    )
    """Views of a byte range of this buffer (`Arena.slice`): their offsets from its start."""


class Arena:
    """The static memory plan of a function's temporary buffers: each buffer is a
    `memref.view` into one workspace `memref<Nxi8>` the caller passes, at an offset
    chosen once the function is complete, so that buffers whose lifetimes overlap never
    share bytes. No memory is allocated while the function runs."""

    def __init__(self, workspace: Value):
        self.workspace = workspace
        self._requests: list[_Request] = []
        self._by_view: dict[Value, _Request] = {}
        self._clock = 0

    def allocate(self, emit: Callable[[Operation], Operation], ty: MemRefType[Attribute]) -> Value:
        """A view of the workspace for a buffer of type `ty`, its ops appended by `emit`;
        its offset (a constant of its own, set by `plan`) is 0 until then."""
        nbytes = math.prod(ty.get_shape()) * numpy_dtype(ty.element_type).itemsize
        offset = arith.ConstantOp.from_int_and_width(0, IndexType())
        emit(offset)
        view = emit(memref.ViewOp(self.workspace, offset.result, [], ty)).results[0]
        request = _Request(nbytes, self._clock, None, offset)
        self._clock += 1
        self._requests.append(request)
        self._by_view[view] = request
        return view

    def slice(
        self,
        emit: Callable[[Operation], Operation],
        view: Value,
        start: int,
        ty: MemRefType[Attribute],
    ) -> Value:
        """A view of type `ty` of the bytes of buffer `view` (from `allocate`) from byte
        `start` on: it lives as long as that buffer (a concat's input written in place)."""
        request = self._by_view[view]
        nbytes = math.prod(ty.get_shape()) * numpy_dtype(ty.element_type).itemsize
        if start < 0 or start + nbytes > request.nbytes:
            raise LoweringError(f"bytes {start}..{start + nbytes} are outside the buffer")
        offset = arith.ConstantOp.from_int_and_width(start, IndexType())
        emit(offset)
        request.slices.append((start, offset))
        return emit(memref.ViewOp(self.workspace, offset.result, [], ty)).results[0]

    def release(self, view: Value) -> bool:
        """Ends the lifetime of a buffer from `allocate`; False for any other memref."""
        request = self._by_view.get(view)
        if request is None:
            return False
        request.end = self._clock
        self._clock += 1
        return True

    def plan(self) -> int:
        """Gives every buffer its offset (largest first, at the lowest offset free for its
        whole lifetime) and returns the workspace size in bytes."""
        placed: list[tuple[int, int, int, int]] = []  # offset, bytes, start, end
        size = 0
        for r in sorted(self._requests, key=lambda r: -r.nbytes):
            end = r.end if r.end is not None else self._clock
            busy = sorted((o, n) for o, n, start, stop in placed if start < end and r.start < stop)
            offset = 0
            for o, n in busy:
                if offset + r.nbytes <= o:
                    break
                offset = max(offset, _align(o + n))
            placed.append((offset, r.nbytes, r.start, end))
            r.offset_op.properties["value"] = IntegerAttr(offset, IndexType())
            for start, op in r.slices:
                op.properties["value"] = IntegerAttr(offset + start, IndexType())
            size = max(size, offset + r.nbytes)
        return _align(size)


def _align(n: int) -> int:
    return -(-n // ALIGNMENT) * ALIGNMENT


@dataclass
class WeightBlob:
    """Assigns each constant a byte range in the weight blob; `store` is the module's
    weight store (constants written inline join it)."""

    store: WeightStore
    entries: list[tuple[DenseResourceAttr, int]] = field(
        default_factory=list[tuple[DenseResourceAttr, int]]
    )
    size: int = 0
    _by_handle: dict[str, int] = field(default_factory=dict[str, int])
    _inline: int = 0
    _packed: dict[Operation, DenseResourceAttr] = field(
        default_factory=dict[Operation, DenseResourceAttr]
    )

    def place_packed(
        self, const: arith.ConstantOp, name: str, pack: Callable[[np.ndarray], np.ndarray]
    ) -> DenseResourceAttr:
        """The constant's weights as `pack` lays them out for a kernel, placed as a
        weight of their own named `name` (after the first layer that reads them): once
        per constant, however many layers read it (they are all of one kind)."""
        if const not in self._packed:
            weights = self.store.value(const.value).astype(np.float32)
            self._packed[const] = self.place(self.store.add(name, pack(weights)))
        return self._packed[const]

    def place(self, attr: Attribute) -> DenseResourceAttr:
        """Gives the constant a byte range; returns it as a weight-store handle."""
        if isinstance(attr, DenseIntOrFPElementsAttr):
            # Small constants written in the IR join the store like any other weight.
            attr = self.store.add(f"inline{self._inline}", self.store.value(attr))
            self._inline += 1
        if not isinstance(attr, DenseResourceAttr):
            raise LoweringError(f"unsupported constant {attr}")
        handle = attr.resource_handle.data
        if handle not in self._by_handle:
            offset = _align(self.size)
            self.entries.append((attr, offset))
            self._by_handle[handle] = offset
            self.size = offset + _nbytes(attr)
        return attr

    def offset(self, attr: DenseResourceAttr) -> int:
        return self._by_handle[attr.resource_handle.data]

    def memref_type(self) -> MemRefType[Attribute]:
        return MemRefType(i8, [max(self.size, 1)])

    def attribute(self) -> ArrayAttr[Attribute]:
        return ArrayAttr(ArrayAttr([attr, IntegerAttr(o, i64)]) for attr, o in self.entries)


def _nbytes(attr: DenseResourceAttr) -> int:
    ty = attr.type
    assert isinstance(ty, TensorType)
    return int(np.prod(ty.get_shape())) * numpy_dtype(ty.get_element_type()).itemsize


def pack_weight_blob(module: ModuleOp) -> bytes:
    """The weight blob a lowered module expects, from its `patdnn.weights` layout."""
    layout = module.attributes.get(WEIGHTS_ATTR)
    if not isinstance(layout, ArrayAttr):
        return b""
    entries: list[tuple[DenseResourceAttr, int]] = []
    for entry in layout.data:
        assert isinstance(entry, ArrayAttr)
        attr, offset = entry.data
        assert isinstance(attr, DenseResourceAttr) and isinstance(offset, IntegerAttr)
        entries.append((attr, offset.value.data))
    store = weights_of(module)
    size = max((o + _nbytes(a) for a, o in entries), default=0)
    blob = bytearray(size)
    for attr, offset in entries:
        data = store.value(attr).tobytes()
        blob[offset : offset + len(data)] = data
    return bytes(blob)


def workspace_bytes(module: ModuleOp, entry: str) -> int:
    """The workspace size in bytes of the lowered function `entry` (or of the parallel
    entry point `entry`, whose task functions share one workspace)."""
    from patdnn.lowering.vector.tasks import entry_schedules

    schedule = entry_schedules(module).get(entry)
    if schedule is not None:
        return schedule.workspace
    for fn in module.ops:
        if isinstance(fn, func.FuncOp) and fn.sym_name.data == entry:
            size = fn.attributes.get(WORKSPACE_ATTR)
            if not isinstance(size, IntegerAttr):
                raise LoweringError(f"function {entry!r} has no {WORKSPACE_ATTR} attribute")
            return size.value.data
    raise LoweringError(f"no function {entry!r} in the module")
