"""Filter groups: neighbouring 3x3 filters sharing kernel positions and patterns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from patdnn.cli import main as cli_main
from patdnn.pruning import (
    CANDIDATES,
    ADMMPruner,
    PruningError,
    connectivity_mask,
    extract_library,
    hard_prune_mask,
    kernels_to_keep,
    mask_pattern_ids,
    prune,
)
from patdnn.pruning.patterns import library_masks, pattern_projection_mask
from patdnn.pruning.project import project_model

LIBRARY = CANDIDATES[3:11]


def reference_mask(weight: torch.Tensor, library, connectivity: float, group: int) -> np.ndarray:
    """Loop-by-loop grouped pattern then connectivity projection, in float64 numpy."""
    w = weight.detach().double().numpy()
    out, cin = w.shape[:2]
    masks = library_masks(library, torch.bool).numpy()  # (K, 3, 3)
    starts = list(range(0, out, group))
    chosen = np.zeros((len(starts), cin), dtype=np.int64)
    score = np.zeros((len(starts), cin))
    for g, s in enumerate(starts):
        for i in range(cin):
            energy = [(w[s : s + group, i] ** 2 * m).sum() for m in masks]
            chosen[g, i] = int(np.argmax(energy))
            score[g, i] = energy[chosen[g, i]]
    keep = kernels_to_keep(len(starts) * cin, connectivity)
    order = sorted(range(score.size), key=lambda j: -score.reshape(-1)[j])[:keep]
    mask = np.zeros(w.shape, dtype=bool)
    for j in order:
        g, i = divmod(j, cin)
        mask[starts[g] : starts[g] + group, i] = masks[chosen[g, i]]
    return mask


def assert_grouped(mask: torch.Tensor, group: int) -> None:
    """Every filter of a group has the same kernel masks as the group's first filter."""
    for s in range(0, mask.shape[0], group):
        block = mask[s : s + group]
        assert torch.equal(block, block[:1].expand_as(block)), f"group at filter {s}"


@pytest.mark.parametrize("shape", [(8, 5), (10, 3), (7, 6), (16, 1)])
@pytest.mark.parametrize("group", [1, 2, 3, 4, 8])
def test_grouped_mask_matches_reference(shape: tuple[int, int], group: int) -> None:
    w = torch.randn(*shape, 3, 3, generator=torch.Generator().manual_seed(sum(shape) + group))
    mask = hard_prune_mask(w, LIBRARY, 2.5, group)
    assert np.array_equal(mask.numpy(), reference_mask(w, LIBRARY, 2.5, group))
    assert_grouped(mask, group)
    ids = mask_pattern_ids(mask, LIBRARY)  # every kept kernel is one library pattern
    groups = -(-shape[0] // group)
    kept = ids[::group] >= 0  # one row per group
    assert int(kept.sum()) == kernels_to_keep(groups * shape[1], 2.5)


def test_group_one_is_patdnn_bitwise() -> None:
    w = torch.randn(12, 9, 3, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(hard_prune_mask(w, LIBRARY, 3.6), hard_prune_mask(w, LIBRARY, 3.6, 1))
    # per kernel: the best pattern of the kernel alone, and the top round(n/c) kernels
    pmask = pattern_projection_mask(w, LIBRARY)
    masks = library_masks(LIBRARY, torch.float64)
    energy = torch.einsum("oirc,krc->oik", w.double() ** 2, masks)
    assert torch.equal(mask_pattern_ids(pmask, LIBRARY), energy.argmax(-1))
    kmask = connectivity_mask(w * pmask, 3.6)
    assert int(kmask.sum()) == round(12 * 9 / 3.6)


def test_uneven_last_group_and_group_beyond_filters() -> None:
    w = torch.randn(10, 4, 3, 3, generator=torch.Generator().manual_seed(2))
    mask = hard_prune_mask(w, LIBRARY, 2.0, 4)  # groups 0-3, 4-7, 8-9
    assert_grouped(mask, 4)
    assert not torch.equal(mask[0], mask[8]) or not torch.equal(mask[4], mask[8])
    whole = hard_prune_mask(w, LIBRARY, 2.0, 64)  # one group holds every filter
    assert torch.equal(whole, whole[:1].expand_as(whole))
    assert int((mask_pattern_ids(whole[:1], LIBRARY) >= 0).sum()) == 2


def test_grouping_changes_the_mask() -> None:
    """A group's shared choice is not every filter's own: a test that can fail."""
    w = torch.randn(8, 8, 3, 3, generator=torch.Generator().manual_seed(3))
    alone = hard_prune_mask(w, LIBRARY, 3.6)
    grouped = hard_prune_mask(w, LIBRARY, 3.6, 4)
    assert not torch.equal(alone, grouped)
    with pytest.raises(AssertionError):
        assert_grouped(alone, 4)
    # sharing costs energy: the free choice keeps more
    kept = (w.square() * grouped).sum()
    assert kept <= (w.square() * alone).sum()


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_bad_filter_group(bad: object) -> None:
    w = torch.randn(4, 4, 3, 3)
    with pytest.raises(PruningError, match="filter_group must be an int >= 1"):
        hard_prune_mask(w, LIBRARY, 2.0, bad)  # type: ignore[arg-type]
    with pytest.raises(PruningError, match="filter_group must be an int >= 1"):
        ADMMPruner(torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3)), LIBRARY, filter_group=bad)  # type: ignore[arg-type]


