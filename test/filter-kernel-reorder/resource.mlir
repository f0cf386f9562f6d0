// RUN: patdnn-opt %s -p filter-kernel-reorder | filecheck %s
// RUN: patdnn-opt %s -p filter-kernel-reorder | patdnn-opt -p filter-kernel-reorder | filecheck %s

// Weights held as a resource: the reordered weight is a new resource named after the
// old handle. Filters: P1, P0, P0 (one kernel each), so the order is 1, 2, 0.

// CHECK-LABEL: func.func @resource
// CHECK-NEXT: %w = arith.constant dense_resource<conv.weight.fkr> : tensor<3x1x3x3xf32>
// CHECK-NEXT: %y = patdnn.pattern_conv2d %x, %w
// CHECK-SAME: filter_order = array<i64: 1, 2, 0>
// CHECK-NOT: conv.weight:
// The rows of filters 1, 2 and 0: 5, 6, 7, 8 / 9, 10, 11, 12 / 1, 2, 3, 4.
// CHECK: conv.weight.fkr: "0x04000000000000000000a040000000000000c0400000e040000000410000000000000000000000000000000000001041000000000000204100003041000040410000000000000000000000000000000000000000000000000000803f0000004000004040000000000000804000000000"
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
