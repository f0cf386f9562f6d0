"""Block sparsity of 1x1 convolutions and linear layers, depthwise patterns, per-layer
choice, the report of every kind, checkpoints carrying the new masks, and the one-shot
projection of a whole model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from patdnn.pruning import (
    ADMMPruner,
    PruningError,
    block_mask,
    layer_kind,
    mask_pattern_ids,
    project_blocks,
    prune,
    select_sparse_layers,
)
from patdnn.pruning.admm import LayerPlan, layer_mask
from patdnn.pruning.blocks import kept_blocks
from patdnn.pruning.checkpoint import load_checkpoint
from patdnn.pruning.project import project_model

FAST = dict(admm_epochs=2, retrain_epochs=1, progress=False)


class BlockNet(nn.Module):
    """stem 3x3 1->4, 3x3 4->6, depthwise 3x3 6, 1x1 6->10, linear 10->7, linear 7->3.

    Output counts 10 and 7 are not multiples of the default 4-output block: the last
    block row of ``pw`` and ``fc1`` is partial.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1, stride=2)
        self.dw = nn.Conv2d(6, 6, 3, padding=1, groups=6)
        self.pw = nn.Conv2d(6, 10, 1)
        self.fc1 = nn.Linear(10, 7)
        self.fc = nn.Linear(7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.dw(x))
        x = F.relu(self.pw(x))
        x = F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1).flatten(1)))
        return self.fc(x)


def block_net(seed: int = 0) -> BlockNet:
    torch.manual_seed(seed)
    return BlockNet()


def reference_block_mask(w: torch.Tensor, ratio: float, bo: int, bi: int) -> torch.Tensor:
    """Loop-by-loop top blocks by L2 norm (ties: earlier block), the test's own oracle."""
    m = w.reshape(w.shape[0], w.shape[1])
    blocks = []
    for r in range(0, m.shape[0], bo):
        for c in range(0, m.shape[1], bi):
            blocks.append((float(m[r : r + bo, c : c + bi].square().sum()), r, c))
    keep = max(1, round(len(blocks) / ratio))
    order = sorted(range(len(blocks)), key=lambda i: (-blocks[i][0], i))[:keep]
    out = torch.zeros_like(m, dtype=torch.bool)
    for i in order:
        _, r, c = blocks[i]
        out[r : r + bo, c : c + bi] = True
    return out.reshape(w.shape)


def check_block_sparse(mask: torch.Tensor, ratio: float, block: tuple[int, int]) -> None:
    """Every block is all kept or all pruned; round(n / ratio) of the n blocks are kept."""
    bo, bi = block
    m = mask.reshape(mask.shape[0], mask.shape[1])
    n = math.ceil(m.shape[0] / bo) * math.ceil(m.shape[1] / bi)
    kept = 0
    for r in range(0, m.shape[0], bo):
        for c in range(0, m.shape[1], bi):
            b = m[r : r + bo, c : c + bi]
            assert bool(b.all()) or not bool(b.any()), (r, c)
            kept += bool(b.all())
    assert kept == max(1, round(n / ratio))


@pytest.mark.parametrize(
    "shape, block, ratio",
    [
        ((10, 6), (4, 1), 3.6),  # partial last block row
        ((10, 6, 1, 1), (4, 2), 2.0),  # 1x1 conv weight
        ((7, 13), (3, 5), 1.0),  # both partial, keep every block
        ((5, 3), (8, 8), 10.0),  # one partial block: at least 1 kept
        ((33, 17), (1, 1), 10.0),  # unstructured
    ],
)
def test_block_mask_keeps_top_blocks(shape, block, ratio) -> None:
    w = torch.randn(*shape, generator=torch.Generator().manual_seed(7))
    mask = block_mask(w, ratio, block)
    assert mask.dtype == torch.bool and mask.shape == w.shape
    assert torch.equal(mask, reference_block_mask(w, ratio, *block))
    check_block_sparse(mask, ratio, block)
    assert torch.equal(project_blocks(w, ratio, block), w * mask)
    assert int(kept_blocks(mask, block).sum()) == max(
        1, round(kept_blocks(torch.ones_like(mask), block).numel() / ratio)
    )


