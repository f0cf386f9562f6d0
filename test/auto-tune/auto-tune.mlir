// RUN: patdnn-opt %s -p 'auto-tune{rounds=1 min-macs=0}' | filecheck %s
// RUN: patdnn-opt %s -p 'auto-tune{rounds=1 min-macs=100000000}' | filecheck %s --check-prefix=SMALL
// RUN: not patdnn-opt %s -p 'auto-tune{rounds=0}' 2>&1 | filecheck %s --check-prefix=ROUNDS
// RUN: patdnn-opt %s -p 'auto-tune{rounds=1 min-macs=0 num-threads=2}' | filecheck %s

// auto-tune times candidate tiles of each convolution on this machine and writes the
// fastest into the op's `tuning` (which tile wins depends on the machine). Entries the
// search does not own stay.

// CHECK-LABEL: func.func @layers
// CHECK:         patdnn.fkw_conv2d
// CHECK-SAME:      tuning = {note = "kept", filters = 1 : i64, rows = {{[0-9]+}} : i64, cols = {{[0-9]+}} : i64, prefetch = {{[0-9]+}} : i64}
// CHECK:         patdnn.conv2d
// CHECK-SAME:      tuning = {filters = {{[0-9]+}} : i64, rows = {{[0-9]+}} : i64, cols = {{[0-9]+}} : i64, prefetch = 0 : i64}

// Layers below `min-macs` keep the default tile.
// SMALL-NOT:     filters =

// ROUNDS: rounds must be positive, got 0

func.func @layers(%x: tensor<1x2x6x9xf32>) -> tensor<1x4x6x9xf32> {
  %reorder = arith.constant dense<[1, 0]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 1, 2], [0, 1, 1]]> : tensor<2x3xi32>
  %weight = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, tuning = {note = "kept"}} : tensor<1x2x6x9xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x6x9xf32>
  %w = arith.constant dense<0.5> : tensor<4x2x3x3xf32>
  %z = patdnn.conv2d %y, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>} : tensor<1x2x6x9xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x6x9xf32>
  func.return %z : tensor<1x4x6x9xf32>
}
