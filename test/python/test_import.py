"""The frontend (`import_model`) and `convert-torch-to-patdnn` on PyTorch models."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from patdnn.dialect.context import make_context
from patdnn.dialect.patdnn import ActivateOp, Activation, Conv2dOp
from patdnn.dialect.torch import Conv2dOp as TorchConv2dOp
from patdnn.dialect.weights import constant_array
from patdnn.frontend.importer import FrontendError, import_model
from patdnn.lowering.convert_torch_to_patdnn import ConversionError, ConvertTorchToPatdnnPass

PATDNN_OPT = Path(sys.executable).parent / "patdnn-opt"


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """ResNet-50's bottleneck block: 1x1 reduce, 3x3, 1x1 expand, residual add."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample: nn.Module | None = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet50(nn.Module):
    """ResNet-50 with torchvision's widths: bottleneck stages [3, 4, 6, 3], 25.6M parameters."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        stages: list[nn.Module] = []
        cin = 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            layers: list[nn.Module] = []
            for i in range(blocks):
                layers.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * Bottleneck.expansion
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class GeluHead(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x)


class WithGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = GeluHead()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x))


class ConvBnRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(6, eps=1e-3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


def convert(module: object) -> None:
    ConvertTorchToPatdnnPass().apply(make_context(), module)  # type: ignore[arg-type]


def reference_conv2d(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int
) -> np.ndarray:
    """NCHW convolution in float64, groups = 1."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2))
    kh, kw = w.shape[2:]
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwij,ocij->nohw", windows, w.astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None]


# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------


def test_resnet50_imports_fast_and_small() -> None:
    torch.manual_seed(0)
    model = ResNet50()
    params = sum(p.numel() for p in model.parameters())
    assert params > 25_000_000

    start = time.perf_counter()
    imported = import_model(model, torch.randn(1, 3, 224, 224))
    seconds = time.perf_counter() - start
    text = str(imported.module)
    size = len(text.encode())

    print(
        f"\nResNet-50, {params / 1e6:.1f}M parameters: import {seconds:.1f} s, "
        f"IR {size / 1024:.0f} KiB"
    )
    assert seconds < 30, f"import took {seconds:.1f} s"
    assert size < 1_000_000, f"the printed IR is {size} bytes"
    assert "dense<" not in text
    assert "dense_resource<layer4.2.conv3.weight>" in text
    assert imported.output_shapes == [(1, 1000)]


def test_unsupported_op_names_op_and_layer() -> None:
    with pytest.raises(FrontendError) as info:
        import_model(WithGelu(), torch.randn(1, 3, 8, 8))
    message = str(info.value)
    assert "aten.gelu" in message
    assert "layer 'head'" in message


def test_exported_program_keeps_its_input_shape() -> None:
    """The shapes come from the program compiled, never from a mismatching example."""
    import patdnn
    from patdnn.errors import PatdnnError
    from patdnn.frontend.importer import InputShapeError

    program = torch.export.export(WithGelu().conv, (torch.randn(1, 3, 16, 16),))
    assert import_model(program, None).input_shapes == [(1, 3, 16, 16)]
    assert import_model(program, torch.randn(1, 3, 16, 16)).input_shapes == [(1, 3, 16, 16)]
    for shape in ((1, 3, 8, 8), (1, 3, 16)):
        with pytest.raises(InputShapeError) as info:
            patdnn.compile(program, torch.randn(*shape))
        assert isinstance(info.value, PatdnnError)
        message = str(info.value)
        assert "x".join(map(str, shape)) in message and "1x3x16x16" in message


def test_dynamic_program_is_specialised_to_the_example() -> None:
    from patdnn.frontend.importer import InputShapeError

    batch = torch.export.Dim("batch", min=1, max=8)
    program = torch.export.export(
        WithGelu().conv, (torch.randn(2, 3, 8, 8),), dynamic_shapes=({0: batch},)
    )
    imported = import_model(program, torch.randn(3, 3, 8, 8))
    assert imported.input_shapes == [(3, 3, 8, 8)] and imported.output_shapes == [(3, 4, 8, 8)]
    with pytest.raises(InputShapeError, match="1x3x4x4 .* takes \\?x3x8x8"):
        import_model(program, torch.randn(1, 3, 4, 4))
    with pytest.raises(FrontendError, match="dynamic"):
        import_model(program, None)


