// RUN: PATDNN_ROUNDTRIP | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | patdnn-opt --split-input-file | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | filecheck %s --check-prefix=GENERIC

// The layers of MobileNet-V3 and of encoder-decoders, each as its docstring shows it.

// CHECK-LABEL: func.func @hard_activations
func.func @hard_activations(%x: tensor<1x3x9x9xf32>, %s: tensor<1x16x1x1xf32>) -> (tensor<1x8x5x5xf32>, tensor<1x16x1x1xf32>) {
  %w = arith.constant dense<1.0> : tensor<8x3x3x3xf32>
  // CHECK: patdnn.conv2d %{{.*}}, %{{.*}} {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<hardswish>}
  %y = patdnn.conv2d %x, %w {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<hardswish>} : tensor<1x3x9x9xf32>, tensor<8x3x3x3xf32> -> tensor<1x8x5x5xf32>
  // CHECK: patdnn.activate %{{.*}} {activation = #patdnn.activation<hardsigmoid>} : tensor<1x16x1x1xf32>
  // GENERIC: "patdnn.activate"(%{{.*}}) <{activation = #patdnn.activation<hardsigmoid>}> : (tensor<1x16x1x1xf32>) -> tensor<1x16x1x1xf32>
  %g = patdnn.activate %s {activation = #patdnn.activation<hardsigmoid>} : tensor<1x16x1x1xf32>
  func.return %y, %g : tensor<1x8x5x5xf32>, tensor<1x16x1x1xf32>
}

// -----

// CHECK-LABEL: func.func @channel_scale
func.func @channel_scale(%x: tensor<1x16x8x8xf32>, %scale: tensor<1x16x1x1xf32>) -> tensor<1x16x8x8xf32> {
  // CHECK: patdnn.mul %{{.*}}, %{{.*}} {layer = "features.1.block.1"} : tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32> -> tensor<1x16x8x8xf32>
  // GENERIC: "patdnn.mul"(%{{.*}}, %{{.*}}) <{layer = "features.1.block.1"}> : (tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32>) -> tensor<1x16x8x8xf32>
  %y = patdnn.mul %x, %scale {layer = "features.1.block.1"} : tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32> -> tensor<1x16x8x8xf32>
  func.return %y : tensor<1x16x8x8xf32>
}

// -----

// CHECK-LABEL: func.func @concat_upsample
func.func @concat_upsample(%a: tensor<1x3x5x7xf32>, %b: tensor<1x4x10x14xf32>) -> tensor<1x7x10x14xf32> {
  // CHECK: %[[U:.*]] = patdnn.upsample %{{.*}} {scale = array<i64: 2, 2>} : tensor<1x3x5x7xf32> -> tensor<1x3x10x14xf32>
  // GENERIC: "patdnn.upsample"(%{{.*}}) <{scale = array<i64: 2, 2>}> : (tensor<1x3x5x7xf32>) -> tensor<1x3x10x14xf32>
  %u = patdnn.upsample %a {scale = array<i64: 2, 2>} : tensor<1x3x5x7xf32> -> tensor<1x3x10x14xf32>
  // CHECK: patdnn.concat %[[U]], %{{.*}} : tensor<1x3x10x14xf32>, tensor<1x4x10x14xf32> -> tensor<1x7x10x14xf32>
  // GENERIC: "patdnn.concat"(%{{.*}}, %{{.*}}) : (tensor<1x3x10x14xf32>, tensor<1x4x10x14xf32>) -> tensor<1x7x10x14xf32>
  %y = patdnn.concat %u, %b : tensor<1x3x10x14xf32>, tensor<1x4x10x14xf32> -> tensor<1x7x10x14xf32>
  func.return %y : tensor<1x7x10x14xf32>
}
