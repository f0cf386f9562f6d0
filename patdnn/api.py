"""The Python API: `patdnn.compile(model, example_input, target=...)` and `patdnn.load(dir)`.

```python
import patdnn
compiled = patdnn.compile(pruned_model, torch.randn(1, 3, 32, 32), target="aarch64")
y = compiled(x)                      # numpy; under qemu-aarch64 when not on aarch64
print(compiled.mlir("fkw-layout"))   # the IR after a stage
compiled.save("out/")                # LLVM IR, object, C header, weights, manifest
```
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from patdnn.errors import PatdnnError
from patdnn.lowering.summary import LayerSummary
from patdnn.lowering.target import Target
from patdnn.runtime.signature import Signature

MANIFEST = "manifest.json"


@dataclass
class CompiledModel:
    """A model compiled for one target: call it like a function on numpy arrays."""

    name: str
    target: Target
    entry: str
    signature: Signature
    llvm_ir: str
    weights: bytes
    stages: dict[str, str] = field(default_factory=dict[str, str])
    layers: list[LayerSummary] = field(default_factory=list[LayerSummary])
    library: list[list[tuple[int, int]]] = field(default_factory=list[list[tuple[int, int]]])
    timings: dict[str, float] = field(default_factory=dict[str, float])
    _runner: Callable[..., Any] | None = None
    _object: bytes | None = None

    # -- running -----------------------------------------------------------------------

    def _get_runner(self) -> Callable[..., Any]:
        if self._runner is None:
            if self.target.runs_on_host:
                from patdnn.runtime.host import HostModule

                self._runner = HostModule(self.llvm_ir, self.entry, self.signature, target=self.target)
            else:
                from patdnn.runtime.aarch64 import Aarch64Module

                self._runner = Aarch64Module(self.object_code, self.entry, self.signature)
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
        """Writes the object, LLVM IR, C header, weights blob and `manifest.json`."""
        from patdnn.runtime.header import generate_header

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            f"{self.name}.ll": self.llvm_ir.encode(),
            f"{self.name}.o": self.object_code,
            f"{self.name}.h": generate_header(self.entry, self.signature).encode(),
            f"{self.name}.weights": self.weights,
        }
        for filename, data in files.items():
            (out / filename).write_bytes(data)
        manifest = {
            "model": self.name,
            "entry": self.entry,
            "target": {
                "name": self.target.name,
                "triple": self.target.triple,
                "cpu": self.target.cpu,
                "features": self.target.features,
            },
            "inputs": [list(a.shape) for a in self.signature.inputs],
            "outputs": [list(a.shape) for a in self.signature.outputs],
            "weights_bytes": len(self.weights),
            "pattern_library": self.library,
            "layers": [layer.as_dict() for layer in self.layers],
            "files": {
                filename: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
                for filename, data in files.items()
            },
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        return out


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
) -> CompiledModel:
    """Compiles a PyTorch model (or `torch.export` program) for `target`.

    Pattern-pruned 3x3 layers (every non-empty kernel fits a pattern of `library`,
    or of the library extracted from the weights) go through the pattern pipeline;
    the rest through dense vector code."""
    from patdnn.frontend.importer import import_model
    from patdnn.lowering.pipeline import PipelineOptions, run_pipeline
    from patdnn.runtime.signature import Signature

    tgt = Target.get(target)
    imported = import_model(model, example_input)
    library_text = ""
    if library is not None:
        library_text = "[" + ", ".join(
            "[" + ",".join(f"({r},{c})" for r, c in p) + "]" for p in library
        ) + "]"
    options = PipelineOptions(
        target=tgt,
        library=library_text,
        num_patterns=num_patterns,
        strict=strict,
        vector_width=vector_width,
        keep_stages=keep_stages,
    )
    result = run_pipeline(imported.module, options, progress=progress)
    signature = Signature.of(
        imported.input_shapes, imported.output_shapes, weights_size=max(len(result.weights), 1)
    )
    weights = result.weights or b"\0"
    return CompiledModel(
        name=name or type(model).__name__.lower(),
        target=tgt,
        entry="forward",
        signature=signature,
        llvm_ir=result.llvm_ir,
        weights=weights,
        stages=result.stages,
        layers=result.layers,
        library=result.library,
        timings=result.timings,
    )
