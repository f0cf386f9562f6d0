// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 vector-registers=16}' --split-input-file | filecheck %s

// A sparse 1x1 convolution over its flat 3x5 plane (15 pixels): tiles of 2 vectors (one
// whole tile of 8 pixels, then 1 vector and a masked one of 3 lanes); blocks of 4 output
// channels (one whole block, then the partial block of 2 with the last task). Over the
// stored columns of a block: the input vectors of its channel loaded once, each of the
// 4 weights broadcast against them, 4 x 2 accumulators carried; then bias, residual and
// relu6 on the registers and one store per output vector. A task runs its blocks, each
// over its tiles.

// CHECK-LABEL: func.func @conv
// CHECK:       memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [1, 8, 15], strides: [120, 15, 1]
// CHECK:       scf.for
// CHECK:         scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step
// CHECK:           scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:        arith.muli %[[T]], %{{.*}} : index
// CHECK-NEXT:        memref.load %{{.*}}[%[[B]]] : memref<3xi32>
// CHECK:             %[[START:.*]] = arith.index_cast
// CHECK:             %[[END:.*]] = arith.index_cast
// CHECK-NEXT:        = scf.for %[[J:.*]] = %[[START]] to %[[END]] step %{{.*}} iter_args({{.*}}) -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK-NEXT:          %[[C:.*]] = memref.load %{{.*}}[%[[J]]] : memref<3xi32>
// CHECK-NEXT:          %[[CH:.*]] = arith.index_cast %[[C]] : i32 to index
// CHECK-NEXT:          %[[X0:.*]] = vector.load %{{.*}}[%{{.*}}, %[[CH]], %{{.*}}] : memref<1x8x15xf32>, vector<4xf32>
// CHECK:               %[[X1:.*]] = vector.load %{{.*}}[%{{.*}}, %[[CH]], %{{.*}}] : memref<1x8x15xf32>, vector<4xf32>
// CHECK-NEXT:          %[[W:.*]] = memref.load %{{.*}}[%[[J]], %{{.*}}] : memref<3x4xf32>
// CHECK-NEXT:          %[[WB:.*]] = vector.broadcast %[[W]] : f32 to vector<4xf32>
// CHECK-NEXT:          vector.fma %[[X0]], %[[WB]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:          vector.fma %[[X1]], %[[WB]], %{{.*}} : vector<4xf32>
// CHECK-COUNT-3:       vector.broadcast
// CHECK:               scf.yield
// CHECK:             memref.load %{{.*}} : memref<6xf32>
// CHECK:             vector.load %{{.*}} : memref<1x6x15xf32>, vector<4xf32>
// CHECK:             arith.maximumf
// CHECK-NEXT:        arith.minimumf
// CHECK-NEXT:        vector.store %{{.*}} : memref<1x6x15xf32>, vector<4xf32>
// The last pixels, after the whole tiles (one range of tiles): one vector and a masked one.
// CHECK-NOT:       scf.if
// CHECK:           = scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
// CHECK:             vector.maskedload %{{.*}} : memref<1x8x15xf32>, vector<4xi1>, vector<4xf32> into vector<4xf32>
// CHECK:           vector.maskedstore %{{.*}} : memref<1x6x15xf32>, vector<4xi1>, vector<4xf32>
// The partial block of 2 channels, with the last channel part: 2 x 2 accumulators.
// CHECK:         scf.if
// CHECK:           scf.for
// CHECK:             = scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>) {
func.func @conv(%x: tensor<1x8x3x5xf32>, %r: tensor<1x6x3x5xf32>) -> tensor<1x6x3x5xf32> {
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[2, 7, 0]> : tensor<3xi32>
  %values = arith.constant dense<1.0> : tensor<3x4xf32>
  %b = arith.constant dense<0.5> : tensor<6xf32>
  %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values bias(%b) residual(%r) {activation = #patdnn.activation<relu6>, layer = "conv"} : tensor<1x8x3x5xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<6xf32> residual tensor<1x6x3x5xf32> -> tensor<1x6x3x5xf32>
  func.return %y : tensor<1x6x3x5xf32>
}

// -----

// 260 channels of 32x32 (1 MiB of input): 3 ranges of tiles (at most 512 KiB of input
// each), which every block reads in turn, x 2 ranges of blocks: 6 tasks.

// CHECK-LABEL: func.func @conv_wide
// CHECK-DAG:   %[[SIX:.*]] = arith.constant 6 : index
// CHECK:       scf.for %[[TASK:.*]] = %{{.*}} to %[[SIX]] step
// CHECK-NEXT:    %[[SPART:.*]] = arith.divui %[[TASK]], %{{.*}} : index
// CHECK:         scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:      arith.muli %[[SPART]], %{{.*}} : index
// CHECK-NEXT:      arith.minui %[[SPART]], %{{.*}} : index
// CHECK:           scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK-NEXT:        arith.muli %[[T]], %{{.*}} : index
// CHECK-NEXT:        memref.load %{{.*}}[%[[B]]] : memref<3xi32>
func.func @conv_wide(%x: tensor<1x260x32x32xf32>) -> tensor<1x6x32x32xf32> {
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[2, 259, 0]> : tensor<3xi32>
  %values = arith.constant dense<1.0> : tensor<3x4xf32>
  %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values : tensor<1x260x32x32xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x32x32xf32>
  func.return %y : tensor<1x6x32x32xf32>
}

// -----

// A sparse GEMV, blocks of 4 rows as one vector<4xf32>: 8 accumulator sets over the
// stored columns, 8 at a time (their indices in one vector load; values[j] *
// broadcast(x[index[j]])), the rest one by one,
// summed in order; the partial block of 2 rows stores 2 masked lanes.

// CHECK-LABEL: func.func @linear
// CHECK:       %[[START:.*]] = arith.index_cast
// CHECK:       %[[END:.*]] = arith.index_cast
// CHECK-NEXT:  %[[COUNT:.*]] = arith.subi %[[END]], %[[START]] : index
// CHECK-NEXT:  %[[WHOLE:.*]] = arith.divui %[[COUNT]], %[[EIGHT:.*]] : index
// CHECK-NEXT:  %[[N:.*]] = arith.muli %[[WHOLE]], %[[EIGHT]] : index
// CHECK-NEXT:  %[[MAIN:.*]] = arith.addi %[[START]], %[[N]] : index
// CHECK-NEXT:  = scf.for %[[J:.*]] = %[[START]] to %[[MAIN]] step %[[EIGHT]]
// CHECK-NEXT:    %[[IDS:.*]] = vector.load %{{.*}}[%[[J]]] : memref<3xi32>, vector<8xi32>
// CHECK-NEXT:    %[[C:.*]] = vector.extract %[[IDS]][0] : i32 from vector<8xi32>
// CHECK-NEXT:    %[[CI:.*]] = arith.index_cast %[[C]] : i32 to index
// CHECK-COUNT-7: vector.extract %[[IDS]]
// CHECK:         arith.index_cast
// CHECK-NEXT:    %[[X:.*]] = memref.load %{{.*}}[%{{.*}}, %[[CI]]] : memref<1x20xf32>
// CHECK-NEXT:    %[[XB:.*]] = vector.broadcast %[[X]] : f32 to vector<4xf32>
// CHECK-NEXT:    %[[V:.*]] = vector.load %{{.*}}[%[[J]], %{{.*}}] : memref<3x4xf32>, vector<4xf32>
// CHECK-NEXT:    vector.fma %[[V]], %[[XB]], %{{.*}} : vector<4xf32>
// CHECK-COUNT-7: vector.fma
// CHECK:       scf.for %{{.*}} = %[[MAIN]] to %[[END]]
// CHECK-COUNT-7: arith.addf %{{.*}} : vector<4xf32>
// CHECK:       vector.load %{{.*}} : memref<6xf32>, vector<4xf32>
// CHECK:       arith.maximumf
// CHECK-NEXT:  vector.store %{{.*}} : memref<1x6xf32>, vector<4xf32>
// CHECK:       vector.maskedload %{{.*}} : memref<6xf32>, vector<4xi1>, vector<4xf32> into vector<4xf32>
// CHECK:       arith.maximumf
// CHECK-NEXT:  vector.maskedstore %{{.*}} : memref<1x6xf32>, vector<4xi1>, vector<4xf32>
func.func @linear(%x: tensor<1x20xf32>) -> tensor<1x6xf32> {
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[1, 5, 19]> : tensor<3xi32>
  %values = arith.constant dense<1.0> : tensor<3x4xf32>
  %b = arith.constant dense<0.5> : tensor<6xf32>
  %y = patdnn.sparse_linear %x, %offset, %index, %values bias(%b) {activation = #patdnn.activation<relu>, layer = "fc"} : tensor<1x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<6xf32> -> tensor<1x6xf32>
  func.return %y : tensor<1x6xf32>
}