def test_block_mask_ties_and_zero_weights() -> None:
    # equal blocks: the earlier ones (row-major over the block grid) win
    mask = block_mask(torch.ones(8, 2), 2.0, (4, 1))
    assert mask[:4].all() and not mask[4:].any()
    # all-zero weights still keep exactly round(n / ratio) blocks
    check_block_sparse(block_mask(torch.zeros(9, 4), 3.0, (4, 1)), 3.0, (4, 1))
    with pytest.raises(PruningError, match="neither all kept nor all pruned"):
        kept_blocks(torch.eye(4, dtype=torch.bool), (4, 1))


def test_layer_kinds_and_default_choice() -> None:
    model = BlockNet()
    kinds = {n: layer_kind(m) for n, m in model.named_children()}
    assert kinds == {"conv1": "pattern", "conv2": "pattern", "dw": "depthwise",
                     "pw": "pointwise", "fc1": "linear", "fc": "linear"}  # fmt: skip
    assert layer_kind(nn.Conv2d(4, 8, 3, groups=2)) is None  # grouped, not depthwise
    assert layer_kind(nn.Conv2d(4, 4, 5)) is None
    # the stem and the final classifier stay dense; depthwise off by default
    chosen = select_sparse_layers(model)
    assert {n: k for n, (k, _) in chosen.items()} == {
        "conv2": "pattern", "pw": "pointwise", "fc1": "linear"
    }  # fmt: skip
    every = select_sparse_layers(model, kinds=("pattern", "pointwise", "linear", "depthwise"))
    assert list(every) == ["conv2", "dw", "pw", "fc1"]


def test_prune_defaults_hold_exactly(tiny_loader) -> None:
    result = prune(block_net(), tiny_loader, **FAST)
    assert list(result.masks) == ["conv2", "pw", "fc1"]
    modules = dict(result.model.named_modules())
    for name, ratio, block in (("pw", 3.6, (4, 1)), ("fc1", 10.0, (16, 1))):
        mask = result.masks[name]
        assert torch.all(modules[name].weight[~mask] == 0)
        check_block_sparse(mask, ratio, block)
    # pw: 3 block rows (4, 4, 2 outputs) x 6 inputs = 18 blocks, round(18 / 3.6) = 5 kept
    assert int(kept_blocks(result.masks["pw"], (4, 1)).sum()) == 5
    # fc1: 1 partial block row (7 of 16 outputs) x 10 inputs = 10 blocks, 1 in 10 kept
    assert int(kept_blocks(result.masks["fc1"], (16, 1)).sum()) == 1
    # the depthwise layer, the stem and the classifier stay dense
    for name in ("conv1", "dw", "fc"):
        assert torch.all(modules[name].weight != 0), name


def test_per_layer_ratios_block_shapes_and_includes(tiny_loader) -> None:
    result = prune(
        block_net(),
        tiny_loader,
        include=["conv2", "dw", "pw", "fc1", "fc"],  # naming the classifier prunes it
        pointwise={"pw": 2.0},
        linear={"fc1": 4.0, "fc": 3.0},
        block_shape={"pw": (2, 3), "fc": (1, 7)},
        depthwise=True,
        **FAST,
    )
    assert list(result.masks) == ["conv2", "dw", "pw", "fc1", "fc"]
    check_block_sparse(result.masks["pw"], 2.0, (2, 3))
    check_block_sparse(result.masks["fc1"], 4.0, (16, 1))
    check_block_sparse(result.masks["fc"], 3.0, (1, 7))  # 3 rows, keep round(3 / 3) = 1
    assert int(result.masks["fc"].sum()) == 7
    # one block shape for all, and a kind turned off
    result = prune(block_net(), tiny_loader, block_shape=(2, 2), linear=None, **FAST)
    assert list(result.masks) == ["conv2", "pw"]
    check_block_sparse(result.masks["pw"], 3.6, (2, 2))
    assert torch.all(result.model.fc1.weight != 0)


