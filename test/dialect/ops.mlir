// RUN: PATDNN_ROUNDTRIP | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | patdnn-opt --split-input-file | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | filecheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @dense
func.func @dense(%x: tensor<1x3x15x15xf32>) -> tensor<1x8x8x8xf32> {
  %w = arith.constant dense<1.0> : tensor<8x3x3x3xf32>
  %b = arith.constant dense<0.5> : tensor<8xf32>
  // CHECK: patdnn.conv2d %{{.*}}, %{{.*}} bias(%{{.*}}) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu6>, layer = "stem.0"} : tensor<1x3x15x15xf32>, tensor<8x3x3x3xf32> bias tensor<8xf32> -> tensor<1x8x8x8xf32>
  // GENERIC: "patdnn.conv2d"(%{{.*}}, %{{.*}}, %{{.*}}) <{{{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 0>
  %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu6>, layer = "stem.0"} : tensor<1x3x15x15xf32>, tensor<8x3x3x3xf32> bias tensor<8xf32> -> tensor<1x8x8x8xf32>
  func.return %y : tensor<1x8x8x8xf32>
}

// -----

// CHECK-LABEL: func.func @depthwise_residual
func.func @depthwise_residual(%x: tensor<2x8x7x7xf32>, %r: tensor<2x8x7x7xf32>) -> tensor<2x8x7x7xf32> {
  %w = arith.constant dense<1.0> : tensor<8x1x3x3xf32>
  // CHECK: patdnn.conv2d %{{.*}}, %{{.*}} residual(%{{.*}}) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 8 : i64}
  %y = patdnn.conv2d %x, %w residual(%r) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 8 : i64} : tensor<2x8x7x7xf32>, tensor<8x1x3x3xf32> residual tensor<2x8x7x7xf32> -> tensor<2x8x7x7xf32>
  func.return %y : tensor<2x8x7x7xf32>
}

// -----

// CHECK-LABEL: func.func @pattern
func.func @pattern(%x: tensor<1x4x6x6xf32>) -> tensor<1x8x6x6xf32> {
  %w = arith.constant dense<1.0> : tensor<8x4x3x3xf32>
  // CHECK: patdnn.pattern_conv2d %{{.*}}, %{{.*}} {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>, filter_order = array<i64: 7, 6, 5, 4, 3, 2, 1, 0>}
  // GENERIC: "patdnn.pattern_conv2d"
  // GENERIC-SAME: patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, filter_order = array<i64: 7, 6, 5, 4, 3, 2, 1, 0>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>
  func.return %y : tensor<1x8x6x6xf32>
}

// -----

// CHECK-LABEL: func.func @fkw
func.func @fkw(%x: tensor<1x2x5x5xf32>) -> tensor<1x2x5x5xf32> {
  %reorder = arith.constant dense<[1, 0]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 2], [0, 1]]> : tensor<2x2xi32>
  %weight = arith.constant dense<1.0> : tensor<3x4xf32>
  // CHECK: patdnn.fkw_conv2d %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)]]>, activation = #patdnn.activation<relu>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, activation = #patdnn.activation<relu>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>
  func.return %y : tensor<1x2x5x5xf32>
}
