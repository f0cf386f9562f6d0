// RUN: patdnn-opt %s -p 'lower-patdnn-to-vector{vector-width=4}' --split-input-file | filecheck %s

// A pattern layer in FKW form: 2 filters (stored in the order 1, 0), 2 patterns.
// Filter 1: channels 0 (P0) and 1 (P1); filter 0: channel 1 (P0). An output row is
// 10 wide: two full vectors and a 2-lane tail. The register tile is 4 rows x 2
// vectors (the layer's tuning): one 4-row block and a 1-row remainder; per row block,
// one block of two full vectors, then a tile for the tail vector.

// The weight blob: every constant at a 64-byte aligned offset.
// CHECK:       builtin.module attributes {patdnn.weights = [
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<2xi32>, 0 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<3xi32>, 64 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<3xi32>, 128 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<2x3xi32>, 192 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<3x4xf32>, 256 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<2xf32>, 320 : i64]]}

// CHECK-LABEL: func.func @fkw
// CHECK-SAME:    (%[[X:.*]]: memref<1x2x5x10xf32> {llvm.noalias}, %[[Y:.*]]: memref<1x2x5x10xf32> {llvm.noalias}, %[[BLOB:.*]]: memref<328xi8> {llvm.noalias}, %[[WS:.*]]: memref<704xi8> {llvm.noalias})
// CHECK-NOT:     tensor<
// CHECK-NOT:     memref.alloc
// CHECK-DAG:     %[[TWO:.*]] = arith.constant 2 : index
// CHECK-DAG:     %[[MASK:.*]] = vector.create_mask %[[TWO]] : vector<4xi1>
// CHECK-DAG:     %[[PLANE:.*]] = arith.constant 84 : index
// CHECK:         %[[REORDER:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<2xi32>
// CHECK-NEXT:    %[[OFFSET:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<3xi32>
// CHECK-NEXT:    %[[INDEX:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<3xi32>
// CHECK-NEXT:    %[[STRIDE:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<2x3xi32>
// CHECK-NEXT:    %[[WEIGHT:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<3x4xf32>
// CHECK-NEXT:    %[[BIAS:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<328xi8> to memref<2xf32>
// The padded input: 5 + 2 rows of the 10 output columns + 2, rounded up to 12, and one
// vector of slack for the lanes past the output (172 floats, 704 bytes), placed in the
// caller's workspace; the taps read it through the flat view, the copy writes it
// through a 5-d view of the same buffer.
// CHECK-NEXT:    %[[AT:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[FLAT:.*]] = memref.view %[[WS]][%[[AT]]][] : memref<704xi8> to memref<172xf32>
// CHECK-NEXT:    %[[P:.*]] = memref.reinterpret_cast %[[FLAT]] to offset: [0], sizes: [2, 1, 1, 7, 12], strides: [84, 84, 84, 12, 1]
// The first phase: the padded copy, two tasks (one input channel range each); every
// scratch row is an input row between its padding columns (two full vectors and a
// masked tail), or a padding row.
// CHECK-NEXT:    scf.for %[[TASK:.*]] = %{{.*}} to %[[TWO]] step %{{.*}} {
// CHECK:           scf.for %[[ROW:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:             %[[INSIDE:.*]] = arith.andi
// CHECK-NEXT:        scf.if %[[INSIDE]] {
// CHECK-NEXT:          scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:                 vector.load %[[X]][%{{.*}}] : memref<1x2x5x10xf32>, vector<4xf32>
// CHECK-NEXT:            vector.store %{{.*}}, %[[P]][%{{.*}}] : memref<2x1x1x7x12xf32>, vector<4xf32>
// CHECK-NEXT:            vector.load %[[X]]
// CHECK-NEXT:            vector.store %{{.*}}, %[[P]]
// CHECK-NEXT:            vector.maskedload %[[X]][%{{.*}}], %[[MASK]]
// CHECK-NEXT:            vector.maskedstore %[[P]][%{{.*}}], %[[MASK]]
// CHECK:             } else {
// CHECK-NEXT:          scf.for
// CHECK-NEXT:            scf.for
// CHECK-NEXT:              vector.store %{{.*}}, %[[P]]
// The second phase, once the copy is complete: 2 row-block ranges x 2 filter classes.
// A task takes its row blocks, then per column block the filters of its class.
// CHECK:         scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:      %[[PART:.*]] = arith.divui %[[T]], %[[TWO]] : index
// CHECK-NEXT:      %[[CLASS:.*]] = arith.remui %[[T]], %[[TWO]] : index
// CHECK:           scf.for %[[RB:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:        %[[OH:.*]] = arith.muli %[[RB]], %{{.*}} : index
// CHECK:             scf.for %[[CB:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK-NEXT:          %[[COL:.*]] = arith.muli %[[CB]], %{{.*}} : index
// The tile's origin in the scratch buffer, once per column block: row block and column.
// CHECK-NEXT:          %[[ROWS:.*]] = arith.muli %[[OH]], %{{.*}} : index
// CHECK-NEXT:          %[[ORIGIN:.*]] = arith.addi %[[ROWS]], %[[COL]] : index
// CHECK-NEXT:          scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// The filter's original channel, its bias and its kernel range.
// CHECK:                 %[[CO_I32:.*]] = memref.load %[[REORDER]][%[[J]]] : memref<2xi32>
// CHECK-NEXT:            %[[CO:.*]] = arith.index_cast %[[CO_I32]] : i32 to index
// CHECK-NEXT:            memref.load %[[BIAS]][%[[CO]]] : memref<2xf32>
// CHECK:                 memref.load %[[OFFSET]][%[[J]]] : memref<3xi32>
// CHECK:                 memref.load %[[STRIDE]][%[[J]], %{{.*}}] : memref<2x3xi32>
// Pattern group 0, then pattern group 1: 4 rows x 2 vectors of accumulators. Every tap
// reads the flat buffer at the kernel's channel base plus a constant.
// CHECK:                 %[[G0:[^,]+]], {{.*}} = scf.for %[[K:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> ({{(vector<4xf32>, ){7}vector<4xf32>}}) {
// CHECK-NEXT:              %[[C_I32:.*]] = memref.load %[[INDEX]][%[[K]]] : memref<3xi32>
// CHECK-NEXT:              %[[C:.*]] = arith.index_cast %[[C_I32]] : i32 to index
// With 4 lanes, the kernel's 4 weights are one vector, each tap's weight a lane of it.
// CHECK-NEXT:              %[[W:.*]] = vector.load %[[WEIGHT]][%[[K]], %{{.*}}] : memref<3x4xf32>, vector<4xf32>
// CHECK-NEXT:              vector.shuffle %[[W]], %[[W]] [0, 0, 0, 0] : vector<4xf32>, vector<4xf32>
// CHECK:                   %[[CH:.*]] = arith.muli %[[C]], %[[PLANE]] : index
// CHECK-NEXT:              %[[BASE:.*]] = arith.addi %[[CH]], %[[ORIGIN]] : index
// CHECK-NEXT:              %[[AT:.*]] = arith.addi %[[BASE]], %{{.*}} : index
// CHECK-NEXT:              vector.load %[[FLAT]][%[[AT]]] : memref<172xf32>, vector<4xf32>
// CHECK-NEXT:              vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK:                   scf.yield
// CHECK-NEXT:            }
// CHECK:                 %[[G1:[^,]+]], {{.*}} = scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{[^ ]+}} = %[[G0]], {{.*}}) -> ({{(vector<4xf32>, ){7}vector<4xf32>}}) {
// CHECK:                   vector.fma
// CHECK:                 }
// Epilogue: relu on the registers, one store per output vector.
// CHECK-NEXT:            %[[R0:.*]] = arith.maximumf %[[G1]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:            vector.store %[[R0]], %[[Y]][%{{.*}}, %[[CO]], %[[OH]], %[[COL]]] : memref<1x2x5x10xf32>, vector<4xf32>
// CHECK-NOT:             vector.maskedstore
// CHECK:               }
// The tail vector: a 4 x 1 tile, stored with the mask.
// CHECK:               = scf.for {{.*}} -> ({{(vector<4xf32>, ){3}vector<4xf32>}}) {
// CHECK:               = scf.for {{.*}} -> ({{(vector<4xf32>, ){3}vector<4xf32>}}) {
// CHECK:               vector.maskedstore %[[Y]][%{{.*}}, %{{.*}}, %[[OH]], %{{.*}}], %[[MASK]], %{{.*}} : memref<1x2x5x10xf32>, vector<4xi1>, vector<4xf32>
// The remainder row: its input row (a padding row, known at compile time), then
// 1 x 2 tiles and a 1 x 1 tile.
// CHECK:           = scf.for {{.*}} -> (vector<4xf32>, vector<4xf32>) {
// CHECK:           = scf.for {{.*}} -> (vector<4xf32>) {
// CHECK:           vector.maskedstore %[[Y]]
// CHECK-NOT:     memref.dealloc
// CHECK:         func.return
func.func @fkw(%x: tensor<1x2x5x10xf32>) -> tensor<1x2x5x10xf32> {
  %reorder = arith.constant dense<[1, 0]> : tensor<2xi32>
  %offset = arith.constant dense<[0, 2, 3]> : tensor<3xi32>
  %index = arith.constant dense<[0, 1, 1]> : tensor<3xi32>
  %pattern_bounds = arith.constant dense<[[0, 1, 2], [0, 1, 1]]> : tensor<2x3xi32>
  %weight = arith.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]]> : tensor<3x4xf32>
  %b = arith.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %pattern_bounds, %weight bias(%b) {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>, activation = #patdnn.activation<relu>, tuning = {rows = 4 : i64, cols = 2 : i64}} : tensor<1x2x5x10xf32>, tensor<2xi32>, tensor<3xi32>, tensor<3xi32>, tensor<2x3xi32>, tensor<3x4xf32> bias tensor<2xf32> -> tensor<1x2x5x10xf32>
  func.return %y : tensor<1x2x5x10xf32>
}

