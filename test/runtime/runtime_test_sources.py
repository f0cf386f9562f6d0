"""MLIR sources shared by the upstream lowering and runtime tests."""

from __future__ import annotations

import shutil

import pytest

#: out[i] = in[i] * w[i] + 1 over 64 floats, 4 lanes at a time; w is read from a byte blob
#: (at byte offset 16, after 16 unused bytes).
AXPY_MLIR = """
func.func @axpy(%in: memref<64xf32>, %out: memref<64xf32>, %blob: memref<272xi8>) {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %c64 = arith.constant 64 : index
  %one = arith.constant dense<1.0> : vector<4xf32>
  %w = memref.view %blob[%c16][] : memref<272xi8> to memref<64xf32>
  scf.for %i = %c0 to %c64 step %c4 {
    %a = vector.load %in[%i] : memref<64xf32>, vector<4xf32>
    %b = vector.load %w[%i] : memref<64xf32>, vector<4xf32>
    %r = vector.fma %a, %b, %one : vector<4xf32>
    vector.store %r, %out[%i] : memref<64xf32>, vector<4xf32>
  }
  return
}
"""

#: Two inputs, two outputs, no weights: s = a + b, p = a * b on 2x8 floats.
TWO_IN_TWO_OUT_MLIR = """
func.func private @unused_helper(%x: memref<4xf32>)
func.func @sum_prod(%a: memref<2x8xf32>, %b: memref<2x8xf32>,
                    %s: memref<2x8xf32>, %p: memref<2x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %c2 step %c1 {
    %x = vector.load %a[%i, %c0] : memref<2x8xf32>, vector<8xf32>
    %y = vector.load %b[%i, %c0] : memref<2x8xf32>, vector<8xf32>
    %sum = arith.addf %x, %y : vector<8xf32>
    %prod = arith.mulf %x, %y : vector<8xf32>
    vector.store %sum, %s[%i, %c0] : memref<2x8xf32>, vector<8xf32>
    vector.store %prod, %p[%i, %c0] : memref<2x8xf32>, vector<8xf32>
  }
  return
}
"""

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs Debian gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user",
)

#: Math and arith on vectors: out = max(tanh(x), 0) + exp(x) + erf(x) over 2x8 floats.
MATH_MLIR = """
func.func @activations(%x: memref<2x8xf32>, %out: memref<2x8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %c8 = arith.constant 8 : index
  %zero = arith.constant dense<0.0> : vector<4xf32>
  scf.for %i = %c0 to %c2 step %c1 {
    scf.for %j = %c0 to %c8 step %c4 {
      %v = vector.load %x[%i, %j] : memref<2x8xf32>, vector<4xf32>
      %t = math.tanh %v : vector<4xf32>
      %r = arith.maximumf %t, %zero : vector<4xf32>
      %e = math.exp %v : vector<4xf32>
      %f = math.erf %v : vector<4xf32>
      %s = arith.addf %r, %e : vector<4xf32>
      %u = arith.addf %s, %f : vector<4xf32>
      vector.store %u, %out[%i, %j] : memref<2x8xf32>, vector<4xf32>
    }
  }
  return
}
"""