def test_depthwise_kernels_keep_a_library_pattern(tiny_loader) -> None:
    result = prune(block_net(), tiny_loader, depthwise=True, **FAST)
    mask = result.masks["dw"]
    assert mask.shape == (6, 1, 3, 3)
    ids = mask_pattern_ids(mask, result.library)  # raises unless each kernel is a pattern
    assert bool((ids >= 0).all())  # depthwise: every kernel kept, 4 taps each
    assert int(mask.sum()) == 4 * 6
    w = result.model.dw.weight.detach()
    assert torch.all(w[~mask] == 0)
    layer = next(layer for layer in result.report.layers if layer.name == "dw")
    assert layer.kind == "depthwise" and layer.kernels_kept == layer.kernels_total == 6
    assert sum(layer.pattern_histogram) == 6


def test_report_lists_every_kind(tiny_loader, tmp_path: Path) -> None:
    result = prune(block_net(), tiny_loader, depthwise=True, val_loader=tiny_loader, **FAST)
    report = result.report
    assert [(layer.name, layer.kind) for layer in report.layers] == [
        ("conv2", "pattern"), ("dw", "depthwise"), ("pw", "pointwise"), ("fc1", "linear")
    ]  # fmt: skip
    by_name = {layer.name: layer for layer in report.layers}
    assert by_name["pw"].block == (4, 1) and by_name["pw"].ratio == 3.6
    assert by_name["fc1"].ratio == 10.0 and by_name["dw"].ratio is None
    assert by_name["fc1"].kept_share == pytest.approx(int(result.masks["fc1"].sum()) / 70)
    text = report.table()
    for needle in ("3x3 pattern", "depthwise pattern", "1x1 blocks", "linear blocks",
                   "5/18 blocks", "1/10 blocks", "6/6 kernels", "4x1", "16x1", "10", "kept share"):  # fmt: skip
        assert needle in text, needle
    png = report.save_figure(tmp_path / "kinds.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pointwise": 0.5}, "pointwise must be a finite number >= 1, got 0.5"),
        ({"linear": float("nan")}, "linear must be a finite number >= 1"),
        ({"linear": True}, "linear must be a finite number >= 1"),
        ({"pointwise": {"pw": 2.0, "fc1": 2.0}}, "pointwise names 'fc1', which is not a pruned"),
        ({"linear": {}}, "linear has no ratio for layer 'fc1'"),
        ({"linear": {"fc1": 0}}, "layer 'fc1': linear must be"),
        ({"block_shape": (4,)}, "block_shape must be two positive ints"),
        ({"block_shape": (4, 0)}, "block_shape must be two positive ints"),
        ({"block_shape": (4.0, 1)}, "block_shape must be two positive ints"),
        ({"block_shape": {"conv2": (4, 1)}}, "block_shape names 'conv2', which is neither a pruned 1x1"),
        ({"block_shape": {"pw": (1, -1)}}, "block_shape of layer 'pw' must be"),
        ({"depthwise": "yes"}, "depthwise must be True or False"),
        ({"include": ["dw"]}, "'dw', a depthwise 3x3 Conv2d, but depthwise pattern pruning is off"),
        ({"include": ["pw"], "pointwise": None}, "'pw', a 1x1 groups=1 Conv2d, but 1x1 blocks"),
    ],
)  # fmt: skip
def test_bad_arguments_name_argument_and_layer(tiny_loader, kwargs, message: str) -> None:
    with pytest.raises(PruningError, match=message.replace("(", r"\(").replace(")", r"\)")):
        prune(block_net(), tiny_loader, **{**FAST, **kwargs})


