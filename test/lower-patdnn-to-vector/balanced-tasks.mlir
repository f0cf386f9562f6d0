// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 parallel=true}' | filecheck %s

// The tiles' tasks are chosen by their work (kernels kept per filter x rows,
// `tasks.balanced_split`). Five 1-row blocks and three filters of 4, 1 and 1 kernels
// (17, 5 and 5 units of work with the epilogue): by count, 5 row ranges x 3 filter
// classes, 15 tasks whose greedy schedule on 2 threads is 5 % over the ideal; by work,
// 4 row ranges (2, 1, 1, 1 blocks) x 3 classes, 12 tasks, 2 % over it (and 10 % on 4
// threads instead of 16 %). The copy phase: one task per input channel.

// CHECK: builtin.module attributes {patdnn.entries = {uneven = [{{[0-9]+}} : i64, [["uneven_task0", 4 : i64], ["uneven_task1", 12 : i64]]]}
func.func @uneven(%x: tensor<1x4x5x8xf32>) -> tensor<1x3x5x8xf32> {
  %reorder = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
  %offset = arith.constant dense<[0, 4, 5, 6]> : tensor<4xi32>
  %index = arith.constant dense<[0, 1, 2, 3, 0, 3]> : tensor<6xi32>
  %pattern_bounds = arith.constant dense<[[0, 4], [0, 1], [0, 1]]> : tensor<3x2xi32>
  %weight = arith.constant dense<0.25> : tensor<6x4xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, tuning = {rows = 1 : i64, cols = 2 : i64}} : tensor<1x4x5x8xf32>, tensor<3xi32>, tensor<4xi32>, tensor<6xi32>, tensor<3x2xi32>, tensor<6x4xf32> -> tensor<1x3x5x8xf32>
  func.return %y : tensor<1x3x5x8xf32>
}
