"""Running lowered code: host JIT, aarch64 under qemu, the C header and harness."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from runtime_test_sources import (
    AXPY_MLIR,
    MATH_MLIR,
    TWO_IN_TWO_OUT_MLIR,
    needs_aarch64_tools,
)

from patdnn.lowering.upstream import (
    aarch64_module_from_mlir,
    host_module_from_mlir,
    mlir_to_llvm_ir,
    run_tool,
)
from patdnn.runtime import aarch64
from patdnn.runtime.aarch64 import Aarch64Module
from patdnn.runtime.compile import compile_object
from patdnn.runtime.errors import (
    ExecutionError,
    PatdnnRuntimeError,
    SignatureError,
    ToolchainError,
)
from patdnn.runtime.header import generate_header, prototype
from patdnn.runtime.host import HostModule
from patdnn.runtime.signature import Arg, Signature, parse_entry_point
from patdnn.runtime.target import Target

RNG = np.random.default_rng(0)
X = RNG.standard_normal(64).astype(np.float32)
W = RNG.standard_normal(64).astype(np.float32)
BLOB = np.concatenate([np.full(16, 0xAB, np.uint8), W.view(np.uint8)])
EXPECTED = X * W + 1


@pytest.fixture(scope="module")
def host_axpy() -> HostModule:
    return host_module_from_mlir(AXPY_MLIR)


@pytest.fixture(scope="module")
def aarch64_axpy() -> Aarch64Module:
    return aarch64_module_from_mlir(AXPY_MLIR)


# -- signatures ------------------------------------------------------------------------------


def test_signature_from_custom_and_generic_mlir() -> None:
    generic = run_tool("mlir-opt", ["--mlir-print-op-generic"], AXPY_MLIR)
    for text in (AXPY_MLIR, generic):
        name, sig = parse_entry_point(text)
        assert name == "axpy"
        assert sig == Signature.of([(64,)], [(64,)], weights_size=272)


def test_signature_two_outputs_no_weights() -> None:
    name, sig = parse_entry_point(TWO_IN_TWO_OUT_MLIR, num_outputs=2)
    assert name == "sum_prod"  # the private declaration is not a candidate
    assert [a.name for a in sig.args] == ["input0", "input1", "output0", "output1"]
    assert sig.weights is None and sig.inputs[0].shape == (2, 8)


def test_signature_errors() -> None:
    with pytest.raises(SignatureError, match="dynamic shape"):
        parse_entry_point("func.func @f(%a: memref<?xf32>, %b: memref<4xf32>) { return }")
    with pytest.raises(SignatureError, match="expected one public func.func, found f, g"):
        parse_entry_point("func.func @f(%a: memref<4xf32>)\nfunc.func @g(%a: memref<4xf32>)")
    with pytest.raises(SignatureError, match="no func.func named 'h'"):
        parse_entry_point(AXPY_MLIR, entry="h")
    with pytest.raises(SignatureError, match="unsupported element type"):
        Arg("x", "input", (2,), "complex64")


# -- host JIT --------------------------------------------------------------------------------


def test_host_jit_matches_numpy(host_axpy: HostModule) -> None:
    out = host_axpy(X, weights=BLOB)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, EXPECTED, rtol=1e-6, atol=1e-6)
    # bytes are accepted for the blob; an output array can be given
    given = np.empty(64, np.float32)
    assert host_axpy(X, weights=BLOB.tobytes(), out=given) is given
    np.testing.assert_allclose(given, EXPECTED, rtol=1e-6, atol=1e-6)
    assert "fmuladd" in host_axpy.optimized_llvm_ir


def test_host_jit_misaligned_and_strided_inputs(host_axpy: HostModule) -> None:
    raw = np.zeros(BLOB.size + 1, np.uint8)
    raw[1:] = BLOB
    strided = np.repeat(X, 2)[::2]
    np.testing.assert_allclose(host_axpy(strided, weights=raw[1:]), EXPECTED, rtol=1e-6)


def test_host_jit_argument_checks(host_axpy: HostModule) -> None:
    with pytest.raises(SignatureError, match="expected dtype float32, got float64"):
        host_axpy(X.astype(np.float64), weights=BLOB)
    with pytest.raises(SignatureError, match=r"expected shape \(64,\), got \(8, 8\)"):
        host_axpy(X.reshape(8, 8), weights=BLOB)
    with pytest.raises(SignatureError, match="expected 1 input array"):
        host_axpy(X, X, weights=BLOB)
    with pytest.raises(SignatureError, match="weights blob has 271 bytes, .* expects 272"):
        host_axpy(X, weights=BLOB[:-1])
    with pytest.raises(SignatureError, match="needs a weights blob of 272 bytes"):
        host_axpy(X)
    with pytest.raises(SignatureError, match="expected a uint8 array"):
        host_axpy(X, weights=BLOB.view(np.int8))
    x = X.copy()
    with pytest.raises(SignatureError, match="overlaps"):
        host_axpy(x, weights=BLOB, out=x)


def test_host_jit_two_inputs_two_outputs() -> None:
    module = host_module_from_mlir(TWO_IN_TWO_OUT_MLIR, num_outputs=2)
    a = RNG.standard_normal((2, 8)).astype(np.float32)
    b = RNG.standard_normal((2, 8)).astype(np.float32)
    s, p = module(a, b)
    np.testing.assert_allclose(s, a + b, rtol=1e-6)
    np.testing.assert_allclose(p, a * b, rtol=1e-6)
    with pytest.raises(SignatureError, match="takes no weights"):
        module(a, b, weights=BLOB)


def test_host_module_checks_entry_and_target() -> None:
    ir = mlir_to_llvm_ir(AXPY_MLIR, Target.get("host"))
    sig = Signature.of([(64,)], [(64,)], 272)
    with pytest.raises(PatdnnRuntimeError, match="defines no function 'nope' .*axpy"):
        HostModule(ir, "nope", sig)
    with pytest.raises(PatdnnRuntimeError, match="takes 3 argument"):
        HostModule(ir, "axpy", Signature.of([(64,)], [(64,)]))
    with pytest.raises(PatdnnRuntimeError, match="cannot run in this process"):
        HostModule(ir, "axpy", sig, target=Target.get("aarch64"))


# -- C header --------------------------------------------------------------------------------


def test_header() -> None:
    sig = Signature.of([(1, 3, 8, 8)], [(1, 10)], weights_size=1234)
    header = generate_header("forward", sig)
    assert "#include <stdint.h>" in header
    assert "void forward(const float *input, float *output, const uint8_t *weights);" in header
    assert "#define FORWARD_INPUT_SHAPE {1, 3, 8, 8}" in header
    assert "#define FORWARD_INPUT_SIZE 192" in header
    assert "#define FORWARD_OUTPUT_SHAPE {1, 10}" in header
    assert "#define FORWARD_WEIGHTS_SIZE 1234" in header
    assert "#define FORWARD_WORKSPACE_SIZE 0 /* takes no workspace */" in header


def test_header_with_workspace() -> None:
    sig = Signature.of([(1, 3, 8, 8)], [(1, 10)], weights_size=64, workspace_size=4096)
    header = generate_header("forward", sig)
    assert (
        "void forward(const float *input, float *output, const uint8_t *weights, "
        "uint8_t *workspace);" in header
    )
    assert "#define FORWARD_WORKSPACE_SIZE 4096" in header
    assert "#define PATDNN_HAS_WORKSPACE 1" in header
    assert "(const uint8_t *)(w), (uint8_t *)(ws))" in header
    two = Signature.of([(2,), (3,)], [(4,)])
    assert prototype("g", two) == "void g(const float *input0, const float *input1, float *output)"
    assert "#define G_WEIGHTS_SIZE 0" in generate_header("g", two)


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_harness_on_host(tmp_path) -> None:
    """The generated header and the generic harness, linked natively with a host object."""
    target = Target.get("host")
    name, sig = parse_entry_point(AXPY_MLIR)
    (tmp_path / "model.o").write_bytes(compile_object(mlir_to_llvm_ir(AXPY_MLIR, target), target))
    (tmp_path / "patdnn_model.h").write_text(generate_header(name, sig))
    exe = tmp_path / "model"
    subprocess.run(
        ["cc", "-O2", "-std=c11", "-Wall", "-Werror", "-I", str(tmp_path),
         str(aarch64.HARNESS_SOURCE), str(tmp_path / "model.o"), "-o", str(exe), "-lm"],
        check=True,
    )  # fmt: skip
    (tmp_path / "in.bin").write_bytes(X.tobytes())
    (tmp_path / "w.bin").write_bytes(BLOB.tobytes())
    run = [str(exe), str(tmp_path / "in.bin"), str(tmp_path / "w.bin"), str(tmp_path / "o.bin")]
    subprocess.run(run, check=True)
    out = np.fromfile(tmp_path / "o.bin", dtype=np.float32)
    np.testing.assert_allclose(out, EXPECTED, rtol=1e-6, atol=1e-6)
    (tmp_path / "w.bin").write_bytes(BLOB.tobytes()[:-1])
    bad = subprocess.run(run, capture_output=True, text=True)
    assert bad.returncode != 0 and "must hold exactly 272 bytes" in bad.stderr


# -- aarch64 under qemu ----------------------------------------------------------------------


@needs_aarch64_tools
def test_aarch64_matches_numpy(aarch64_axpy: Aarch64Module) -> None:
    out = aarch64_axpy(X, weights=BLOB)
    np.testing.assert_allclose(out, EXPECTED, rtol=1e-6, atol=1e-6)


@needs_aarch64_tools
def test_aarch64_links_once(aarch64_axpy: Aarch64Module, monkeypatch: pytest.MonkeyPatch) -> None:
    exe = aarch64_axpy.executable

    def no_link(*args: object, **kwargs: object) -> None:
        raise AssertionError("relinked")

    monkeypatch.setattr(aarch64, "link_executable", no_link)
    same = Aarch64Module(aarch64_axpy.obj, aarch64_axpy.entry, aarch64_axpy.signature)
    assert same.executable == exe
    np.testing.assert_allclose(same(X, weights=BLOB), EXPECTED, rtol=1e-6, atol=1e-6)


@needs_aarch64_tools
def test_aarch64_two_inputs_two_outputs() -> None:
    module = aarch64_module_from_mlir(TWO_IN_TWO_OUT_MLIR, num_outputs=2)
    a = RNG.standard_normal((2, 8)).astype(np.float32)
    b = RNG.standard_normal((2, 8)).astype(np.float32)
    s, p = module(a, b)
    np.testing.assert_allclose(s, a + b, rtol=1e-6)
    np.testing.assert_allclose(p, a * b, rtol=1e-6)


@needs_aarch64_tools
def test_aarch64_run_failure_quotes_stderr() -> None:
    trap_ir = (
        "define void @boom(ptr %0, ptr %1) {\n"
        "  call void @llvm.trap()\n  unreachable\n}\n"
        "declare void @llvm.trap()\n"
    )
    target = Target.get("aarch64")
    module = Aarch64Module(compile_object(trap_ir, target), "boom", Signature.of([(4,)], [(4,)]))
    with pytest.raises(ExecutionError, match="boom failed under qemu-aarch64"):
        module(np.zeros(4, np.float32))


def test_aarch64_missing_tools(
    aarch64_axpy: Aarch64Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aarch64, "_which", lambda name: None)
    with pytest.raises(ToolchainError, match="qemu-aarch64.*Debian package.*qemu-user"):
        aarch64_axpy(X, weights=BLOB)
    with pytest.raises(ToolchainError, match="aarch64-linux-gnu-gcc.*gcc-aarch64-linux-gnu"):
        aarch64.find_cross_compiler()


def _activations_reference(x: np.ndarray) -> np.ndarray:
    import math

    erf = np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))
    return (np.maximum(np.tanh(x), 0) + np.exp(x) + erf).astype(np.float32)


def test_math_ops_host() -> None:
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    out = host_module_from_mlir(MATH_MLIR)(x)
    np.testing.assert_allclose(out, _activations_reference(x), rtol=1e-5, atol=1e-5)


@needs_aarch64_tools
def test_math_ops_aarch64() -> None:
    x = RNG.standard_normal((2, 8)).astype(np.float32)
    out = aarch64_module_from_mlir(MATH_MLIR)(x)
    np.testing.assert_allclose(out, _activations_reference(x), rtol=1e-5, atol=1e-5)
