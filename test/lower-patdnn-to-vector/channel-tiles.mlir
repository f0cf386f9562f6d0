// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 vector-registers=16 channel-tiles=2}' | filecheck %s
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=16}' | filecheck %s --check-prefix=RULE
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=32}' | filecheck %s --check-prefix=WIDE
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=16 channel-tiles=0}' | filecheck %s --check-prefix=OFF
// RUN: not patdnn-opt %s -p 'lower-patdnn-to-vector{channel-tiles=3}' 2>&1 | filecheck %s --check-prefix=BAD

// A flat pointwise layer with the tile over output channels (`channel_tile.py`): its
// weights packed into the blob as [ceil(cout / 4)][cin][4] (the dense weights are not
// placed), a loop over the input channels carrying 6 pixels x 2 vectors of channels
// (the 5 channels: one whole vector, one of 1 live lane), each pixel's input broadcast;
// the epilogue transposes the tile and stores one vector per live channel: whole
// vectors for the first tile of the 12 pixels, masked to its 6 pixels for the last.

// CHECK:       patdnn.weights = {{\[}}[dense_resource<{{[^>]*}}channels4> : tensor<2x3x4xf32>, 0 : i64]
// CHECK-NOT:   tensor<5x3x1x1xf32>
// CHECK-LABEL: func.func @small
// CHECK:         %[[W:.*]] = memref.view {{.*}} to memref<2x3x4xf32>
// CHECK:         vector.maskedload {{.*}} : memref<5xf32>
// CHECK:         scf.for
// CHECK:           scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK-COUNT-2:     vector.load %[[W]]
// CHECK:             vector.broadcast {{.*}} : f32 to vector<4xf32>
// CHECK-COUNT-2:     vector.fma
// CHECK:           vector.shuffle
// CHECK:           vector.store {{.*}} : memref<1x5x1x12xf32>, vector<4xf32>
// CHECK:         scf.for {{.*}} -> (vector<4xf32>
// CHECK:         vector.maskedstore {{.*}} : memref<1x5x1x12xf32>, vector<4xi1>, vector<4xf32>
func.func @small(%x: tensor<1x3x3x4xf32>) -> tensor<1x5x3x4xf32> {
  %w = arith.constant dense<[[[[1.0]], [[2.0]], [[3.0]]], [[[4.0]], [[5.0]], [[6.0]]], [[[7.0]], [[8.0]], [[9.0]]], [[[10.0]], [[11.0]], [[12.0]]], [[[13.0]], [[14.0]], [[15.0]]]]> : tensor<5x3x1x1xf32>
  %b = arith.constant dense<[0.5, 1.0, 1.5, 2.0, 2.5]> : tensor<5xf32>
  %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>, activation = #patdnn.activation<relu6>} : tensor<1x3x3x4xf32>, tensor<5x3x1x1xf32> bias tensor<5xf32> -> tensor<1x5x3x4xf32>
  func.return %y : tensor<1x5x3x4xf32>
}

// The default rule: 16 registers (AVX2), a plane of at least 64 pixels and enough input
// channels take the tile over output channels (2 vectors of 8: [1][96][8] for 8
// channels); 32 registers, or `channel-tiles=0`, keep the tile over pixels.

// RULE:      dense_resource<{{[^>]*}}channels8> : tensor<1x96x8xf32>
// RULE-LABEL: func.func @rule
// RULE:        memref.view {{.*}} to memref<1x96x8xf32>

// WIDE-NOT:   channels8
// WIDE-LABEL: func.func @rule
// WIDE:         memref.view {{.*}} to memref<8x96x1x1xf32>

// OFF-NOT:    channels8
// OFF-LABEL:  func.func @rule
// OFF:          memref.view {{.*}} to memref<8x96x1x1xf32>
func.func @rule(%x: tensor<1x96x8x8xf32>) -> tensor<1x8x8x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x96x1x1xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x96x8x8xf32>, tensor<8x96x1x1xf32> -> tensor<1x8x8x8xf32>
  func.return %y : tensor<1x8x8x8xf32>
}

// BAD: channel-tiles must be 0, 1 or 2, got 3
