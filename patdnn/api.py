"""The Python API: `patdnn.compile(model, example_input, target=...)` and `patdnn.load(dir)`.

```python
import patdnn
compiled = patdnn.compile(pruned_model, torch.randn(1, 3, 32, 32), target="aarch64")
y = compiled(x)                      # numpy; under qemu-aarch64 when not on aarch64
print(compiled.mlir("fkw-layout"))   # the IR after a stage
compiled.save("out/")                # LLVM IR, object, C header, weights, manifest
again = patdnn.load("out/")          # host artefacts, JIT-compiled from the saved LLVM IR
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, runtime_checkable

import numpy as np

from patdnn.errors import ArgumentError, PatdnnError
from patdnn.files import staged_directory
from patdnn.lowering.summary import LayerSummary
from patdnn.runtime.abi import AbiRecord, append_abi_global, find_abi_record
from patdnn.runtime.errors import SignatureError
from patdnn.runtime.signature import Arg, Signature
from patdnn.runtime.target import Target, TargetError

if TYPE_CHECKING:
    from patdnn.lowering.autotune import LayerTuning

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 4
"""4: the entry point takes a thread pool (`thread_pool`); 3: the code carries its ABI record (`patdnn.runtime.abi`) and the manifest its own sha256
(`manifest_sha256`); 2: the entry point takes a workspace; 1: it did not. Only format 4 is
read: older artefacts cannot be checked against their code (compile and save them again)."""
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ALIGNMENT = 64


@runtime_checkable
class _ThreadedRunner(Protocol):
    """A runner whose thread count can change between calls (the host's)."""

    num_threads: int


@dataclass
class CompiledModel:
    """A model compiled for one target: call it like a function on numpy arrays."""

    name: str
    target: Target
    entry: str
    signature: Signature
    llvm_ir: str
    weights: np.ndarray
    """The weights blob: a read-only, 64-byte aligned uint8 array, passed as is to every call."""
    stages: dict[str, str] = field(default_factory=dict[str, str])
    layers: list[LayerSummary] = field(default_factory=list[LayerSummary])
    library: list[list[tuple[int, int]]] = field(default_factory=list[list[tuple[int, int]]])
    timings: dict[str, float] = field(default_factory=dict[str, float])
    tuning: list[LayerTuning] = field(default_factory=list)
    """What `auto-tune` chose per layer (empty unless compiled with `tune=True`)."""
    _runner: Callable[..., Any] | None = None
    _object: bytes | None = None
    _source: str = "the compiled code"
    """What the code came from, in messages (`out/model.ll` for a loaded model)."""
    _declared: str = "the model's signature"
    _num_threads: int = 1

    def __post_init__(self) -> None:
        self.weights = aligned_blob(self.weights)
        self.num_threads = self._num_threads

    @property
    def num_threads(self) -> int:
        """The threads each call runs on (1: the calling thread alone). On the host, the
        default pthread pool of the runtime; for aarch64, the qemu harness's pool."""
        return self._num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        from patdnn.runtime.threads import check_threads

        self._num_threads = check_threads(value)
        if isinstance(self._runner, _ThreadedRunner):
            self._runner.num_threads = self._num_threads

    # -- running -----------------------------------------------------------------------

    def _get_runner(self) -> Callable[..., Any]:
        if self._runner is None:
            expected = AbiRecord.of(self.entry, self.signature, MANIFEST_FORMAT)
            if self.target.runs_on_host:
                from patdnn.runtime.host import HostModule

                runner = HostModule(
                    self.llvm_ir,
                    self.entry,
                    self.signature,
                    target=self.target,
                    num_threads=self._num_threads,
                )
                # The numbers the JIT-compiled code itself holds, before its first call.
                runner.abi(self._source).check(expected, self._source, self._declared)
                self._runner = runner
            else:
                from patdnn.runtime.aarch64 import Aarch64Module

                find_abi_record(self.object_code, self._source).check(
                    expected, self._source, self._declared
                )
                self._runner = Aarch64Module(
                    self.object_code, self.entry, self.signature, num_threads=self._num_threads
                )
        return self._runner

    def __call__(self, *inputs: Any) -> np.ndarray:
        """Runs the model on its input(s): numpy arrays or tensors of exactly the input
        shape; an input without its leading batch dimension of 1 gets it added (a
        (3, 32, 32) image for a (1, 3, 32, 32) model). Any other shape is refused
        (`SignatureError`, naming both shapes): no array is reshaped to fit."""
        expected = self.signature.inputs
        if len(inputs) != len(expected):
            shapes = ", ".join(str(list(a.shape)) for a in expected)
            raise SignatureError(
                f"model {self.name!r} takes {len(expected)} input(s) of shape {shapes}, "
                f"got {len(inputs)}"
            )
        arrays = [fit_input(arg, x) for arg, x in zip(expected, inputs, strict=True)]
        result = self._get_runner()(*arrays, weights=self.weights)
        return result

    # -- artefacts ---------------------------------------------------------------------

    @property
    def object_code(self) -> bytes:
        if self._object is None:
            from patdnn.runtime.compile import compile_object

            self._object = compile_object(self.llvm_ir, self.target)
        return self._object

    def mlir(self, stage: str) -> str:
        """The IR after `stage` (see `patdnn.lowering.pipeline.STAGES`)."""
        if not isinstance(stage, str):
            raise ArgumentError(f"stage must be a stage name (str), got {type(stage).__name__}")
        if stage not in self.stages:
            known = ", ".join(self.stages) or "none were kept (compile with keep_stages=True)"
            raise PatdnnError(f"unknown stage '{stage}'; stages: {known}")
        return self.stages[stage]

    def save(self, directory: str | Path) -> Path:
        """Writes `<name>.ll`, `<name>.o`, `<name>.h`, `<name>.weights`, the default thread
        pool (`patdnn_pool.h`, `patdnn_pool.c`), for the host target `<name>.so` (linked
        with the system `cc`), and `manifest.json` with checksums."""
        from patdnn.runtime.header import generate_header

        out = Path(_path_argument(directory, "directory"))
        with staged_directory(out, last=(MANIFEST,)) as stage:
            files = {
                f"{self.name}.ll": self.llvm_ir.encode(),
                f"{self.name}.o": self.object_code,
                f"{self.name}.h": generate_header(self.entry, self.signature).encode(),
                f"{self.name}.weights": self.weights.tobytes(),
            }
            if self.signature.pool:
                from patdnn.runtime.threads import POOL_HEADER, POOL_SOURCE

                # The default thread pool, for a C program that has none of its own.
                files.update({p.name: p.read_bytes() for p in (POOL_HEADER, POOL_SOURCE)})
            for filename, data in files.items():
                (stage / filename).write_bytes(data)
            shared = _link_shared(stage, self.name, self.target)
            if shared.get("file"):
                files[shared["file"]] = (stage / shared["file"]).read_bytes()
            manifest = {
                "format": MANIFEST_FORMAT,
                "model": self.name,
                "entry": self.entry,
                "target": {
                    "name": self.target.name,
                    "triple": self.target.triple,
                    "cpu": self.target.cpu,
                    "features": self.target.features,
                    "vector_width": self.target.vector_width,
                },
                "inputs": [list(a.shape) for a in self.signature.inputs],
                "outputs": [list(a.shape) for a in self.signature.outputs],
                "weights_bytes": int(self.weights.size),
                "workspace_bytes": (
                    self.signature.workspace.nbytes
                    if self.signature.workspace is not None
                    else None
                ),
                "thread_pool": self.signature.pool,
                "pattern_library": [[list(tap) for tap in p] for p in self.library],
                "layers": [layer.as_dict() for layer in self.layers],
                "tuning": {t.layer: t.best for t in self.tuning},
                "shared_library": shared,
                "files": {
                    filename: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                    for filename, data in files.items()
                },
            }
            manifest = json.loads(json.dumps(manifest, default=_json_value))
            manifest["manifest_sha256"] = manifest_digest(manifest)
            (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return out


def manifest_digest(manifest: dict[str, Any]) -> str:
    """The sha256 of a manifest's content without its own `manifest_sha256` field."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _json_value(value: Any) -> Any:
    """numpy scalars and arrays in layer summaries as plain JSON values."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _link_shared(out: Path, name: str, target: Target) -> dict[str, Any]:
    """Link `<name>.o` into `<name>.so` with the system C compiler (host target only)."""
    if not target.runs_on_host:
        return {"file": None, "note": f"not built for {target.name}: link {name}.o into a program"}
    cc = shutil.which("cc")
    if cc is None:
        return {"file": None, "note": "skipped: no C compiler 'cc' on PATH"}
    so = f"{name}.so"
    command = [cc, "-shared", "-o", str(out / so), str(out / f"{name}.o"), "-lm"]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        (out / so).unlink(missing_ok=True)
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"file": None, "note": f"skipped: 'cc -shared' failed: {reason}"}
    return {"file": so, "command": "cc -shared -o " + so + f" {name}.o -lm"}


def aligned_blob(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """`data` as a read-only, 64-byte aligned, C-contiguous uint8 array (no copy if it is one)."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise PatdnnError(f"the weights blob must be uint8, got {data.dtype}")
        src = data.reshape(-1)
        if src.flags.c_contiguous and src.ctypes.data % _ALIGNMENT == 0 and not src.flags.writeable:
            return src
    else:
        src = np.frombuffer(data, dtype=np.uint8)
    raw = np.empty(src.size + _ALIGNMENT, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGNMENT
    blob = raw[start : start + src.size]
    blob[...] = src
    blob.flags.writeable = False
    return blob


# -- reading saved artefacts -------------------------------------------------------------


class ArtifactError(PatdnnError, ValueError):
    """A saved model directory that cannot be used: the message names the file and field."""


@dataclass
class SavedModel:
    """A saved model directory whose manifest checked out and whose files matched its
    checksums."""

    directory: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def name(self) -> str:
        return str(self.manifest["model"])

    @property
    def entry(self) -> str:
        return str(self.manifest["entry"])

    @property
    def target_name(self) -> str:
        return str(self.manifest["target"]["name"])

    @property
    def triple(self) -> str:
        return str(self.manifest["target"]["triple"])

    @property
    def signature(self) -> Signature:
        m = self.manifest
        return Signature.of(
            m["inputs"],
            m["outputs"],
            weights_size=m["weights_bytes"],
            workspace_size=m["workspace_bytes"],
            pool=bool(m.get("thread_pool", False)),
        )

    def file(self, suffix: str) -> bytes:
        """The bytes of `<name><suffix>` (e.g. ".o")."""
        filename = self.name + suffix
        if filename not in self.files:
            raise ArtifactError(f"{self.directory / MANIFEST}: field 'files' lists no {filename}")
        return self.files[filename]

    @property
    def layers(self) -> list[LayerSummary]:
        known = {f.name for f in dataclasses.fields(LayerSummary)}
        try:
            return [
                LayerSummary(**{k: v for k, v in d.items() if k in known})
                for d in self.manifest["layers"]
            ]
        except TypeError as e:
            raise ArtifactError(f"{self.directory / MANIFEST}: field 'layers': {e}") from None

    @property
    def library(self) -> list[list[tuple[int, int]]]:
        return [[(r, c) for r, c in p] for p in self.manifest["pattern_library"]]


def _is_int(value: object, minimum: int = 0) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_shapes(value: object) -> bool:
    return (
        isinstance(value, list)
        and len(value) >= 1
        and all(
            isinstance(s, list) and 1 <= len(s) <= 8 and all(_is_int(d, 1) for d in s)
            for s in value
        )
        and all(math.prod(s) <= 1 << 31 for s in value)
    )


def _is_library(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(p, list)
        and all(
            isinstance(t, list) and len(t) == 2 and all(_is_int(x) and x < 16 for x in t) for t in p
        )
        for p in value
    )


def _is_files(value: object) -> bool:
    return (
        isinstance(value, dict)
        and len(value) >= 1
        and all(
            isinstance(k, str)
            and _NAME.fullmatch(k) is not None
            and isinstance(v, dict)
            and isinstance(v.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", v["sha256"]) is not None
            and _is_int(v.get("bytes"))
            for k, v in value.items()
        )
    )


_MANIFEST_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "model": (
        lambda v: isinstance(v, str) and _NAME.fullmatch(v) is not None,
        "a file base name (letters, digits, '_', '.', '-')",
    ),
    "entry": (
        lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z_]\w*", v) is not None,
        "a C identifier",
    ),
    "inputs": (_is_shapes, "a list of shapes (lists of positive integers)"),
    "outputs": (_is_shapes, "a list of shapes (lists of positive integers)"),
    "weights_bytes": (lambda v: _is_int(v, 1), "a positive integer"),
    "workspace_bytes": (lambda v: v is None or _is_int(v), "an integer >= 0 or null"),
    "thread_pool": (lambda v: isinstance(v, bool), "true or false"),
    "files": (_is_files, "a map of file name to {sha256, bytes}"),
    "pattern_library": (_is_library, "a list of patterns of [row, col] taps"),
    "layers": (
        lambda v: isinstance(v, list) and all(isinstance(d, dict) for d in v),
        "a list of objects",
    ),
}
_TARGET_FIELDS = ("name", "triple", "cpu", "features")


def _check_manifest(manifest: Any, path: Path) -> dict[str, Any]:
    """`manifest` after checking every field the loader uses; else an `ArtifactError`
    naming the file and the field."""
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path} is corrupt: expected a JSON object")
    fmt = manifest.get("format")
    if not _is_int(fmt, 1):
        raise ArtifactError(f"{path}: field 'format' must be a positive integer, got {fmt!r}")
    if fmt > MANIFEST_FORMAT:
        raise ArtifactError(
            f"{path}: field 'format' is {fmt}, newer than this patdnn reads "
            f"({MANIFEST_FORMAT}); upgrade patdnn"
        )
    if fmt < MANIFEST_FORMAT:
        raise ArtifactError(
            f"{path}: field 'format' is {fmt}: saved by an older patdnn, whose code carries no "
            "record of its buffer sizes to check; compile and save the model again"
        )
    digest = manifest.get("manifest_sha256")
    if not isinstance(digest, str):
        raise ArtifactError(f"{path}: field 'manifest_sha256' is missing or not a string")
    if digest != manifest_digest(manifest):
        raise ArtifactError(
            f"{path}: field 'manifest_sha256' does not match the manifest's content: it was "
            "edited or damaged after saving; save the model again"
        )
    for name, (valid, expected) in _MANIFEST_FIELDS.items():
        if name not in manifest:
            raise ArtifactError(f"{path} is corrupt: field '{name}' is missing")
        if not valid(manifest[name]):
            raise ArtifactError(
                f"{path}: field '{name}' must be {expected}, got {_short(manifest[name])}"
            )
    target = manifest.get("target")
    if not isinstance(target, dict):
        raise ArtifactError(f"{path}: field 'target' must be an object, got {_short(target)}")
    for name in _TARGET_FIELDS:
        if not isinstance(target.get(name), str):
            raise ArtifactError(
                f"{path}: field 'target.{name}' must be a string, got {_short(target.get(name))}"
            )
    if target["name"] not in Target.KNOWN:
        raise ArtifactError(
            f"{path}: field 'target.name' is {target['name']!r}, not one of "
            f"{', '.join(Target.KNOWN)}"
        )
    return manifest


def _short(value: object) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The checked `manifest.json` of a saved model directory (files not read)."""
    path = Path(_path_argument(directory, "directory"))
    if not path.is_dir():
        raise ArtifactError(
            f"{path}: no such directory (expected the output of CompiledModel.save)"
        )
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{path}: no {MANIFEST}; is this a directory written by save()?")
    try:
        manifest = json.loads(manifest_path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ArtifactError(f"{manifest_path} is corrupt (not valid JSON: {reason})") from None
    except OSError as e:
        raise ArtifactError(f"{manifest_path}: cannot read it: {e.strerror}") from None
    return _check_manifest(manifest, manifest_path)


def read_saved(directory: str | Path, manifest: dict[str, Any] | None = None) -> SavedModel:
    """Reads a saved model directory, checking every listed file against its sha256 and
    the weights blob against the declared size; `manifest`, when given, is the directory's
    manifest already read by `read_manifest`."""
    path = Path(_path_argument(directory, "directory"))
    if manifest is None:
        manifest = read_manifest(path)
    files: dict[str, bytes] = {}
    for filename, info in manifest["files"].items():
        file_path = path / filename
        if not file_path.is_file():
            raise ArtifactError(f"{file_path} is missing (listed in {MANIFEST})")
        data = file_path.read_bytes()
        if len(data) != info["bytes"] or hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ArtifactError(
                f"{file_path} is corrupt: its sha256 does not match {MANIFEST} "
                f"({len(data)} bytes, expected {info['bytes']}); save the model again"
            )
        files[filename] = data
    saved = SavedModel(path, manifest, files)
    for suffix in (".ll", ".weights"):
        saved.file(suffix)
    if not saved.target_name == "host":
        saved.file(".o")
    weights = saved.file(".weights")
    if len(weights) != manifest["weights_bytes"]:
        raise ArtifactError(
            f"{path / MANIFEST}: field 'weights_bytes' is {manifest['weights_bytes']} but "
            f"{saved.name}.weights has {len(weights)} bytes"
        )
    return saved


def open_saved(saved: str | Path | SavedModel, num_threads: int = 1) -> CompiledModel:
    """A saved model (a directory, or one `read_saved` read) of any target as a
    `CompiledModel` (aarch64 ones run under qemu), after checking the manifest, every
    file, and the numbers the code was compiled with against the manifest's."""
    if not isinstance(saved, SavedModel):
        saved = read_saved(saved)
    manifest_path = str(saved.directory / MANIFEST)
    expected = AbiRecord.of(saved.entry, saved.signature, saved.manifest["format"])
    llvm_ir_bytes = saved.file(".ll")
    ll_name = str(saved.directory / f"{saved.name}.ll")
    find_abi_record(llvm_ir_bytes, ll_name).check(expected, ll_name, manifest_path)
    t = saved.manifest["target"]
    host = Target.get("host")
    if saved.target_name == "host":
        if saved.triple.split("-", 1)[0] != host.arch:
            raise ArtifactError(
                f"{manifest_path}: field 'target.triple' is {saved.triple}, this machine is "
                f"{host.arch}: compile the model again here"
            )
        target = host
    else:
        try:
            target = Target.get(saved.target_name)
        except TargetError as e:
            raise ArtifactError(f"{manifest_path}: field 'target.name': {e}") from None
        if saved.triple != target.triple:
            raise ArtifactError(
                f"{manifest_path}: field 'target.triple' is {saved.triple}, patdnn's "
                f"{target.name} target is {target.triple}"
            )
    obj = saved.files.get(f"{saved.name}.o")
    if obj is not None:
        obj_name = str(saved.directory / f"{saved.name}.o")
        find_abi_record(obj, obj_name).check(expected, obj_name, manifest_path)
    try:
        llvm_ir = llvm_ir_bytes.decode()
    except UnicodeDecodeError:
        raise ArtifactError(f"{ll_name} is not LLVM IR text") from None
    model = CompiledModel(
        name=saved.name,
        target=target,
        entry=saved.entry,
        signature=saved.signature,
        llvm_ir=llvm_ir,
        weights=aligned_blob(saved.file(".weights")),
        stages={"llvm": llvm_ir},
        layers=saved.layers,
        library=saved.library,
        _source=ll_name if target.runs_on_host else str(saved.directory / f"{saved.name}.o"),
        _declared=manifest_path,
        _num_threads=num_threads,
    )
    same_machine = (t["triple"], t["cpu"], t["features"]) == (
        target.triple,
        target.cpu,
        target.features,
    )
    if obj is not None and (same_machine or not target.runs_on_host):
        model._object = obj
    return model


def load(directory: str | Path, *, num_threads: int = 1) -> CompiledModel:
    """Reads a model saved for this machine (target "host" or "x86-avx2") back into a
    callable `CompiledModel` that runs on `num_threads` threads (`CompiledModel.num_threads`
    changes it).

    The manifest (its fields and its own sha256), every file's checksum, and the shapes
    and sizes the code was compiled with (its ABI record) are checked first: any mismatch
    is an `ArtifactError` naming the file and the field. The LLVM IR is JIT-compiled on
    first call. Models saved for another target (aarch64) raise `ArtifactError`."""
    manifest = read_manifest(directory)
    t = manifest["target"]
    host = Target.get("host")
    if t["name"] not in Target.HOST_VARIANTS or t["triple"].split("-", 1)[0] != host.arch:
        raise ArtifactError(
            f"{directory} was saved for {t['name']} ({t['triple']}), this "
            f"machine is {host.arch}; run it with the C harness or under qemu: "
            f"`patdnn run {directory} --input x.npy`, or build examples/run_model.c "
            f"(see examples/README.md)"
        )
    return open_saved(read_saved(directory, manifest), num_threads)


def _path_argument(value: object, name: str) -> str | os.PathLike[str]:
    if not isinstance(value, str | os.PathLike) or (isinstance(value, str) and not value):
        raise ArgumentError(
            f"{name} must be a path (str or os.PathLike), got {type(value).__name__}"
        )
    return value


def fit_input(arg: Arg, value: Any, what: str | None = None) -> np.ndarray:
    """`value` (array or tensor) as a float32 array of exactly `arg.shape`; an array
    without the leading batch dimension of 1 gets it. Anything else (another layout, a
    batch of several) is a `SignatureError` naming both shapes."""
    label = what or f"input {arg.name!r}"
    array = _as_array(value, label)
    if array.shape != arg.shape:
        if (1, *array.shape) == arg.shape:
            return np.ascontiguousarray(array.reshape(arg.shape))
        raise SignatureError(
            f"{label} has shape {list(array.shape)}, the model takes {list(arg.shape)} "
            "(or that shape without its leading batch of 1); arrays are never reshaped or "
            "transposed to fit: give the input in the model's layout"
        )
    return array


def _as_array(x: Any, label: str = "the input") -> np.ndarray:
    import torch

    if isinstance(x, torch.Tensor):
        if not (x.dtype.is_floating_point or not x.dtype.is_complex and x.dtype != torch.bool):
            raise SignatureError(f"{label} must hold real numbers, got a {x.dtype} tensor")
        return x.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
    if not isinstance(x, np.ndarray | list | tuple | float | int) or isinstance(x, bool):
        raise SignatureError(
            f"{label} must be a numpy array or a torch tensor, got {type(x).__name__}"
        )
    try:
        array = np.asarray(x)
    except ValueError as e:
        raise SignatureError(f"{label} is not a rectangular array: {e}") from None
    if array.dtype.kind not in "fiu":
        raise SignatureError(f"{label} must hold real numbers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def compile(  # noqa: A001 - the API's name
    model: Any,
    example_input: Any,
    *,
    target: str = "host",
    library: Sequence[Sequence[tuple[int, int]]] | None = None,
    num_patterns: int | None = None,
    strict: bool = False,
    vector_width: int | None = None,
    keep_stages: bool = True,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    tune: bool = False,
    num_threads: int = 1,
    sparse_threshold: float = 0.5,
) -> CompiledModel:
    """Compiles a PyTorch model (or `torch.export` program) for `target`: "host" (this
    machine, every feature it has), "x86-avx2" (this x86-64 machine with AVX-512 off: 8
    lanes, 16 ymm registers; runs here too) or "aarch64" (NEON, Cortex-A76; object code
    for a C program or qemu).

    A `torch.export` program keeps its own input shape: `example_input` must match it
    (`InputShapeError`, a `PatdnnError`, names both shapes) or be None; only a dynamic
    dimension takes its size from `example_input`.

    Pattern-pruned 3x3 layers (every non-empty kernel fits a pattern of `library`,
    or of the library read from the weights: every pattern they use, up to 56) go
    through the pattern pipeline; the rest through dense vector code. `num_patterns`
    caps the library read from the weights (its most frequent patterns are kept; a
    layer the cap leaves dense says so in a remark).

    `tune=True` (targets that run here: "host", "x86-avx2") times candidate register tiles and prefetch
    distances of every convolution on this machine and keeps the fastest
    (`patdnn.lowering.autotune`); it adds seconds per distinct layer shape.

    The compiled entry point runs every layer as tasks on a thread pool; `num_threads`
    is the default thread count of the returned model (`.num_threads` changes it), and
    the count `tune=True` times at. Any count gives bitwise-identical outputs.

    A 1x1 convolution (unpadded, any stride) or linear layer with at least
    `sparse_threshold` (0..1) zero weights compiles to a block-sparse kernel when the
    compiler's cost estimate says it is faster than dense (`patdnn.lowering.sparsify`);
    1.0 or more keeps every layer dense but fully zero ones."""
    from patdnn.frontend.importer import import_model
    from patdnn.lowering.pipeline import PipelineOptions, run_pipeline

    tgt = _check_compile_arguments(
        model, example_input, target, library, num_patterns, strict, vector_width,
        keep_stages, name, progress, tune,
    )  # fmt: skip
    from patdnn.runtime.threads import check_threads

    num_threads = check_threads(num_threads)
    if (
        isinstance(sparse_threshold, bool)
        or not isinstance(sparse_threshold, int | float)
        or not 0.0 <= sparse_threshold <= 1.0
    ):
        raise ArgumentError(f"sparse_threshold must be a number in 0..1, got {sparse_threshold!r}")
    model_name = name or type(model).__name__.lower()
    if not _NAME.fullmatch(model_name):
        raise ArgumentError(
            f"name {model_name!r} cannot name files: use letters, digits, '_', '.', '-'"
        )
    from patdnn.dialect.library import format_library

    imported = import_model(model, example_input)
    _check_has_layers(imported.module, model_name)
    library_text = format_library(library) if library is not None else ""
    options = PipelineOptions(
        target=tgt,
        library=library_text,
        num_patterns=num_patterns,  # None: no cap
        strict=strict,
        vector_width=vector_width,
        keep_stages=keep_stages,
        tune=tune,
        num_threads=num_threads,
        sparse_threshold=float(sparse_threshold),
    )
    result = run_pipeline(imported.module, options, progress=progress)
    signature = Signature.of(
        imported.input_shapes,
        imported.output_shapes,
        weights_size=max(len(result.weights), 1),
        workspace_size=result.workspace,
        pool=True,
    )
    weights = aligned_blob(result.weights or b"\0")
    # The code carries the numbers it was compiled with (`patdnn.runtime.abi`).
    llvm_ir = append_abi_global(result.llvm_ir, AbiRecord.of("forward", signature, MANIFEST_FORMAT))
    stages = dict(result.stages)
    stages["llvm"] = llvm_ir
    return CompiledModel(
        name=model_name,
        target=tgt,
        entry="forward",
        signature=signature,
        llvm_ir=llvm_ir,
        weights=weights,
        stages=stages,
        layers=result.layers,
        library=result.library,
        timings=result.timings,
        tuning=result.tuning,
        _num_threads=num_threads,
    )


def _check_compile_arguments(
    model: Any,
    example_input: Any,
    target: Any,
    library: Any,
    num_patterns: Any,
    strict: Any,
    vector_width: Any,
    keep_stages: Any,
    name: Any,
    progress: Any,
    tune: Any,
) -> Target:
    """The target, after checking the type and range of every argument of `compile`."""
    import torch

    if not isinstance(model, torch.nn.Module | torch.export.ExportedProgram):
        raise ArgumentError(
            f"model must be a torch.nn.Module or a torch.export program, got {type(model).__name__}"
        )
    examples = example_input if isinstance(example_input, list | tuple) else [example_input]
    for x in examples:
        if x is None and isinstance(model, torch.export.ExportedProgram):
            continue
        if not isinstance(x, torch.Tensor | np.ndarray):
            raise ArgumentError(
                f"example_input must be a torch tensor or a numpy array, got {type(x).__name__}"
            )
        kind = "f" if isinstance(x, torch.Tensor) and x.dtype.is_floating_point else None
        if kind is None and not (isinstance(x, np.ndarray) and x.dtype.kind == "f"):
            raise ArgumentError(
                f"example_input must hold floating-point numbers, got dtype {x.dtype}"
            )
    if not isinstance(target, str):
        raise ArgumentError(f"target must be a str ('host' or 'aarch64'), got {target!r}")
    for flag, value in (("strict", strict), ("keep_stages", keep_stages), ("tune", tune)):
        if not isinstance(value, bool):
            raise ArgumentError(f"{flag} must be True or False, got {value!r}")
    if num_patterns is not None and (
        not isinstance(num_patterns, int) or isinstance(num_patterns, bool)
        or not 1 <= num_patterns <= 56
    ):  # fmt: skip
        raise ArgumentError(
            f"num_patterns must be None or an integer in 1..56, got {num_patterns!r}"
        )
    if vector_width is not None and (
        not isinstance(vector_width, int) or isinstance(vector_width, bool) or vector_width < 1
    ):
        raise ArgumentError(
            f"vector_width must be None (the target's width) or a positive integer, got "
            f"{vector_width!r}"
        )
    if name is not None and not isinstance(name, str):
        raise ArgumentError(f"name must be None or a str, got {type(name).__name__}")
    if progress is not None and not callable(progress):
        raise ArgumentError(f"progress must be None or callable, got {type(progress).__name__}")
    if library is not None:
        _check_library(library)
    tgt = Target.get(target)
    if tune and not tgt.runs_on_host:
        raise ArgumentError(
            f"tune=True times the code on this machine; target {tgt.name!r} ({tgt.triple}) "
            "does not run here: tune for the host, or compile without tuning"
        )
    return tgt


def _check_library(library: Any) -> None:
    """A pattern library argument: a non-empty list of distinct patterns, each a list of
    distinct (row, col) taps inside the 3x3 kernel."""
    if isinstance(library, str | bytes) or not isinstance(library, Sequence) or not library:
        raise ArgumentError(
            "library must be a non-empty list of patterns, each a list of (row, col) taps, "
            f"got {type(library).__name__}"
            + (
                " (text is read by the patdnn-opt option library=...)"
                if isinstance(library, str)
                else ""
            )
        )
    seen: set[frozenset[tuple[int, int]]] = set()
    for i, pattern in enumerate(library):
        if isinstance(pattern, str | bytes) or not isinstance(pattern, Sequence) or not pattern:
            raise ArgumentError(f"library[{i}] must be a list of (row, col) taps, got {pattern!r}")
        taps: list[tuple[int, int]] = []
        for tap in pattern:
            if (
                not isinstance(tap, Sequence) or isinstance(tap, str) or len(tap) != 2
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in tap)
                or not all(0 <= x <= 2 for x in tap)
            ):  # fmt: skip
                raise ArgumentError(
                    f"library[{i}]: tap {tap!r} is not a (row, col) pair inside the 3x3 kernel"
                )
            taps.append((tap[0], tap[1]))
        if len(set(taps)) != len(taps):
            raise ArgumentError(f"library[{i}] holds the same tap twice: {taps}")
        if frozenset(taps) in seen:
            raise ArgumentError(f"library[{i}] repeats an earlier pattern: {taps}")
        seen.add(frozenset(taps))


def _check_has_layers(module: Any, name: str) -> None:
    """A model whose forward computes nothing (it returns its input) is refused: there is
    no layer to compile."""
    from xdsl.dialects import func

    for op in module.walk():
        if isinstance(op, func.FuncOp):
            body = [o for o in op.body.walk() if not isinstance(o, func.ReturnOp)]
            if not body:
                raise ArgumentError(
                    f"model {name!r} has no layers (its forward returns its input): there is "
                    "nothing to compile"
                )