def test_admm_block_penalty_and_hard_prune() -> None:
    model = block_net()
    pruner = ADMMPruner(model, [((0, 1), (1, 0), (1, 1), (1, 2))], rho=0.5, depthwise=True)
    state = pruner._state
    assert state["pw"].z is None and state["pw"].y is not None  # block set only
    assert state["dw"].y is None and state["dw"].z is not None  # pattern set only
    # U = V = 0 at the start: the penalty is rho/2 times the squared distances to Z and Y
    res = pruner.residuals()
    expected = 0.25 * sum(a * a + b * b for a, b in res.values())
    assert float(pruner.penalty().detach()) == pytest.approx(expected, rel=1e-5)
    w = model.fc1.weight.detach().clone()
    fc1 = block_mask(w, 10.0, (16, 1))  # the default linear block
    assert res["fc1"][1] == pytest.approx(float((w - w * fc1).norm()), rel=1e-6)
    masks = pruner.hard_prune()
    assert torch.equal(masks["fc1"], fc1)
    assert torch.all(model.fc1.weight[~masks["fc1"]] == 0)


class Interrupt(Exception):
    pass


def test_checkpoint_resume_is_bitwise_with_block_and_depthwise_masks(
    tiny_loader, tmp_path: Path
) -> None:
    run = dict(depthwise=True, linear={"fc1": 5.0}, block_shape={"pw": (2, 1)},
               admm_epochs=2, retrain_epochs=2, rho=1e-2, seed=1, progress=False)  # fmt: skip
    calls = [0]
    n = len(tiny_loader)

    def dying_loss(out, y):
        calls[0] += 1
        if calls[0] == 3 * n + 1:  # first batch of retraining epoch 2
            raise Interrupt
        return F.cross_entropy(out, y)

    with pytest.raises(Interrupt):
        prune(block_net(), tiny_loader, loss_fn=dying_loss, checkpoint_dir=tmp_path, **run)
    saved = load_checkpoint(tmp_path)
    assert saved is not None and (saved["phase"], saved["epoch"]) == ("retrain", 0)
    assert set(saved["pruner"]["masks"]) == {"conv2", "dw", "pw", "fc1"}
    resumed = prune(block_net(), tiny_loader, checkpoint_dir=tmp_path, resume=True, **run)
    whole = prune(block_net(), tiny_loader, **run)
    assert resumed.masks.keys() == whole.masks.keys()
    for name in whole.masks:
        assert torch.equal(resumed.masks[name], whole.masks[name]), name
    a, b = resumed.model.state_dict(), whole.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in b)
    check_block_sparse(whole.masks["pw"], 3.6, (2, 1))
    check_block_sparse(whole.masks["fc1"], 5.0, (16, 1))
    with pytest.raises(PruningError, match="made with plans="):
        prune(block_net(), tiny_loader, checkpoint_dir=tmp_path, resume=True,
              **dict(run, linear={"fc1": 4.0}))  # fmt: skip


# -- one-shot projection of a whole model (`project_model`, used by `patdnn bench`) ------


def _nonzero(module: nn.Module) -> torch.Tensor:
    return module.weight.detach() != 0


def test_project_model_defaults_project_3x3_1x1_and_linear_keep_stem_and_classifier() -> None:
    model = block_net(seed=3)
    before = {n: m.weight.detach().clone() for n, m in model.named_children()}
    lib = project_model(model, num_patterns=4)
    modules = dict(model.named_children())
    # 1x1 conv 6->10 in (4, 1) blocks, linear 10->7 in (16, 1) (partial last block rows)
    check_block_sparse(_nonzero(modules["pw"]), 3.6, (4, 1))
    check_block_sparse(_nonzero(modules["fc1"]), 10.0, (16, 1))
    # 3x3: every kept kernel one library pattern, round(24 / 3.6) = 7 kernels kept
    ids = mask_pattern_ids(_nonzero(modules["conv2"]), lib)
    assert int((ids >= 0).sum()) == round(24 / 3.6)
    # kept weights are the original ones; the stem, depthwise and classifier are untouched
    for name, m in modules.items():
        w = m.weight.detach()
        assert torch.equal(w[w != 0], before[name][w != 0]), name
    for name in ("conv1", "dw", "fc"):
        assert torch.equal(modules[name].weight.detach(), before[name]), name


