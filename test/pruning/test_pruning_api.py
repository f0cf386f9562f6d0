from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, TensorDataset

from patdnn.errors import PatdnnError
from patdnn.pruning import CANDIDATES, PruneReport, PruneResult, PruningError, prune

FAST = dict(admm_epochs=2, retrain_epochs=1, progress=False)


def check_pruned(result: PruneResult, connectivity: float = 3.6) -> None:
    modules = dict(result.model.named_modules())
    for name, mask in result.masks.items():
        w = modules[name].weight.detach()
        assert mask.dtype == torch.bool and mask.shape == w.shape
        assert torch.all(w[~mask] == 0)
        if tuple(w.shape[2:]) != (3, 3):
            continue  # block layers: see test_pruning_blocks.py
        flat = (w != 0).reshape(-1, 3, 3)
        patterns = {tuple(map(tuple, torch.nonzero(k).tolist())) for k in flat if k.any()}
        assert patterns <= set(result.library)
        nonzero = int(flat.any(dim=(1, 2)).sum())
        assert nonzero == max(1, round(flat.shape[0] / connectivity))


def test_prune_result(tiny_model, tiny_loader) -> None:
    result = prune(tiny_model, tiny_loader, val_loader=tiny_loader, **FAST)
    assert isinstance(result, PruneResult) and isinstance(result.report, PruneReport)
    assert result.model is not tiny_model
    assert len(result.library) == 8 and len(set(result.library)) == 8
    for p in result.library:
        assert isinstance(p, tuple) and len(p) == 4 and (1, 1) in p and list(p) == sorted(p)
        assert all(isinstance(t, tuple) and len(t) == 2 for t in p)
    # by default the 1x1 conv is pruned in (4, 1) blocks at connectivity 3.6
    assert list(result.masks) == ["conv2", "conv3", "point"]
    check_pruned(result)
    # the first conv (stem) and the last linear layer (classifier) stay dense
    assert torch.all(result.model.conv1.weight != 0)
    assert torch.all(result.model.fc.weight != 0)
    assert int((result.model.point.weight != 0).sum()) <= 4 * round(16 / 3.6)
    report = result.report
    assert [layer.name for layer in report.layers] == ["conv2", "conv3", "point"]
    assert [layer.kind for layer in report.layers] == ["pattern", "pattern", "pointwise"]
    point = report.layers[2]
    assert (point.kernels_kept, point.kernels_total, point.units) == (4, 16, "blocks")
    assert point.block == (4, 1) and point.ratio == 3.6 and point.kept_share == 16 / 64
    conv2 = report.layers[0]
    assert conv2.kernels_total == 32 and conv2.kernels_kept == round(32 / 3.6)
    assert sum(conv2.pattern_histogram) == conv2.kernels_kept
    assert conv2.weights_kept == 4 * conv2.kernels_kept
    assert conv2.sparsity == pytest.approx(1 - 4 * 9 / (32 * 9))
    for acc in (report.accuracy_before, report.accuracy_hard_pruned, report.accuracy_after):
        assert acc is not None and 0.0 <= acc <= 1.0
    assert [h.phase for h in report.history] == ["admm", "admm", "retrain"]


def test_prune_leaves_input_unchanged(tiny_model, tiny_loader) -> None:
    tiny_model.eval()
    before = copy.deepcopy(tiny_model.state_dict())
    result = prune(tiny_model, tiny_loader, **FAST)
    after = tiny_model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in tiny_model.parameters())
    assert not tiny_model.training and not result.model.training  # mode kept


def test_prune_leaves_no_hooks(tiny_model, tiny_loader) -> None:
    result = prune(tiny_model, tiny_loader, **FAST)
    model = result.model
    for module in model.modules():
        assert not parametrize.is_parametrized(module)
        for hooks in (
            module._forward_hooks,
            module._forward_pre_hooks,
            module._backward_hooks,
            module._backward_pre_hooks,
            module._state_dict_hooks,
            module._load_state_dict_pre_hooks,
        ):
            assert len(hooks) == 0
    assert model.state_dict().keys() == tiny_model.state_dict().keys()
    assert all(type(p) is nn.Parameter and p.grad is None for p in model.parameters())
    # plain module: forward works on a fresh deepcopy and under no_grad
    with torch.no_grad():
        copy.deepcopy(model)(torch.randn(2, 1, 6, 6))


def test_same_seed_same_model(make_model, make_loader) -> None:
    def run(seed: int) -> dict[str, torch.Tensor]:
        return prune(make_model(), make_loader(), seed=seed, **FAST).model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_prune_restores_caller_rng(tiny_model, tiny_loader) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    prune(tiny_model, tiny_loader, **FAST)
    assert torch.equal(torch.rand(3), expected)


