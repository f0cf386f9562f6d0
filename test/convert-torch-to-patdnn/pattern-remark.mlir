// RUN: patdnn-opt %s -p convert-torch-to-patdnn 2>/dev/null | filecheck %s
// RUN: patdnn-opt %s -p convert-torch-to-patdnn 2>&1 >/dev/null | filecheck %s --check-prefix=WARN
// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn{strict=true}' 2>&1 | filecheck %s --check-prefix=STRICT

// A pattern-pruned layer with one kernel that breaks its pattern: filter 3, channel 1 keeps
// 5 taps. Without `strict` the layer stays a dense patdnn.conv2d and says why in a
// `patdnn.remark` attribute (and a warning); with `strict=true` it is an error.

// CHECK-LABEL: func.func @broken_pattern
// CHECK:         %{{.*}} = patdnn.conv2d %{{.*}}, %{{.*}} bias(%{{.*}}) {patdnn.remark = "layer 'features.3' stays dense: kernel (filter 3, channel 1) keeps taps [(0,1),(1,0),(1,1),(1,2),(2,2)], which no pattern of the library covers", strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "features.3"} : tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32> bias tensor<4xf32> -> tensor<1x4x4x4xf32>
// CHECK-NOT:     patdnn.pattern_conv2d

// WARN: patdnn-opt: warning: layer 'features.3' stays dense: kernel (filter 3, channel 1) keeps taps [(0,1),(1,0),(1,1),(1,2),(2,2)], which no pattern of the library covers

// STRICT:     patdnn-opt: error: layer 'features.3' breaks the pattern library: kernel (filter 3, channel 1) keeps taps [(0,1),(1,0),(1,1),(1,2),(2,2)], which no pattern of the library covers
// STRICT-NOT: Traceback

func.func @broken_pattern(%arg0: !torch.vtensor<[1,2,4,4],f32>) -> !torch.vtensor<[1,4,4,4],f32> {
  %w = torch.vtensor.literal(dense<[
    // filter 0: P0, P1
    [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]],
     [[0.0, 0.0, 0.0], [5.0, 6.0, 7.0], [0.0, 8.0, 0.0]]],
    // filter 1: P0, empty
    [[[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]],
     [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    // filter 2: P1, P0
    [[[0.0, 0.0, 0.0], [13.0, 14.0, 15.0], [0.0, 16.0, 0.0]],
     [[0.0, 17.0, 0.0], [18.0, 19.0, 20.0], [0.0, 0.0, 0.0]]],
    // filter 3: P1, taps (0,1),(1,0),(1,1),(1,2),(2,2)
    [[[0.0, 0.0, 0.0], [21.0, 22.0, 23.0], [0.0, 24.0, 0.0]],
     [[0.0, 25.0, 0.0], [26.0, 27.0, 28.0], [0.0, 0.0, 29.0]]]
  ]> : tensor<4x2x3x3xf32>) : !torch.vtensor<[4,2,3,3],f32>
  %b = torch.vtensor.literal(dense<[0.5, -0.5, 1.0, 0.0]> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %int1 = torch.constant.int 1
  %ones = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.conv2d %arg0, %w, %b, %ones, %ones, %ones, %int1 {patdnn.layer = "features.3"} : !torch.vtensor<[1,2,4,4],f32>, !torch.vtensor<[4,2,3,3],f32>, !torch.vtensor<[4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,4],f32>
  %1 = torch.aten.relu %0 : !torch.vtensor<[1,4,4,4],f32> -> !torch.vtensor<[1,4,4,4],f32>
  return %1 : !torch.vtensor<[1,4,4,4],f32>
}
