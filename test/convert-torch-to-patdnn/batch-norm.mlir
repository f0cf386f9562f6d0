// RUN: patdnn-opt %s -p convert-torch-to-patdnn | filecheck %s

// An inference batch norm folds into the conv before it, the relu6 after fuses:
//   scale = gamma / sqrt(var + eps) = [1, 2] / sqrt(3 + 1) = [0.5, 1]
//   weight' = weight * scale        = [2 * 0.5, -1 * 1]    = [1, -1]
//   bias'   = (0 - mean) * scale + beta = [-1 * 0.5 + 1.5, 0 * 1 - 0.25] = [1, -0.25]

// CHECK-LABEL: func.func @conv_bn_relu6
// CHECK-SAME:  (%[[X:.*]]: tensor<1x1x2x2xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    %[[W:.*]] = arith.constant dense<{{\[}}[{{\[}}[1.000000e+00]]], [{{\[}}[-1.000000e+00]]]]> : tensor<2x1x1x1xf32>
// CHECK-NEXT:    %[[B:.*]] = arith.constant dense<[1.000000e+00, -2.500000e-01]> : tensor<2xf32>
// CHECK-NEXT:    %[[Y:.*]] = patdnn.conv2d %[[X]], %[[W]] bias(%[[B]]) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, activation = #patdnn.activation<relu6>, layer = "features.0"} : tensor<1x1x2x2xf32>, tensor<2x1x1x1xf32> bias tensor<2xf32> -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x2x2x2xf32>
// CHECK-NOT:   batch_norm
func.func @conv_bn_relu6(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,2,2,2],f32> {
  %w = torch.vtensor.literal(dense<[[[[2.0]]], [[[-1.0]]]]> : tensor<2x1x1x1xf32>) : !torch.vtensor<[2,1,1,1],f32>
  %gamma = torch.vtensor.literal(dense<[1.0, 2.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %beta = torch.vtensor.literal(dense<[1.5, -0.25]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %mean = torch.vtensor.literal(dense<[1.0, 0.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %var = torch.vtensor.literal(dense<3.0> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %none = torch.constant.none
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %momentum = torch.constant.float 1.000000e-01
  %eps = torch.constant.float 1.000000e+00
  %stride = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %padding = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %dilation = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.conv2d %arg0, %w, %none, %stride, %padding, %dilation, %int1 {patdnn.layer = "features.0"} : !torch.vtensor<[1,1,2,2],f32>, !torch.vtensor<[2,1,1,1],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,2,2,2],f32>
  %1 = torch.aten.batch_norm %0, %gamma, %beta, %mean, %var, %false, %momentum, %eps, %false {patdnn.layer = "features.1"} : !torch.vtensor<[1,2,2,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2,2,2],f32>
  %2 = torch.aten.relu6 %1 {patdnn.layer = "features.2"} : !torch.vtensor<[1,2,2,2],f32> -> !torch.vtensor<[1,2,2,2],f32>
  return %2 : !torch.vtensor<[1,2,2,2],f32>
}
