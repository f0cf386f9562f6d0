"""The C signature of a compiled entry point: its memref arguments and their roles.

An entry point takes its inputs, then its outputs, then (optionally) the weights blob and
the workspace, each as a statically-shaped memref; lowered with the bare-pointer convention
it is the C function
`void f(const float *in..., float *out..., const uint8_t *weights, uint8_t *workspace)`.
The workspace is scratch memory the caller owns (64-byte aligned, any contents); the code
keeps its intermediate buffers there and allocates nothing itself. A multi-threaded entry
point takes one more argument after them, `const patdnn_pool *pool` (`Signature.pool`;
see `patdnn.runtime.threads`), NULL to run on the calling thread alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from patdnn.runtime.errors import SignatureError

__all__ = ["ALIGNMENT", "Arg", "Role", "Signature", "aligned_zeros", "parse_entry_point"]

ALIGNMENT = 64
"""Byte alignment of the arrays passed to an entry point (outputs, the workspace), and of
every buffer the lowering places in the workspace."""

Role = Literal["input", "output", "weights", "workspace"]

#: MLIR element type -> (numpy dtype name, C type).
_ELEMENT_TYPES: dict[str, tuple[str, str]] = {
    "f32": ("float32", "float"),
    "f64": ("float64", "double"),
    "i8": ("int8", "int8_t"),
    "ui8": ("uint8", "uint8_t"),
    "i16": ("int16", "int16_t"),
    "i32": ("int32", "int32_t"),
    "i64": ("int64", "int64_t"),
}
_C_TYPES: dict[str, str] = {numpy: c for numpy, c in _ELEMENT_TYPES.values()}


@dataclass(frozen=True)
class Arg:
    """One pointer argument of an entry point."""

    name: str
    role: Role
    shape: tuple[int, ...]
    dtype: str
    """numpy dtype name ("float32", "uint8", ...)."""

    def __post_init__(self) -> None:
        if self.dtype not in _C_TYPES:
            raise SignatureError(
                f"argument {self.name!r}: unsupported element type {self.dtype!r} "
                f"(supported: {', '.join(sorted(_C_TYPES))})"
            )
        if any(d < 0 for d in self.shape):
            raise SignatureError(f"argument {self.name!r}: negative dimension in {self.shape}")

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def c_type(self) -> str:
        """The C element type ("float", "uint8_t", ...)."""
        return _C_TYPES[self.dtype]


@dataclass(frozen=True)
class Signature:
    """The pointer arguments of an entry point, in call order."""

    args: tuple[Arg, ...]
    pool: bool = False
    """The entry point takes a trailing `const patdnn_pool *` after its memref arguments."""

    def __post_init__(self) -> None:
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise SignatureError(f"argument names are not unique: {names}")
        if not self.outputs:
            raise SignatureError("an entry point needs at least one output")
        if len([a for a in self.args if a.role == "weights"]) > 1:
            raise SignatureError("an entry point takes at most one weights blob")
        if len([a for a in self.args if a.role == "workspace"]) > 1:
            raise SignatureError("an entry point takes at most one workspace")

    @staticmethod
    def of(
        inputs: Sequence[Sequence[int]],
        outputs: Sequence[Sequence[int]],
        weights_size: int | None = None,
        dtype: str = "float32",
        workspace_size: int | None = None,
        pool: bool = False,
    ) -> Signature:
        """Inputs then outputs (all `dtype`), then a `uint8` weights blob if `weights_size`
        is not None and a `uint8` workspace if `workspace_size` is not None, then the
        thread pool pointer if `pool`. A single input
        (output) is called "input" ("output"), several are numbered "input0", "input1", ..."""
        args: list[Arg] = []
        groups: tuple[tuple[Role, Sequence[Sequence[int]]], ...] = (
            ("input", inputs),
            ("output", outputs),
        )
        for role, shapes in groups:
            for i, shape in enumerate(shapes):
                name = role if len(shapes) == 1 else f"{role}{i}"
                args.append(Arg(name, role, tuple(int(d) for d in shape), dtype))
        if weights_size is not None:
            args.append(Arg("weights", "weights", (int(weights_size),), "uint8"))
        if workspace_size is not None:
            args.append(Arg("workspace", "workspace", (int(workspace_size),), "uint8"))
        return Signature(tuple(args), pool)

    @staticmethod
    def from_mlir(mlir_text: str, entry: str | None = None, num_outputs: int = 1) -> Signature:
        """The signature of `entry` (default: the only public function) in an MLIR module."""
        return parse_entry_point(mlir_text, entry, num_outputs)[1]

    @property
    def inputs(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.role == "input")

    @property
    def outputs(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.role == "output")

    @property
    def weights(self) -> Arg | None:
        return next((a for a in self.args if a.role == "weights"), None)

    @property
    def workspace(self) -> Arg | None:
        return next((a for a in self.args if a.role == "workspace"), None)

    # -- checking arrays against the signature ----------------------------------------------

    def check_inputs(self, inputs: Sequence[object]) -> list[np.ndarray]:
        """`inputs` as C-contiguous aligned arrays, or a `SignatureError` naming the mismatch."""
        expected = self.inputs
        if len(inputs) != len(expected):
            raise SignatureError(
                f"expected {len(expected)} input array(s) "
                f"({', '.join(_describe(a) for a in expected)}), got {len(inputs)}"
            )
        return [_check_array(a, value) for a, value in zip(expected, inputs, strict=True)]

    def check_weights(self, weights: object) -> np.ndarray | None:
        """The weights blob as an aligned `uint8` array (None if the entry takes none)."""
        spec = self.weights
        if spec is None:
            if weights is not None and _blob_size(weights) != 0:
                raise SignatureError("this entry point takes no weights, but a blob was given")
            return None
        if weights is None:
            raise SignatureError(f"this entry point needs a weights blob of {spec.nbytes} bytes")
        if isinstance(weights, (bytes, bytearray, memoryview)):
            blob = np.frombuffer(weights, dtype=np.uint8)
        elif isinstance(weights, np.ndarray):
            if weights.dtype != np.uint8:
                raise SignatureError(
                    f"weights blob: expected a uint8 array, got dtype {weights.dtype}"
                )
            if not weights.flags.c_contiguous:
                raise SignatureError("weights blob: the array is not C-contiguous")
            blob = weights.reshape(-1)
        else:
            raise SignatureError(
                f"weights blob: expected a uint8 numpy array or bytes, got {type(weights).__name__}"
            )
        if blob.size != spec.nbytes:
            raise SignatureError(
                f"weights blob has {blob.size} bytes, this entry point expects {spec.nbytes}"
            )
        return _aligned(blob)

    def make_outputs(self, out: Sequence[np.ndarray] | np.ndarray | None) -> list[np.ndarray]:
        """Output arrays: zero-filled new ones, or the given `out` after checking them."""
        if out is None:
            return [aligned_zeros(a) for a in self.outputs]
        given = [out] if isinstance(out, np.ndarray) else list(out)
        if len(given) != len(self.outputs):
            raise SignatureError(f"expected {len(self.outputs)} output array(s), got {len(given)}")
        for spec, array in zip(self.outputs, given, strict=True):
            _check_array(spec, array, copy=False)
            if not array.flags.writeable:
                raise SignatureError(f"output {spec.name!r}: the array is read-only")
        return given

    def check_no_overlap(self, outputs: Sequence[np.ndarray], others: Sequence[np.ndarray]) -> None:
        """Outputs must not overlap one another, an input or the weights (they are noalias)."""
        for i, o in enumerate(outputs):
            for other in list(others) + list(outputs[i + 1 :]):
                if np.may_share_memory(o, other):
                    raise SignatureError(
                        f"output {self.outputs[i].name!r} overlaps another argument; "
                        "entry point arguments must not alias"
                    )


def _describe(arg: Arg) -> str:
    return f"{arg.name}: {arg.dtype}{list(arg.shape)}"


def _blob_size(value: object) -> int:
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, memoryview):
        return value.nbytes
    if isinstance(value, np.ndarray):
        return value.nbytes
    return -1


def aligned_zeros(arg: Arg) -> np.ndarray:
    """A zero-filled, `ALIGNMENT`-aligned array of `arg`'s shape and type."""
    dtype = np.dtype(arg.dtype)
    raw = np.zeros(arg.nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    return raw[start : start + arg.nbytes].view(dtype).reshape(arg.shape)


def _aligned(array: np.ndarray) -> np.ndarray:
    if array.ctypes.data % 16 == 0:
        return array
    raw = np.empty(array.nbytes + ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGNMENT
    copy = raw[start : start + array.nbytes].view(array.dtype).reshape(array.shape)
    copy[...] = array
    return copy


def _check_array(spec: Arg, value: object, copy: bool = True) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise SignatureError(
            f"{spec.role} {spec.name!r}: expected a numpy array of {spec.dtype}{list(spec.shape)}, "
            f"got {type(value).__name__}"
        )
    if value.dtype != np.dtype(spec.dtype):
        raise SignatureError(
            f"{spec.role} {spec.name!r}: expected dtype {spec.dtype}, got {value.dtype}"
        )
    if value.shape != spec.shape:
        raise SignatureError(
            f"{spec.role} {spec.name!r}: expected shape {spec.shape}, got {value.shape}"
        )
    if not value.flags.c_contiguous:
        if not copy:
            raise SignatureError(f"{spec.role} {spec.name!r}: the array is not C-contiguous")
        value = np.ascontiguousarray(value)
    return _aligned(value) if copy else value


# -- reading the entry point of an MLIR module ----------------------------------------------


def _balanced(text: str, start: int, open_: str, close: str) -> int:
    """Index just past the bracket closing the one at `text[start]`."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == open_:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
    raise SignatureError("unbalanced brackets in a func.func signature")


def split_top_level(text: str) -> list[str]:
    """`text` split at the commas outside any brackets, each part stripped."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char in "([{<":
            depth += 1
        elif char in ")]}>":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


_GENERIC_FUNC = re.compile(r'"func\.func"\s*\(\s*\)\s*<\{')
_CUSTOM_FUNC = re.compile(
    r"\bfunc\.func\s+(?:(private|public|nested)\s+)?@(\"[^\"]+\"|[\w.$-]+)\s*\("
)
_MEMREF = re.compile(r"^memref<(?P<dims>(?:(?:\d+|\?)x)*)(?P<elem>[a-z]+\d+)(?P<layout>,.*)?>$")


def _functions(text: str) -> list[tuple[str, bool, list[str]]]:
    """(name, is_public, argument types) of every func.func in `text`."""
    found: list[tuple[str, bool, list[str]]] = []
    for m in _GENERIC_FUNC.finditer(text):
        props = text[m.end() - 1 : _balanced(text, m.end() - 1, "{", "}")]
        name = re.search(r'sym_name\s*=\s*"([^"]*)"', props)
        ftype = re.search(r"function_type\s*=\s*\(", props)
        if name is None or ftype is None:
            continue
        end = _balanced(props, ftype.end() - 1, "(", ")")
        visibility = re.search(r'sym_visibility\s*=\s*"(\w+)"', props)
        public = visibility is None or visibility.group(1) == "public"
        found.append((name.group(1), public, split_top_level(props[ftype.end() : end - 1])))
    for m in _CUSTOM_FUNC.finditer(text):
        end = _balanced(text, m.end() - 1, "(", ")")
        args = []
        for arg in split_top_level(text[m.end() : end - 1]):
            type_text = arg.split(":", 1)[1] if arg.startswith("%") else arg
            args.append(re.sub(r"\s*\{.*\}\s*$", "", type_text.strip()))
        public = m.group(1) in (None, "public")
        found.append((m.group(2).strip('"'), public, args))
    return found


def parse_entry_point(
    mlir_text: str, entry: str | None = None, num_outputs: int = 1
) -> tuple[str, Signature]:
    """The name and signature of the entry function of an MLIR module (generic or custom form).

    `entry` defaults to the only public `func.func`. Its arguments are the inputs, then the
    last `num_outputs` float memrefs are the outputs, then an optional 1-D `i8` weights blob
    and, after it, an optional 1-D `i8` workspace (two trailing 1-D `i8` memrefs are the
    blob and the workspace; one is the blob).
    """
    functions = _functions(mlir_text)
    if entry is None:
        public = [f for f in functions if f[1]]
        if len(public) != 1:
            names = ", ".join(f[0] for f in public) or "none"
            raise SignatureError(
                f"cannot tell the entry point: expected one public func.func, found {names}"
            )
        chosen = public[0]
    else:
        matches = [f for f in functions if f[0] == entry]
        if not matches:
            raise SignatureError(f"no func.func named {entry!r} in the module")
        chosen = matches[0]
    name, _, arg_types = chosen

    parsed: list[tuple[tuple[int, ...], str]] = []
    for i, type_text in enumerate(arg_types):
        m = _MEMREF.match(type_text.replace(" ", ""))
        if m is None or m["layout"] is not None:
            raise SignatureError(
                f"argument {i} of @{name} has type {type_text}: entry arguments must be "
                "statically-shaped memrefs with the identity layout"
            )
        dims = m["dims"].rstrip("x").split("x") if m["dims"] else []
        if "?" in dims:
            raise SignatureError(f"argument {i} of @{name} has a dynamic shape: {type_text}")
        if m["elem"] not in _ELEMENT_TYPES:
            raise SignatureError(f"argument {i} of @{name}: unsupported element type {m['elem']}")
        parsed.append((tuple(int(d) for d in dims), m["elem"]))

    def is_bytes(p: tuple[tuple[int, ...], str]) -> bool:
        return p[1] in ("i8", "ui8") and len(p[0]) == 1

    has_workspace = len(parsed) >= 2 and is_bytes(parsed[-1]) and is_bytes(parsed[-2])
    blob_args = parsed[:-1] if has_workspace else parsed
    has_weights = bool(blob_args) and is_bytes(blob_args[-1])
    tensors = blob_args[:-1] if has_weights else blob_args
    if not 1 <= num_outputs <= len(tensors):
        raise SignatureError(
            f"@{name} has {len(tensors)} non-weight argument(s), cannot take {num_outputs} "
            "of them as outputs"
        )
    n_in = len(tensors) - num_outputs
    args: list[Arg] = []
    for i, (shape, elem) in enumerate(tensors):
        role: Role = "input" if i < n_in else "output"
        count, index = (n_in, i) if role == "input" else (num_outputs, i - n_in)
        arg_name = role if count == 1 else f"{role}{index}"
        args.append(Arg(arg_name, role, shape, _ELEMENT_TYPES[elem][0]))
    if has_weights:
        args.append(Arg("weights", "weights", blob_args[-1][0], "uint8"))
    if has_workspace:
        args.append(Arg("workspace", "workspace", parsed[-1][0], "uint8"))
    return name, Signature(tuple(args))
