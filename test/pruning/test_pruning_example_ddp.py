"""examples/prune_ddp.py runs (in one process here; the torchrun path is the same code
that test_pruning_distributed.py launches)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prune_ddp.py"
TINY = ["--size", "8", "--dense-epochs", "1", "--admm-epochs", "1", "--retrain-epochs", "1",
        "--patterns", "4"]  # fmt: skip


def load_example():
    spec = importlib.util.spec_from_file_location("prune_ddp", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docstring_has_the_torchrun_line() -> None:
    assert "torchrun --nproc-per-node N examples/prune_ddp.py" in EXAMPLE.read_text()


def test_synthetic_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example()
    assert example.main(["--synthetic", "--out", str(tmp_path), *TINY]) == 0
    assert "Pattern library (4 patterns" in capsys.readouterr().out
    first = torch.load(tmp_path / "pruned.pt")
    assert (tmp_path / "checkpoint" / "prune.ckpt").is_file()
    assert (tmp_path / "patterns.png").is_file() and (tmp_path / "report.txt").is_file()
    assert example.main(["--synthetic", "--out", str(tmp_path), "--resume", *TINY]) == 0
    again = torch.load(tmp_path / "pruned.pt")
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for label in ("cat", "dog"):
            folder = tmp_path / "data" / split / label
            folder.mkdir(parents=True)
            for i in range(4):
                pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    example = load_example()
    data = example.ImageFolder(tmp_path / "data" / "train", 8)
    assert data.classes == ["cat", "dog"] and len(data) == 8
    x, label = data[5]
    assert x.shape == (3, 8, 8) and label == 1 and 0 <= float(x.min()) <= float(x.max()) <= 1
    out = tmp_path / "out"
    assert example.main(["--data", str(tmp_path / "data"), "--out", str(out), *TINY]) == 0
    assert (out / "pruned.pt").is_file()
