// RUN: patdnn-opt %s -p convert-torch-to-patdnn | filecheck %s
// RUN: patdnn-opt %s -p convert-torch-to-patdnn | patdnn-opt | filecheck %s

// Weights given as blobs in the dialect_resources section, as MLIR prints them: the
// conversion reads them (the layer is pattern-pruned, so it becomes a pattern_conv2d),
// keeps them as dense_resource handles, and writes the blobs back so the output
// parses again with its weights. The weight is that of pattern-conv.mlir: per kernel,
// P0 = (0,1),(1,0),(1,1),(1,2) 4 times, P1 = (1,0),(1,1),(1,2),(2,1) 3 times, 1 empty.

// CHECK-LABEL: func.func @resources
// CHECK-SAME:  (%[[X:.*]]: tensor<1x2x4x4xf32>) -> tensor<1x4x4x4xf32>
// CHECK-DAG:     %[[W:.*]] = arith.constant dense_resource<features.3.weight> : tensor<4x2x3x3xf32>
// CHECK-DAG:     %[[B:.*]] = arith.constant dense_resource<features.3.bias> : tensor<4xf32>
// CHECK:         %[[Y:.*]] = patdnn.pattern_conv2d %[[X]], %[[W]] bias(%[[B]]) {{.*}}activation = #patdnn.activation<relu>, layer = "features.3", patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>}
// CHECK-NEXT:    func.return %[[Y]] : tensor<1x4x4x4xf32>
// CHECK:       dialect_resources: {
// CHECK-NEXT:    builtin: {
// CHECK-DAG:       features.3.bias: "0x040000000000003f000000bf0000803f00000000"
// CHECK-DAG:       features.3.weight: "0x04000000000000000000803f000000000000004000004040000080400000000000000000000000000000000000000000000000000000a0400000c0400000e04000000000000000410000000000000000000010410000000000002041000030410000404100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000005041000060410000704100000000000080410000000000000000000088410000000000009041000098410000a0410000000000000000000000000000000000000000000000000000a8410000b0410000b841000000000000c04100000000000000000000c841000000000000d0410000d8410000e041000000000000000000000000"

func.func @resources(%arg0: !torch.vtensor<[1,2,4,4],f32>) -> !torch.vtensor<[1,4,4,4],f32> {
  %w = torch.vtensor.literal(dense_resource<features.3.weight> : tensor<4x2x3x3xf32>) : !torch.vtensor<[4,2,3,3],f32>
  %b = torch.vtensor.literal(dense_resource<features.3.bias> : tensor<4xf32>) : !torch.vtensor<[4],f32>
  %int1 = torch.constant.int 1
  %ones = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.conv2d %arg0, %w, %b, %ones, %ones, %ones, %int1 {patdnn.layer = "features.3"} : !torch.vtensor<[1,2,4,4],f32>, !torch.vtensor<[4,2,3,3],f32>, !torch.vtensor<[4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,4,4,4],f32>
  %1 = torch.aten.relu %0 : !torch.vtensor<[1,4,4,4],f32> -> !torch.vtensor<[1,4,4,4],f32>
  return %1 : !torch.vtensor<[1,4,4,4],f32>
}

{-#
  dialect_resources: {
    builtin: {
      features.3.weight: "0x04000000000000000000803f000000000000004000004040000080400000000000000000000000000000000000000000000000000000a0400000c0400000e04000000000000000410000000000000000000010410000000000002041000030410000404100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000005041000060410000704100000000000080410000000000000000000088410000000000009041000098410000a0410000000000000000000000000000000000000000000000000000a8410000b0410000b841000000000000c04100000000000000000000c841000000000000d0410000d8410000e041000000000000000000000000",
      features.3.bias: "0x040000000000003f000000bf0000803f00000000"
    }
  }
#-}
