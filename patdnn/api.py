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
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from patdnn.errors import PatdnnError
from patdnn.lowering.summary import LayerSummary
from patdnn.runtime.target import Target
from patdnn.runtime.signature import Signature

if TYPE_CHECKING:
    from patdnn.lowering.autotune import LayerTuning

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 3
"""3: the entry point takes a thread pool (`thread_pool`); 2: a workspace
(`workspace_bytes`); 1: neither."""
_ALIGNMENT = 64


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
        if self._runner is not None and hasattr(self._runner, "num_threads"):
            self._runner.num_threads = self._num_threads

    # -- running -----------------------------------------------------------------------

    def _get_runner(self) -> Callable[..., Any]:
        if self._runner is None:
            if self.target.runs_on_host:
                from patdnn.runtime.host import HostModule

                self._runner = HostModule(
                    self.llvm_ir,
                    self.entry,
                    self.signature,
                    target=self.target,
                    num_threads=self._num_threads,
                )
            else:
                from patdnn.runtime.aarch64 import Aarch64Module

                self._runner = Aarch64Module(
                    self.object_code, self.entry, self.signature, num_threads=self._num_threads
                )
        return self._runner

    def __call__(self, *inputs: Any) -> np.ndarray:
        arrays = [_as_array(x) for x in inputs]
        result = self._get_runner()(*arrays, weights=self.weights)
        return result  # type: ignore[no-any-return]

    # -- artefacts ---------------------------------------------------------------------

    @property
    def object_code(self) -> bytes:
        if self._object is None:
            from patdnn.runtime.compile import compile_object

            self._object = compile_object(self.llvm_ir, self.target)
        return self._object

    def mlir(self, stage: str) -> str:
        """The IR after `stage` (see `patdnn.lowering.pipeline.STAGES`)."""
        if stage not in self.stages:
            known = ", ".join(self.stages) or "none were kept (compile with keep_stages=True)"
            raise PatdnnError(f"unknown stage '{stage}'; stages: {known}")
        return self.stages[stage]

    def save(self, directory: str | Path) -> Path:
        """Writes `<name>.ll`, `<name>.o`, `<name>.h`, `<name>.weights`, the default thread
        pool (`patdnn_pool.h`, `patdnn_pool.c`), for the host target `<name>.so` (linked
        with the system `cc`), and `manifest.json` with checksums."""
        from patdnn.runtime.header import generate_header

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            f"{self.name}.ll": self.llvm_ir.encode(),
            f"{self.name}.o": self.object_code,
            f"{self.name}.h": generate_header(self.entry, self.signature).encode(),
            f"{self.name}.weights": self.weights.tobytes(),
        }
        if self.signature.pool:
            from patdnn.runtime.threads import POOL_HEADER, POOL_SOURCE

            # The default thread pool, for a C program that has none of its own.
            files.update({path.name: path.read_bytes() for path in (POOL_HEADER, POOL_SOURCE)})
        for filename, data in files.items():
            (out / filename).write_bytes(data)
        shared = _link_shared(out, self.name, self.target)
        if shared.get("file"):
            files[shared["file"]] = (out / shared["file"]).read_bytes()
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
                self.signature.workspace.nbytes if self.signature.workspace is not None else None
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
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_value) + "\n")
        return out


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


