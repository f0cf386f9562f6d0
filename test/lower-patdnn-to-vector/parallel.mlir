// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 parallel=true}' | filecheck %s

// With `parallel`, each phase of tasks is a function of its own, whose last argument
// is the task index; the module lists the phases in order with their task counts
// (and the workspace size) for the entry point that runs them on a thread pool.
// A padded 3x3 layer is two phases: its scratch copy (2 tasks: one per input-channel
// range), then its tiles (one 4-row block x 2 filter classes); the residual add reads
// the conv's output and the input: one phase of 16 ranges of whole vectors. The
// workspace holds the scratch copy (576 bytes and a vector of slack, 640) and the conv's
// output (256).

// CHECK:       builtin.module attributes {patdnn.entries = {chain = [896 : i64, [["chain_task0", 2 : i64], ["chain_task1", 2 : i64], ["chain_task2", 16 : i64]]]}

// The copy task: it reads only the input and the scratch view it recreates.
// CHECK-LABEL: func.func @chain_task0
// CHECK-SAME:    (%[[X:.*]]: memref<1x2x4x8xf32> {llvm.noalias}, %{{.*}}: memref<1x2x4x8xf32> {llvm.noalias}, %{{.*}}: memref<144xi8> {llvm.noalias}, %[[WS:.*]]: memref<896xi8> {llvm.noalias}, %[[TASK:.*]]: index)
// CHECK-NOT:     memref.view %{{.*}} : memref<144xi8>
// CHECK:         %[[FLAT:.*]] = memref.view %[[WS]][%{{.*}}][] : memref<896xi8> to memref<148xf32>
// CHECK-NEXT:    %[[P:.*]] = memref.reinterpret_cast %[[FLAT]] {{.*}} to memref<2x1x1x6x12xf32>
// CHECK:         arith.addi %[[TASK]]
// CHECK:         vector.load %[[X]]
// CHECK:         vector.store %{{.*}}, %[[P]]
// CHECK:         func.return

// The tiles: the weights and the scratch copy, which they only read.
// CHECK-LABEL: func.func @chain_task1
// CHECK-SAME:    %[[TASK:[^:]*]]: index)
// CHECK:         memref.view %{{.*}} : memref<144xi8> to memref<2x2x3x3xf32>
// CHECK:         arith.divui %[[TASK]]
// CHECK-NOT:     vector.store %{{.*}}, %{{.*}} : memref<2x1x1x6x12xf32>
// CHECK:         func.return

// CHECK-LABEL: func.func @chain_task2
// CHECK:         arith.addf
// CHECK:         func.return
func.func @chain(%x: tensor<1x2x4x8xf32>) -> tensor<1x2x4x8xf32> {
  %w = arith.constant dense<0.5> : tensor<2x2x3x3xf32>
  %a = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x2x4x8xf32>, tensor<2x2x3x3xf32> -> tensor<1x2x4x8xf32>
  %y = patdnn.add %a, %x : tensor<1x2x4x8xf32>
  func.return %y : tensor<1x2x4x8xf32>
}
