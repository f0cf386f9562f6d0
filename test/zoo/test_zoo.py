from __future__ import annotations

import io
from functools import cache

import pytest
import torch
from torch import nn

from patdnn.frontend.zoo import (
    MODELS,
    get_model,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v3_small,
    unet,
)

Shapes = dict[str, tuple[int, ...]]

NAMES = [
    "vgg16",
    "vgg16_bn",
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
]

# torchvision's totals at 1000 classes: parameters, state-dict entries, num_batches_tracked.
TOTALS = {
    "vgg16": (138_357_544, 32, 0),
    "vgg16_bn": (138_365_992, 97, 13),
    "resnet18": (11_689_512, 122, 20),
    "resnet34": (21_797_672, 218, 36),
    "resnet50": (25_557_032, 320, 53),
    "mobilenet_v2": (3_504_872, 314, 52),
    "mobilenet_v3_small": (2_542_856, 244, 34),
    "mobilenet_v3_large": (5_483_032, 312, 46),
}

SPOT_CHECKS: dict[str, Shapes] = {
    "vgg16": {
        "features.0.weight": (64, 3, 3, 3),
        "features.28.weight": (512, 512, 3, 3),
        "features.28.bias": (512,),
        "classifier.0.weight": (4096, 25088),
        "classifier.3.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096),
    },
    "vgg16_bn": {
        "features.1.num_batches_tracked": (),
        "features.40.weight": (512, 512, 3, 3),
        "features.41.running_var": (512,),
        "classifier.6.bias": (1000,),
    },
    "resnet18": {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_mean": (128,),
        "layer4.1.bn2.running_var": (512,),
        "fc.weight": (1000, 512),
    },
    "resnet34": {
        "layer3.5.conv2.weight": (256, 256, 3, 3),
        "layer4.2.bn2.num_batches_tracked": (),
        "fc.weight": (1000, 512),
    },
    "resnet50": {
        "layer1.0.conv1.weight": (64, 64, 1, 1),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer3.0.conv2.weight": (256, 256, 3, 3),
        "layer4.2.conv3.weight": (2048, 512, 1, 1),
        "layer4.2.bn3.running_var": (2048,),
        "fc.weight": (1000, 2048),
    },
    "mobilenet_v2": {
        "features.0.0.weight": (32, 3, 3, 3),
        "features.0.1.running_var": (32,),
        "features.1.conv.0.0.weight": (32, 1, 3, 3),
        "features.1.conv.1.weight": (16, 32, 1, 1),
        "features.1.conv.2.running_mean": (16,),
        "features.2.conv.0.0.weight": (96, 16, 1, 1),
        "features.2.conv.1.0.weight": (96, 1, 3, 3),
        "features.2.conv.2.weight": (24, 96, 1, 1),
        "features.2.conv.3.weight": (24,),
        "features.17.conv.0.0.weight": (960, 160, 1, 1),
        "features.17.conv.2.weight": (320, 960, 1, 1),
        "features.17.conv.3.num_batches_tracked": (),
        "features.18.0.weight": (1280, 320, 1, 1),
        "classifier.1.weight": (1000, 1280),
    },
    "mobilenet_v3_small": {
        "features.0.0.weight": (16, 3, 3, 3),
        "features.0.1.running_var": (16,),
        "features.1.block.0.0.weight": (16, 1, 3, 3),
        "features.1.block.1.fc1.weight": (8, 16, 1, 1),
        "features.1.block.1.fc1.bias": (8,),
        "features.1.block.1.fc2.weight": (16, 8, 1, 1),
        "features.1.block.2.0.weight": (16, 16, 1, 1),
        "features.2.block.0.0.weight": (72, 16, 1, 1),
        "features.4.block.1.0.weight": (96, 1, 5, 5),
        "features.4.block.2.fc1.weight": (24, 96, 1, 1),
        "features.11.block.3.1.num_batches_tracked": (),
        "features.12.0.weight": (576, 96, 1, 1),
        "classifier.0.weight": (1024, 576),
        "classifier.3.weight": (1000, 1024),
    },
    "mobilenet_v3_large": {
        "features.1.block.0.0.weight": (16, 1, 3, 3),
        "features.1.block.1.0.weight": (16, 16, 1, 1),
        "features.4.block.2.fc1.weight": (24, 72, 1, 1),
        "features.4.block.2.fc2.bias": (72,),
        "features.13.block.1.0.weight": (672, 1, 5, 5),
        "features.15.block.2.fc1.weight": (240, 960, 1, 1),
        "features.16.0.weight": (960, 160, 1, 1),
        "classifier.0.weight": (1280, 960),
        "classifier.3.weight": (1000, 1280),
    },
}


