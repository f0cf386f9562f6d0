// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn{num_patterns=57}' 2>&1 | filecheck %s --check-prefix=MANY
// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn{num_patterns=0}' 2>&1 | filecheck %s --check-prefix=ZERO
// RUN: patdnn-opt %s -p 'convert-torch-to-patdnn{num_patterns=56}' | filecheck %s

// The extracted library has 1..56 patterns: a 3x3 kernel keeping 4 taps, the centre
// among them, has C(8, 3) = 56 candidates.

// MANY-NOT:  Traceback
// MANY:      patdnn-opt: error: num_patterns must be in 1..56 (a 3x3 kernel keeping 4 taps with the centre has 56 candidate patterns), got 57
// MANY-NOT:  Traceback
// ZERO-NOT:  Traceback
// ZERO:      patdnn-opt: error: num_patterns must be in 1..56 {{.*}}, got 0
// ZERO-NOT:  Traceback

// CHECK-LABEL: func.func @id
// CHECK-SAME:  (%{{.*}}: tensor<1x4xf32>) -> tensor<1x4xf32>
func.func @id(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  return %arg0 : !torch.vtensor<[1,4],f32>
}
