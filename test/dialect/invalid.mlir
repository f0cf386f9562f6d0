// RUN: patdnn-opt %s --parsing-diagnostics --verify-diagnostics --split-input-file | filecheck %s

// The pattern library on its own: checked as it is parsed.

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: pattern library is empty: it needs at least one pattern

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], []]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: pattern 1 of the library has no taps

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)], [(1,2),(1,1),(1,0),(0,1)]]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: patterns 0 and 2 of the library keep the same taps

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,1),(1,1),(1,2)]]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: pattern 0 lists the tap (1,1) twice

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(-1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: pattern 1 has the tap (-1,0): rows and columns start at 0

// -----

// The pattern library against the kernel of its op.

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(3,1)]]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: tap (3,1) of pattern 1 lies outside the 3x3 kernel

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,1),(1,2),(2,1)]]>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: patterns of the library must have the same number of taps, got 4, 3

// -----

// patdnn.conv2d (the checks shared with pattern_conv2d).

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: strides must be an array<i64> of 2 values, got array<i64: 1, 1, 1>

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i32: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: padding must be an array<i64> of 2 values, got array<i32: 1, 1>

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 0, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: strides must be positive, got (0, 1)

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, -1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: padding must be non-negative, got (1, -1)

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<gelu>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf16>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf16>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: input must be a tensor of f32, got tensor<1x4x6x6xf16>

// -----

%x, %w = "test.op"() : () -> (tensor<4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: input must have rank 4, got tensor<4x6x6xf32>

// -----

%x, %w = "test.op"() : () -> (tensor<?x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<?x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: input must have a static shape, got tensor<?x4x6x6xf32>

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x9xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x9xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: weight must have rank 4, got tensor<8x4x9xf32>

// -----

%x, %w = "test.op"() : () -> (tensor<1x6x6x6xf32>, tensor<8x2x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 4 : i64} : tensor<1x6x6x6xf32>, tensor<8x2x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: groups (4) must divide the input channels (6) and the output channels (8)

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 0 : i64} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: groups (0) must divide the input channels (4) and the output channels (8)

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: weight expects 3 input channels, input has 4

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 2 : i64} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: weight expects 8 input channels (4 per group, 2 groups), input has 4

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 3, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x10x6xf32>

// CHECK: Operation does not verify: padding (3, 1) must be smaller than the 3x3 kernel

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x2x2xf32>, tensor<8x4x5x5xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x2x2xf32>, tensor<8x4x5x5xf32> -> tensor<1x8x1x1xf32>

// CHECK: Operation does not verify: the 5x5 kernel does not fit the 2x2 input with padding (1, 1)

// -----

%x, %w, %b = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>, tensor<4xf32>)
%y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> bias tensor<4xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: bias has 4 values, the layer has 8 output channels

// -----

%x, %w, %b = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>, tensor<8x1xf32>)
%y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> bias tensor<8x1xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: bias must have rank 1, got tensor<8x1xf32>

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.conv2d %x, %w {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: result shape [1, 8, 6, 6] does not match the convolution's output shape [1, 8, 3, 3]

// -----

%x, %w, %r = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>, tensor<1x8x3x3xf32>)
%y = patdnn.conv2d %x, %w residual(%r) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> residual tensor<1x8x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: residual shape [1, 8, 3, 3] does not match the output shape [1, 8, 6, 6]

// -----

// patdnn.pattern_conv2d

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x2x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, groups = 2 : i64, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x4x6x6xf32>, tensor<8x2x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: pattern_conv2d supports groups = 1 only, got 2

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<4x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, filter_order = array<i64: 0, 2, 2, 3>} : tensor<1x4x6x6xf32>, tensor<4x4x3x3xf32> -> tensor<1x4x6x6xf32>

// CHECK: Operation does not verify: filter_order must be a permutation of 0..3, got [0, 2, 2, 3]

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<4x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, filter_order = array<i64: 0, 1, 2>} : tensor<1x4x6x6xf32>, tensor<4x4x3x3xf32> -> tensor<1x4x6x6xf32>

// CHECK: Operation does not verify: filter_order must be a permutation of 0..3, got [0, 1, 2]

// -----

%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)
%y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>

// CHECK: Operation does not verify: property 'patterns' expected in operation 'patdnn.pattern_conv2d'

// -----