def conv(prefix: str, cout: int, cin: int, k: int, bias: bool = False) -> Shapes:
    d: Shapes = {f"{prefix}.weight": (cout, cin, k, k)}
    if bias:
        d[f"{prefix}.bias"] = (cout,)
    return d


def bn(prefix: str, c: int) -> Shapes:
    names = ("weight", "bias", "running_mean", "running_var")
    d: Shapes = {f"{prefix}.{n}": (c,) for n in names}
    d[f"{prefix}.num_batches_tracked"] = ()
    return d


def linear(prefix: str, cout: int, cin: int) -> Shapes:
    return {f"{prefix}.weight": (cout, cin), f"{prefix}.bias": (cout,)}


def expected_vgg(batch_norm: bool) -> Shapes:
    cfg = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0]
    d: Shapes = {}
    i, cin = 0, 3
    for v in cfg:
        if v == 0:
            i += 1
            continue
        d |= conv(f"features.{i}", v, cin, 3, bias=True)
        if batch_norm:
            d |= bn(f"features.{i + 1}", v)
        i += 3 if batch_norm else 2
        cin = v
    d |= linear("classifier.0", 4096, 25088) | linear("classifier.3", 4096, 4096)
    return d | linear("classifier.6", 1000, 4096)


def expected_resnet(bottleneck: bool, blocks: list[int]) -> Shapes:
    exp = 4 if bottleneck else 1
    d: Shapes = conv("conv1", 64, 3, 7) | bn("bn1", 64)
    cin = 64
    for li, (planes, n) in enumerate(zip([64, 128, 256, 512], blocks, strict=False), start=1):
        for b in range(n):
            p = f"layer{li}.{b}"
            if bottleneck:
                d |= conv(f"{p}.conv1", planes, cin, 1) | bn(f"{p}.bn1", planes)
                d |= conv(f"{p}.conv2", planes, planes, 3) | bn(f"{p}.bn2", planes)
                d |= conv(f"{p}.conv3", planes * 4, planes, 1) | bn(f"{p}.bn3", planes * 4)
            else:
                d |= conv(f"{p}.conv1", planes, cin, 3) | bn(f"{p}.bn1", planes)
                d |= conv(f"{p}.conv2", planes, planes, 3) | bn(f"{p}.bn2", planes)
            if b == 0 and (li > 1 or cin != planes * exp):
                d |= conv(f"{p}.downsample.0", planes * exp, cin, 1)
                d |= bn(f"{p}.downsample.1", planes * exp)
            cin = planes * exp
    return d | linear("fc", 1000, 512 * exp)


def expected_mobilenet_v2() -> Shapes:
    setting = [(1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1)]
    d: Shapes = conv("features.0.0", 32, 3, 3) | bn("features.0.1", 32)
    i, cin = 1, 32
    for t, c, n in setting:
        for _ in range(n):
            p, hid, j = f"features.{i}.conv", cin * t, 0
            if t != 1:
                d |= conv(f"{p}.0.0", hid, cin, 1) | bn(f"{p}.0.1", hid)
                j = 1
            d |= {f"{p}.{j}.0.weight": (hid, 1, 3, 3)} | bn(f"{p}.{j}.1", hid)
            d |= conv(f"{p}.{j + 1}", c, hid, 1) | bn(f"{p}.{j + 2}", c)
            i, cin = i + 1, c
    d |= conv("features.18.0", 1280, 320, 1) | bn("features.18.1", 1280)
    return d | linear("classifier.1", 1000, 1280)


# torchvision's bottleneck tables: kernel, expanded, out, squeeze-and-excitation, stride.
V3_SMALL = [
    (3, 16, 16, True, 2),
    (3, 72, 24, False, 2),
    (3, 88, 24, False, 1),
    (5, 96, 40, True, 2),
    (5, 240, 40, True, 1),
    (5, 240, 40, True, 1),
    (5, 120, 48, True, 1),
    (5, 144, 48, True, 1),
    (5, 288, 96, True, 2),
    (5, 576, 96, True, 1),
    (5, 576, 96, True, 1),
]
V3_LARGE = [
    (3, 16, 16, False, 1),
    (3, 64, 24, False, 2),
    (3, 72, 24, False, 1),
    (5, 72, 40, True, 2),
    (5, 120, 40, True, 1),
    (5, 120, 40, True, 1),
    (3, 240, 80, False, 2),
    (3, 200, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 184, 80, False, 1),
    (3, 480, 112, True, 1),
    (3, 672, 112, True, 1),
    (5, 672, 160, True, 2),
    (5, 960, 160, True, 1),
    (5, 960, 160, True, 1),
]


