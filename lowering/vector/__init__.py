"""The vector lowering: code generators from patdnn layer ops to upstream `vector` code.

| module | holds |
|---|---|
| `emitter` | `Emitter`, the builder of loop nests of scf/arith/memref/vector ops |
| `tiling` | register tiles (`ConvTiling`), their thresholds (`TilingOptions`) and the candidates `auto-tune` tries |
| `conv` | the register-tiled convolution generator: pattern (FKW), dense, grouped, depthwise |
| `pointwise` | the 1x1 rule: read in place, over the flattened plane |
| `pooling` | pooling windows and global average pooling |
| `linear` | fully connected layers |
| `elementwise` | residual adds |
| `memory` | the weight blob and the workspace plan of a lowered function |
| `function` | one tensor-level function to a memref function, layer by layer |

The pass itself is `patdnn.lowering.lower_patdnn_to_vector`. A new kernel family is a
new module here, called from `function.FunctionLowering.lower_layer`.
"""
