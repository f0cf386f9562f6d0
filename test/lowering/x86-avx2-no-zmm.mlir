// An x86-avx2 build (8 lanes, 16 registers) of a pattern layer whose output rows (13
// columns) are no multiple of 8 lanes: the assembly uses ymm registers alone, never a
// zmm, a mask register (k0-k7) or one of the EVEX-only ymm16-ymm31; the row tails are
// AVX masked moves (vmaskmovps), not AVX-512 masked ones.

// REQUIRES: x86-avx2
// RUN: patdnn-opt %s -p 'filter-kernel-reorder,fkw-layout,lower-patdnn-to-vector{vector-width=8 vector-registers=16},load-redundancy-elimination' --print-op-generic | python -m patdnn.lowering.upstream --target x86-avx2 --asm | filecheck %s

// CHECK-LABEL: layer:
// CHECK-NOT:     {{%zmm|%k[0-7]\b|%ymm(1[6-9]|2[0-9]|3[01])\b}}
// CHECK:         vmaskmovps
// CHECK-NOT:     {{%zmm|%k[0-7]\b|%ymm(1[6-9]|2[0-9]|3[01])\b}}
// CHECK:         vfmadd{{[0-9]+}}ps {{.*}}%ymm
// CHECK-NOT:     {{%zmm|%k[0-7]\b|%ymm(1[6-9]|2[0-9]|3[01])\b}}
// CHECK:       .Lfunc_end

func.func @layer(%x: tensor<1x4x11x13xf32>) -> tensor<1x5x11x13xf32> {
  %w = arith.constant dense<[[[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.14, -0.11], [0.0, -0.12, -0.16]]], [[[0.0, 0.14, 0.0], [0.0, 0.01, -0.09], [0.0, -0.16, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.11, -0.10, 0.0], [-0.13, -0.12, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]], [[[0.0, 0.14, 0.0], [0.15, 0.03, -0.14], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.08, 0.12], [0.0, -0.16, -0.11], [0.0, 0.0, 0.0]], [[0.0, 0.16, 0.0], [0.0, -0.04, -0.16], [0.0, -0.13, 0.0]]], [[[0.0, 0.0, 0.0], [0.10, -0.10, 0.15], [0.0, -0.14, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.03, 0.11, 0.16], [0.0, 0.16, 0.0]]], [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.09, -0.16], [0.0, -0.13, -0.04], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.15, 0.0], [-0.15, 0.11, 0.0], [0.0, 0.13, 0.0]]]]> : tensor<5x4x3x3xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "conv", patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(0,1),(1,1),(1,2),(2,1)], [(1,0),(1,1),(1,2),(2,1)], [(0,1),(1,0),(1,1),(2,1)], [(0,0),(0,1),(1,0),(1,1)], [(0,1),(0,2),(1,1),(1,2)], [(1,1),(1,2),(2,1),(2,2)], [(1,0),(1,1),(2,0),(2,1)]]>} : tensor<1x4x11x13xf32>, tensor<5x4x3x3xf32> -> tensor<1x5x11x13xf32>
  func.return %y : tensor<1x5x11x13xf32>
}
