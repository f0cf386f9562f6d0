// RUN: patdnn-opt %s -p fkw-layout | filecheck %s
// RUN: patdnn-opt %s -p filter-kernel-reorder,fkw-layout | filecheck %s --check-prefix=FKR

// Weights held as a resource: the FKW arrays are resources named after the weight's
// handle (without `.weight`, and without the `.fkr` suffix of a reordered weight).
// Filters: P1 (1, 2, 3, 4), P0 (5, 6, 7, 8), P0 (9, 10, 11, 12), channel 0 each.

// CHECK-LABEL: func.func @resource
// CHECK-NEXT: %reorder = arith.constant dense_resource<conv.fkw_reorder> : tensor<3xi32>
// CHECK-NEXT: %offset = arith.constant dense_resource<conv.fkw_offset> : tensor<4xi32>
// CHECK-NEXT: %index = arith.constant dense_resource<conv.fkw_index> : tensor<3xi32>
// CHECK-NEXT: %pattern_bounds = arith.constant dense_resource<conv.fkw_pattern_bounds> : tensor<3x3xi32>
// CHECK-NEXT: %weight = arith.constant dense_resource<conv.fkw_weight> : tensor<3x4xf32>
// CHECK-NEXT: %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight
// CHECK-NOT: conv.weight
// index [0, 0, 0]
// CHECK-DAG: conv.fkw_index: "0x04000000000000000000000000000000"
// offset [0, 1, 2, 3]
// CHECK-DAG: conv.fkw_offset: "0x0400000000000000010000000200000003000000"
// reorder [0, 1, 2]
// CHECK-DAG: conv.fkw_reorder: "0x04000000000000000100000002000000"
// stride [[0, 0, 1], [0, 1, 1], [0, 1, 1]]
// CHECK-DAG: conv.fkw_pattern_bounds: "0x04000000000000000000000001000000000000000100000001000000000000000100000001000000"
// weight [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
// CHECK-DAG: conv.fkw_weight: "0x040000000000803f0000004000004040000080400000a0400000c0400000e0400000004100001041000020410000304100004041"

// FKR-LABEL: func.func @resource
// FKR: %reorder = arith.constant dense_resource<conv.fkw_reorder> : tensor<3xi32>
// FKR-NOT: conv.weight
// reorder [1, 2, 0]
// FKR: conv.fkw_reorder: "0x04000000010000000200000000000000"
func.func @resource(%x: tensor<1x1x4x4xf32>) -> tensor<1x3x4x4xf32> {
  %w = arith.constant dense_resource<conv.weight> : tensor<3x1x3x3xf32>
  %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, layer = "conv"} : tensor<1x1x4x4xf32>, tensor<3x1x3x3xf32> -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

{-#
  dialect_resources: {
    builtin: {
      conv.weight: "0x040000000000000000000000000000000000803f0000004000004040000000000000804000000000000000000000a040000000000000c0400000e04000000041000000000000000000000000000000000000104100000000000020410000304100004041000000000000000000000000"
    }
  }
#-}
