// RUN: patdnn-opt %s -p filter-kernel-reorder --split-input-file | filecheck %s
// RUN: patdnn-opt %s -p filter-kernel-reorder,filter-kernel-reorder --split-input-file | filecheck %s

// Patterns: P0 = [(0,1),(1,0),(1,1),(1,2)], P1 = [(1,0),(1,1),(1,2),(2,1)].
// Filter 0: [empty, P1]  1 kernel,  mix (0,1)
// Filter 1: [P1, P1]     2 kernels, mix (0,2)
// Filter 2: [P0, empty]  1 kernel,  mix (1,0)
// Filter 3: [P0, P1]     2 kernels, mix (1,1)
// Two-kernel filters first (3 before 1 by mix), then 2 before 0 by mix: 3, 1, 2, 0.

// CHECK-LABEL: func.func @reorder
func.func @reorder(%x: tensor<1x2x5x5xf32>) -> tensor<1x4x5x5xf32> {
  %w = arith.constant dense<[
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [5.0, 6.0, 7.0], [0.0, 8.0, 0.0]], [[0.0, 0.0, 0.0], [9.0, 10.0, 11.0], [0.0, 12.0, 0.0]]],
    [[[0.0, 13.0, 0.0], [14.0, 15.0, 16.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 17.0, 0.0], [18.0, 19.0, 20.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [21.0, 22.0, 23.0], [0.0, 24.0, 0.0]]]
  ]> : tensor<4x2x3x3xf32>
  // CHECK-NEXT: %w = arith.constant dense<[
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 1.700000e+01, 0.000000e+00], [1.800000e+01, 1.900000e+01, 2.000000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [2.100000e+01, 2.200000e+01, 2.300000e+01], [0.000000e+00, 2.400000e+01, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00], [0.000000e+00, 8.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [9.000000e+00, 1.000000e+01, 1.100000e+01], [0.000000e+00, 1.200000e+01, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 1.300000e+01, 0.000000e+00], [1.400000e+01, 1.500000e+01, 1.600000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [0.000000e+00, 4.000000e+00, 0.000000e+00]]]]> : tensor<4x2x3x3xf32>
  // CHECK-NEXT: %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>, layer = "reorder", filter_order = array<i64: 3, 1, 2, 0>} : tensor<1x2x5x5xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x5x5xf32>
  // CHECK-NEXT: func.return %y
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, layer = "reorder"} : tensor<1x2x5x5xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x5x5xf32>
  func.return %y : tensor<1x4x5x5xf32>
}

// -----

// The weight of @reorder stored as filters 2, 0, 3, 1 with a bias in the original
// channel order: the new order is composed with the old one, the bias is untouched.

// CHECK-LABEL: func.func @composed
func.func @composed(%x: tensor<1x2x5x5xf32>) -> tensor<1x4x5x5xf32> {
  %w = arith.constant dense<[
    [[[0.0, 13.0, 0.0], [14.0, 15.0, 16.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]]],
    [[[0.0, 17.0, 0.0], [18.0, 19.0, 20.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [21.0, 22.0, 23.0], [0.0, 24.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [5.0, 6.0, 7.0], [0.0, 8.0, 0.0]], [[0.0, 0.0, 0.0], [9.0, 10.0, 11.0], [0.0, 12.0, 0.0]]]
  ]> : tensor<4x2x3x3xf32>
  %b = arith.constant dense<[0.5, 1.5, 2.5, 3.5]> : tensor<4xf32>
  // CHECK-NEXT: %b = arith.constant dense<[5.000000e-01, 1.500000e+00, 2.500000e+00, 3.500000e+00]> : tensor<4xf32>
  // CHECK-NEXT: %w = arith.constant dense<[
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 1.700000e+01, 0.000000e+00], [1.800000e+01, 1.900000e+01, 2.000000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [2.100000e+01, 2.200000e+01, 2.300000e+01], [0.000000e+00, 2.400000e+01, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00], [0.000000e+00, 8.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [9.000000e+00, 1.000000e+01, 1.100000e+01], [0.000000e+00, 1.200000e+01, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 1.300000e+01, 0.000000e+00], [1.400000e+01, 1.500000e+01, 1.600000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [0.000000e+00, 4.000000e+00, 0.000000e+00]]]]> : tensor<4x2x3x3xf32>
  // CHECK-NEXT: %y = patdnn.pattern_conv2d %x, %w bias(%b) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu>, filter_order = array<i64: 3, 1, 2, 0>} : tensor<1x2x5x5xf32>, tensor<4x2x3x3xf32> bias tensor<4xf32> -> tensor<1x4x5x5xf32>
  %y = patdnn.pattern_conv2d %x, %w bias(%b) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu>, filter_order = array<i64: 2, 0, 3, 1>} : tensor<1x2x5x5xf32>, tensor<4x2x3x3xf32> bias tensor<4xf32> -> tensor<1x4x5x5xf32>
  func.return %y : tensor<1x4x5x5xf32>
}

// -----

// Filters 1 and 2 have the same count and mix: the original id decides.

// CHECK-LABEL: func.func @ties
func.func @ties(%x: tensor<1x1x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = arith.constant dense<[
    [[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]]],
    [[[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<3x1x3x3xf32>
  // CHECK-NEXT: %w = arith.constant dense<[
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 5.000000e+00, 0.000000e+00], [6.000000e+00, 7.000000e+00, 8.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 9.000000e+00, 0.000000e+00], [1.000000e+01, 1.100000e+01, 1.200000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00], [0.000000e+00, 4.000000e+00, 0.000000e+00]]]]> : tensor<3x1x3x3xf32>
  // CHECK-NEXT: %y = patdnn.pattern_conv2d %x, %w
  // CHECK-SAME: filter_order = array<i64: 1, 2, 0>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x1x4x4xf32>, tensor<3x1x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

// -----

// Already in FKR order (2, 1 and 0 kernels): the weight is kept, `filter_order` is
// the identity.

// CHECK-LABEL: func.func @ordered
func.func @ordered(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = arith.constant dense<[
    [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [5.0, 6.0, 7.0], [0.0, 8.0, 0.0]]],
    [[[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<3x2x3x3xf32>
  // CHECK-NEXT: %w = arith.constant dense<[
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 1.000000e+00, 0.000000e+00], [2.000000e+00, 3.000000e+00, 4.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00], [0.000000e+00, 8.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 9.000000e+00, 0.000000e+00], [1.000000e+01, 1.100000e+01, 1.200000e+01], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]]],
  // CHECK-SAME: {{\[\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]], {{\[\[}}0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 0.000000e+00]]]]> : tensor<3x2x3x3xf32>
  // CHECK-NEXT: %y = patdnn.pattern_conv2d %x, %w
  // CHECK-SAME: filter_order = array<i64: 0, 1, 2>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

// -----

// Dense layers are left alone.

// CHECK-LABEL: func.func @dense
func.func @dense(%x: tensor<1x1x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<1.0> : tensor<2x1x3x3xf32>
  // CHECK-NEXT: %w = arith.constant dense<1.000000e+00> : tensor<2x1x3x3xf32>
  // CHECK-NEXT: %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32> -> tensor<1x2x4x4xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x1x4x4xf32>, tensor<2x1x3x3xf32> -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}
