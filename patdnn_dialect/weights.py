"""Weights outside the IR text.

Every weight tensor in patdnn IR is an `arith.constant` (or `torch.vtensor.literal`)
whose value is `dense_resource<NAME> : tensor<...>`: a handle, never the numbers. The
numbers live in a `WeightStore`, a map from handle to numpy array owned by one module
(`weights_of(module)`: the importer attaches the store it fills; a module parsed from
text gets an empty one on first use), so an imported 25M-parameter model prints as a
few hundred kilobytes of IR, and two compilations in one process never see each
other's handles. A value's store is the one of the outermost op it is nested in.

A module read from a file may carry its blobs in the standard MLIR section
`{-# dialect_resources: { builtin: { NAME: "0x04000000..." } } #-}`; they are decoded
on first use. Small constants written inline (`dense<...>`, as in lit tests) are read
from the attribute itself. `materialize_resources` writes the blobs a module uses back
into that section, so `patdnn-opt` output parses again with its weights.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator

import numpy as np
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    ArrayAttr,
    Builtin,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    Float32Type,
    Float64Type,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.traits import ConstantLike

from patdnn.errors import PatdnnError

_NUMPY_TO_ELEMENT: dict[str, str] = {
    "float32": "f32",
    "float64": "f64",
    "int32": "i32",
    "int64": "i64",
    "int8": "i8",
    "uint8": "i8",
}


class WeightError(PatdnnError, ValueError):
    """A weight handle without data, a corrupt blob, or data of the wrong shape."""


def numpy_dtype(element_type: Attribute) -> np.dtype[np.generic]:
    if isinstance(element_type, Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    if isinstance(element_type, IntegerType):
        return np.dtype(f"int{element_type.width.data}")
    raise WeightError(f"no numpy type for element type {element_type}")


class WeightStore:
    """Handle name -> numpy array, for the `dense_resource` attributes of patdnn IR."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def __len__(self) -> int:
        return len(self._arrays)

    def add(self, name: str, array: np.ndarray) -> DenseResourceAttr:
        """Stores `array` under a handle derived from `name`; returns the attribute."""
        array = np.ascontiguousarray(array)
        dtype = array.dtype.name
        if dtype not in _NUMPY_TO_ELEMENT:
            raise WeightError(f"weights of dtype {dtype} are not supported ('{name}')")
        base = re.sub(r"[^A-Za-z0-9_.$]", "_", name) or "w"
        if not re.match(r"[A-Za-z_]", base):
            base = "w" + base
        handle, n = base, 0
        while handle in self._arrays and self._arrays[handle] is not array:
            n += 1
            handle = f"{base}_{n}"
        self._arrays[handle] = array
        return DenseResourceAttr.from_params(handle, self.tensor_type(array))

    @staticmethod
    def tensor_type(array: np.ndarray) -> TensorType[Attribute]:
        elt = _NUMPY_TO_ELEMENT[array.dtype.name]
        element: Attribute = {"f32": Float32Type(), "f64": Float64Type()}.get(elt) or (
            IntegerType(int(elt[1:]))
        )
        return TensorType(element, array.shape)

    def get(self, handle: str) -> np.ndarray | None:
        array = self._arrays.get(handle)
        if array is None:
            array = _decode_parsed_blob(handle)
            if array is not None:
                self._arrays[handle] = array
        return array

    def value(self, attr: Attribute) -> np.ndarray:
        """The numbers of a constant's value attribute, shaped as its type."""
        if isinstance(attr, DenseIntOrFPElementsAttr):
            ty = attr.type
            data = np.asarray(attr.get_values(), dtype=numpy_dtype(ty.get_element_type()))
            shape = tuple(ty.get_shape())
            return np.broadcast_to(data, shape).copy() if data.size == 1 else data.reshape(shape)
        if isinstance(attr, DenseResourceAttr):
            handle = attr.resource_handle.data
            ty = attr.type
            assert isinstance(ty, TensorType)
            dtype = numpy_dtype(ty.get_element_type())
            raw = self.get(handle)
            if raw is None:
                raise WeightError(
                    f"no data for dense_resource<{handle}>: the weights of this IR are not "
                    "loaded (give the blob in a dialect_resources section, or import the "
                    "model in this process)"
                )
            shape = tuple(ty.get_shape())
            if raw.dtype != dtype:
                if raw.nbytes % dtype.itemsize:
                    raise WeightError(
                        f"dense_resource<{handle}> holds {raw.nbytes} bytes, not a whole "
                        f"number of {dtype.itemsize}-byte values of its type {ty}"
                    )
                raw = np.frombuffer(raw.tobytes(), dtype=dtype)
            if raw.size != int(np.prod(shape)):
                raise WeightError(
                    f"dense_resource<{handle}> holds {raw.size} values, its type {ty} "
                    f"needs {int(np.prod(shape))}"
                )
            return raw.reshape(shape)
        raise WeightError(f"{attr} is not a dense constant")


