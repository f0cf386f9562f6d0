// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4}' | filecheck %s

// Intermediate activations live in the caller's workspace, at offsets planned from their
// lifetimes: %a (layer 1) is still read by layer 2 while it writes %b, so they take
// different bytes; %c (layer 3) is written after the last read of %a and reuses its
// bytes. Three buffers of 128 bytes fit in a workspace of 256. Nothing is allocated.

// CHECK-LABEL: func.func @chain
// CHECK-SAME:    %[[WS:[^:]*]]: memref<256xi8> {llvm.noalias})
// CHECK-NOT:     memref.alloc
// CHECK:         memref.view %{{.*}} : memref<16xi8> to memref<2x2x1x1xf32>
// CHECK-NEXT:    %[[A_AT:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[A:.*]] = memref.view %[[WS]][%[[A_AT]]][] : memref<256xi8> to memref<1x2x4x4xf32>
// CHECK:         %[[B_AT:.*]] = arith.constant 128 : index
// CHECK-NEXT:    %[[B:.*]] = memref.view %[[WS]][%[[B_AT]]][] : memref<256xi8> to memref<1x2x4x4xf32>
// CHECK:         %[[C_AT:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[C:.*]] = memref.view %[[WS]][%[[C_AT]]][] : memref<256xi8> to memref<1x2x4x4xf32>
// CHECK-NOT:     memref.dealloc
// CHECK:         func.return
func.func @chain(%x: tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32> {
  %w = arith.constant dense<0.5> : tensor<2x2x1x1xf32>
  %a = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %b = patdnn.conv2d %a, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %c = patdnn.conv2d %b, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  %y = patdnn.conv2d %c, %w {strides = array<i64: 1, 1>, padding = array<i64: 0, 0>} : tensor<1x2x4x4xf32>, tensor<2x2x1x1xf32> -> tensor<1x2x4x4xf32>
  func.return %y : tensor<1x2x4x4xf32>
}
