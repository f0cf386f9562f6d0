"""Run an aarch64 object for real: link it with a C harness, run it under qemu-aarch64."""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from patdnn.runtime.errors import ExecutionError, ToolchainError
from patdnn.runtime.header import generate_header
from patdnn.runtime.signature import Signature
from patdnn.runtime.threads import POOL_HEADER, POOL_SOURCE, check_threads

__all__ = [
    "HARNESS_SOURCE",
    "Aarch64Module",
    "find_cross_compiler",
    "find_qemu",
    "link_executable",
]

#: The generic C harness linked with every model object.
HARNESS_SOURCE = Path(__file__).with_name("harness.c")

#: Tool name -> Debian package(s) providing it. `PATDNN_AARCH64_CC` / `PATDNN_QEMU_AARCH64`
#: in the environment override the tool names.
CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
_PACKAGES = {
    CROSS_CC: "gcc-aarch64-linux-gnu and libc6-dev-arm64-cross",
    QEMU: "qemu-user",
}
_LINK_FLAGS = ("-O2", "-static", "-std=c11", "-pthread")
_MAX_QUOTED = 8000


def _which(name: str) -> str | None:
    return shutil.which(name)


def _find(default: str, env_var: str) -> str:
    name = os.environ.get(env_var, default)
    path = _which(name)
    if path is None:
        raise ToolchainError(
            f"cannot find {name!r} on PATH, needed to run aarch64 code; install the Debian "
            f"package(s) {_PACKAGES[default]} (apt-get install "
            f"{_PACKAGES[default].replace(' and ', ' ')})"
        )
    return path


def find_cross_compiler() -> str:
    """The aarch64 Linux cross compiler (`aarch64-linux-gnu-gcc`)."""
    return _find(CROSS_CC, "PATDNN_AARCH64_CC")


def find_qemu() -> str:
    """The aarch64 user-mode emulator (`qemu-aarch64`)."""
    return _find(QEMU, "PATDNN_QEMU_AARCH64")


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) > _MAX_QUOTED:
        text = text[:_MAX_QUOTED] + "\n[... truncated]"
    return "\n".join("  " + line for line in text.splitlines()) or "  (no output)"


def link_executable(obj: bytes, entry: str, signature: Signature, out_dir: str | Path) -> Path:
    """Link `obj` with the harness into a static aarch64 executable `out_dir/model`.

    `out_dir` also receives `model.o`, the generated `patdnn_model.h`, `harness.c` and
    the default thread pool (`patdnn_pool.c`, `patdnn_pool.h`), linked in as well.
    """
    cc = find_cross_compiler()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.o").write_bytes(obj)
    (out_dir / "patdnn_model.h").write_text(generate_header(entry, signature))
    shutil.copyfile(HARNESS_SOURCE, out_dir / "harness.c")
    for source in (POOL_SOURCE, POOL_HEADER):
        shutil.copyfile(source, out_dir / source.name)
    exe = out_dir / "model"
    command = [cc, *_LINK_FLAGS, "-I", str(out_dir), str(out_dir / "harness.c"),
               str(out_dir / POOL_SOURCE.name), str(out_dir / "model.o"), "-o", str(exe),
               "-lm"]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        hint = ""
        if "cannot find -lc" in proc.stderr or "crt1.o" in proc.stderr:
            hint = "\nthe static aarch64 C library is missing: install libc6-dev-arm64-cross"
        raise ToolchainError(
            f"linking the aarch64 executable failed:\n  {' '.join(command)}\n"
            f"{_quote(proc.stderr)}{hint}"
        )
    return exe


_BUILD_ROOT: Path | None = None
_LINKED: dict[str, Path] = {}


def _build_root() -> Path:
    global _BUILD_ROOT
    if _BUILD_ROOT is None:
        _BUILD_ROOT = Path(tempfile.mkdtemp(prefix="patdnn-aarch64-"))
        atexit.register(shutil.rmtree, _BUILD_ROOT, ignore_errors=True)
    return _BUILD_ROOT


class Aarch64Module:
    """An aarch64 object runnable with numpy arrays, through a static executable under qemu.

    The executable is linked on first use and cached per (object, signature), so repeated
    calls only run qemu. A multi-threaded entry point runs on the harness's default pool
    of `num_threads` threads (`PATDNN_THREADS`; 1 passes NULL).
    """

    def __init__(
        self,
        obj: bytes,
        entry: str,
        signature: Signature,
        *,
        timeout: float = 600.0,
        num_threads: int = 1,
    ) -> None:
        self.num_threads = check_threads(num_threads)
        self.obj = obj
        self.entry = entry
        self.signature = signature
        self.timeout = timeout
        digest = hashlib.sha256()
        header = generate_header(entry, signature).encode()
        sources = [HARNESS_SOURCE.read_bytes(), POOL_SOURCE.read_bytes(), POOL_HEADER.read_bytes()]
        for part in (obj, header, *sources):
            digest.update(hashlib.sha256(part).digest())
        self._key = digest.hexdigest()[:24]

    @property
    def executable(self) -> Path:
        """The linked static executable (linked on first access)."""
        exe = _LINKED.get(self._key)
        if exe is None or not exe.exists():
            exe = link_executable(self.obj, self.entry, self.signature, _build_root() / self._key)
            _LINKED[self._key] = exe
        return exe

    def __call__(
        self,
        *inputs: np.ndarray,
        weights: np.ndarray | bytes | None = None,
        repeat: int = 1,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """Run the entry point on `inputs` under qemu-aarch64; return the output(s)."""
        signature = self.signature
        arrays = signature.check_inputs(inputs)
        blob = signature.check_weights(weights)
        qemu = find_qemu()
        exe = self.executable
        with tempfile.TemporaryDirectory(prefix="run-", dir=exe.parent) as tmp:
            run_dir = Path(tmp)
            argv: list[str] = []
            for arg, array in zip(signature.inputs, arrays, strict=True):
                path = run_dir / f"{arg.name}.bin"
                path.write_bytes(array.tobytes())
                argv.append(str(path))
            if blob is not None:
                path = run_dir / "weights.bin"
                path.write_bytes(blob.tobytes())
                argv.append(str(path))
            out_paths = [run_dir / f"{arg.name}.out.bin" for arg in signature.outputs]
            argv += [str(p) for p in out_paths]
            env = dict(os.environ)
            if repeat > 1:
                env["PATDNN_REPEAT"] = str(repeat)
            env["PATDNN_THREADS"] = str(check_threads(self.num_threads))
            command = [qemu, str(exe), *argv]
            try:
                proc = subprocess.run(
                    command, capture_output=True, text=True, env=env, timeout=self.timeout
                )
            except subprocess.TimeoutExpired as exc:
                raise ExecutionError(
                    f"{self.entry} under qemu-aarch64 did not finish within {self.timeout:.0f} s"
                ) from exc
            self.last_stderr = proc.stderr
            if proc.returncode != 0:
                raise ExecutionError(
                    f"{self.entry} failed under qemu-aarch64 (exit code {proc.returncode}):\n"
                    f"  {' '.join(command)}\n{_quote(proc.stderr + proc.stdout)}"
                )
            outputs = []
            for arg, path in zip(signature.outputs, out_paths, strict=True):
                data = path.read_bytes()
                if len(data) != arg.nbytes:
                    raise ExecutionError(
                        f"output {arg.name!r}: expected {arg.nbytes} bytes, the run wrote "
                        f"{len(data)}"
                    )
                outputs.append(np.frombuffer(data, dtype=arg.dtype).reshape(arg.shape).copy())
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
