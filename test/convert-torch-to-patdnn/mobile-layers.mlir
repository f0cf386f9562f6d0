// RUN: patdnn-opt %s -p convert-torch-to-patdnn --split-input-file | filecheck %s

// MobileNet-V3's hardswish fused into the convolution before it; a squeeze-and-excitation
// gate: the pooled hardsigmoid (its producer is a pooling: an activation of its own) and
// `scale * x`, which becomes a mul of the tensor by the per-channel scale.

// CHECK-LABEL: func.func @squeeze_excitation
// CHECK-SAME:  (%[[X:.*]]: tensor<1x2x5x5xf32>) -> tensor<1x3x5x5xf32>
// CHECK:         %[[Y:.*]] = patdnn.conv2d %[[X]], %{{.*}} {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<hardswish>, layer = "features.0.0"}
// CHECK-NEXT:    %[[P:.*]] = patdnn.global_avg_pool %[[Y]] : tensor<1x3x5x5xf32> -> tensor<1x3x1x1xf32>
// CHECK-NEXT:    %[[G:.*]] = patdnn.activate %[[P]] {activation = #patdnn.activation<hardsigmoid>, layer = "se.scale_activation"} : tensor<1x3x1x1xf32>
// CHECK-NEXT:    %[[M:.*]] = patdnn.mul %[[Y]], %[[G]] {layer = "se"} : tensor<1x3x5x5xf32>, tensor<1x3x1x1xf32> -> tensor<1x3x5x5xf32>
// CHECK-NEXT:    func.return %[[M]] : tensor<1x3x5x5xf32>
func.func @squeeze_excitation(%arg0: !torch.vtensor<[1,2,5,5],f32>) -> !torch.vtensor<[1,3,5,5],f32> {
  %w = torch.vtensor.literal(dense<5.000000e-01> : tensor<3x2x3x3xf32>) : !torch.vtensor<[3,2,3,3],f32>
  %none = torch.constant.none
  %int1 = torch.constant.int 1
  %1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.aten.conv2d %arg0, %w, %none, %1, %1, %1, %int1 {patdnn.layer = "features.0.0"} : !torch.vtensor<[1,2,5,5],f32>, !torch.vtensor<[3,2,3,3],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,3,5,5],f32>
  %3 = torch.aten.hardswish %2 {patdnn.layer = "features.0.2"} : !torch.vtensor<[1,3,5,5],f32> -> !torch.vtensor<[1,3,5,5],f32>
  %4 = torch.aten.adaptive_avg_pool2d %3, %1 {patdnn.layer = "se.avgpool"} : !torch.vtensor<[1,3,5,5],f32>, !torch.list<int> -> !torch.vtensor<[1,3,1,1],f32>
  %5 = torch.aten.hardsigmoid %4 {patdnn.layer = "se.scale_activation"} : !torch.vtensor<[1,3,1,1],f32> -> !torch.vtensor<[1,3,1,1],f32>
  %6 = torch.aten.mul.Tensor %5, %3 {patdnn.layer = "se"} : !torch.vtensor<[1,3,1,1],f32>, !torch.vtensor<[1,3,5,5],f32> -> !torch.vtensor<[1,3,5,5],f32>
  return %6 : !torch.vtensor<[1,3,5,5],f32>
}

// -----

// An encoder-decoder step: nearest upsampling by scale factors (nn.Upsample) and by an
// output size (F.interpolate(size=...)), then torch.cat along the channels (dim -3 is
// dim 1 of NCHW); a cat of one tensor is that tensor.

// CHECK-LABEL: func.func @upsample_cat
// CHECK-SAME:  (%[[A:.*]]: tensor<1x3x5x7xf32>, %[[B:.*]]: tensor<1x4x10x14xf32>)
// CHECK-NEXT:    %[[U:.*]] = patdnn.upsample %[[A]] {scale = array<i64: 2, 2>, layer = "up"} : tensor<1x3x5x7xf32> -> tensor<1x3x10x14xf32>
// CHECK-NEXT:    %[[V:.*]] = patdnn.upsample %[[A]] {scale = array<i64: 2, 2>} : tensor<1x3x5x7xf32> -> tensor<1x3x10x14xf32>
// CHECK-NEXT:    %[[C:.*]] = patdnn.concat %[[U]], %[[B]], %[[V]] {layer = "cat"} : tensor<1x3x10x14xf32>, tensor<1x4x10x14xf32>, tensor<1x3x10x14xf32> -> tensor<1x10x10x14xf32>
// CHECK-NEXT:    func.return %[[C]], %[[B]]
func.func @upsample_cat(%a: !torch.vtensor<[1,3,5,7],f32>, %b: !torch.vtensor<[1,4,10,14],f32>) -> (!torch.vtensor<[1,10,10,14],f32>, !torch.vtensor<[1,4,10,14],f32>) {
  %none = torch.constant.none
  %float2 = torch.constant.float 2.000000e+00
  %scales = torch.prim.ListConstruct %float2, %float2 : (!torch.float, !torch.float) -> !torch.list<float>
  %u = torch.aten.upsample_nearest2d.vec %a, %none, %scales {patdnn.layer = "up"} : !torch.vtensor<[1,3,5,7],f32>, !torch.none, !torch.list<float> -> !torch.vtensor<[1,3,10,14],f32>
  %int10 = torch.constant.int 10
  %int14 = torch.constant.int 14
  %size = torch.prim.ListConstruct %int10, %int14 : (!torch.int, !torch.int) -> !torch.list<int>
  %v = torch.aten.upsample_nearest2d.vec %a, %size, %none : !torch.vtensor<[1,3,5,7],f32>, !torch.list<int>, !torch.none -> !torch.vtensor<[1,3,10,14],f32>
  %list = torch.prim.ListConstruct %u, %b, %v : (!torch.vtensor<[1,3,10,14],f32>, !torch.vtensor<[1,4,10,14],f32>, !torch.vtensor<[1,3,10,14],f32>) -> !torch.list<vtensor>
  %dim = torch.constant.int -3
  %c = torch.aten.cat %list, %dim {patdnn.layer = "cat"} : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,10,10,14],f32>
  %one = torch.prim.ListConstruct %b : (!torch.vtensor<[1,4,10,14],f32>) -> !torch.list<vtensor>
  %int1 = torch.constant.int 1
  %d = torch.aten.cat %one, %int1 : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,4,10,14],f32>
  return %c, %d : !torch.vtensor<[1,10,10,14],f32>, !torch.vtensor<[1,4,10,14],f32>
}

// -----

// A relu whose input has two users stays an activation of its own; a product of two
// tensors of one shape is a plain mul.

// CHECK-LABEL: func.func @relu_mul
// CHECK-NEXT:    %[[R:.*]] = patdnn.activate %[[X:.*]] {activation = #patdnn.activation<relu>} : tensor<1x3x4x4xf32>
// CHECK-NEXT:    %[[M:.*]] = patdnn.mul %[[X]], %[[R]] : tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32> -> tensor<1x3x4x4xf32>
func.func @relu_mul(%x: !torch.vtensor<[1,3,4,4],f32>) -> !torch.vtensor<[1,3,4,4],f32> {
  %r = torch.aten.relu %x : !torch.vtensor<[1,3,4,4],f32> -> !torch.vtensor<[1,3,4,4],f32>
  %m = torch.aten.mul.Tensor %x, %r : !torch.vtensor<[1,3,4,4],f32>, !torch.vtensor<[1,3,4,4],f32> -> !torch.vtensor<[1,3,4,4],f32>
  return %m : !torch.vtensor<[1,3,4,4],f32>
}
