// The whole vector path of a pattern layer: lower-patdnn-to-vector, load redundancy
// elimination, then upstream mlir-opt / mlir-translate to LLVM IR for aarch64 (NEON),
// and LLVM's O3 to assembly; the same IR for the host target.

// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4},load-redundancy-elimination' --print-op-generic | python -m patdnn.lowering.upstream --target aarch64 | filecheck %s
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4},load-redundancy-elimination' --print-op-generic | python -m patdnn.lowering.upstream --target aarch64 --asm | filecheck %s --check-prefix=ASM
// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4},load-redundancy-elimination' --print-op-generic | python -m patdnn.lowering.upstream --target host | python -c 'import sys, llvmlite.binding as llvm; print("host:", llvm.get_process_triple()); print(sys.stdin.read())' | filecheck %s --check-prefix=HOST

// CHECK:       target triple = "aarch64-unknown-linux-gnu"
// The C ABI: input, output, weight blob, as pointers that do not alias.
// CHECK-LABEL: define void @layer(ptr noalias %{{.*}}, ptr noalias %{{.*}}, ptr noalias %{{.*}})
// The padded copy of the input: full vectors, then the masked tail.
// CHECK:         load <4 x float>, ptr %{{.*}}
// CHECK:         call <4 x float> @llvm.masked.load.v4f32.p0(ptr align 4 %{{.*}}, <4 x i1> <i1 true, i1 true, i1 false, i1 false>, <4 x float> zeroinitializer)
// CHECK:         call void @llvm.masked.store.v4f32.p0(<4 x float> %{{.*}}, ptr align 4 %{{.*}}, <4 x i1> <i1 true, i1 true, i1 false, i1 false>)
// The accumulators are loop-carried registers; vector.fma is a fused multiply-add.
// CHECK:         phi <4 x float>
// CHECK:         call <4 x float> @llvm.fmuladd.v4f32(<4 x float> %{{.*}}, <4 x float> %{{.*}}, <4 x float> %{{.*}})
// The epilogue: relu, then a full and a masked store to the output.
// CHECK:         call <4 x float> @llvm.maximum.v4f32(<4 x float> %{{.*}}, <4 x float> zeroinitializer)
// CHECK:         store <4 x float> %{{.*}}, ptr %{{.*}}
// CHECK:         call void @llvm.masked.store.v4f32.p0(<4 x float>
// CHECK:         ret void

// NEON: the multiply-adds of a pattern group are `fmla` by a lane of the weights, in
// a loop (a block that branches back to a label before it).
// ASM-LABEL: layer:
// ASM:         fmla v{{[0-9]+}}.4s, v{{[0-9]+}}.4s, v{{[0-9]+}}.s[{{[0-3]}}]
// ASM-NOT:     {{^\.LBB}}
// ASM:         fmla v{{[0-9]+}}.4s, v{{[0-9]+}}.4s, v{{[0-9]+}}.s[{{[0-3]}}]
// ASM-NOT:     {{^\.LBB}}
// ASM:         b.{{[a-z]+}} [[LOOP:\.LBB0_[0-9]+]]
// ASM-NOT:     {{^}}[[LOOP]]:

// HOST:        host: [[TRIPLE:.+]]
// HOST:        target triple = "[[TRIPLE]]"
// HOST-LABEL:  define void @layer(ptr noalias %{{.*}}, ptr noalias %{{.*}}, ptr noalias %{{.*}})
// HOST:        call <4 x float> @llvm.fmuladd.v4f32(

func.func @layer(%x: tensor<1x2x5x6xf32>) -> tensor<1x2x5x6xf32> {
  %reorder = arith.constant dense<[1, 0]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 1, 2], [0, 1, 1]]> : tensor<2x3xi32>
  %weight = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu>} : tensor<1x2x5x6xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> -> tensor<1x2x5x6xf32>
  func.return %y : tensor<1x2x5x6xf32>
}
