# RUN: %python %s | filecheck %s

# A small CNN with pattern-pruned 3x3 convs, imported from PyTorch and converted to the
# patdnn layerwise representation. The stem stays dense (PatDNN keeps the first layer
# dense); the pruned layers keep, per kernel, the taps of
#   P0 = (0,1),(1,0),(1,1),(1,2)   (half of the kernels)
#   P1 = (1,0),(1,1),(1,2),(2,1)   (a quarter)
# or nothing (a quarter), so the extracted library is [P0, P1].

import numpy as np
import torch
from torch import nn

from patdnn.dialect.context import make_context
from patdnn.frontend.importer import import_model
from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass

P0 = ((0, 1), (1, 0), (1, 1), (1, 2))
P1 = ((1, 0), (1, 1), (1, 2), (2, 1))


def run(f):
    print(f.__name__)
    print("-" * len(f.__name__))
    f()
    print()
    return f


def plant_patterns(conv: nn.Conv2d, seed: int) -> None:
    """Sets the weight of `conv` to random values on a planted pattern support."""
    rng = np.random.default_rng(seed)
    cout, cin = conv.weight.shape[:2]
    mask = np.zeros((cout, cin, 3, 3), dtype=np.float32)
    for f in range(cout):
        for c in range(cin):
            kind = (f * cin + c) % 4
            if kind == 3:
                continue
            for r, col in P0 if kind < 2 else P1:
                mask[f, c, r, col] = 1.0
    values = rng.uniform(0.5, 1.5, mask.shape) * rng.choice([-1.0, 1.0], mask.shape)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy((values * mask).astype(np.float32)))


class PatternNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.stem(x))


def make_model() -> PatternNet:
    torch.manual_seed(0)
    model = PatternNet()
    plant_patterns(model.block[0], seed=1)
    plant_patterns(model.block[3], seed=2)
    with torch.no_grad():
        model.block[1].running_mean.uniform_(-0.5, 0.5)
        model.block[1].running_var.uniform_(0.5, 2.0)
    return model.eval()


# One import for both tests: weight handles are process-wide, a second import of the
# same names would get fresh ones (`stem.0.weight_1`).
IMPORTED = import_model(make_model(), torch.randn(1, 3, 16, 16))


# CHECK-LABEL: test_import_torch_dialect
# CHECK:       func.func @forward(%{{.*}}: !torch.vtensor<[1,3,16,16],f32>) -> !torch.vtensor<[1,16,8,8],f32>
# CHECK:       torch.vtensor.literal(dense_resource<stem.0.weight> : tensor<8x3x3x3xf32>) : !torch.vtensor<[8,3,3,3],f32>
# CHECK:       torch.aten.conv2d {{.*}} {patdnn.layer = "stem.0"}
# CHECK:       torch.aten.relu {{.*}} {patdnn.layer = "stem.1"}
# CHECK:       torch.vtensor.literal(dense_resource<block.1.running_var> : tensor<8xf32>)
# CHECK:       torch.aten.batch_norm {{.*}} {patdnn.layer = "block.1"}
# CHECK:       inline constants: False
@run
def test_import_torch_dialect():
    text = str(IMPORTED.module)
    print(text)
    print("inline constants:", "dense<" in text)


# CHECK-LABEL: test_convert_pattern_model
# CHECK:       func.func @forward(%[[X:.*]]: tensor<1x3x16x16xf32>) -> tensor<1x16x8x8xf32>
# CHECK-NEXT:    %[[W0:.*]] = arith.constant dense_resource<stem.0.weight> : tensor<8x3x3x3xf32>
# CHECK-NEXT:    %[[B0:.*]] = arith.constant dense_resource<stem.0.bias> : tensor<8xf32>
# CHECK-NEXT:    %[[Y0:.*]] = patdnn.conv2d %[[X]], %[[W0]] bias(%[[B0]]) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "stem.0"} : tensor<1x3x16x16xf32>, tensor<8x3x3x3xf32> bias tensor<8xf32> -> tensor<1x8x16x16xf32>
# CHECK-NEXT:    %[[W1:.*]] = arith.constant dense_resource<block.0.bn_weight> : tensor<8x8x3x3xf32>
# CHECK-NEXT:    %[[B1:.*]] = arith.constant dense_resource<block.0.bn_bias> : tensor<8xf32>
# CHECK-NEXT:    %[[Y1:.*]] = patdnn.pattern_conv2d %[[Y0]], %[[W1]] bias(%[[B1]]) {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "block.0", patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x8x16x16xf32>, tensor<8x8x3x3xf32> bias tensor<8xf32> -> tensor<1x8x16x16xf32>
# CHECK-NEXT:    %[[W2:.*]] = arith.constant dense_resource<block.3.weight> : tensor<16x8x3x3xf32>
# CHECK-NEXT:    %[[B2:.*]] = arith.constant dense_resource<block.3.bias> : tensor<16xf32>
# CHECK-NEXT:    %[[Y2:.*]] = patdnn.pattern_conv2d %[[Y1]], %[[W2]] bias(%[[B2]]) {strides = array<i64: 2, 2>, padding = array<i64: 1, 1>, activation = #patdnn.activation<relu>, layer = "block.3", patterns = #patdnn.patterns<[{{\[}}(0,1),(1,0),(1,1),(1,2)], {{\[}}(1,0),(1,1),(1,2),(2,1)]]>} : tensor<1x8x16x16xf32>, tensor<16x8x3x3xf32> bias tensor<16xf32> -> tensor<1x16x8x8xf32>
# CHECK-NEXT:    func.return %[[Y2]] : tensor<1x16x8x8xf32>
# CHECK:       torch ops left: 0
# CHECK:       inline constants: False
@run
def test_convert_pattern_model():
    module = IMPORTED.module
    ConvertTorchToPatdnnPass().apply(make_context(), module)
    module.verify()
    text = str(module)
    print(text)
    print("torch ops left:", sum(op.name.startswith("torch.") for op in module.walk()))
    print("inline constants:", "dense<" in text)
