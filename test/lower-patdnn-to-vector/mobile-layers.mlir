// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4}' --split-input-file | filecheck %s

// Nearest upsampling 2x2 of rows 5 wide: per input row, one full vector spread by two
// shuffles into two output vectors, each stored in both output rows; the 1-lane tail
// spreads into one vector of 2 active lanes (no shuffle for lanes past the row).

// CHECK-LABEL: func.func @upsample
// CHECK-SAME:    (%[[X:.*]]: memref<1x2x3x5xf32> {llvm.noalias}, %[[Y:.*]]: memref<1x2x6x10xf32> {llvm.noalias}
// CHECK:         %[[IN:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [6, 5], strides: [5, 1]
// CHECK-NEXT:    %[[OUT:.*]] = memref.reinterpret_cast %[[Y]] to offset: [0], sizes: [6, 2, 10], strides: [20, 10, 1]
// The tasks: ranges of the 6 input rows.
// CHECK:         scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           scf.for %[[R:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:      scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        %[[V:.*]] = vector.load %[[IN]][%[[R]], %[[C]]] : memref<6x5xf32>, vector<4xf32>
// CHECK-NEXT:        %[[LO:.*]] = vector.shuffle %[[V]], %[[V]] [0, 0, 1, 1]
// CHECK-NEXT:        %[[HI:.*]] = vector.shuffle %[[V]], %[[V]] [2, 2, 3, 3]
// CHECK-NEXT:        %[[AT:.*]] = arith.muli %[[C]], %{{.*}} : index
// CHECK-NEXT:        vector.store %[[LO]], %[[OUT]][%[[R]], %{{.*}}, %[[AT]]]
// CHECK-NEXT:        vector.store %[[LO]], %[[OUT]][%[[R]], %{{.*}}, %[[AT]]]
// CHECK-NEXT:        %[[AT2:.*]] = arith.addi %[[AT]], %{{.*}} : index
// CHECK-NEXT:        vector.store %[[HI]], %[[OUT]][%[[R]], %{{.*}}, %[[AT2]]]
// CHECK-NEXT:        vector.store %[[HI]], %[[OUT]][%[[R]], %{{.*}}, %[[AT2]]]
// CHECK-NEXT:      }
// CHECK-NEXT:      %[[T:.*]] = vector.maskedload %[[IN]]
// CHECK-NEXT:      %[[TLO:.*]] = vector.shuffle %[[T]], %[[T]] [0, 0, 1, 1]
// CHECK-NEXT:      vector.maskedstore %[[OUT]][%[[R]], %{{.*}}, %{{.*}}], %{{.*}}, %[[TLO]]
// CHECK-NEXT:      vector.maskedstore %[[OUT]][%[[R]], %{{.*}}, %{{.*}}], %{{.*}}, %[[TLO]]
// CHECK-NEXT:    }
func.func @upsample(%x: tensor<1x2x3x5xf32>) -> tensor<1x2x6x10xf32> {
  %y = patdnn.upsample %x {scale = array<i64: 2, 2>} : tensor<1x2x3x5xf32> -> tensor<1x2x6x10xf32>
  func.return %y : tensor<1x2x6x10xf32>
}

// -----

// A squeeze-and-excitation scale (one broadcast per plane), a hardswish on its own
// (x * min(max(x + 3, 0), 6) / 6) and a concat: input 0 copied to the result's elements
// 0..29 and input 1 to 30..74, each as full vectors and a masked tail.

