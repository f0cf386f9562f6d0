"""What a compiled entry point was built for, carried by the code itself.

`patdnn.compile` appends one LLVM IR global to the module before it is compiled,

    @patdnn_abi = constant [N x i8] c"PATDNN-ABI 1 entry=forward format=3 inputs=1x3x8x8
        outputs=1x10 weights=4096 workspace=1024 ;\\00"

so the object, the shared library and the JIT-compiled code all hold, as data, the
entry name, the manifest format, the input and output shapes, and the sizes of the
weights blob and the workspace that the code reads and writes. A loader reads that record
back (from the JIT's memory, or out of the object's bytes) and compares it with the
manifest before any call: a manifest edited or mismatched in any of those numbers is an
`AbiError` naming the file and the field, never a call with buffers of the wrong size.
The record is printable ASCII with no quote or backslash, so it reads the same in the
`.ll` text, the `.o` and the `.so`.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Mapping
from dataclasses import dataclass

from patdnn.runtime.errors import PatdnnRuntimeError
from patdnn.runtime.signature import Signature

__all__ = ["ABI_SYMBOL", "AbiError", "AbiRecord", "append_abi_global", "find_abi_record"]

ABI_SYMBOL = "patdnn_abi"
_MAGIC = b"PATDNN-ABI 1 "
_MAX_RECORD = 4096
_RECORD = re.compile(
    r"PATDNN-ABI 1 entry=(?P<entry>[A-Za-z_][\w.$]*) format=(?P<format>\d+) "
    r"inputs=(?P<inputs>[\dx,]*) outputs=(?P<outputs>[\dx,]*) weights=(?P<weights>\d+) "
    r"workspace=(?P<workspace>\d+|none) ;"
)


class AbiError(PatdnnRuntimeError, ValueError):
    """The compiled code and the manifest describe different entry points."""


def _shapes(shapes: tuple[tuple[int, ...], ...]) -> str:
    return ",".join("x".join(str(d) for d in shape) for shape in shapes)


def _parse_shapes(text: str) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(d) for d in part.split("x") if d) for part in text.split(",") if part)


@dataclass(frozen=True)
class AbiRecord:
    """The numbers the code was compiled with."""

    entry: str
    format: int
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]
    weights: int
    workspace: int | None

    @staticmethod
    def of(entry: str, signature: Signature, format: int) -> AbiRecord:  # noqa: A002
        ws = signature.workspace
        return AbiRecord(
            entry,
            format,
            tuple(a.shape for a in signature.inputs),
            tuple(a.shape for a in signature.outputs),
            signature.weights.nbytes if signature.weights is not None else 0,
            ws.nbytes if ws is not None else None,
        )

    def text(self) -> str:
        return (
            f"PATDNN-ABI 1 entry={self.entry} format={self.format} "
            f"inputs={_shapes(self.inputs)} outputs={_shapes(self.outputs)} "
            f"weights={self.weights} workspace="
            f"{'none' if self.workspace is None else self.workspace} ;"
        )

    @staticmethod
    def parse(text: str, source: str) -> AbiRecord:
        m = _RECORD.fullmatch(text)
        if m is None:
            raise AbiError(f"{source}: the code's ABI record is corrupt: {text[:200]!r}")
        return AbiRecord(
            m["entry"],
            int(m["format"]),
            _parse_shapes(m["inputs"]),
            _parse_shapes(m["outputs"]),
            int(m["weights"]),
            None if m["workspace"] == "none" else int(m["workspace"]),
        )

    def check(self, expected: AbiRecord, source: str, manifest: str) -> None:
        """Raises `AbiError` naming the first field where the code and `expected` differ."""
        fields: Mapping[str, tuple[object, object]] = {
            "entry": (self.entry, expected.entry),
            "format": (self.format, expected.format),
            "inputs": (self.inputs, expected.inputs),
            "outputs": (self.outputs, expected.outputs),
            "weights_bytes": (self.weights, expected.weights),
            "workspace_bytes": (self.workspace, expected.workspace),
        }
        for name, (compiled, declared) in fields.items():
            if compiled != declared:
                raise AbiError(
                    f"{manifest}: field '{name}' is {_show(declared)} but {source} was "
                    f"compiled for {_show(compiled)}; the artefacts do not belong together "
                    "(compile and save the model again)"
                )


def _show(value: object) -> str:
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return "[" + ", ".join(str(list(s)) for s in value) + "]"
    return "none" if value is None else str(value)


def append_abi_global(llvm_ir: str, record: AbiRecord) -> str:
    """`llvm_ir` with the `@patdnn_abi` constant appended (external, so LLVM keeps it)."""
    data = record.text().encode() + b"\0"
    return (
        llvm_ir.rstrip("\n")
        + f'\n\n@{ABI_SYMBOL} = constant [{len(data)} x i8] c"{record.text()}\\00", align 1\n'
    )


def find_abi_record(data: bytes, source: str) -> AbiRecord:
    """The ABI record inside the bytes of an object, a shared library or LLVM IR text."""
    start = data.find(_MAGIC)
    if start < 0:
        raise AbiError(
            f"{source} carries no ABI record (saved by an older patdnn, or not patdnn "
            "code): compile and save the model again"
        )
    end = data.find(b";", start, start + _MAX_RECORD)
    if end < 0:
        raise AbiError(f"{source}: the code's ABI record is truncated")
    try:
        text = data[start : end + 1].decode("ascii")
    except UnicodeDecodeError:
        raise AbiError(f"{source}: the code's ABI record is corrupt") from None
    return AbiRecord.parse(text, source)


def read_abi_at(address: int, source: str) -> AbiRecord:
    """The ABI record at `address` in this process (a JIT-compiled `@patdnn_abi`)."""
    if ctypes.string_at(address, len(_MAGIC)) != _MAGIC:
        raise AbiError(f"{source}: @{ABI_SYMBOL} does not hold an ABI record")
    return find_abi_record(ctypes.string_at(address), source)  # up to its NUL
