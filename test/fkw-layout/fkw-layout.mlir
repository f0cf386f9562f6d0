// RUN: patdnn-opt %s -p fkw-layout --split-input-file | filecheck %s --check-prefixes=CHECK,ID
// RUN: patdnn-opt %s -p filter-kernel-reorder,fkw-layout --split-input-file | filecheck %s --check-prefixes=CHECK,FKR

// Patterns: P0 = [(0,1),(1,0),(1,1),(1,2)], P1 = [(1,0),(1,1),(1,2),(2,1)].
// Filter 0: channel 0 P1 (1, 2, 3, 4), channel 2 P0 (5, 6, 7, 8).
// Filter 1: channel 1 only the centre (9), covered by P0 and P1: the first, P0;
//           channel 2 P1 (10, 11, 0, 12), a zero tap inside its pattern.
// Filter 2: channels 0 and 1 P0 (13, 14, 15, 16) and (17, 18, 19, 20).
// Kernels of a filter: P0 group, then P1 group, by channel inside a group.
// Filter kernel reorder: every filter has 2 kernels, mixes (1,1), (1,1), (2,0): order 2, 0, 1.

// CHECK-LABEL: func.func @small
func.func @small(%x: tensor<1x3x5x5xf32>) -> tensor<1x3x5x5xf32> {
  %w = arith.constant dense<[
    [[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [10.0, 11.0, 0.0], [0.0, 12.0, 0.0]]],
    [[[0.0, 13.0, 0.0], [14.0, 15.0, 16.0], [0.0, 0.0, 0.0]], [[0.0, 17.0, 0.0], [18.0, 19.0, 20.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<3x3x3x3xf32>
  // ID-NEXT:  %reorder = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  // ID-NEXT:  %offset = arith.constant dense<[0, 2, 4, 6]> : tensor<4xi32>
  // ID-NEXT:  %index = arith.constant dense<[2, 0, 1, 2, 0, 1]> : tensor<6xi32>
  // ID-NEXT:  %pattern_bounds = arith.constant dense<{{\[\[}}0, 1, 2], [0, 1, 2], [0, 2, 2]]> : tensor<3x3xi32>
  // ID-NEXT:  %weight = arith.constant dense<{{\[\[}}5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [0.000000e+00, 0.000000e+00, 9.000000e+00, 0.000000e+00], [1.000000e+01, 1.100000e+01, 0.000000e+00, 1.200000e+01], [1.300000e+01, 1.400000e+01, 1.500000e+01, 1.600000e+01], [1.700000e+01, 1.800000e+01, 1.900000e+01, 2.000000e+01]]> : tensor<6x4xf32>
  // FKR-NEXT: %reorder = arith.constant dense<[2, 0, 1]> : tensor<3xi32>
  // FKR-NEXT: %offset = arith.constant dense<[0, 2, 4, 6]> : tensor<4xi32>
  // FKR-NEXT: %index = arith.constant dense<[0, 1, 2, 0, 1, 2]> : tensor<6xi32>
  // FKR-NEXT: %pattern_bounds = arith.constant dense<{{\[\[}}0, 2, 2], [0, 1, 2], [0, 1, 2]]> : tensor<3x3xi32>
  // FKR-NEXT: %weight = arith.constant dense<{{\[\[}}1.300000e+01, 1.400000e+01, 1.500000e+01, 1.600000e+01], [1.700000e+01, 1.800000e+01, 1.900000e+01, 2.000000e+01], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [0.000000e+00, 0.000000e+00, 9.000000e+00, 0.000000e+00], [1.000000e+01, 1.100000e+01, 0.000000e+00, 1.200000e+01]]> : tensor<6x4xf32>
  // CHECK-NEXT: %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>, layer = "small"} : tensor<1x3x5x5xf32>, tensor<3xi32>, tensor<4xi32>, tensor<6xi32>, tensor<3x3xi32>, tensor<6x4xf32> -> tensor<1x3x5x5xf32>
  // CHECK-NEXT: func.return %y
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, layer = "small"} : tensor<1x3x5x5xf32>, tensor<3x3x3x3xf32> -> tensor<1x3x5x5xf32>
  func.return %y : tensor<1x3x5x5xf32>
}

// -----

// Filter 0 is empty: offset[0] == offset[1], a zero stride row. Bias, residual,
// activation and tuning are kept. Reordered by kernel count (2, 1, 0): 2, 1, 0.

// CHECK-LABEL: func.func @empty_filter
func.func @empty_filter(%x: tensor<1x2x4x4xf32>, %r: tensor<1x3x2x2xf32>) -> tensor<1x3x2x2xf32> {
  %w = arith.constant dense<[
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]]],
    [[[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<3x2x3x3xf32>
  %b = arith.constant dense<[0.5, 1.5, 2.5]> : tensor<3xf32>
  // CHECK-NEXT: %b = arith.constant dense<[5.000000e-01, 1.500000e+00, 2.500000e+00]> : tensor<3xf32>
  // ID-NEXT:  %reorder = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  // ID-NEXT:  %offset = arith.constant dense<[0, 0, 1, 3]> : tensor<4xi32>
  // ID-NEXT:  %index = arith.constant dense<[1, 0, 1]> : tensor<3xi32>
  // ID-NEXT:  %pattern_bounds = arith.constant dense<{{\[\[}}0, 0, 0], [0, 0, 1], [0, 2, 2]]> : tensor<3x3xi32>
  // ID-NEXT:  %weight = arith.constant dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01]]> : tensor<3x4xf32>
  // FKR-NEXT: %reorder = arith.constant dense<[2, 1, 0]> : tensor<3xi32>
  // FKR-NEXT: %offset = arith.constant dense<[0, 2, 3, 3]> : tensor<4xi32>
  // FKR-NEXT: %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  // FKR-NEXT: %pattern_bounds = arith.constant dense<{{\[\[}}0, 2, 2], [0, 0, 1], [0, 0, 0]]> : tensor<3x3xi32>
  // FKR-NEXT: %weight = arith.constant dense<{{\[\[}}5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<3x4xf32>
  // CHECK-NEXT: %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight bias(%b) residual(%r) {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu6>, layer = "empty", tuning = {unroll = 2 : i64}} : tensor<1x2x4x4xf32>, tensor<3xi32>, tensor<4xi32>, tensor<3xi32>, tensor<3x3xi32>, tensor<3x4xf32> bias tensor<3xf32> residual tensor<1x3x2x2xf32> -> tensor<1x3x2x2xf32>
  %y = patdnn.pattern_conv2d %x, %w bias(%b) residual(%r) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu6>, layer = "empty", tuning = {unroll = 2 : i64}} : tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32> bias tensor<3xf32> residual tensor<1x3x2x2xf32> -> tensor<1x3x2x2xf32>
  func.return %y : tensor<1x3x2x2xf32>
}

// -----

// The layer of @empty_filter as filter-kernel-reorder leaves it (weight rows: filters
// 2, 1, 0): `filter_order` becomes `reorder`; a second reorder changes nothing.

// CHECK-LABEL: func.func @given_order
func.func @given_order(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = arith.constant dense<[
    [[[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]], [[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 4.0, 0.0]]],
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<3x2x3x3xf32>
  // CHECK-NEXT: %reorder = arith.constant dense<[2, 1, 0]> : tensor<3xi32>
  // CHECK-NEXT: %offset = arith.constant dense<[0, 2, 3, 3]> : tensor<4xi32>
  // CHECK-NEXT: %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  // CHECK-NEXT: %pattern_bounds = arith.constant dense<{{\[\[}}0, 2, 2], [0, 0, 1], [0, 0, 0]]> : tensor<3x3xi32>
  // CHECK-NEXT: %weight = arith.constant dense<{{\[\[}}5.000000e+00, 6.000000e+00, 7.000000e+00, 8.000000e+00], [9.000000e+00, 1.000000e+01, 1.100000e+01, 1.200000e+01], [1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]]> : tensor<3x4xf32>
  // CHECK-NEXT: %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x2x4x4xf32>, tensor<3xi32>, tensor<4xi32>, tensor<3xi32>, tensor<3x3xi32>, tensor<3x4xf32> -> tensor<1x3x4x4xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, filter_order = array<i64: 2, 1, 0>} : tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

// -----

// Every kernel pruned: no kernels at all.

// CHECK-LABEL: func.func @all_empty
func.func @all_empty(%x: tensor<1x1x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %w = arith.constant dense<0.0> : tensor<2x1x3x3xf32>
  // CHECK-NEXT: %reorder = arith.constant dense<[0, 1]> : tensor<2xi32>
  // CHECK-NEXT: %offset = arith.constant dense<0> : tensor<3xi32>
  // CHECK-NEXT: %index = arith.constant dense<> : tensor<0xi32>
  // CHECK-NEXT: %pattern_bounds = arith.constant dense<0> : tensor<2x2xi32>
  // CHECK-NEXT: %weight = arith.constant dense<> : tensor<0x4xf32>
  // CHECK-NEXT: %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight
  // CHECK-SAME: tensor<2xi32>, tensor<3xi32>, tensor<0xi32>, tensor<2x2xi32>, tensor<0x4xf32> -> tensor<1x2x3x3xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x1x3x3xf32>, tensor<2x1x3x3xf32> -> tensor<1x2x3x3xf32>
  func.return %y : tensor<1x2x3x3xf32>
}
