// RUN: patdnn-opt %s -p convert-torch-to-patdnn --split-input-file | filecheck %s

// A dense conv2d with bias and the relu after it fused: one patdnn.conv2d.

// CHECK-LABEL: func.func @conv_bias_relu
// CHECK-SAME:  (%[[X:.*]]: tensor<1x2x5x5xf32>) -> tensor<1x3x3x3xf32>
// CHECK-NEXT:    %[[W:.*]] = arith.constant dense<5.000000e-01> : tensor<3x2x3x3xf32>
// CHECK-NEXT:    %[[B:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK-NEXT:    %[[Y:.*]] = patdnn.conv2d %[[X]], %[[W]] bias(%[[B]]) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "stem.0"} : tensor<1x2x5x5xf32>, tensor<3x2x3x3xf32> bias tensor<3xf32> -> tensor<1x3x3x3xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x3x3x3xf32>
// CHECK-NOT:   torch.
func.func @conv_bias_relu(%arg0: !torch.vtensor<[1,2,5,5],f32>) -> !torch.vtensor<[1,3,3,3],f32> {
  %w = torch.vtensor.literal(dense<5.000000e-01> : tensor<3x2x3x3xf32>) : !torch.vtensor<[3,2,3,3],f32>
  %b = torch.vtensor.literal(dense<[1.0, 2.0, 3.0]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.conv2d %arg0, %w, %b, %0, %1, %2, %int1 {patdnn.layer = "stem.0"} : !torch.vtensor<[1,2,5,5],f32>, !torch.vtensor<[3,2,3,3],f32>, !torch.vtensor<[3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,3,3,3],f32>
  %4 = torch.aten.relu %3 {patdnn.layer = "stem.1"} : !torch.vtensor<[1,3,3,3],f32> -> !torch.vtensor<[1,3,3,3],f32>
  return %4 : !torch.vtensor<[1,3,3,3],f32>
}

// -----

// torch.aten.convolution (what decompositions leave), no bias, a one-value stride list,
// groups, and hardtanh(0, 6) fused as relu6.

// CHECK-LABEL: func.func @convolution_hardtanh
// CHECK-NEXT:    %[[W:.*]] = arith.constant dense<1.000000e+00> : tensor<4x1x3x3xf32>
// CHECK-NEXT:    %[[Y:.*]] = patdnn.conv2d %{{.*}}, %[[W]] {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 4 : i64, activation = #patdnn.activation<relu6>} : tensor<1x4x6x6xf32>, tensor<4x1x3x3xf32> -> tensor<1x4x6x6xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x4x6x6xf32>
func.func @convolution_hardtanh(%arg0: !torch.vtensor<[1,4,6,6],f32>) -> !torch.vtensor<[1,4,6,6],f32> {
  %w = torch.vtensor.literal(dense<1.0> : tensor<4x1x3x3xf32>) : !torch.vtensor<[4,1,3,3],f32>
  %none = torch.constant.none
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int4 = torch.constant.int 4
  %float0 = torch.constant.float 0.000000e+00
  %float6 = torch.constant.float 6.000000e+00
  %stride = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %padding = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %dilation = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %output_padding = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.convolution %arg0, %w, %none, %stride, %padding, %dilation, %false, %output_padding, %int4 : !torch.vtensor<[1,4,6,6],f32>, !torch.vtensor<[4,1,3,3],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,6,6],f32>
  %1 = torch.aten.hardtanh %0, %float0, %float6 : !torch.vtensor<[1,4,6,6],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,4,6,6],f32>
  return %1 : !torch.vtensor<[1,4,6,6],f32>
}
