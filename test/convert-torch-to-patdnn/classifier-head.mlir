// RUN: patdnn-opt %s -p convert-torch-to-patdnn | filecheck %s

// The head of a classifier: adaptive pools (global, and to equal windows), flatten,
// dropout (gone at inference), a spatial mean, an add of two vectors and a linear layer.

func.func @forward(%arg0: !torch.vtensor<[1,2,4,6],f32>) -> !torch.vtensor<[1,3],f32> {
  %0 = torch.vtensor.literal(dense<0.5> : tensor<4x2x1x1xf32>) : !torch.vtensor<[4,2,1,1],f32>
  %1 = torch.vtensor.literal(dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %2 = torch.constant.int 1
  %3 = torch.constant.int 1
  %4 = torch.prim.ListConstruct %2, %3 : (!torch.int, !torch.int) -> !torch.list<int>
  %5 = torch.constant.int 0
  %6 = torch.constant.int 0
  %7 = torch.prim.ListConstruct %5, %6 : (!torch.int, !torch.int) -> !torch.list<int>
  %8 = torch.constant.int 1
  %9 = torch.constant.int 1
  %10 = torch.prim.ListConstruct %8, %9 : (!torch.int, !torch.int) -> !torch.list<int>
  %11 = torch.constant.int 1
  %12 = torch.aten.conv2d %arg0, %0, %1, %4, %7, %10, %11 {patdnn.layer = "conv"} : !torch.vtensor<[1,2,4,6],f32>, !torch.vtensor<[4,2,1,1],f32>, !torch.vtensor<[4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,6],f32>
  %13 = torch.constant.int 1
  %14 = torch.constant.int 1
  %15 = torch.prim.ListConstruct %13, %14 : (!torch.int, !torch.int) -> !torch.list<int>
  %16 = torch.aten.adaptive_avg_pool2d %12, %15 {patdnn.layer = "pool"} : !torch.vtensor<[1,4,4,6],f32>, !torch.list<int> -> !torch.vtensor<[1,4,1,1],f32>
  %17 = torch.constant.int 1
  %18 = torch.constant.int -1
  %19 = torch.aten.flatten.using_ints %16, %17, %18 : !torch.vtensor<[1,4,1,1],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,4],f32>
  %20 = torch.constant.float 5.000000e-01
  %21 = torch.constant.bool false
  %22 = torch.aten.dropout %19, %20, %21 {patdnn.layer = "drop"} : !torch.vtensor<[1,4],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,4],f32>
  %23 = torch.constant.int 2
  %24 = torch.constant.int 3
  %25 = torch.prim.ListConstruct %23, %24 : (!torch.int, !torch.int) -> !torch.list<int>
  %26 = torch.aten.adaptive_avg_pool2d %12, %25 {patdnn.layer = "window"} : !torch.vtensor<[1,4,4,6],f32>, !torch.list<int> -> !torch.vtensor<[1,4,2,3],f32>
  %27 = torch.constant.int 2
  %28 = torch.constant.int 3
  %29 = torch.prim.ListConstruct %27, %28 : (!torch.int, !torch.int) -> !torch.list<int>
  %30 = torch.constant.bool false
  %31 = torch.constant.none
  %32 = torch.aten.mean.dim %26, %29, %30, %31 : !torch.vtensor<[1,4,2,3],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,4],f32>
  %33 = torch.constant.int 1
  %34 = torch.aten.add.Tensor %22, %32, %33 : !torch.vtensor<[1,4],f32>, !torch.vtensor<[1,4],f32>, !torch.int -> !torch.vtensor<[1,4],f32>
  %35 = torch.vtensor.literal(dense<0.25> : tensor<3x4xf32>) : !torch.vtensor<[3,4],f32>
  %36 = torch.vtensor.literal(dense<[1.0, 0.0, -1.0]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %37 = torch.aten.linear %34, %35, %36 {patdnn.layer = "fc"} : !torch.vtensor<[1,4],f32>, !torch.vtensor<[3,4],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[1,3],f32>
  func.return %37 : !torch.vtensor<[1,3],f32>
}

// CHECK-LABEL: func.func @forward(%arg0: tensor<1x2x4x6xf32>) -> tensor<1x3xf32> {
// CHECK:         %[[CONV:.*]] = patdnn.conv2d %arg0, %{{.*}} bias(%{{.*}}) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, layer = "conv"}
// CHECK-NEXT:    %[[GAP:.*]] = patdnn.global_avg_pool %[[CONV]] : tensor<1x4x4x6xf32> -> tensor<1x4x1x1xf32>
// CHECK-NEXT:    %[[FLAT:.*]] = patdnn.reshape %[[GAP]] : tensor<1x4x1x1xf32> -> tensor<1x4xf32>
// CHECK-NEXT:    %[[WIN:.*]] = patdnn.pool2d %[[CONV]] {kind = #patdnn.pool_kind<avg>, kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>, layer = "window"} : tensor<1x4x4x6xf32> -> tensor<1x4x2x3xf32>
// CHECK-NEXT:    %[[MEAN:.*]] = patdnn.global_avg_pool %[[WIN]] : tensor<1x4x2x3xf32> -> tensor<1x4x1x1xf32>
// CHECK-NEXT:    %[[VEC:.*]] = patdnn.reshape %[[MEAN]] : tensor<1x4x1x1xf32> -> tensor<1x4xf32>
// CHECK-NEXT:    %[[SUM:.*]] = patdnn.add %[[FLAT]], %[[VEC]] : tensor<1x4xf32>
// CHECK:         %[[FC:.*]] = patdnn.linear %[[SUM]], %{{.*}} bias(%{{.*}}) {layer = "fc"} : tensor<1x4xf32>, tensor<3x4xf32> bias tensor<3xf32> -> tensor<1x3xf32>
// CHECK-NEXT:    func.return %[[FC]] : tensor<1x3xf32>
// CHECK-NOT:     torch.
