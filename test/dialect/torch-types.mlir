// RUN: patdnn-opt %s | filecheck %s

// The torch types the frontend reads print back as they were written; a list of
// tensors keeps its element type.

func.func @types(%t: !torch.vtensor<[1,3,?,5],f32>, %l: !torch.list<vtensor<[2,3],f32>>, %i: !torch.list<int>) {
  func.return
}

// CHECK: func.func @types(%t: !torch.vtensor<[1,3,?,5],f32>, %l: !torch.list<!torch.vtensor<[2,3],f32>>, %i: !torch.list<int>) {