def test_project_model_kinds_off_block_shapes_and_depthwise() -> None:
    model = block_net(seed=4)
    before = {n: m.weight.detach().clone() for n, m in model.named_children()}
    project_model(model, num_patterns=4, pointwise=None, linear=2.0, block_shape=(2, 3),
                  depthwise=True)  # fmt: skip
    modules = dict(model.named_children())
    assert torch.equal(modules["pw"].weight.detach(), before["pw"])  # 1x1 pruning off
    check_block_sparse(_nonzero(modules["fc1"]), 2.0, (2, 3))
    # depthwise: every kernel keeps exactly 4 taps (one pattern), none removed
    assert torch.all(_nonzero(modules["dw"]).sum(dim=(2, 3)) == 4)


def test_project_model_masks_are_those_of_hard_pruning() -> None:
    """The projection is `layer_mask`, the mask `prune()` hard-prunes with."""
    model = block_net(seed=5)
    w = model.fc1.weight.detach().clone()
    project_model(model, num_patterns=4, linear=3.0, block_shape=(4, 1))
    expected = layer_mask(w, LayerPlan("linear", 3.0, (4, 1)), ())
    assert torch.equal(_nonzero(model.fc1), expected & (w != 0))


def test_project_model_bad_arguments() -> None:
    with pytest.raises(PruningError, match="linear must be a finite number >= 1"):
        project_model(block_net(), linear=0.5)
    with pytest.raises(PruningError, match="block_shape must be two positive ints"):
        project_model(block_net(), block_shape=(0, 1))
    with pytest.raises(PruningError, match="no prunable layer"):
        project_model(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(4, 2)))


def test_block_shape_defaults_per_kind_and_kind_keys() -> None:
    """1x1 convolutions default to (4, 1) blocks, linear layers to (16, 1); a mapping may
    set a kind, a layer's own entry winning over its kind's."""
    from patdnn.pruning import DEFAULT_BLOCK, DEFAULT_LINEAR_BLOCK
    from patdnn.pruning.admm import plan_layers

    assert (DEFAULT_BLOCK, DEFAULT_LINEAR_BLOCK) == ((4, 1), (16, 1))
    _, plans = plan_layers(BlockNet())
    assert (plans["pw"].block, plans["fc1"].block) == ((4, 1), (16, 1))
    _, plans = plan_layers(BlockNet(), block_shape=(2, 2))
    assert (plans["pw"].block, plans["fc1"].block) == ((2, 2), (2, 2))
    _, plans = plan_layers(BlockNet(), include=["pw", "fc1", "fc"],
                           block_shape={"linear": (8, 1), "fc": (1, 1)})  # fmt: skip
    assert [plans[n].block for n in ("pw", "fc1", "fc")] == [(4, 1), (8, 1), (1, 1)]
    with pytest.raises(PruningError, match="block_shape of 'linear' must be two positive"):
        plan_layers(BlockNet(), block_shape={"linear": (0, 1)})
    with pytest.raises(PruningError, match="nor a kind"):
        plan_layers(BlockNet(), block_shape={"depthwise": (4, 1)})
    # fc1 (7 outputs: one partial 16x1 block row x 10 inputs): round(10 / 10) = 1 kept
    model = block_net(seed=6)
    project_model(model, num_patterns=4)
    check_block_sparse(model.fc1.weight.detach() != 0, 10.0, (16, 1))
