// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4}' | filecheck %s
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4 output-prefetch=0}' | filecheck %s --check-prefix=OFF

// Every tile of a pattern layer prefetches for writing the output lines it stores, one
// per line of each of its rows (a tile of 2 rows x 2 vectors: the first and the last
// float of each row's 8, as the row may start anywhere in a line), before its kernels;
// `output-prefetch=0` leaves them out.

// CHECK-LABEL: func.func @fkw
// CHECK-SAME:    %{{[^:]*}}: memref<1x2x5x10xf32> {llvm.noalias}, %[[Y:[^:]*]]: memref<1x2x5x10xf32>
// CHECK-COUNT-4: "memref.prefetch"(%[[Y]], {{.*}}) <{isWrite = true, localityHint = 3 : i32, isDataCache = true}>
// CHECK-NOT:     isWrite = true
// CHECK:         scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>, vector<4xf32>, vector<4xf32>)
// CHECK:         vector.store {{.*}}, %[[Y]]

// OFF-LABEL: func.func @fkw
// OFF-NOT:   isWrite = true
func.func @fkw(%x: tensor<1x2x5x10xf32>) -> tensor<1x2x5x10xf32> {
  %reorder = arith.constant dense<[1, 0]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 1, 2], [0, 1, 1]]> : tensor<2x3xi32>
  %weight = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, tuning = {rows = 2 : i64, cols = 2 : i64}} : tensor<1x2x5x10xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x5x10xf32>
  func.return %y : tensor<1x2x5x10xf32>
}