def expected_mobilenet_v3(table: list[tuple[int, int, int, bool, int]], last: int) -> Shapes:
    d: Shapes = conv("features.0.0", 16, 3, 3) | bn("features.0.1", 16)
    cin = 16
    for i, (k, exp, out, se, _) in enumerate(table, start=1):
        p, j = f"features.{i}.block", 0
        if exp != cin:
            d |= conv(f"{p}.0.0", exp, cin, 1) | bn(f"{p}.0.1", exp)
            j = 1
        d |= {f"{p}.{j}.0.weight": (exp, 1, k, k)} | bn(f"{p}.{j}.1", exp)
        if se:
            quarter = exp // 4  # rounded to a multiple of 8, never down by more than 10%
            squeeze = max(8, (quarter + 4) // 8 * 8)
            squeeze += 8 if squeeze < 0.9 * quarter else 0
            d |= conv(f"{p}.{j + 1}.fc1", squeeze, exp, 1, bias=True)
            d |= conv(f"{p}.{j + 1}.fc2", exp, squeeze, 1, bias=True)
            j += 1
        d |= conv(f"{p}.{j + 1}.0", out, exp, 1) | bn(f"{p}.{j + 1}.1", out)
        cin = out
    n = len(table) + 1
    d |= conv(f"features.{n}.0", 6 * cin, cin, 1) | bn(f"features.{n}.1", 6 * cin)
    return d | linear("classifier.0", last, 6 * cin) | linear("classifier.3", 1000, last)


EXPECTED: dict[str, Shapes] = {
    "vgg16": expected_vgg(batch_norm=False),
    "vgg16_bn": expected_vgg(batch_norm=True),
    "resnet18": expected_resnet(False, [2, 2, 2, 2]),
    "resnet34": expected_resnet(False, [3, 4, 6, 3]),
    "resnet50": expected_resnet(True, [3, 4, 6, 3]),
    "mobilenet_v2": expected_mobilenet_v2(),
    "mobilenet_v3_small": expected_mobilenet_v3(V3_SMALL, 1024),
    "mobilenet_v3_large": expected_mobilenet_v3(V3_LARGE, 1280),
}

ALLOWED_OPS = {
    "aten::conv2d.default",
    "aten::relu.default",
    "aten::relu6.default",
    "aten::hardtanh.default",
    "aten::batch_norm.default",
    "aten::_native_batch_norm_legit_no_training.default",
    "aten::add.Tensor",
    "aten::relu_.default",
    "aten::hardtanh_.default",
    "aten::add_.Tensor",
    "aten::max_pool2d.default",
    "aten::adaptive_avg_pool2d.default",
    "aten::flatten.using_ints",
    "aten::view.default",
    "aten::linear.default",
    "aten::dropout.default",
    "aten::mean.dim",
    "aten::hardswish_.default",
    "aten::hardsigmoid.default",
    "aten::mul.Tensor",
    "aten::dropout_.default",
}

_V3_OPS = {
    "aten::hardswish_.default",
    "aten::hardsigmoid.default",
    "aten::mul.Tensor",
    "aten::relu.default",
    "aten::add_.Tensor",
}

# Ops each export must contain, and the number of residual additions.
REQUIRED_OPS: dict[str, tuple[set[str], int]] = {
    "vgg16": ({"aten::conv2d.default", "aten::relu_.default", "aten::max_pool2d.default"}, 0),
    "vgg16_bn": ({"aten::conv2d.default", "aten::batch_norm.default"}, 0),
    "resnet18": ({"aten::conv2d.default", "aten::batch_norm.default", "aten::add_.Tensor"}, 8),
    "resnet34": ({"aten::conv2d.default", "aten::batch_norm.default", "aten::add_.Tensor"}, 16),
    "resnet50": ({"aten::conv2d.default", "aten::batch_norm.default", "aten::add_.Tensor"}, 16),
    "mobilenet_v2": ({"aten::conv2d.default", "aten::hardtanh_.default", "aten::add.Tensor"}, 10),
    "mobilenet_v3_small": (_V3_OPS, 6),
    "mobilenet_v3_large": (_V3_OPS, 10),
}


@cache
def built(name: str) -> nn.Module:
    torch.manual_seed(0)
    return get_model(name).eval()


def op_name(node: torch.fx.Node) -> str:
    schema = node.target._schema  # type: ignore[union-attr]
    return f"{schema.name}.{schema.overload_name or 'default'}"


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_matches_torchvision(name: str) -> None:
    model = built(name)
    sd = model.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    params, entries, tracked = TOTALS[name]
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(sd) == entries
    assert sum(k.endswith(".num_batches_tracked") for k in sd) == tracked
    for key, shape in SPOT_CHECKS[name].items():
        assert shapes[key] == shape, key
    assert shapes == EXPECTED[name]
    assert list(shapes) == list(EXPECTED[name])


@pytest.mark.parametrize("name", NAMES)
def test_forward_and_export(name: str) -> None:
    model = built(name)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 1000)
    assert torch.isfinite(y).all()

    program = torch.export.export(model, (x,))
    calls = [n for n in program.graph.nodes if n.op == "call_function"]
    ops = [op_name(n) for n in calls]
    required, adds = REQUIRED_OPS[name]
    assert set(ops) <= ALLOWED_OPS
    assert required <= set(ops)
    assert ops.count("aten::add.Tensor") + ops.count("aten::add_.Tensor") == adds
    # Written as torchvision writes them: in-place activations (and residuals) stay in-place.
    assert any(op.split(".")[0].endswith("_") for op in ops)
    torch.testing.assert_close(program.module()(x), y)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small"])
