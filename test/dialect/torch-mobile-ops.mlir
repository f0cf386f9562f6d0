// RUN: PATDNN_ROUNDTRIP | filecheck %s
// RUN: PATDNN_GENERIC_ROUNDTRIP | patdnn-opt | filecheck %s

// The torch-dialect ops of MobileNet-V3 and encoder-decoders, spelled as torch-mlir's FX
// importer prints them; a list of tensors prints its element as `vtensor`.

// CHECK-LABEL: func.func @mobile
// CHECK:         %[[HS:.*]] = torch.aten.hardswish %{{.*}} : !torch.vtensor<[1,5,7,7],f32> -> !torch.vtensor<[1,5,7,7],f32>
// CHECK:         %[[HG:.*]] = torch.aten.hardsigmoid %{{.*}} : !torch.vtensor<[1,5,1,1],f32> -> !torch.vtensor<[1,5,1,1],f32>
// CHECK:         %[[M:.*]] = torch.aten.mul.Tensor %[[HS]], %[[HG]] : !torch.vtensor<[1,5,7,7],f32>, !torch.vtensor<[1,5,1,1],f32> -> !torch.vtensor<[1,5,7,7],f32>
// CHECK:         %[[S:.*]] = torch.prim.ListConstruct %{{.*}}, %{{.*}} : (!torch.float, !torch.float) -> !torch.list<float>
// CHECK:         %[[U:.*]] = torch.aten.upsample_nearest2d.vec %[[M]], %{{.*}}, %[[S]] : !torch.vtensor<[1,5,7,7],f32>, !torch.none, !torch.list<float> -> !torch.vtensor<[1,5,14,14],f32>
// CHECK:         %[[L:.*]] = torch.prim.ListConstruct %[[U]], %[[U]] : (!torch.vtensor<[1,5,14,14],f32>, !torch.vtensor<[1,5,14,14],f32>) -> !torch.list<vtensor>
// CHECK:         torch.aten.cat %[[L]], %{{.*}} : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,10,14,14],f32>
func.func @mobile(%x: !torch.vtensor<[1,5,7,7],f32>, %p: !torch.vtensor<[1,5,1,1],f32>) -> !torch.vtensor<[1,10,14,14],f32> {
  %hs = torch.aten.hardswish %x : !torch.vtensor<[1,5,7,7],f32> -> !torch.vtensor<[1,5,7,7],f32>
  %hg = torch.aten.hardsigmoid %p : !torch.vtensor<[1,5,1,1],f32> -> !torch.vtensor<[1,5,1,1],f32>
  %m = torch.aten.mul.Tensor %hs, %hg : !torch.vtensor<[1,5,7,7],f32>, !torch.vtensor<[1,5,1,1],f32> -> !torch.vtensor<[1,5,7,7],f32>
  %none = torch.constant.none
  %f2 = torch.constant.float 2.000000e+00
  %s = torch.prim.ListConstruct %f2, %f2 : (!torch.float, !torch.float) -> !torch.list<float>
  %u = torch.aten.upsample_nearest2d.vec %m, %none, %s : !torch.vtensor<[1,5,7,7],f32>, !torch.none, !torch.list<float> -> !torch.vtensor<[1,5,14,14],f32>
  %l = torch.prim.ListConstruct %u, %u : (!torch.vtensor<[1,5,14,14],f32>, !torch.vtensor<[1,5,14,14],f32>) -> !torch.list<vtensor>
  %int1 = torch.constant.int 1
  %c = torch.aten.cat %l, %int1 : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,10,14,14],f32>
  return %c : !torch.vtensor<[1,10,14,14],f32>
}
