// RUN: patdnn-opt %s -p 'sparsify{vector-width=4}' --split-input-file | filecheck %s
// RUN: patdnn-opt %s -p 'sparsify{vector-width=4 threshold=0.9}' --split-input-file | filecheck %s --check-prefix=HIGH

// 6x8 weight, blocks of 4 output channels: block 0 keeps columns 2 (1, 2, 3, 4) and 7
// (only row 1: 5, the zeros of the block stored), block 1 (rows 4 and 5, partial) column
// 0 (6, 7). 41 of 48 weights are zero (85 %): 3 of 16 blocks kept.

// CHECK-LABEL: func.func @conv1x1
// HIGH-LABEL:  func.func @conv1x1
func.func @conv1x1(%x: tensor<1x8x3x5xf32>, %r: tensor<1x6x3x5xf32>) -> tensor<1x6x3x5xf32> {
  %w = arith.constant dense<[
    [[[0.0]], [[0.0]], [[1.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]],
    [[[0.0]], [[0.0]], [[2.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[5.0]]],
    [[[0.0]], [[0.0]], [[3.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]],
    [[[0.0]], [[0.0]], [[4.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]],
    [[[6.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]],
    [[[7.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]], [[0.0]]]
  ]> : tensor<6x8x1x1xf32>
  %b = arith.constant dense<[0.5, 1.5, 2.5, 3.5, 4.5, 5.5]> : tensor<6xf32>
  // CHECK:      %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  // CHECK-NEXT: %index = arith.constant dense<[2, 7, 0]> : tensor<3xi32>
  // CHECK-NEXT: %values = arith.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [0.000000e+00, 5.000000e+00, 0.000000e+00, 0.000000e+00], [6.000000e+00, 7.000000e+00, 0.000000e+00, 0.000000e+00]]> : tensor<3x4xf32>
  // CHECK-NEXT: %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values bias(%b) residual(%r) {patdnn.remark = "layer 'conv': patdnn.sparse_conv1x1 (85% zero weights, 3 of 16 blocks of 4x1 kept, estimated 2.67x the dense speed)", activation = #patdnn.activation<relu>, layer = "conv"} : tensor<1x8x3x5xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<6xf32> residual tensor<1x6x3x5xf32> -> tensor<1x6x3x5xf32>
  // HIGH:       patdnn.conv2d
  // HIGH-NOT:   patdnn.remark
  // HIGH:       func.return
  %y = patdnn.conv2d %x, %w bias(%b) residual(%r) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, activation = #patdnn.activation<relu>, layer = "conv"} : tensor<1x8x3x5xf32>, tensor<6x8x1x1xf32> bias tensor<6xf32> residual tensor<1x6x3x5xf32> -> tensor<1x6x3x5xf32>
  func.return %y : tensor<1x6x3x5xf32>
}

// -----

// Half the weights zero, scattered: every block of 4 rows keeps every column, the
// sparse kernel would be slower: dense, with a remark saying why.

// CHECK-LABEL: func.func @unstructured
func.func @unstructured(%x: tensor<1x2x3x3xf32>) -> tensor<1x4x3x3xf32> {
  %w = arith.constant dense<[[[[1.0]], [[0.0]]], [[[0.0]], [[2.0]]], [[[3.0]], [[0.0]]], [[[0.0]], [[4.0]]]]> : tensor<4x2x1x1xf32>
  // CHECK:      patdnn.conv2d
  // CHECK-SAME: patdnn.remark = "layer 'mixed': dense (50% zero weights, 2 of 2 blocks of 4x1 kept, estimated 0.67x the dense speed)"
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, layer = "mixed"} : tensor<1x2x3x3xf32>, tensor<4x2x1x1xf32> -> tensor<1x4x3x3xf32>
  func.return %y : tensor<1x4x3x3xf32>
}

// -----

// Below the threshold or 3x3: left alone, without a remark.

// CHECK-LABEL: func.func @untouched
func.func @untouched(%x: tensor<1x2x4x4xf32>) -> (tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>) {
  %dense = arith.constant dense<[[[[1.0]], [[0.0]]], [[[1.0]], [[2.0]]], [[[3.0]], [[1.0]]], [[[1.0]], [[4.0]]]]> : tensor<4x2x1x1xf32>
  %w3 = arith.constant dense<0.0> : tensor<4x2x3x3xf32>
  // CHECK-NOT: remark
  // CHECK: patdnn.conv2d
  // CHECK: patdnn.conv2d
  // CHECK-NOT: sparse
  %a = patdnn.conv2d %x, %dense {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<4x2x1x1xf32> -> tensor<1x4x4x4xf32>
  %c = patdnn.conv2d %x, %w3 {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x4x4xf32>
  func.return %a, %c : tensor<1x4x4x4xf32>, tensor<1x4x4x4xf32>
}

// -----

// A strided 1x1 convolution: its input subsampled by a 1x1-window pool with its strides,
// then a stride-1 sparse 1x1 convolution on the 2x2 result.

// CHECK-LABEL: func.func @strided
func.func @strided(%x: tensor<1x2x4x4xf32>) -> tensor<1x4x2x2xf32> {
  %sparse = arith.constant dense<[[[[1.0]], [[0.0]]], [[[0.0]], [[0.0]]], [[[0.0]], [[0.0]]], [[[0.0]], [[0.0]]]]> : tensor<4x2x1x1xf32>
  // CHECK:      %[[SUB:.*]] = patdnn.pool2d %{{.*}} {kind = #patdnn.pool_kind<max>, kernel = array<i64: 1, 1>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32> -> tensor<1x2x2x2xf32>
  // CHECK-NEXT: patdnn.sparse_conv1x1 %[[SUB]],
  // CHECK-SAME: -> tensor<1x4x2x2xf32>
  // CHECK-NOT:  patdnn.conv2d
  %b = patdnn.conv2d %x, %sparse {strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<4x2x1x1xf32> -> tensor<1x4x2x2xf32>
  func.return %b : tensor<1x4x2x2xf32>
}

// -----

// A 3x5 linear layer, only column 1 of rows 0 and 2: blocks of 4 (cost 1 x (4 + 2)) rather
// than 8 (1 x (8 + 2)) with vector-width 4. A fully zero layer stores nothing.

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<2x5xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>) {
  %w = arith.constant dense<[[0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0]]> : tensor<3x5xf32>
  %zero = arith.constant dense<0.0> : tensor<3x5xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  // CHECK:      %offset = arith.constant dense<[0, 1]> : tensor<2xi32>
  // CHECK-NEXT: %index = arith.constant dense<1> : tensor<1xi32>
  // CHECK-NEXT: %values = arith.constant dense<{{\[\[}}1.000000e+00, 0.000000e+00, 2.000000e+00, 0.000000e+00]]> : tensor<1x4xf32>
  // CHECK-NEXT: patdnn.sparse_linear %x, %offset, %index, %values bias(%b) {patdnn.remark = "layer 'fc': patdnn.sparse_linear (87% zero weights, 1 of 5 blocks of 4x1 kept, estimated 2.50x the dense speed)", activation = #patdnn.activation<relu>, layer = "fc"} : tensor<2x5xf32>, tensor<2xi32>, tensor<1xi32>, tensor<1x4xf32> bias tensor<3xf32> -> tensor<2x3xf32>
  // CHECK:      %offset_1 = arith.constant dense<0> : tensor<2xi32>
  // CHECK-NEXT: %index_1 = arith.constant dense<> : tensor<0xi32>
  // CHECK-NEXT: %values_1 = arith.constant dense<> : tensor<0x8xf32>
  // CHECK-NEXT: patdnn.sparse_linear %x, %offset_1, %index_1, %values_1 {patdnn.remark = "layer 'empty': patdnn.sparse_linear (100% zero weights, 0 of 5 blocks of 8x1 kept, nothing to multiply)", layer = "empty"}
  %y = patdnn.linear %x, %w bias(%b) {activation = #patdnn.activation<relu>, layer = "fc"} : tensor<2x5xf32>, tensor<3x5xf32> bias tensor<3xf32> -> tensor<2x3xf32>
  %z = patdnn.linear %x, %zero {layer = "empty"} : tensor<2x5xf32>, tensor<3x5xf32> -> tensor<2x3xf32>
  func.return %y, %z : tensor<2x3xf32>, tensor<2x3xf32>
}
