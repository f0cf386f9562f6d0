"""Checkpoints: a run killed after an epoch resumes to the uninterrupted result."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from patdnn.cli import main as cli_main
from patdnn.pruning import PruningError, prune
from patdnn.pruning.checkpoint import CHECKPOINT_NAME, load_checkpoint

HERE = Path(__file__).resolve().parent
# 4 batches per epoch; the killed run dies in the first batch of ADMM epoch 3
RUN = dict(num_patterns=4, connectivity=2.0, admm_epochs=3, retrain_epochs=2, rho=1e-2,
           seed=3, progress=False)  # fmt: skip


def setup():
    import ddp_worker

    loader = DataLoader(ddp_worker.dataset(), batch_size=16, shuffle=True)
    return ddp_worker.make_model(), loader, ddp_worker.sgd


def assert_same(a, b) -> None:
    assert a.library == b.library
    assert a.masks.keys() == b.masks.keys()
    for name in a.masks:
        assert torch.equal(a.masks[name], b.masks[name]), name
    for (ka, va), (kb, vb) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=False
    ):
        assert ka == kb and torch.equal(va, vb), ka
    assert [h.loss for h in a.report.history] == [h.loss for h in b.report.history]


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, {here!r})
    from test_pruning_checkpoint import RUN, setup
    from patdnn.pruning import prune

    torch.set_num_threads(1)
    model, loader, sgd = setup()
    calls = [0]

    def loss_fn(out, y):
        calls[0] += 1
        if calls[0] == 9:  # first batch of the third epoch: SIGKILL, no clean-up
            os.kill(os.getpid(), signal.SIGKILL)
        return F.cross_entropy(out, y)

    prune(model, loader, optimizer=sgd, loss_fn=loss_fn, checkpoint_dir={ckpt!r}, **RUN)
    """
)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    code = KILLER.format(here=str(HERE), ckpt=str(ckpt))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert sorted(p.name for p in ckpt.iterdir()) == [CHECKPOINT_NAME]  # no temporary left
    saved = load_checkpoint(ckpt)
    assert saved is not None and (saved["phase"], saved["epoch"]) == ("admm", 1)

    model, loader, sgd = setup()
    resumed = prune(model, loader, optimizer=sgd, checkpoint_dir=ckpt, resume=True, **RUN)
    model, loader, sgd = setup()
    whole = prune(model, loader, optimizer=sgd, **RUN)
    assert_same(resumed, whole)
    final = load_checkpoint(ckpt)
    assert final is not None and (final["phase"], final["epoch"]) == ("retrain", 1)


class Interrupt(Exception):
    pass


def test_resume_in_retraining_and_config_checks(tmp_path: Path) -> None:
    model, loader, _ = setup()
    calls = [0]

    def loss_fn(out, y):
        calls[0] += 1
        if calls[0] == 4 * 4 + 1:  # first batch of retraining epoch 2
            raise Interrupt
        return torch.nn.functional.cross_entropy(out, y)

    with pytest.raises(Interrupt):
        prune(model, loader, loss_fn=loss_fn, checkpoint_dir=tmp_path, **RUN)
    saved = load_checkpoint(tmp_path)
    assert saved is not None and (saved["phase"], saved["epoch"]) == ("retrain", 0)

    model, loader, _ = setup()
    resumed = prune(model, loader, checkpoint_dir=tmp_path, resume=True, **RUN)
    model, loader, _ = setup()
    assert_same(resumed, prune(model, loader, **RUN))

    with pytest.raises(PruningError, match="made with connectivity="):
        prune(model, loader, checkpoint_dir=tmp_path, resume=True, **dict(RUN, connectivity=3.0))
    with pytest.raises(PruningError, match="resume=True needs a checkpoint_dir"):
        prune(model, loader, resume=True, **RUN)
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"not a checkpoint")
    with pytest.raises(PruningError, match="not a readable pruning checkpoint"):
        prune(model, loader, checkpoint_dir=tmp_path, resume=True, **RUN)


def test_cli_checkpoint_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prune", "--epochs", "0", "--admm-epochs", "1", "--retrain-epochs", "1",
            "--checkpoint-dir", str(tmp_path / "ck")]  # fmt: skip
    assert cli_main([*args, "-o", str(tmp_path / "a")]) == 0
    saved = load_checkpoint(tmp_path / "ck")
    assert saved is not None and (saved["phase"], saved["epoch"]) == ("retrain", 0)
    # resuming a finished run only re-does the final steps, to the same weights
    assert cli_main([*args, "--resume", "-o", str(tmp_path / "b")]) == 0
    a = torch.load(tmp_path / "a" / "digitsnet_pruned.pt")
    b = torch.load(tmp_path / "b" / "digitsnet_pruned.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert cli_main(["prune", "--resume", "-o", str(tmp_path / "c")]) == 1
    assert "--resume needs --checkpoint-dir" in capsys.readouterr().err
