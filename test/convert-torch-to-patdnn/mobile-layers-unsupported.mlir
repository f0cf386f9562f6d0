// RUN: not patdnn-opt %s -p convert-torch-to-patdnn 2>&1 | filecheck %s

// Nearest upsampling by a fractional scale, which the upsample layer does not compute:
// one line naming the op, the layer and what is supported (the other unsupported forms
// of cat, mul and upsample are in test/python/test_bad_inputs.py).

// CHECK-NOT:  Traceback
// CHECK:      error: torch.aten.upsample_nearest2d.vec (layer 'up'): nearest upsampling of 5x6 by scale 1.5x1.5 is not supported (only integer scale factors)
func.func @fractional_scale(%a: !torch.vtensor<[1,3,5,6],f32>) -> !torch.vtensor<[1,3,7,9],f32> {
  %none = torch.constant.none
  %f = torch.constant.float 1.500000e+00
  %scales = torch.prim.ListConstruct %f, %f : (!torch.float, !torch.float) -> !torch.list<float>
  %u = torch.aten.upsample_nearest2d.vec %a, %none, %scales {patdnn.layer = "up"} : !torch.vtensor<[1,3,5,6],f32>, !torch.none, !torch.list<float> -> !torch.vtensor<[1,3,7,9],f32>
  return %u : !torch.vtensor<[1,3,7,9],f32>
}
// CHECK-NOT:  Traceback