def test_admm_converges_to_grouped_mask(tiny_model, tiny_loader) -> None:
    torch.manual_seed(0)
    library = extract_library(tiny_model, 4)
    pruner = ADMMPruner(
        tiny_model, library, connectivity=2.0, rho=1e-2, rho_growth=2.0, filter_group=2
    )
    assert pruner.plans["conv2"].group == 2 and pruner.plans["point"].group == 1
    start = pruner.residuals()
    opt = torch.optim.Adam(tiny_model.parameters(), lr=1e-2)
    for _ in range(8):
        for x, y in tiny_loader:
            opt.zero_grad()
            (F.cross_entropy(tiny_model(x), y) + pruner.penalty()).backward()
            opt.step()
        pruner.epoch_end()
    end = pruner.residuals()
    for name in ("conv2", "conv3"):
        assert end[name][0] < 0.3 * start[name][0] and end[name][1] < 0.3 * start[name][1]
        state = pruner._state[name]
        assert state.z is not None and state.y is not None
        assert_grouped(state.z != 0, 2)  # Z lies in the grouped pattern set
        assert_grouped((state.y != 0).any(dim=(2, 3))[..., None, None], 2)
    masks = pruner.hard_prune()
    modules = dict(tiny_model.named_modules())
    for name in ("conv2", "conv3"):
        assert_grouped(masks[name], 2)
        w = modules[name].weight.detach()
        assert torch.equal(masks[name], hard_prune_mask(w, library, 2.0, 2))
        assert torch.all(w[~masks[name]] == 0)
        # each filter keeps its own values: the two filters of a group differ
        assert not torch.equal(w[0::2], w[1::2])
    assert pruner.state_dict()["plans"]["conv2"] == ["pattern", 2.0, None, 2]


def test_prune_and_project_model_with_groups(tiny_model, tiny_loader) -> None:
    result = prune(
        tiny_model,
        tiny_loader,
        num_patterns=4,
        connectivity=2.0,
        admm_epochs=1,
        retrain_epochs=1,
        progress=False,
        filter_group=3,  # 8 filters: groups of 3, 3, 2
    )
    for name in ("conv2", "conv3"):
        assert_grouped(result.masks[name], 3)
    assert {layer.name: layer.group for layer in result.report.layers} == {
        "conv2": 3,
        "conv3": 3,
        "point": 1,
    }
    assert "filters in groups of 3 share kernel positions and patterns" in result.report.table()
    plain = prune(
        tiny_model, tiny_loader, num_patterns=4, admm_epochs=0, retrain_epochs=0, progress=False
    )
    assert "filter groups" not in plain.report.table()

    model = tiny_model
    library = project_model(model, num_patterns=4, connectivity=2.0, filter_group=4)
    for conv in (model.conv2, model.conv3):
        nonzero = conv.weight.detach() != 0
        assert_grouped(nonzero, 4)
        assert torch.all(mask_pattern_ids(nonzero, library) >= -1)


FAST = ["prune", "--epochs", "0", "--admm-epochs", "1", "--retrain-epochs", "0"]


def test_cli_filter_group(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a"
    assert cli_main([*FAST, "--filter-group", "4", "-o", str(out)]) == 0
    state = torch.load(out / "digitsnet_pruned.pt")
    for name in ("conv2", "conv3", "conv4"):
        assert_grouped(state[f"{name}.weight"] != 0, 4)
    assert "filters in groups of 4" in (out / "report.txt").read_text()
    capsys.readouterr()
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            cli_main([*FAST, "--filter-group", bad, "-o", str(tmp_path / "b")])
        err = capsys.readouterr().err.strip().splitlines()
        assert any("--filter-group" in line and "positive integer" in line for line in err), err
        assert not (tmp_path / "b").exists()