// CHECK-LABEL: func.func @scale_hardswish_concat
// CHECK-SAME:    (%[[X:.*]]: memref<1x2x3x5xf32> {llvm.noalias}, %[[S:.*]]: memref<1x2x1x1xf32> {llvm.noalias}, %[[B:.*]]: memref<1x3x3x5xf32> {llvm.noalias}, %[[Y:.*]]: memref<1x5x3x5xf32> {llvm.noalias}
// CHECK-DAG:     %[[THREE:.*]] = arith.constant dense<3.000000e+00> : vector<4xf32>
// CHECK-DAG:     %[[SIX:.*]] = arith.constant dense<6.000000e+00> : vector<4xf32>
// CHECK-DAG:     %[[OFFSET:.*]] = arith.constant 30 : index
// CHECK-DAG:     %[[LAST:.*]] = arith.constant 74 : index
// CHECK:         %[[SCALES:.*]] = memref.reinterpret_cast %[[S]] to offset: [0], sizes: [2], strides: [1]
// CHECK:         %[[F:.*]] = memref.load %[[SCALES]][%{{.*}}] : memref<2xf32>
// CHECK-NEXT:    %[[FV:.*]] = vector.broadcast %[[F]] : f32 to vector<4xf32>
// CHECK:           arith.mulf %{{.*}}, %[[FV]] : vector<4xf32>
// CHECK:         %[[A:.*]] = vector.load
// CHECK-NEXT:    %[[P3:.*]] = arith.addf %[[A]], %[[THREE]] : vector<4xf32>
// CHECK-NEXT:    %[[LOW:.*]] = arith.maximumf %[[P3]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:    %[[GATE:.*]] = arith.minimumf %[[LOW]], %[[SIX]] : vector<4xf32>
// CHECK-NEXT:    %[[XG:.*]] = arith.mulf %[[A]], %[[GATE]] : vector<4xf32>
// CHECK-NEXT:    arith.divf %[[XG]], %[[SIX]] : vector<4xf32>
// CHECK:         %[[DST:.*]] = memref.reinterpret_cast %[[Y]] to offset: [0], sizes: [1, 75], strides: [75, 1]
// CHECK:         %[[B2:.*]] = memref.reinterpret_cast %[[B]] to offset: [0], sizes: [1, 45], strides: [45, 1]
// CHECK:           %[[V:.*]] = vector.load %[[B2]][%{{.*}}, %[[I:.*]]] : memref<1x45xf32>, vector<4xf32>
// CHECK-NEXT:      %[[J:.*]] = arith.addi %[[I]], %[[OFFSET]] : index
// CHECK-NEXT:      vector.store %[[V]], %[[DST]][%{{.*}}, %[[J]]] : memref<1x75xf32>, vector<4xf32>
// CHECK:           vector.maskedstore %[[DST]][%{{.*}}, %[[LAST]]]
func.func @scale_hardswish_concat(%x: tensor<1x2x3x5xf32>, %s: tensor<1x2x1x1xf32>, %b: tensor<1x3x3x5xf32>) -> tensor<1x5x3x5xf32> {
  %m = patdnn.mul %x, %s : tensor<1x2x3x5xf32>, tensor<1x2x1x1xf32> -> tensor<1x2x3x5xf32>
  %a = patdnn.activate %m {activation = #patdnn.activation<hardswish>} : tensor<1x2x3x5xf32>
  %y = patdnn.concat %a, %b : tensor<1x2x3x5xf32>, tensor<1x3x3x5xf32> -> tensor<1x5x3x5xf32>
  func.return %y : tensor<1x5x3x5xf32>
}

// -----

// A concat inside the function (batch 1): the upsample writes its output straight into
// channels 3..4 of the concat's workspace buffer (bytes 720.., no copy); the argument
// %b is copied into channels 0..2; the concat's buffer (1200 bytes) is the workspace.

// CHECK-LABEL: func.func @concat_in_place
// CHECK-SAME:    %[[B:[^:]*]]: memref<1x3x6x10xf32> {llvm.noalias}, %{{.*}}: memref<1x5x6x10xf32> {llvm.noalias}, %{{.*}}: memref<1xi8> {llvm.noalias}, %[[WS:.*]]: memref<1216xi8> {llvm.noalias})
// CHECK:         %[[C:.*]] = memref.view %[[WS]][%{{.*}}][] : memref<1216xi8> to memref<1x5x6x10xf32>
// CHECK-NEXT:    %[[AT2:.*]] = arith.constant 720 : index
// CHECK-NEXT:    %[[U:.*]] = memref.view %[[WS]][%[[AT2]]][] : memref<1216xi8> to memref<1x2x6x10xf32>
// CHECK:         %[[UROWS:.*]] = memref.reinterpret_cast %[[U]] to offset: [0], sizes: [6, 2, 10]
// CHECK:         vector.store %{{.*}}, %[[UROWS]]
// CHECK:         %[[CFLAT:.*]] = memref.reinterpret_cast %[[C]] to offset: [0], sizes: [1, 300]
// CHECK-NEXT:    %[[BFLAT:.*]] = memref.reinterpret_cast %[[B]] to offset: [0], sizes: [1, 180]
// CHECK:           vector.load %[[BFLAT]]
// CHECK-NEXT:      vector.store %{{.*}}, %[[CFLAT]]
// CHECK-NOT:     vector.store %{{.*}}, %[[CFLAT]]
// CHECK:         memref.reinterpret_cast %[[C]] to offset: [0], sizes: [300]
func.func @concat_in_place(%a: tensor<1x2x3x5xf32>, %b: tensor<1x3x6x10xf32>) -> tensor<1x5x6x10xf32> {
  %u = patdnn.upsample %a {scale = array<i64: 2, 2>} : tensor<1x2x3x5xf32> -> tensor<1x2x6x10xf32>
  %c = patdnn.concat %b, %u : tensor<1x3x6x10xf32>, tensor<1x2x6x10xf32> -> tensor<1x5x6x10xf32>
  %y = patdnn.activate %c {activation = #patdnn.activation<relu>} : tensor<1x5x6x10xf32>
  func.return %y : tensor<1x5x6x10xf32>
}
