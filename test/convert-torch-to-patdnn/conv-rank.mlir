// RUN: not patdnn-opt %s -p convert-torch-to-patdnn 2>&1 | filecheck %s

// An unbatched (C, H, W) input, which torch's conv2d accepts: patdnn layers take N, C, H, W.

// CHECK-NOT:  Traceback
// CHECK:      patdnn-opt: error: torch.aten.conv2d (layer 'conv'): the input must be 4-D (N, C, H, W), got 2x5x5; add the batch dimension
// CHECK-NOT:  Traceback
func.func @unbatched(%arg0: !torch.vtensor<[2,5,5],f32>) -> !torch.vtensor<[3,5,5],f32> {
  %w = torch.vtensor.literal(dense<5.000000e-01> : tensor<3x2x3x3xf32>) : !torch.vtensor<[3,2,3,3],f32>
  %none = torch.constant.none
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.conv2d %arg0, %w, %none, %0, %0, %0, %int1 {patdnn.layer = "conv"} : !torch.vtensor<[2,5,5],f32>, !torch.vtensor<[3,2,3,3],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[3,5,5],f32>
  return %1 : !torch.vtensor<[3,5,5],f32>
}
