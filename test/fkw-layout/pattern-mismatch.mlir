// RUN: not patdnn-opt %s -p fkw-layout 2>&1 | filecheck %s --check-prefix=ERR
// RUN: not patdnn-opt %s -p filter-kernel-reorder,fkw-layout 2>&1 | filecheck %s --check-prefix=ERR

// Kernel (filter 2, channel 1) keeps (2,1) next to taps of P0: it breaks its pattern.

// ERR: patdnn-opt: error: layer 'conv3': kernel (filter 2, channel 1) keeps taps [(0,1),(1,1),(2,1)], which no pattern of the library covers
// ERR-NOT: Traceback
func.func @mismatch(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = arith.constant dense<[
    [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [0.0, 10.0, 0.0], [0.0, 11.0, 0.0]]]
  ]> : tensor<3x2x3x3xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, layer = "conv3"} : tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}
