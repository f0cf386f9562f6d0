// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn{' 2>&1 | filecheck %s
// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn{num_patterns=4' 2>&1 | filecheck %s --check-prefix=OPEN
// RUN: not patdnn-opt %s -p 'convert-torch-to-patdnn,,' 2>&1 | filecheck %s --check-prefix=COMMA

// A malformed pass pipeline is one error line and exit status 1, not a traceback.

builtin.module {}

// CHECK-NOT:  Traceback
// CHECK:      patdnn-opt: error: bad pass pipeline 'convert-torch-to-patdnn{': Expected argument name here (column 25)
// CHECK-NOT:  Traceback

// OPEN-NOT:   Traceback
// OPEN:       patdnn-opt: error: bad pass pipeline 'convert-torch-to-patdnn{num_patterns=4': Malformed pass arguments, expected either a space or `}` here (column 39)
// OPEN-NOT:   Traceback

// COMMA-NOT:  Traceback
// COMMA:      patdnn-opt: error: bad pass pipeline 'convert-torch-to-patdnn,,': Expected pass name here (column 25)
// COMMA-NOT:  Traceback
