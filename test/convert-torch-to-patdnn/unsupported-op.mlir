// RUN: patdnn-opt %s -p convert-torch-to-patdnn --split-input-file --parsing-diagnostics | filecheck %s
// RUN: not patdnn-opt %s -p convert-torch-to-patdnn --split-input-file 2>&1 | filecheck %s --check-prefix=EXIT

// An op outside the torch subset does not parse: the error names it and points at it.

func.func @gelu(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %0 = torch.aten.gelu %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}

// CHECK:      unsupported-op.mlir:7:{{[0-9]+}}
// CHECK-NEXT:   %0 = torch.aten.gelu %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
// CHECK:      Operation torch.aten.gelu is not registered

// EXIT:      Operation torch.aten.gelu is not registered
// EXIT-NOT:  Traceback

// -----

func.func @sigmoid(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %0 = torch.aten.sigmoid %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}

// CHECK: Operation torch.aten.sigmoid is not registered
