"""`patdnn prune` options for 1x1, linear and depthwise pruning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from patdnn.cli import main as cli_main
from patdnn.pruning.blocks import kept_blocks

FAST = ["prune", "--epochs", "0", "--admm-epochs", "1", "--retrain-epochs", "0",
        "--model", "patdnn.pruning.digits:DigitsBlockNet"]  # fmt: skip


def test_cli_block_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "a"
    args = ["--pointwise", "off", "--linear", "5", "--block", "2x2", "--depthwise"]
    assert cli_main([*FAST, *args, "-o", str(out)]) == 0
    state = torch.load(out / "digitsblocknet_pruned.pt")
    assert torch.all(state["pw3.weight"] != 0)  # --pointwise off
    fc1 = state["fc1.weight"] != 0  # 128x256 in 2x2 blocks: 64 x 128, 1 in 5 kept
    assert int(kept_blocks(fc1, (2, 2)).sum()) == round(64 * 128 / 5)
    dw = state["dw3.weight"] != 0
    assert torch.all(dw.sum(dim=(2, 3)) <= 4) and bool(dw[:, :, 1, 1].all())
    text = (out / "report.txt").read_text()
    assert "linear blocks" in text and "depthwise pattern" in text and "2x2" in text
    assert "1x1 blocks" not in text
    # naming the classifier in --include prunes it
    out = tmp_path / "b"
    assert cli_main([*FAST, "--include", "conv2,fc", "-o", str(out)]) == 0
    state = torch.load(out / "digitsblocknet_pruned.pt")
    # the default linear block is 16x1: 10 outputs are one partial block row
    assert int(kept_blocks(state["fc.weight"] != 0, (16, 1)).sum()) == round(128 / 10)
    assert torch.all(state["fc1.weight"] != 0) and torch.all(state["pw3.weight"] != 0)
    # --linear-block sets the linear layers alone; 1x1 keeps its 4x1 default
    out = tmp_path / "c"
    assert cli_main([*FAST, "--linear-block", "8x1", "-o", str(out)]) == 0
    state = torch.load(out / "digitsblocknet_pruned.pt")
    assert int(kept_blocks(state["fc1.weight"] != 0, (8, 1)).sum()) == round(16 * 256 / 10)
    assert int(kept_blocks(state["pw3.weight"] != 0, (4, 1)).sum()) == round(16 * 32 / 3.6)
    capsys.readouterr()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pointwise", "0.5"], "--pointwise must be a finite number >= 1 or 'off', got '0.5'"),
        (["--linear", "ten"], "--linear must be a finite number >= 1 or 'off', got 'ten'"),
        (["--block", "4"], "--block must be OUTxIN with positive integers (e.g. 4x1), got '4'"),
        (["--block", "0x1"], "--block must be OUTxIN"),
        (["--linear-block", "16"], "--linear-block must be OUTxIN"),
        (["--include", "conv2,nope"], "include names 'nope', which is not a module"),
        (["--include", "dw3"], "'dw3', a depthwise 3x3 Conv2d, but depthwise pattern pruning is off"),
    ],
)  # fmt: skip
def test_cli_block_option_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli_main([*FAST, *args, "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("patdnn: error: ") and message in err[0], err
    assert not (tmp_path / "o").exists()