def test_state_dict_round_trip(name: str) -> None:
    src = built(name)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    buf.seek(0)
    torch.manual_seed(1)
    dst = get_model(name).eval()
    dst.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(dst(x), src(x))
    for key, value in src.state_dict().items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_registry_and_unknown_name() -> None:
    assert list(MODELS) == [*NAMES, "unet"]
    with pytest.raises(ValueError, match="unknown model 'resnet101'") as info:
        get_model("resnet101")
    for name in NAMES:
        assert name in str(info.value)


def test_num_classes_and_width() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    model = get_model("resnet18", num_classes=10).eval()
    assert model.fc.weight.shape == (10, 512)
    assert model(x).shape == (2, 10)
    slim = mobilenet_v2(num_classes=7, width_mult=0.5).eval()
    assert slim.features[0][0].weight.shape == (16, 3, 3, 3)
    assert slim.classifier[1].weight.shape == (7, 1280)
    assert slim(x).shape == (2, 7)


def test_torchvision_structure_details() -> None:
    r50 = built("resnet50")
    block = r50.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)
    assert block.downsample[0].stride == (2, 2)
    mbv2 = built("mobilenet_v2")
    residual = [i for i, m in enumerate(mbv2.features) if getattr(m, "use_res_connect", False)]
    assert residual == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]
    for model in (r50, mbv2, built("vgg16_bn")):
        for m in model.modules():
            if isinstance(m, (nn.ReLU, nn.ReLU6)):
                assert m.inplace  # as in torchvision
            if isinstance(m, nn.BatchNorm2d):
                assert torch.equal(m.weight, torch.ones_like(m.weight))
                assert torch.equal(m.bias, torch.zeros_like(m.bias))


def test_mobilenet_v3_structure_details() -> None:
    """As torchvision builds it: hardswish and ReLU blocks, squeeze-and-excitation with
    a plain ReLU and a hardsigmoid gate, in-place activations, BN eps 0.001, widths."""
    small = built("mobilenet_v3_small")
    se = small.features[1].block[1]
    assert [name for name, _ in se.named_children()] == [
        "avgpool",
        "fc1",
        "fc2",
        "activation",
        "scale_activation",
    ]
    assert isinstance(se.activation, nn.ReLU) and not se.activation.inplace
    assert isinstance(se.scale_activation, nn.Hardsigmoid)
    assert isinstance(small.features[0][2], nn.Hardswish) and small.features[0][2].inplace
    assert isinstance(small.features[2].block[0][2], nn.ReLU)  # "RE" block
    assert isinstance(small.features[4].block[0][2], nn.Hardswish)  # "HS" block
    assert isinstance(small.classifier[1], nn.Hardswish) and small.classifier[1].inplace
    assert small.classifier[2].inplace
    residual = [i for i, m in enumerate(small.features) if getattr(m, "use_res_connect", False)]
    assert residual == [3, 5, 6, 8, 10, 11]
    for m in small.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.eps == 0.001 and m.momentum == 0.01
    large = built("mobilenet_v3_large")
    assert len(large.features[1].block) == 2  # no expansion in the first bottleneck
    assert large.features[13].block[1][0].stride == (2, 2)
    slim = mobilenet_v3_small(num_classes=7, width_mult=0.5).eval()
    assert slim.features[0][0].weight.shape == (8, 3, 3, 3)
    assert slim.classifier[3].weight.shape == (7, 512)  # the last width scales too
    assert slim(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    tail = mobilenet_v3_large(reduced_tail=True)
    assert tail.classifier[0].weight.shape == (640, 480)


def test_unet_shapes_and_export() -> None:
    torch.manual_seed(0)
    model = unet(in_channels=3, num_classes=4, widths=(6, 12, 20)).eval()
    assert sum(p.numel() for p in unet().parameters()) == 118_610
    x = torch.randn(1, 3, 12, 20)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 4, 12, 20)
    program = torch.export.export(model, (x,))
    ops = [op_name(n) for n in program.graph.nodes if n.op == "call_function"]
    assert ops.count("aten::upsample_nearest2d.vec") == 2
    assert ops.count("aten::cat.default") == 2
    assert ops.count("aten::max_pool2d.default") == 2