def test_one_shot_and_options(tiny_model, tiny_loader) -> None:
    calls = []

    def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return F.cross_entropy(out, y)

    library = CANDIDATES[:3]
    result = prune(
        tiny_model,
        tiny_loader,
        admm_epochs=0,
        retrain_epochs=1,
        connectivity=2.0,
        library=library,
        include=["conv1", "conv3"],
        loss_fn=loss_fn,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        progress=False,
    )
    assert result.library == library
    assert list(result.masks) == ["conv1", "conv3"]
    assert len(calls) == len(tiny_loader)
    check_pruned(result, connectivity=2.0)
    excluded = prune(tiny_model, tiny_loader, exclude="conv2", num_patterns=6, **FAST)
    assert list(excluded.masks) == ["conv3", "point"] and len(excluded.library) == 6


def test_progress_bars(tiny_model, tiny_loader, capsys) -> None:
    prune(tiny_model, tiny_loader, admm_epochs=1, retrain_epochs=1, progress=True)
    err = capsys.readouterr().err
    assert "ADMM" in err and "retrain" in err
    prune(tiny_model, tiny_loader, admm_epochs=1, retrain_epochs=1, progress=False)
    assert capsys.readouterr().err == ""


def test_report_table_and_figure(tiny_model, tiny_loader, tmp_path) -> None:
    result = prune(tiny_model, tiny_loader, val_loader=tiny_loader, **FAST)
    text = str(result.report)
    assert text == result.report.table() == str(result)
    for needle in ("conv2", "conv3", "kept", "sparsity", "total", "accuracy", "ADMM", "p7"):
        assert needle in text
    assert f"{round(32 / 3.6)}/32 kernels" in text
    assert "1x1 blocks" in text and "4/16 blocks" in text and "4x1" in text
    path = result.report.save_figure(tmp_path / "report.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_report_figure_with_large_library(tiny_model, tiny_loader, tmp_path) -> None:
    result = prune(
        tiny_model, tiny_loader, num_patterns=56, admm_epochs=0, retrain_epochs=0, progress=False
    )
    assert "p55" in result.report.table()
    assert result.report.accuracy_before is None
    result.report.save_figure(tmp_path / "big.png")
    assert (tmp_path / "big.png").stat().st_size > 0


class NoConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4, 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_patterns": 0}, "num_patterns"),
        ({"num_patterns": 57}, "num_patterns"),
        ({"connectivity": 0.99}, "connectivity"),
        ({"admm_epochs": -1}, "admm_epochs"),
        ({"retrain_epochs": 1.5}, "retrain_epochs"),
        ({"rho": -1.0}, "rho"),
        ({"lr": 0}, "lr"),
        (
            {"include": ["fc"], "linear": None},
            "'fc', a Linear layer, but linear blocks pruning is off",
        ),
        (
            {"include": ["conv2", "fc"], "linear": {"fc": 0.5}},
            "layer 'fc': linear must be a finite",
        ),
        ({"exclude": ["missing"]}, "not a module"),
    ],
)
def test_prune_rejects_bad_arguments(tiny_model, tiny_loader, kwargs, message: str) -> None:
    with pytest.raises(PatdnnError, match=message):
        prune(tiny_model, tiny_loader, **{**FAST, **kwargs})


def test_prune_rejects_model_without_prunable_layer(tiny_loader) -> None:
    with pytest.raises(PruningError, match="no prunable layer"):
        prune(NoConv(), tiny_loader, **FAST)
    with pytest.raises(PruningError, match="nn.Module"):
        prune("model", tiny_loader, **FAST)  # type: ignore[arg-type]


def test_prune_rejects_empty_loader(tiny_model) -> None:
    empty = DataLoader(TensorDataset(torch.zeros(0, 1, 6, 6), torch.zeros(0, dtype=torch.long)))
    for loader in (empty, []):
        with pytest.raises(PruningError, match="train_loader is empty"):
            prune(tiny_model, loader, **FAST)
    with pytest.raises(PruningError, match="val_loader is empty"):
        one_batch = [(torch.zeros(1, 1, 6, 6), torch.zeros(1, dtype=torch.long))]
        prune(tiny_model, one_batch, val_loader=[], **FAST)
    with pytest.raises(PruningError, match="empty"):
        prune(tiny_model, iter(()), **FAST)  # no len(): found empty while training
    with pytest.raises(PruningError, match="train_loader"):
        prune(tiny_model, None, **FAST)  # type: ignore[arg-type]