// patdnn.fkw_conv2d: FKW arrays for 2 filters, 3 kernels, a library of 1 pattern.

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: kernel must be an array<i64> of 2 values, got array<i64: 3>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 0, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: kernel must be positive, got (0, 3)

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, -2>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: strides must be positive, got (1, -2)

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: -1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: padding must be non-negative, got (-1, 1)

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>, activation = #patdnn.activation<sigmoid>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(0,0),(1,1),(2,2),(3,3)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: tap (3,3) of pattern 1 lies outside the 3x3 kernel

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(0,0),(1,1),(2,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: patterns of the library must have the same number of taps, got 4, 3

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: result shape [1, 2, 5, 5] does not match the convolution's output shape [1, 2, 3, 3]

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<3xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: reorder (the original id of each filter) must be tensor<2xi32>, got tensor<3xi32>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi64>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi64>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: offset (the kernel range of each filter) must be tensor<3xi32>, got tensor<3xi64>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3x1xi32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3x1xi32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: index (the input channel of each kernel) must be a 1-D tensor, got tensor<3x1xi32>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xf32>, tensor<2x2xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xf32>, tensor<2x2xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: index (the input channel of each kernel) must be tensor<3xi32>, got tensor<3xf32>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: pattern_bounds (the kernel range of each pattern in each filter) must be tensor<2x2xi32>, got tensor<2x3xi32>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x9xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x9xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: weight must be tensor<3x4xf32> (3 kernels of 4 taps), got tensor<3x9xf32>

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight, %b = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>, tensor<3xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight bias(%b) {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> bias tensor<3xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: bias has 3 values, the layer has 2 output channels

// -----

%x, %reorder, %offset, %index, %pattern_bounds, %weight, %r = "test.op"() : () -> (tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32>, tensor<1x2x4x4xf32>)
%y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight residual(%r) {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>} : tensor<1x2x5x5xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x2xi32>, tensor<3x4xf32> residual tensor<1x2x4x4xf32> -> tensor<1x2x5x5xf32>

// CHECK: Operation does not verify: residual shape [1, 2, 4, 4] does not match the output shape [1, 2, 5, 5]

// -----

// patdnn.pool2d

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<min>, kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>

// CHECK: Expected `max`, or `avg`.

// -----

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 2, 2, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>

// CHECK: Operation does not verify: kernel must be an array<i64> of 2 values, got array<i64: 2, 2, 2>

// -----

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 0, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>

// CHECK: Operation does not verify: kernel must be positive, got (0, 2)

// -----

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<avg>, kernel = array<i64: 2, 2>, strides = array<i64: 2, 0>, padding = array<i64: 0, 0>} : tensor<1x4x8x8xf32> -> tensor<1x4x4x4xf32>

// CHECK: Operation does not verify: strides must be positive, got (2, 0)

// -----

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 2, 1>} : tensor<1x4x8x8xf32> -> tensor<1x4x5x4xf32>

// CHECK: Operation does not verify: padding (2, 1) must be at most half the 3x3 window

// -----

%x = "test.op"() : () -> tensor<1x4x8x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 3, 3>, strides = array<i64: 2, 2>, padding = array<i64: 1, 1>} : tensor<1x4x8x8xf32> -> tensor<1x4x3x3xf32>

// CHECK: Operation does not verify: result shape [1, 4, 3, 3] does not match the pooling's output shape [1, 4, 4, 4]

// -----

%x = "test.op"() : () -> tensor<1x4x8xf32>
%y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 2, 2>, strides = array<i64: 2, 2>, padding = array<i64: 0, 0>} : tensor<1x4x8xf32> -> tensor<1x4x4x4xf32>

// CHECK: Operation does not verify: input must have rank 4, got tensor<1x4x8xf32>

// -----

// patdnn.global_avg_pool

%x = "test.op"() : () -> tensor<1x4x7x7xf32>
%y = patdnn.global_avg_pool %x : tensor<1x4x7x7xf32> -> tensor<1x4x7x1xf32>

// CHECK: Operation does not verify: result shape [1, 4, 7, 1] must be [1, 4, 1, 1]

// -----

// patdnn.linear

%x, %w = "test.op"() : () -> (tensor<1x16xf32>, tensor<10x16xf32>)
%y = patdnn.linear %x, %w {activation = #patdnn.activation<tanh>} : tensor<1x16xf32>, tensor<10x16xf32> -> tensor<1x10xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%x, %w = "test.op"() : () -> (tensor<1x16xf32>, tensor<10x12xf32>)
%y = patdnn.linear %x, %w : tensor<1x16xf32>, tensor<10x12xf32> -> tensor<1x10xf32>

// CHECK: Operation does not verify: weight takes 12 input features, input has 16

// -----

%x, %w, %b = "test.op"() : () -> (tensor<1x16xf32>, tensor<10x16xf32>, tensor<16xf32>)
%y = patdnn.linear %x, %w bias(%b) : tensor<1x16xf32>, tensor<10x16xf32> bias tensor<16xf32> -> tensor<1x10xf32>

// CHECK: Operation does not verify: bias must have 10 values, got tensor<16xf32>

// -----

%x, %w = "test.op"() : () -> (tensor<2x16xf32>, tensor<10x16xf32>)
%y = patdnn.linear %x, %w : tensor<2x16xf32>, tensor<10x16xf32> -> tensor<1x10xf32>

// CHECK: Operation does not verify: result must be tensor<2x10xf32>, got tensor<1x10xf32>

// -----

// patdnn.add

%a, %b = "test.op"() : () -> (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>)
%y = patdnn.add %a, %b {activation = #patdnn.activation<gelu>} : tensor<1x4x2x2xf32>

// CHECK: Expected `none`, `relu`, `relu6`, `hardswish`, or `hardsigmoid`.

// -----

%a, %b = "test.op"() : () -> (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>)
%y = "patdnn.add"(%a, %b) : (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>) -> tensor<1x4x4x1xf32>

// CHECK: attribute tensor<1x4x2x2xf32> expected from variable 'T', but got tensor<1x4x4x1xf32>

// -----

// patdnn.reshape

%x = "test.op"() : () -> tensor<1x8x1x1xf32>
%y = patdnn.reshape %x : tensor<1x8x1x1xf32> -> tensor<1x8xi32>

// CHECK: Operation does not verify: input tensor<1x8x1x1xf32> and result tensor<1x8xi32> have different element types

// -----

%x = "test.op"() : () -> tensor<1x8x1x1xf32>
%y = patdnn.reshape %x : tensor<1x8x1x1xf32> -> tensor<1x6xf32>

// CHECK: Operation does not verify: input tensor<1x8x1x1xf32> has 8 elements, result tensor<1x6xf32> has 6
