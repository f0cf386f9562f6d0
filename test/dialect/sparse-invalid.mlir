// RUN: patdnn-opt %s --parsing-diagnostics --verify-diagnostics --split-input-file | filecheck %s

// patdnn.sparse_conv1x1

%x, %o, %i, %v = "test.op"() : () -> (tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32>)
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x5x5xf32>

// CHECK: Operation does not verify: result shape [1, 6, 5, 5] must be [1, Cout, 7, 7]: a 1x1 convolution keeps the batch and the plane

// -----

%x, %o, %i, %v = "test.op"() : () -> (tensor<1x16x7x7xf32>, tensor<4xi32>, tensor<3xi32>, tensor<3x4xf32>)
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<4xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: offset (the stored range of each of the 2 blocks) must be tensor<3xi32>, got tensor<4xi32>

// -----

%x, %o, %i, %v = "test.op"() : () -> (tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<2xi32>, tensor<3x4xf32>)
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<2xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: index (the input column of each stored block) must be tensor<3xi32>, got tensor<2xi32>

// -----

%x, %o, %i, %v, %b = "test.op"() : () -> (tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32>, tensor<8xf32>)
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v bias(%b) : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> bias tensor<8xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: bias must have 6 values, got tensor<8xf32>

// -----

%x, %o, %i, %v, %r = "test.op"() : () -> (tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32>, tensor<1x6x7x6xf32>)
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v residual(%r) : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> residual tensor<1x6x7x6xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: residual shape [1, 6, 7, 6] does not match the output shape [1, 6, 7, 7]

// -----

%x = "test.op"() : () -> tensor<1x16x7x7xf32>
%o = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
%i = arith.constant dense<[1, 16, 2]> : tensor<3xi32>
%v = arith.constant dense<1.0> : tensor<3x4xf32>
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: index[1] = 16 is outside the 16 input columns 0..15

// -----

%x = "test.op"() : () -> tensor<1x16x7x7xf32>
%o = arith.constant dense<[0, 3, 2]> : tensor<3xi32>
%i = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
%v = arith.constant dense<1.0> : tensor<3x4xf32>
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: offsets must not decrease: offset[1] = 3 > offset[2] = 2

// -----

%x = "test.op"() : () -> tensor<1x16x7x7xf32>
%o = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
%i = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
%v = arith.constant dense<1.0> : tensor<3x4xf32>
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: offset[0] must be 0, got 1

// -----

%x = "test.op"() : () -> tensor<1x16x7x7xf32>
%o = arith.constant dense<[0, 2, 2]> : tensor<3xi32>
%i = arith.constant dense<[1, 2, 3]> : tensor<3xi32>
%v = arith.constant dense<1.0> : tensor<3x4xf32>
%y = patdnn.sparse_conv1x1 %x, %o, %i, %v : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x4xf32> -> tensor<1x6x7x7xf32>

// CHECK: Operation does not verify: offset[2] must be the 3 stored blocks, got 2

// -----

// patdnn.sparse_linear

%x, %o, %i, %v = "test.op"() : () -> (tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x8xf32>)
%y = patdnn.sparse_linear %x, %o, %i, %v : tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3x8xf32> -> tensor<1x10xf32>

// CHECK: Operation does not verify: result must have 2 rows like the input, got [1, 10]

// -----

%x, %o, %i, %v = "test.op"() : () -> (tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xf32>)
%y = patdnn.sparse_linear %x, %o, %i, %v : tensor<2x20xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xf32> -> tensor<2x10xf32>

// CHECK: Operation does not verify: values must have rank 2, got tensor<3xf32>

// -----

%x, %o, %i, %v = "test.op"() : () -> (tensor<2x20xf32>, tensor<3xi64>, tensor<3xi32>, tensor<3x8xf32>)
%y = patdnn.sparse_linear %x, %o, %i, %v {activation = #patdnn.activation<gelu>} : tensor<2x20xf32>, tensor<3xi64>, tensor<3xi32>, tensor<3x8xf32> -> tensor<2x10xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%x, %o, %i, %v = "test.op"() : () -> (tensor<2x20xf32>, tensor<3xi64>, tensor<3xi32>, tensor<3x8xf32>)
%y = patdnn.sparse_linear %x, %o, %i, %v : tensor<2x20xf32>, tensor<3xi64>, tensor<3xi32>, tensor<3x8xf32> -> tensor<2x10xf32>

// CHECK: Operation does not verify: offset (the stored range of each of the 2 blocks) must be tensor<3xi32>, got tensor<3xi64>

// -----

%x = "test.op"() : () -> tensor<2x20xf32>
%o = arith.constant dense<[0, 1, 2]> : tensor<3xi32>
%i = arith.constant dense<[-1, 3]> : tensor<2xi32>
%v = arith.constant dense<1.0> : tensor<2x8xf32>
%y = patdnn.sparse_linear %x, %o, %i, %v : tensor<2x20xf32>, tensor<3xi32>, tensor<2xi32>, tensor<2x8xf32> -> tensor<2x10xf32>

// CHECK: Operation does not verify: index[0] = -1 is outside the 20 input columns 0..19