@dataclass
class SavedModel:
    """A saved model directory whose files matched the manifest's checksums."""

    directory: Path
    manifest: dict[str, Any]
    files: dict[str, bytes]

    @property
    def name(self) -> str:
        return str(self.manifest["model"])

    @property
    def entry(self) -> str:
        return str(self.manifest.get("entry", "forward"))

    @property
    def target_name(self) -> str:
        return str(self.manifest["target"]["name"])

    @property
    def triple(self) -> str:
        return str(self.manifest["target"]["triple"])

    @property
    def signature(self) -> Signature:
        m = self.manifest
        # Format 1 entry points took no workspace.
        workspace = m.get("workspace_bytes")
        return Signature.of(
            m["inputs"],
            m["outputs"],
            weights_size=int(m["weights_bytes"]),
            workspace_size=None if workspace is None else int(workspace),
            pool=bool(m.get("thread_pool", False)),
        )

    def file(self, suffix: str) -> bytes:
        """The bytes of `<name><suffix>` (e.g. ".o")."""
        filename = self.name + suffix
        if filename not in self.files:
            raise PatdnnError(f"{self.directory}: the manifest lists no {filename}")
        return self.files[filename]

    @property
    def layers(self) -> list[LayerSummary]:
        known = {f.name for f in dataclasses.fields(LayerSummary)}
        try:
            return [
                LayerSummary(**{k: v for k, v in d.items() if k in known})
                for d in self.manifest.get("layers", [])
            ]
        except TypeError as e:
            raise PatdnnError(f"{self.directory / MANIFEST}: bad layer entry: {e}") from None

    @property
    def library(self) -> list[list[tuple[int, int]]]:
        return [[(int(r), int(c)) for r, c in p] for p in self.manifest.get("pattern_library", [])]


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The parsed `manifest.json` of a saved model directory (no checksum checks)."""
    path = Path(directory)
    if not path.is_dir():
        raise PatdnnError(f"{path}: no such directory (expected the output of CompiledModel.save)")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise PatdnnError(f"{path}: no {MANIFEST}; is this a directory written by save()?")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PatdnnError(f"{manifest_path} is corrupt (not valid JSON: {e})") from None
    required = ("model", "target", "inputs", "outputs", "weights_bytes", "files")
    missing = [k for k in required if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise PatdnnError(f"{manifest_path} is corrupt (missing: {', '.join(missing)})")
    if int(manifest.get("format", 1)) > MANIFEST_FORMAT:
        raise PatdnnError(
            f"{manifest_path} has format {manifest['format']}, newer than this patdnn reads "
            f"({MANIFEST_FORMAT}); upgrade patdnn"
        )
    return manifest


def read_saved(directory: str | Path) -> SavedModel:
    """Reads a saved model directory, checking every listed file against its sha256."""
    path = Path(directory)
    manifest = read_manifest(path)
    files: dict[str, bytes] = {}
    for filename, info in manifest["files"].items():
        file_path = path / filename
        if not file_path.is_file():
            raise PatdnnError(f"{file_path} is missing (listed in {MANIFEST})")
        data = file_path.read_bytes()
        if hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise PatdnnError(
                f"{file_path} is corrupt: its sha256 does not match {MANIFEST} "
                f"({len(data)} bytes, expected {info.get('bytes')}); save the model again"
            )
        files[filename] = data
    return SavedModel(path, manifest, files)


def load(directory: str | Path, *, num_threads: int = 1) -> CompiledModel:
    """Reads a model saved for the host target back into a callable `CompiledModel`
    that runs on `num_threads` threads (`CompiledModel.num_threads` changes it).

    The LLVM IR is JIT-compiled on first call; the files are checked against the
    manifest's checksums. Models saved for another target (aarch64) raise `PatdnnError`."""
    saved = read_saved(directory)
    host = Target.get("host")
    if saved.target_name != "host" or saved.triple.split("-", 1)[0] != host.arch:
        raise PatdnnError(
            f"{saved.directory} was saved for {saved.target_name} ({saved.triple}), this "
            f"machine is {host.arch}; run it with the C harness or under qemu: "
            f"`patdnn run {saved.directory} --input x.npy`, or build examples/run_model.c "
            f"(see examples/README.md)"
        )
    llvm_ir = saved.file(".ll").decode()
    weights = saved.file(".weights")
    if len(weights) != int(saved.manifest["weights_bytes"]):
        raise PatdnnError(
            f"{saved.directory}: {saved.name}.weights has {len(weights)} bytes, the manifest "
            f"says {saved.manifest['weights_bytes']}"
        )
    model = CompiledModel(
        name=saved.name,
        target=host,
        entry=saved.entry,
        signature=saved.signature,
        llvm_ir=llvm_ir,
        weights=aligned_blob(weights),
        stages={"llvm": llvm_ir},
        layers=saved.layers,
        library=saved.library,
        _num_threads=num_threads,
    )
    t = saved.manifest["target"]
    if (t.get("triple"), t.get("cpu"), t.get("features")) == (host.triple, host.cpu, host.features):
        model._object = saved.files.get(f"{saved.name}.o")
    return model


def _as_array(x: Any) -> np.ndarray:
    try:
        import torch

        if isinstance(x, torch.Tensor):
            return x.detach().cpu().contiguous().numpy().astype(np.float32, copy=False)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.ascontiguousarray(x, dtype=np.float32)


def compile(  # noqa: A001 - the API's name
    model: Any,
    example_input: Any,
    *,
    target: str = "host",
    library: Sequence[Sequence[tuple[int, int]]] | None = None,
    num_patterns: int = 8,
    strict: bool = False,
    vector_width: int | None = None,
    keep_stages: bool = True,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    tune: bool = False,
    num_threads: int = 1,
) -> CompiledModel:
    """Compiles a PyTorch model (or `torch.export` program) for `target`.

    A `torch.export` program keeps its own input shape: `example_input` must match it
    (`InputShapeError`, a `PatdnnError`, names both shapes) or be None; only a dynamic
    dimension takes its size from `example_input`.

    Pattern-pruned 3x3 layers (every non-empty kernel fits a pattern of `library`,
    or of the library extracted from the weights) go through the pattern pipeline;
    the rest through dense vector code.

    `tune=True` (host target only) times candidate register tiles and prefetch
    distances of every convolution on this machine and keeps the fastest
    (`patdnn.lowering.autotune`); it adds seconds per distinct layer shape.

    The compiled entry point runs every layer as tasks on a thread pool; `num_threads`
    is the default thread count of the returned model (`.num_threads` changes it), and
    the count `tune=True` times at. Any count gives bitwise-identical outputs."""
    from patdnn.frontend.importer import import_model
    from patdnn.lowering.pipeline import PipelineOptions, run_pipeline
    from patdnn.runtime.signature import Signature
    from patdnn.runtime.threads import check_threads

    num_threads = check_threads(num_threads)
    tgt = Target.get(target)
    if tune and not tgt.runs_on_host:
        raise PatdnnError(
            f"tune=True times the code on this machine; target {tgt.name!r} ({tgt.triple}) "
            "does not run here: tune for the host, or compile without tuning"
        )
    model_name = name or type(model).__name__.lower()
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", model_name):
        raise PatdnnError(
            f"model name {model_name!r} cannot name files: use letters, digits, '_', '.', '-'"
        )
    from patdnn.dialect.patdnn import format_library

    imported = import_model(model, example_input)
    library_text = format_library(library) if library is not None else ""
    options = PipelineOptions(
        target=tgt,
        library=library_text,
        num_patterns=num_patterns,
        strict=strict,
        vector_width=vector_width,
        keep_stages=keep_stages,
        tune=tune,
        num_threads=num_threads,
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
    return CompiledModel(
        name=model_name,
        target=tgt,
        entry="forward",
        signature=signature,
        llvm_ir=result.llvm_ir,
        weights=weights,
        stages=result.stages,
        layers=result.layers,
        library=result.library,
        timings=result.timings,
        tuning=result.tuning,
        _num_threads=num_threads,
    )