def test_frontend_exports_import_model_lazily() -> None:
    code = (
        "import sys, patdnn.frontend as f; assert 'torch' not in sys.modules; "
        "from patdnn.frontend import FrontendError, ImportedModel, import_model; "
        "from patdnn.frontend.importer import import_model as direct; "
        "assert import_model is direct; print(ImportedModel.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ImportedModel"


def test_weights_round_trip_exactly() -> None:
    torch.manual_seed(1)
    model = WithGelu().conv
    imported = import_model(model, torch.randn(1, 3, 8, 8))
    (torch_conv,) = [op for op in imported.module.walk() if isinstance(op, TorchConv2dOp)]
    expected = model.weight.detach().numpy()
    assert np.array_equal(constant_array(torch_conv.weight), expected)

    convert(imported.module)
    (conv,) = [op for op in imported.module.walk() if isinstance(op, Conv2dOp)]
    weight = constant_array(conv.weight)
    assert weight.dtype == np.float32 and weight.shape == expected.shape
    assert np.array_equal(weight, expected)
    assert conv.bias is not None
    assert np.array_equal(constant_array(conv.bias), model.bias.detach().numpy())


def test_batch_norm_folding_matches_pytorch() -> None:
    torch.manual_seed(2)
    model = ConvBnRelu()
    with torch.no_grad():
        model.bn.weight.uniform_(0.5, 2.0)
        model.bn.bias.uniform_(-1.0, 1.0)
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.25, 2.0)
    model.eval()
    x = torch.randn(2, 3, 9, 9)
    with torch.no_grad():
        expected = model(x).numpy()

    imported = import_model(model, x)
    convert(imported.module)
    imported.module.verify()
    (conv,) = [op for op in imported.module.walk() if isinstance(op, Conv2dOp)]
    assert conv.activation.data == "relu"
    assert conv.stride_values == (2, 2) and conv.padding_values == (1, 1)
    assert conv.bias is not None
    weight, bias = constant_array(conv.weight), constant_array(conv.bias)
    assert weight.dtype == np.float32 and bias.dtype == np.float32

    got = np.maximum(reference_conv2d(x.numpy(), weight, bias, 2, 1), 0.0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


class ResidualThen(nn.Module):
    """conv(x) + x, then `after`: a batch norm or a relu."""

    def __init__(self, after: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.after = after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.conv(x) + x)


def test_residual_add_and_relu_fuse_into_the_convolution() -> None:
    torch.manual_seed(3)
    model = ResidualThen(nn.ReLU()).eval()
    x = torch.randn(1, 4, 5, 7)
    with torch.no_grad():
        expected = model(x).numpy()
    imported = import_model(model, x)
    convert(imported.module)
    imported.module.verify()
    ops = [op for op in imported.module.walk() if op.dialect_name() == "patdnn"]
    assert len(ops) == 1 and isinstance(ops[0], Conv2dOp)
    conv = ops[0]
    assert conv.residual is not None and conv.activation_kind == "relu"
    weight = constant_array(conv.weight)
    assert conv.bias is not None
    got = reference_conv2d(x.numpy(), weight, constant_array(conv.bias), 1, 1) + x.numpy()
    np.testing.assert_allclose(np.maximum(got, 0.0), expected, rtol=0, atol=1e-5)


def test_batch_norm_after_a_residual_add_is_refused() -> None:
    """Folding it into the convolution would leave the residual unscaled."""
    imported = import_model(ResidualThen(nn.BatchNorm2d(4)).eval(), torch.randn(1, 4, 5, 5))
    with pytest.raises(ConversionError, match="layer 'after'.*only supported right after a conv"):
        convert(imported.module)


def test_activation_without_a_layer_before_it_stands_alone() -> None:
    """A relu of the input (no layer to fuse into) is a `patdnn.activate` of its own,
    named after its layer; the conv after it takes no activation."""
    imported = import_model(nn.Sequential(nn.ReLU(), nn.Conv2d(3, 4, 3)), torch.randn(1, 3, 6, 6))
    convert(imported.module)
    ops = [op for op in imported.module.walk() if op.name.startswith("patdnn.")]
    assert [op.name for op in ops] == ["patdnn.activate", "patdnn.conv2d"]
    activate, conv = ops
    assert isinstance(activate, ActivateOp) and isinstance(conv, Conv2dOp)
    assert activate.activation_kind == Activation.RELU
    assert activate.layer is not None and activate.layer.data == "0"
    assert conv.input is activate.result and conv.activation_kind == Activation.NONE


def test_patdnn_opt_help_lists_the_pass() -> None:
    result = subprocess.run(
        [str(PATDNN_OPT), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "convert-torch-to-patdnn" in result.stdout


@pytest.mark.parametrize(
    "source, args, message",
    [
        ("func.func @f(%x: tensor<1xf32> {\n", [], "Expected"),
        (
            '%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32>)\n'
            "%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, "
            "padding = array<i64: 1, 1>} : tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32> "
            "-> tensor<1x8x6x6xf32>\n",
            [],
            "weight expects 3 input channels, input has 4",
        ),
        ("builtin.module {}\n", ["-p", "no-such-pass"], "no-such-pass"),
    ],
    ids=["parse-error", "verify-error", "unknown-pass"],
)
def test_patdnn_opt_fails_cleanly(
    tmp_path: Path, source: str, args: list[str], message: str
) -> None:
    path = tmp_path / "input.mlir"
    path.write_text(source)
    result = subprocess.run(
        [str(PATDNN_OPT), str(path), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr


def test_imports_do_not_share_weight_handles() -> None:
    """Each import owns its weights: the second import of a model names its handles as
    the first did (no `_1` suffix), and each module reads its own numbers."""
    from patdnn.dialect.weights import weights_of

    torch.manual_seed(0)
    first, second = nn.Conv2d(2, 3, 3), nn.Conv2d(2, 3, 3)
    x = torch.randn(1, 2, 5, 5)
    a, b = import_model(first, x).module, import_model(second, x).module
    assert "dense_resource<weight>" in str(a) and "dense_resource<weight>" in str(b)
    assert weights_of(a) is not weights_of(b)
    (wa,) = [op for op in a.walk() if isinstance(op, TorchConv2dOp)]
    (wb,) = [op for op in b.walk() if isinstance(op, TorchConv2dOp)]
    assert np.array_equal(constant_array(wa.weight), first.weight.detach().numpy())
    assert np.array_equal(constant_array(wb.weight), second.weight.detach().numpy())


# ---------------------------------------------------------------------------
# In-place ops, as eager PyTorch models write them
# ---------------------------------------------------------------------------


class InPlaceBlock(nn.Module):
    """Every in-place form torchvision-style models use, and a tensor read after it is
    mutated (`x.relu_()` then `x` again)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.relu6 = nn.ReLU6(inplace=True)
        self.drop = nn.Dropout(inplace=True)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.relu(self.bn1(self.conv1(x)))
        out = self.relu6(self.conv2(identity))
        out += identity
        out = F.relu(out, inplace=True)
        y = self.conv2(out)
        y.relu_()
        y.add_(out)
        pooled = torch.flatten(F.adaptive_avg_pool2d(y, 1), 1)
        return self.fc(self.drop(pooled))


def test_inplace_ops_import_as_their_functional_forms() -> None:
    torch.manual_seed(0)
    model = InPlaceBlock().eval()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 8, 8)
    imported = import_model(model, x)
    names = {op.name for op in imported.module.walk()}
    assert {"torch.aten.relu", "torch.aten.hardtanh", "torch.aten.add.Tensor"} <= names
    assert not any(name.endswith("_") or "_." in name for name in names if "aten" in name)

    import patdnn

    compiled = patdnn.compile(model, x, keep_stages=False)
    with torch.no_grad():
        ref = model(x.clone()).numpy()
    np.testing.assert_allclose(compiled(x), ref, rtol=1e-4, atol=1e-5)


def test_inplace_op_outside_the_subset_names_its_functional_form() -> None:
    class Scaled(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sigmoid_()

    with pytest.raises(FrontendError, match="unsupported op aten.sigmoid in the model's forward"):
        import_model(Scaled(), torch.randn(1, 3, 4, 4))
