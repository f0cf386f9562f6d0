// RUN: patdnn-opt %s --parsing-diagnostics --verify-diagnostics --split-input-file | filecheck %s

// The verifiers of the MobileNet-V3 and encoder-decoder layers: each error names the
// operand or property at fault.

// patdnn.activation

%x = "test.op"() : () -> tensor<1x4x2x2xf32>
%y = patdnn.activate %x {activation = #patdnn.activation<gelu>} : tensor<1x4x2x2xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%x = "test.op"() : () -> tensor<1x4x2x2xf32>
%y = patdnn.activate %x {activation = #patdnn.activation<none>} : tensor<1x4x2x2xf32>

// CHECK: Operation does not verify: activation none does nothing: use the input itself

// -----

%x = "test.op"() : () -> tensor<1x4x2x2xi32>
%y = patdnn.activate %x {activation = #patdnn.activation<relu>} : tensor<1x4x2x2xi32>

// CHECK: input must be a tensor of f32, got tensor<1x4x2x2xi32>

// -----

// patdnn.mul

%x, %s = "test.op"() : () -> (tensor<1x16x8x8xf32>, tensor<1x8x1x1xf32>)
%y = patdnn.mul %x, %s : tensor<1x16x8x8xf32>, tensor<1x8x1x1xf32> -> tensor<1x16x8x8xf32>

// CHECK: Operation does not verify: rhs (the scale) must have the shape of lhs [1, 16, 8, 8] or one value per channel [1, 16, 1, 1], got [1, 8, 1, 1]

// -----

%x, %s = "test.op"() : () -> (tensor<1x16x8x8xf32>, tensor<1x16xf32>)
%y = patdnn.mul %x, %s : tensor<1x16x8x8xf32>, tensor<1x16xf32> -> tensor<1x16x8x8xf32>

// CHECK: Operation does not verify: rhs (the scale) must have rank 4, got tensor<1x16xf32>

// -----

%x, %s = "test.op"() : () -> (tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32>)
%y = patdnn.mul %x, %s : tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32> -> tensor<1x16x1x1xf32>

// CHECK: Operation does not verify: result must have the type of lhs tensor<1x16x8x8xf32>, got tensor<1x16x1x1xf32>

// -----

// patdnn.concat

%a, %b = "test.op"() : () -> (tensor<1x3x5x5xf32>, tensor<1x4x5x6xf32>)
%y = patdnn.concat %a, %b : tensor<1x3x5x5xf32>, tensor<1x4x5x6xf32> -> tensor<1x7x5x5xf32>

// CHECK: Operation does not verify: input 1 has shape [1, 4, 5, 6]: every input must have the result's batch and plane 1x?x5x5

// -----

%a, %b = "test.op"() : () -> (tensor<1x3x5x5xf32>, tensor<1x4x5x5xf32>)
%y = patdnn.concat %a, %b : tensor<1x3x5x5xf32>, tensor<1x4x5x5xf32> -> tensor<1x8x5x5xf32>

// CHECK: Operation does not verify: result has 8 channels, the inputs have 7 together

// -----

%a, %b = "test.op"() : () -> (tensor<1x3x5x5xf32>, tensor<1x4x5xf32>)
%y = patdnn.concat %a, %b : tensor<1x3x5x5xf32>, tensor<1x4x5xf32> -> tensor<1x7x5x5xf32>

// CHECK: Operation does not verify: input 1 must have rank 4, got tensor<1x4x5xf32>

// -----

%y = patdnn.concat : -> tensor<1x7x5x5xf32>

// CHECK: Operation does not verify: concat needs at least one input

// -----

// patdnn.upsample

%x = "test.op"() : () -> tensor<1x4x5x7xf32>
%y = patdnn.upsample %x {scale = array<i64: 2, 2>} : tensor<1x4x5x7xf32> -> tensor<1x4x10x15xf32>

// CHECK: Operation does not verify: result shape [1, 4, 10, 15] does not match the input [1, 4, 5, 7] upsampled by (2, 2): [1, 4, 10, 14]

// -----

%x = "test.op"() : () -> tensor<1x4x5x7xf32>
%y = patdnn.upsample %x {scale = array<i64: 0, 2>} : tensor<1x4x5x7xf32> -> tensor<1x4x0x14xf32>

// CHECK: Operation does not verify: scale must be positive, got (0, 2)

// -----

%x = "test.op"() : () -> tensor<1x4x5x7xf32>
%y = patdnn.upsample %x {scale = array<i64: 2>} : tensor<1x4x5x7xf32> -> tensor<1x4x10x14xf32>

// CHECK: Operation does not verify: scale must be an array<i64> of 2 values, got array<i64: 2>