// -----

// A dense stride-2 layer: the scratch copy is split into 2 x 2 phases. Each input vector
// of a row is loaded once at its aligned column (the last one masked at the row's end),
// each pair split into its odd and its even lanes; the phase of column offset -1 is the
// odd lanes moved up a lane, the padding in front. Tiles of 4 filters x 2 rows x
// 2 vectors loop over the input channels with all 9 taps. The output row is 5 wide: a
// full vector and a 1-lane tail.

// CHECK:       builtin.module attributes {patdnn.weights = [
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<4x2x3x3xf32>, 0 : i64],
// CHECK-SAME:    [dense_resource<{{.*}}> : tensor<4xf32>, 320 : i64]]}

// CHECK-LABEL: func.func @dense
// CHECK-SAME:    (%[[X:.*]]: memref<1x2x7x9xf32> {llvm.noalias}, %[[Y:.*]]: memref<1x4x4x5xf32> {llvm.noalias}, %[[BLOB:.*]]: memref<336xi8> {llvm.noalias}, %[[WS:.*]]: memref<1344xi8> {llvm.noalias})
// CHECK-DAG:     %[[ONE:.*]] = arith.constant 1 : index
// CHECK-DAG:     %[[MASK:.*]] = vector.create_mask %[[ONE]] : vector<4xi1>
// CHECK:         %[[W:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<336xi8> to memref<4x2x3x3xf32>
// CHECK-NEXT:    %[[B:.*]] = memref.view %[[BLOB]][%{{.*}}][] : memref<336xi8> to memref<4xf32>
// CHECK-NEXT:    %[[AT:.*]] = arith.constant 0 : index
// CHECK-NEXT:    %[[FLAT:.*]] = memref.view %[[WS]][%[[AT]]][] : memref<1344xi8> to memref<324xf32>
// CHECK-NEXT:    %[[P:.*]] = memref.reinterpret_cast %[[FLAT]] to offset: [0], sizes: [2, 2, 2, 5, 8]
// CHECK-NOT:     memref.load %[[X]]
// CHECK:         %[[LOW:.*]] = vector.load %[[X]]
// CHECK-NEXT:    %[[HIGH:.*]] = vector.load %[[X]]
// CHECK-NEXT:    %[[ODD:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [1, 3, 5, 7] : vector<4xf32>, vector<4xf32>
// CHECK-NEXT:    %[[PHASE:.*]] = vector.shuffle %[[ZERO:.*]], %[[ODD]] [3, 4, 5, 6] : vector<4xf32>, vector<4xf32>
// CHECK-NEXT:    %[[EDGE:.*]] = vector.maskedload %[[X]]
// CHECK-NEXT:    vector.shuffle %[[EDGE]], %[[ZERO]] [1, 3, 5, 7] : vector<4xf32>, vector<4xf32>
// CHECK:         %[[EVEN:.*]] = vector.shuffle %[[LOW]], %[[HIGH]] [0, 2, 4, 6] : vector<4xf32>, vector<4xf32>
// CHECK-NEXT:    %[[LAST:.*]] = vector.shuffle %[[EDGE]], %[[ZERO]] [0, 2, 4, 6] : vector<4xf32>, vector<4xf32>
// CHECK-NEXT:    vector.store %[[PHASE]], %[[P]]
// CHECK-NEXT:    vector.store
// CHECK-NEXT:    vector.store %[[EVEN]], %[[P]]
// CHECK-NEXT:    vector.store %[[LAST]], %[[P]]
// CHECK-NOT:     memref.store {{.*}}, %[[P]]
// CHECK:         %[[ACC:[^,]+]], {{.*}} = scf.for %[[C:.*]] = %{{.*}} to %{{.*}} step %{{.*}} iter_args({{.*}}) -> ({{(vector<4xf32>, ){15}vector<4xf32>}}) {
// CHECK:           memref.load %[[W]][%{{.*}}, %[[C]], %{{.*}}, %{{.*}}] : memref<4x2x3x3xf32>
// CHECK:           vector.load %[[FLAT]][%{{.*}}] : memref<324xf32>, vector<4xf32>
// CHECK-NEXT:      vector.fma %{{.*}}, %{{.*}}, %{{.*}} : vector<4xf32>
// CHECK:           scf.yield
// Epilogue: relu6 on the registers, then one store per output vector.
// CHECK:         %[[LO:.*]] = arith.maximumf %[[ACC]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:    %[[HI:.*]] = arith.minimumf %[[LO]], %{{.*}} : vector<4xf32>
// CHECK-NEXT:    vector.store %[[HI]], %[[Y]]
// CHECK:         vector.maskedstore %[[Y]][{{.*}}], %[[MASK]], %{{.*}} : memref<1x4x4x5xf32>, vector<4xi1>, vector<4xf32>
// CHECK-NOT:     memref.dealloc
func.func @dense(%x: tensor<1x2x7x9xf32>) -> tensor<1x4x4x5xf32> {
  %w = arith.constant dense<0.5> : tensor<4x2x3x3xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu6>} : tensor<1x2x7x9xf32>, tensor<4x2x3x3xf32> bias tensor<4xf32> -> tensor<1x4x4x5xf32>
  func.return %y : tensor<1x4x4x5xf32>
}
