// Loads of the padded input (the taps read the scratch buffer through its flat 1-D view)
// in the layers below (not the hand-written @reuse on memref<32xf32>), before and after
// load-redundancy-elimination:
// RUN: patdnn-opt %s --split-input-file -p 'lower-patdnn-to-vector{vector-width=4}' | grep -E 'vector.load .*: memref<[0-9]+xf32>, vector' | grep -vc 'memref<32xf32>' | filecheck %s --check-prefix=BEFORE
// RUN: patdnn-opt %s --split-input-file -p 'lower-patdnn-to-vector{vector-width=4},load-redundancy-elimination' | grep -E 'vector.load .*: memref<[0-9]+xf32>, vector' | grep -vc 'memref<32xf32>' | filecheck %s --check-prefix=AFTER
// The pass alone on hand-written vector code:
// RUN: patdnn-opt %s --split-input-file -p load-redundancy-elimination | filecheck %s

// @pattern_layer: tiles of 4 rows x 1 vector (pinned by its `tuning`: the default tile
// of 4 lanes is larger), two pattern groups of 4 taps each:
// 2 x 4 taps x 4 rows = 32 loads. Kernel-level reuse: the taps of P0 read input
// rows 0..4 at column offset 1 and rows 1..4 at offsets 0 and 2 (13 vectors); those
// of P1 rows 1..5 at offset 1 and rows 2..5 at offsets 0 and 2 (13 vectors): 26.
// @dense_layer: tiles of 4 filters x 2 rows x 2 vectors (the default with 32 vector
// registers), 9 taps: 144 loads.
// Filter-level reuse: the 4 filters read the same vectors; kernel level: 2 + 2 input
// rows x (2 vectors x 3 column offsets) = 24 distinct vectors.
// In all, 32 + 144 = 176 before, 26 + 24 = 50 after.
// BEFORE: {{^176$}}
// AFTER: {{^50$}}

func.func @pattern_layer(%x: tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32> {
  %reorder = arith.constant dense<[0, 1]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 1, 2], [0, 0, 1]]> : tensor<2x3xi32>
  %weight = arith.constant dense<1.0> : tensor<3x4xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,1),(2,0),(2,1),(2,2)]]>, tuning = {rows = 4 : i64, cols = 1 : i64}} : tensor<1x2x8x4xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x8x4xf32>
  func.return %y : tensor<1x2x8x4xf32>
}

func.func @dense_layer(%x: tensor<1x2x4x8xf32>) -> tensor<1x4x4x8xf32> {
  %w = arith.constant dense<0.25> : tensor<4x2x3x3xf32>
  %y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x2x4x8xf32>, tensor<4x2x3x3xf32> -> tensor<1x4x4x8xf32>
  func.return %y : tensor<1x4x4x8xf32>
}

// -----

// Addresses are compared as linear forms: `%i + 1` computed three times (once
// commuted) is one address, `(%i + 1) + 1` is `%i + 2`. A load of another vector
// type is another value. A store to %out does not end the reuse of loads of %m; a
// store to %m does.

// CHECK-LABEL: func.func @reuse
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:      %[[A:.*]] = arith.addi %[[I]], %[[C1:.*]] : index
// CHECK-NEXT:      %[[X0:.*]] = vector.load %[[M:.*]][%[[A]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      %[[D:.*]] = arith.addi %[[I]], %{{.*}} : index
// CHECK-NEXT:      %[[X3:.*]] = vector.load %[[M]][%[[D]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      %[[W:.*]] = vector.load %[[M]][%[[A]]] : memref<32xf32>, vector<8xf32>
// CHECK-NEXT:      %[[S0:.*]] = arith.addf %[[X0]], %[[X0]] : vector<4xf32>
// CHECK-NEXT:      %[[S1:.*]] = arith.addf %[[S0]], %[[X0]] : vector<4xf32>
// CHECK-NEXT:      %[[S2:.*]] = arith.addf %[[S1]], %[[X3]] : vector<4xf32>
// CHECK-NEXT:      %[[S3:.*]] = arith.addf %[[S2]], %[[X3]] : vector<4xf32>
// CHECK-NEXT:      vector.store %[[S3]], %[[OUT:.*]][%[[I]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      vector.store %[[X0]], %[[M]][%[[I]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      %[[G:.*]] = arith.addi %[[I]], %[[C1]] : index
// CHECK-NEXT:      %[[X6:.*]] = vector.load %[[M]][%[[G]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      vector.store %[[X6]], %[[OUT]][%[[A]]] : memref<32xf32>, vector<4xf32>
// CHECK-NEXT:      vector.store %[[W]], %[[OUT]][%{{.*}}] : memref<32xf32>, vector<8xf32>
// CHECK-NEXT:    }
func.func @reuse(%m: memref<32xf32>, %out: memref<32xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  scf.for %i = %c0 to %n step %c1 {
    %a = arith.addi %i, %c1 : index
    %x0 = vector.load %m[%a] : memref<32xf32>, vector<4xf32>
    %b = arith.addi %i, %c1 : index
    %x1 = vector.load %m[%b] : memref<32xf32>, vector<4xf32>
    %c = arith.addi %c1, %i : index
    %x2 = vector.load %m[%c] : memref<32xf32>, vector<4xf32>
    %d = arith.addi %i, %c2 : index
    %x3 = vector.load %m[%d] : memref<32xf32>, vector<4xf32>
    %e = arith.addi %a, %c1 : index
    %x4 = vector.load %m[%e] : memref<32xf32>, vector<4xf32>
    %w = vector.load %m[%a] : memref<32xf32>, vector<8xf32>
    %s0 = arith.addf %x0, %x1 : vector<4xf32>
    %s1 = arith.addf %s0, %x2 : vector<4xf32>
    %s2 = arith.addf %s1, %x3 : vector<4xf32>
    %s3 = arith.addf %s2, %x4 : vector<4xf32>
    vector.store %s3, %out[%i] : memref<32xf32>, vector<4xf32>
    %f = arith.addi %i, %c1 : index
    %x5 = vector.load %m[%f] : memref<32xf32>, vector<4xf32>
    vector.store %x5, %m[%i] : memref<32xf32>, vector<4xf32>
    %g = arith.addi %i, %c1 : index
    %x6 = vector.load %m[%g] : memref<32xf32>, vector<4xf32>
    vector.store %x6, %out[%a] : memref<32xf32>, vector<4xf32>
    vector.store %w, %out[%c0] : memref<32xf32>, vector<8xf32>
  }
  func.return
}
