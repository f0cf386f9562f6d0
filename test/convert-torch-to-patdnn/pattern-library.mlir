// RUN: patdnn-opt %s --split-input-file -p 'convert-torch-to-patdnn{library="[[(0,1),(1,0),(1,1),(1,2)]]"}' 2>/dev/null | filecheck %s

// The pattern library given as an option instead of extracted from the weights.
// Every non-empty kernel keeps the taps of P0 = (0,1),(1,0),(1,1),(1,2) (or some of them,
// filter 3 channel 1): the layer becomes a pattern_conv2d with the given library.

// CHECK-LABEL: func.func @given_library
// CHECK:         %{{.*}} = patdnn.pattern_conv2d %{{.*}}, %{{.*}} bias(%{{.*}}) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "layer2.0.conv1", patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x4x4xf32>, tensor<4x2x3x3xf32> bias tensor<4xf32> -> tensor<1x4x4x4xf32>
func.func @given_library(%arg0: !torch.vtensor<[1,2,4,4],f32>) -> !torch.vtensor<[1,4,4,4],f32> {
  %w = torch.vtensor.literal(dense<[
    // filter 0: P0, empty
    [[[0.0, 1.0, 0.0], [2.0, 3.0, 4.0], [0.0, 0.0, 0.0]],
     [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]],
    // filter 1: P0, P0
    [[[0.0, 5.0, 0.0], [6.0, 7.0, 8.0], [0.0, 0.0, 0.0]],
     [[0.0, 9.0, 0.0], [10.0, 11.0, 12.0], [0.0, 0.0, 0.0]]],
    // filter 2: empty, P0
    [[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
     [[0.0, 13.0, 0.0], [14.0, 15.0, 16.0], [0.0, 0.0, 0.0]]],
    // filter 3: P0, 3 of the P0 taps
    [[[0.0, 17.0, 0.0], [18.0, 19.0, 20.0], [0.0, 0.0, 0.0]],
     [[0.0, 0.0, 0.0], [21.0, 22.0, 23.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<4x2x3x3xf32>) : !torch.vtensor<[4,2,3,3],f32>
  %b = torch.vtensor.literal(dense<[0.5, -0.5, 1.0, 0.0]> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %int1 = torch.constant.int 1
  %ones = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.conv2d %arg0, %w, %b, %ones, %ones, %ones, %int1 {patdnn.layer = "layer2.0.conv1"} : !torch.vtensor<[1,2,4,4],f32>, !torch.vtensor<[4,2,3,3],f32>, !torch.vtensor<[4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,4],f32>
  %1 = torch.aten.relu %0 : !torch.vtensor<[1,4,4,4],f32> -> !torch.vtensor<[1,4,4,4],f32>
  return %1 : !torch.vtensor<[1,4,4,4],f32>
}

// -----

// A kernel with the taps of P1, outside the given library: the layer stays dense.

// CHECK-LABEL: func.func @outside_given_library
// CHECK:         patdnn.conv2d %{{.*}}, %{{.*}} bias(%{{.*}}) {patdnn.remark = "layer 'layer2.0.conv2' stays dense: kernel (filter 0, channel 1) keeps taps [(1,0),(1,1),(1,2),(2,1)], which no pattern of the library covers", strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "layer2.0.conv2"}
func.func @outside_given_library(%arg0: !torch.vtensor<[1,2,4,4],f32>) -> !torch.vtensor<[1,4,4,4],f32> {
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
    // filter 3: P1, P0
    [[[0.0, 0.0, 0.0], [21.0, 22.0, 23.0], [0.0, 24.0, 0.0]],
     [[0.0, 25.0, 0.0], [26.0, 27.0, 28.0], [0.0, 0.0, 0.0]]]
  ]> : tensor<4x2x3x3xf32>) : !torch.vtensor<[4,2,3,3],f32>
  %b = torch.vtensor.literal(dense<[0.5, -0.5, 1.0, 0.0]> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %int1 = torch.constant.int 1
  %ones = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.conv2d %arg0, %w, %b, %ones, %ones, %ones, %int1 {patdnn.layer = "layer2.0.conv2"} : !torch.vtensor<[1,2,4,4],f32>, !torch.vtensor<[4,2,3,3],f32>, !torch.vtensor<[4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,4],f32>
  %1 = torch.aten.relu %0 : !torch.vtensor<[1,4,4,4],f32> -> !torch.vtensor<[1,4,4,4],f32>
  return %1 : !torch.vtensor<[1,4,4,4],f32>
}
