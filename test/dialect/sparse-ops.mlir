// RUN: PATDNN_ROUNDTRIP | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | patdnn-opt --split-input-file | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | filecheck %s --check-prefix=GENERIC

// A 6x16 weight by blocks of 4 output channels: block 0 keeps columns 1 and 5, block 1
// (2 rows, partial) column 15.

// CHECK-LABEL: func.func @sparse_conv1x1
func.func @sparse_conv1x1(%x: tensor<1x16x7x7xf32>, %r: tensor<1x6x7x7xf32>) -> tensor<1x6x7x7xf32> {
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[1, 5, 15]> : tensor<3xi32>
  %values = arith.constant dense<1.0> : tensor<3x4xf32>
  %b = arith.constant dense<0.5> : tensor<6xf32>
  // CHECK: patdnn.sparse_conv1x1 %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}}) residual(%{{.*}}) {activation = #patdnn.activation<relu>, layer = "layer1.0.conv3"} : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<6xf32> residual tensor<1x6x7x7xf32> -> tensor<1x6x7x7xf32>
  // GENERIC: "patdnn.sparse_conv1x1"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{{{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1>
  %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values bias(%b) residual(%r) {activation = #patdnn.activation<relu>, layer = "layer1.0.conv3"} : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<6xf32> residual tensor<1x6x7x7xf32> -> tensor<1x6x7x7xf32>
  func.return %y : tensor<1x6x7x7xf32>
}

// -----

// An empty layer: no stored block at all.

// CHECK-LABEL: func.func @sparse_conv1x1_empty
func.func @sparse_conv1x1_empty(%x: tensor<2x3x5x5xf32>, %offset: tensor<2xi32>, %index: tensor<0xi32>, %values: tensor<0x4xf32>) -> tensor<2x4x5x5xf32> {
  // CHECK: patdnn.sparse_conv1x1 %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x3x5x5xf32>, tensor<2xi32>, tensor<0xi32>, tensor<0x4xf32> -> tensor<2x4x5x5xf32>
  // GENERIC: operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>
  %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values : tensor<2x3x5x5xf32>, tensor<2xi32>, tensor<0xi32>, tensor<0x4xf32> -> tensor<2x4x5x5xf32>
  func.return %y : tensor<2x4x5x5xf32>
}

// -----

// CHECK-LABEL: func.func @sparse_linear
func.func @sparse_linear(%x: tensor<2x20xf32>) -> tensor<2x10xf32> {
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[1, 5, 19]> : tensor<3xi32>
  %values = arith.constant dense<1.0> : tensor<3x8xf32>
  %b = arith.constant dense<0.5> : tensor<10xf32>
  // CHECK: patdnn.sparse_linear %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}}) {activation = #patdnn.activation<relu6>, layer = "fc"} : tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x8xf32> bias tensor<10xf32> -> tensor<2x10xf32>
  // GENERIC: "patdnn.sparse_linear"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{activation = #patdnn.activation<relu6>, layer = "fc"}>
  %y = patdnn.sparse_linear %x, %offset, %index, %values bias(%b) {activation = #patdnn.activation<relu6>, layer = "fc"} : tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x8xf32> bias tensor<10xf32> -> tensor<2x10xf32>
  func.return %y : tensor<2x10xf32>
}
