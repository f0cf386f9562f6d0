// RUN: not patdnn-opt %s -p filter-kernel-reorder 2>&1 | filecheck %s

// Kernel (filter 1, channel 0) keeps the corners (0,0) and (2,2): no pattern covers them.

// CHECK: patdnn-opt: error: layer 'conv2': kernel (filter 1, channel 0) keeps taps [(0,0),(1,1),(2,2)], which no pattern of the library covers
func.func @mismatch(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<[
    [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]]],
    [[[5.0, 0.0, 0.0], [0.0, 6.0, 0.0], [0.0, 0.0, 7.0]]]
  ]> : tensor<2x1x3x3xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, layer = "conv2"} : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32> -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}