_STORES: weakref.WeakKeyDictionary[Operation, WeightStore] = weakref.WeakKeyDictionary()


def _root(item: Operation | SSAValue) -> Operation:
    op = item if isinstance(item, Operation) else item.owner
    if not isinstance(op, Operation):  # a block argument: its block's parent op
        op = op.parent_op()
        if op is None:
            raise WeightError(f"{item} belongs to no operation, so it has no weights")
    while (parent := op.parent_op()) is not None:
        op = parent
    return op


def weights_of(item: Operation | SSAValue) -> WeightStore:
    """The weight store of the module `item` (an op or a value) is nested in; a module
    that has none (parsed from text, built by hand) gets a new empty one."""
    root = _root(item)
    store = _STORES.get(root)
    if store is None:
        store = _STORES[root] = WeightStore()
    return store


def attach_weights(module: Operation, store: WeightStore) -> WeightStore:
    """Makes `store` the weight store of `module` (for example a module built from
    constants cloned out of another one); returns it."""
    _STORES[_root(module)] = store
    return store


def _builtin_resources() -> OpAsmDialectInterface | None:
    return Builtin.get_interface(OpAsmDialectInterface)


def _decode_parsed_blob(handle: str) -> np.ndarray | None:
    interface = _builtin_resources()
    blob = interface.lookup(handle) if interface is not None else None
    if not blob:
        return None
    where = f"the dialect_resources blob of '{handle}'"
    if not isinstance(blob, str) or not blob.startswith("0x"):
        raise WeightError(f"{where} is not a hex string starting with 0x")
    try:
        data = bytes.fromhex(blob[2:])
    except ValueError as e:
        raise WeightError(f"{where} is corrupt: {e}") from None
    # MLIR blobs start with their alignment as a 32-bit little-endian integer.
    if len(data) < 4:
        raise WeightError(f"{where} is truncated: {len(data)} bytes, less than its 4-byte header")
    alignment = int.from_bytes(data[:4], "little")
    if alignment == 0 or alignment & (alignment - 1):
        raise WeightError(f"{where} has alignment {alignment} in its header, not a power of 2")
    return np.frombuffer(data[4:], dtype=np.uint8).copy()


def constant_array(value: SSAValue) -> np.ndarray:
    """The numbers behind a weight operand (`arith.constant` or `torch.vtensor.literal`)."""
    owner = value.owner
    attr = owner.properties.get("value") if isinstance(owner, Operation) else None
    if attr is None or not isinstance(owner, Operation) or not owner.has_trait(ConstantLike):
        raise WeightError(f"expected a constant tensor, got {value}")
    return weights_of(value).value(attr)


def is_inline_constant(value: SSAValue) -> bool:
    """True for a constant written out in the IR (`dense<...>`), as in small tests."""
    owner = value.owner
    return isinstance(owner, Operation) and isinstance(
        owner.properties.get("value"), DenseIntOrFPElementsAttr
    )


def make_constant(
    array: np.ndarray, name: str, *, store: WeightStore, inline: bool = False
) -> arith.ConstantOp:
    """An `arith.constant` holding `array`: a `dense_resource` handle into `store` (the
    store of the module it goes into: `weights_of(op)`), or (`inline=True`, for small
    arrays derived from inline ones) `dense<...>`."""
    array = np.ascontiguousarray(array)
    if not inline:
        return arith.ConstantOp(store.add(name, array))
    ty = WeightStore.tensor_type(array)
    values = array.reshape(-1).tolist()
    return arith.ConstantOp(DenseIntOrFPElementsAttr.from_list(ty, values))  # type: ignore[arg-type]  # element type: the dtype, known at run time


def dense_resources(module: Operation) -> Iterator[DenseResourceAttr]:
    """Every `dense_resource` attribute of the ops under `module`, nested ones too."""

    def visit(attr: Attribute) -> Iterator[DenseResourceAttr]:
        if isinstance(attr, DenseResourceAttr):
            yield attr
        elif isinstance(attr, ArrayAttr):
            for element in attr.data:
                yield from visit(element)
        elif isinstance(attr, DictionaryAttr):
            for element in attr.data.values():
                yield from visit(element)

    for op in module.walk():
        for attr in (*op.properties.values(), *op.attributes.values()):
            yield from visit(attr)


def materialize_resources(module: ModuleOp) -> None:
    """Puts the blobs `module` refers to into the builtin resource section for printing."""
    interface = _builtin_resources()
    if interface is None:
        return
    store = weights_of(module)
    for attr in dense_resources(module):
        handle = attr.resource_handle.data
        array = store.get(handle)
        known = interface.lookup(handle)
        if array is None or known:
            continue
        if known is None:
            interface.declare_resource(handle)
        interface.parse_resource(handle, "0x04000000" + array.tobytes().hex())
