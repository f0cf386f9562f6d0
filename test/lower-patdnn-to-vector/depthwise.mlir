// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 parallel=true}' | filecheck %s

// A depthwise 3x3/2 layer (3 groups of one channel) is one phase: each task (one per
// group here) has its own padded, phase-split plane in the workspace (3 x 2 x 2 x 5 x
// 8 floats, rows as long as the output reads, and one vector of slack: 1936 bytes, 1984
// with the workspace's alignment), fills its padding rows, then per channel gathers the phase
// rows from the input (each input vector loaded once at its aligned column, the last one
// masked at the row's end, each pair split into its odd and even lanes; the phase of
// column offset -1 is the odd lanes moved up one lane, the padding in front) and computes
// the channel's tiles from the plane, its 9 weights and bias loaded once.

// CHECK:       builtin.module attributes {patdnn.entries = {depthwise = [1984 : i64, [["depthwise_task0", 3 : i64]]]}

// CHECK-LABEL: func.func @depthwise_task0
// CHECK-SAME:    (%[[X:.*]]: memref<1x3x7x9xf32> {llvm.noalias}, %[[Y:.*]]: memref<1x3x4x5xf32> {llvm.noalias}, %{{.*}}: memref<140xi8> {llvm.noalias}, %[[WS:.*]]: memref<1984xi8> {llvm.noalias}, %[[TASK:.*]]: index)
// CHECK:         %[[W:.*]] = memref.view %{{.*}} : memref<140xi8> to memref<3x1x3x3xf32>
// CHECK:         %[[FLAT:.*]] = memref.view %[[WS]][%{{.*}}][] : memref<1984xi8> to memref<484xf32>
// CHECK-NEXT:    %[[P:.*]] = memref.reinterpret_cast %[[FLAT]] to offset: [0], sizes: [3, 2, 2, 5, 8]
// CHECK:         vector.store %[[ZERO:.*]], %[[P]][%[[TASK]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK-NOT:     memref.load %[[X]]
// CHECK:         scf.for %[[N:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:      scf.for %[[G:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        scf.for
// CHECK:               %[[LOW:.*]] = vector.load %[[X]][%[[N]], %[[G]], %{{.*}}, %[[C0:.*]]]
// CHECK-NEXT:          %[[HIGH:.*]] = vector.load %[[X]][%[[N]], %[[G]], %{{.*}}, %[[C4:.*]]]
// CHECK-NEXT:          %[[ODD:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [1, 3, 5, 7]
// CHECK-NEXT:          %[[FIRST:.*]] = vector.shuffle %[[ZERO]], %[[ODD]] [3, 4, 5, 6]
// CHECK-NEXT:          %[[EDGE:.*]] = vector.maskedload %[[X]]
// CHECK-NEXT:          %[[ODD2:.*]] = vector.shuffle %[[EDGE]], %[[ZERO]] [1, 3, 5, 7]
// CHECK:               %[[EVEN:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [0, 2, 4, 6]
// CHECK-NEXT:          %[[EVEN2:.*]] = vector.shuffle %[[EDGE]], %[[ZERO]] [0, 2, 4, 6]
// CHECK-NEXT:          vector.store %[[FIRST]], %[[P]][%[[TASK]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C0]]]
// CHECK-NEXT:          vector.store %{{.*}}, %[[P]][%[[TASK]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C4]]]
// CHECK-NEXT:          vector.store %[[EVEN]], %[[P]][%[[TASK]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C0]]]
// CHECK-NEXT:          vector.store %[[EVEN2]], %[[P]][%[[TASK]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C4]]]
// CHECK-NOT:     memref.load %[[X]]
// CHECK:             memref.load %[[W]][%[[G]], %{{.*}}, %{{.*}}, %{{.*}}]
// CHECK:             scf.for
// CHECK:               vector.load %{{.*}} : memref<484xf32>, vector<4xf32>
// CHECK-NEXT:          vector.fma
// CHECK:               vector.store %{{.*}}, %[[Y]][%[[N]], %[[G]], %{{.*}}, %{{.*}}]
// CHECK:               vector.maskedstore %[[Y]][%[[N]], %[[G]], %{{.*}}, %{{.*}}]
// CHECK:         func.return
// CHECK-NOT:     func.func @depthwise_task1
func.func @depthwise(%x: tensor<1x3x7x9xf32>) -> tensor<1x3x4x5xf32> {
  %w = arith.constant dense<0.5> : tensor<3x1x3x3xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, groups = 3 : i64} : tensor<1x3x7x9xf32>, tensor<3x1x3x3xf32> bias tensor<3xf32> -> tensor<1x3x4x5xf32>
  func.return %y : tensor<1x3x4x5xf32>
}
