// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 vector-registers=16 channel-tiles=2}' | filecheck %s
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=16}' | filecheck %s --check-prefix=RULE
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=32}' | filecheck %s --check-prefix=WIDE
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=16 channel-tiles=0}' | filecheck %s --check-prefix=OFF
// RUN: not patdnn-opt %s -p 'lower-patdnn-to-vector{channel-tiles=3}' 2>&1 | filecheck %s --check-prefix=BAD
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 vector-registers=16 channel-tiles=2 channel-panels=2}' | filecheck %s --check-prefix=PANELS
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=8 vector-registers=16 channel-panels=0}' | filecheck %s --check-prefix=INPLACE
// RUN: not patdnn-opt %s -p 'lower-patdnn-to-vector{channel-panels=3}' 2>&1 | filecheck %s --check-prefix=BADPANELS
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=16 vector-registers=32}' | filecheck %s --check-prefix=AVX512

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
// With `channel-panels=2` a phase first packs the input into one panel [3][6] per pixel
// tile in the workspace (2 tiles, 32 floats apart: 3 x 6 floats and the last row's
// whole-vector stores, rounded up to a line): two vectors a channel row, loaded whole
// for the first tile and masked for the last (whose second vector would run past the
// plane's 12 pixels); the tiles then broadcast their inputs from the panels.

// PANELS-LABEL: func.func @small
// PANELS:         %[[P:.*]] = memref.view {{.*}} to memref<64xf32>
// PANELS:         scf.for
// PANELS:           scf.for
// PANELS:             scf.for
// PANELS-COUNT-2:       vector.store {{.*}}, %[[P]][{{.*}}] : memref<64xf32>, vector<4xf32>
// PANELS:           scf.for
// PANELS:             scf.for
// PANELS:               vector.maskedload
// PANELS:               vector.store {{.*}}, %[[P]][{{.*}}] : memref<64xf32>, vector<4xf32>
// PANELS:         scf.for
// PANELS:           scf.for {{.*}} -> (vector<4xf32>
// PANELS:             vector.load %{{.*}} : memref<2x3x4xf32>, vector<4xf32>
// PANELS:             memref.load %[[P]][{{.*}}] : memref<64xf32>
// PANELS-NEXT:        vector.broadcast {{.*}} : f32 to vector<4xf32>
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

// BADPANELS: channel-panels must be 0, 1 or 2, got 3

// The default rule on a 7 x 7 plane: with 128 output channels (8 channel tiles) the tile
// over output channels reads packed panels ([9 tiles][96][6] at 592 floats a tile, in
// the workspace) and takes the plane; with `channel-panels=0` the tile over pixels.

// RULE-LABEL:  func.func @panels
// RULE:          memref.view {{.*}} to memref<16x96x8xf32>
// RULE:          memref.view {{.*}} to memref<5328xf32>
// INPLACE-LABEL: func.func @panels
// INPLACE:       memref.view {{.*}} to memref<128x96x1x1xf32>
func.func @panels(%x: tensor<1x96x7x7xf32>) -> tensor<1x128x7x7xf32> {
  %w = arith.constant dense<0.25> : tensor<128x96x1x1xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x96x7x7xf32>, tensor<128x96x1x1xf32> -> tensor<1x128x7x7xf32>
  func.return %y : tensor<1x128x7x7xf32>
}

// AVX-512 (32 registers of 16 lanes): a layer of 64 or more input channels and 2 or more
// vectors of output channels takes the tile over output channels by default (14 pixels x
// 2 vectors, 28 accumulators); the epilogue transposes each vector's 14 pixels and 2 zero
// rows 16 x 16 by shuffles and stores whole channel vectors (masked for the last tile's
// 2 pixels), never lane by lane; fewer than 32 output channels keep the tile over pixels.

// AVX512:      dense_resource<{{[^>]*}}channels16{{.*}}> : tensor<3x64x16xf32>
// AVX512-LABEL: func.func @avx512
// AVX512:        memref.view {{.*}} to memref<3x64x16xf32>
// AVX512:        scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// AVX512-COUNT-64: vector.shuffle
// AVX512-NOT:    memref.store
// AVX512:        vector.store {{.*}} : memref<1x33x1x16xf32>, vector<16xf32>
// AVX512:        vector.maskedstore {{.*}} : memref<1x33x1x16xf32>, vector<16xi1>, vector<16xf32>
// AVX512-LABEL: func.func @avx512_few
// AVX512:        memref.view {{.*}} to memref<24x64x1x1xf32>
func.func @avx512(%x: tensor<1x64x4x4xf32>) -> tensor<1x33x4x4xf32> {
  %w = arith.constant dense<0.5> : tensor<33x64x1x1xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x64x4x4xf32>, tensor<33x64x1x1xf32> -> tensor<1x33x4x4xf32>
  func.return %y : tensor<1x33x4x4xf32>
}

func.func @avx512_few(%x: tensor<1x64x4x4xf32>) -> tensor<1x24x4x4xf32> {
  %w = arith.constant dense<0.25> : tensor<24x64x1x1xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x64x4x4xf32>, tensor<24x64x1x1xf32> -> tensor<1x24x4x4xf32>
  func.return %y : tensor<1x24x4x4xf32>
}
