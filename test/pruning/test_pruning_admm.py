from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from patdnn.pruning import (
    CANDIDATES,
    ADMMPruner,
    MaskApplier,
    PruningError,
    extract_library,
    mask_pattern_ids,
    project_patterns,
)


def train_admm(model, loader, pruner: ADMMPruner, epochs: int, lr: float = 1e-2):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    residuals = [pruner.residual_norms()]
    for _ in range(epochs):
        for x, y in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y) + pruner.penalty()
            loss.backward()
            opt.step()
        pruner.epoch_end()
        residuals.append(pruner.residual_norms())
    return residuals


def test_admm_shrinks_residuals(tiny_model, tiny_loader) -> None:
    torch.manual_seed(0)
    library = extract_library(tiny_model, 4)
    pruner = ADMMPruner(tiny_model, library, connectivity=2.0, rho=1e-2, rho_growth=2.0)
    start = pruner.residuals()
    residuals = train_admm(tiny_model, tiny_loader, pruner, epochs=8)
    wz = [r[0] for r in residuals]
    wy = [r[1] for r in residuals]
    assert wz[-1] < 0.25 * wz[0]
    assert wy[-1] < 0.25 * wy[0]
    assert wz[-1] < wz[len(wz) // 2] and wy[-1] < wy[len(wy) // 2]
    assert pruner.rho == pytest.approx(min(1e-2 * 2**8, 1.0))  # capped at rho_max
    # the 1x1 conv is pruned in blocks by default: block set only, no pattern set
    end = pruner.residuals()
    assert set(end) == {"conv2", "conv3", "point"}
    assert start["point"][0] == end["point"][0] == 0.0
    for name in ("conv2", "conv3"):
        assert end[name][0] < 0.3 * start[name][0]
    for name in ("conv2", "conv3", "point"):
        assert end[name][1] < 0.3 * start[name][1]


def test_penalty_value_and_gradient(tiny_model) -> None:
    pruner = ADMMPruner(tiny_model, CANDIDATES[:8], connectivity=3.0, rho=0.5)
    penalty = pruner.penalty()
    wz, wy = pruner.residual_norms()  # U = V = 0 at the start
    assert float(penalty.detach()) == pytest.approx(0.25 * (wz**2 + wy**2), rel=1e-5)
    penalty.backward()
    assert tiny_model.conv2.weight.grad is not None
    assert tiny_model.conv1.weight.grad is None  # first conv is not constrained


def test_rho_schedule_capped_and_duals_rescaled(tiny_model) -> None:
    pruner = ADMMPruner(
        tiny_model, CANDIDATES[:8], rho=0.1, rho_growth=10.0, rho_every=2, rho_max=5.0
    )
    w = tiny_model.conv2.weight.detach()
    pruner.epoch_end()
    assert pruner.rho == pytest.approx(0.1)
    u = pruner._state["conv2"].u.clone()
    assert u.abs().sum() > 0
    pruner.epoch_end()
    assert pruner.rho == pytest.approx(1.0)
    # scaled dual U = lambda / rho: rescaled when rho changes
    expected = (u + w - project_patterns(w + u, CANDIDATES[:8])) * (0.1 / 1.0)
    assert torch.allclose(pruner._state["conv2"].u, expected)
    pruner.epoch_end()
    pruner.epoch_end()
    assert pruner.rho == pytest.approx(5.0)


def test_hard_prune_and_masked_retraining_keep_zeros(tiny_model, tiny_loader) -> None:
    library = CANDIDATES[:6]
    pruner = ADMMPruner(tiny_model, library, connectivity=3.6)
    train_admm(tiny_model, tiny_loader, pruner, epochs=2)
    masks = pruner.hard_prune()
    assert set(masks) == {"conv2", "conv3", "point"}
    point = masks["point"].reshape(8, 8)  # (4, 1) blocks: 2 x 8 of them, 4 kept
    assert int(point.sum()) == 4 * round(16 / 3.6)
    assert torch.equal(point[0::4], point[1::4]) and torch.equal(point[0::4], point[3::4])
    for name in ("conv2", "conv3"):
        mask = masks[name]
        w = dict(tiny_model.named_modules())[name].weight
        ids = mask_pattern_ids(mask, library)
        assert int((ids >= 0).sum()) == max(1, round(ids.numel() / 3.6))
        assert torch.all(w[~mask] == 0)
    # momentum and weight decay would revive pruned weights without masking
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    applier = pruner.mask_applier()
    for _ in range(3):
        for x, y in tiny_loader:
            opt.zero_grad()
            F.cross_entropy(tiny_model(x), y).backward()
            applier.step(opt)
            for name, mask in masks.items():
                w = dict(tiny_model.named_modules())[name].weight
                assert torch.all(w[~mask] == 0)
    # the kept weights did train
    modules = dict(tiny_model.named_modules())
    assert any(modules[n].weight[m].abs().sum() > 0 for n, m in masks.items())


def test_apply_masks_after_plain_step(tiny_model, tiny_loader) -> None:
    pruner = ADMMPruner(tiny_model, CANDIDATES[:8])
    with pytest.raises(PruningError, match="hard_prune"):
        pruner.apply_masks()
    masks = pruner.hard_prune()
    opt = torch.optim.Adam(tiny_model.parameters(), lr=0.1)
    x, y = next(iter(tiny_loader))
    F.cross_entropy(tiny_model(x), y).backward()
    opt.step()
    assert tiny_model.conv2.weight[~masks["conv2"]].abs().sum() > 0
    pruner.apply_masks()
    assert torch.all(tiny_model.conv2.weight[~masks["conv2"]] == 0)


def test_mask_applier_validates(tiny_model) -> None:
    with pytest.raises(PruningError, match="not a module"):
        MaskApplier(tiny_model, {"nope": torch.ones(1, dtype=torch.bool)})
    with pytest.raises(PruningError, match="shape"):
        MaskApplier(tiny_model, {"conv2": torch.ones(3, 3, dtype=torch.bool)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"connectivity": 0.9}, "connectivity"),
        ({"rho": 0}, "rho"),
        ({"rho_growth": 0.5}, "rho_growth"),
        ({"rho_every": 0}, "rho_every"),
        ({"pointwise": 0.5}, "pointwise must be a finite number >= 1"),
        ({"linear": "10"}, "linear must be a finite number >= 1"),
        ({"block_shape": (0, 1)}, "block_shape must be two positive ints"),
        ({"depthwise": 1}, "depthwise must be True or False"),
    ],
)
def test_pruner_rejects_bad_arguments(tiny_model, kwargs, message: str) -> None:
    with pytest.raises(PruningError, match=message):
        ADMMPruner(tiny_model, CANDIDATES[:8], **kwargs)
