"""Pruning a DistributedDataParallel model with 2 gloo ranks under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ddp_worker as worker
import torch

from patdnn.pruning import mask_pattern_ids
from patdnn.pruning.distributed import set_epoch
from patdnn.pruning.patterns import kernels_to_keep

WORKER = Path(worker.__file__)


def test_ddp_two_ranks_match_each_other_and_one_process(tmp_path: Path) -> None:
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    out.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(WORKER), str(out), str(ckpt)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    err = proc.stderr  # its start names what failed first, its end how torchrun saw it
    assert proc.returncode == 0, err if len(err) <= 8000 else f"{err[:4000]}\n[...]\n{err[-4000:]}"
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))

    # both ranks hold the same library, masks and weights, bit for bit
    assert r0["library"] == r1["library"]
    assert r0["masks"].keys() == r1["masks"].keys() == {"conv2", "conv3", "point"}
    for name in r0["masks"]:
        assert torch.equal(r0["masks"][name], r1["masks"][name])
    for key in r0["state"]:
        assert torch.equal(r0["state"][key], r1["state"][key]), key
    assert r0["accuracy"] == r1["accuracy"]
    # DistributedSampler.set_epoch got every ADMM and retraining epoch
    assert r0["epochs"] == r1["epochs"] == [0, 1, 2, 3, 4]
    # rank 0 alone wrote the checkpoint, and nothing half-written is left
    assert sorted(p.name for p in ckpt.iterdir()) == ["prune.ckpt"]

    # the pattern, connectivity and block constraints hold exactly
    lib = r0["library"]
    point = r0["masks"]["point"].reshape(8, 8)  # 1x1 conv, default (4, 1) blocks at 3.6
    assert torch.all(r0["state"]["point.weight"].reshape(8, 8)[~point] == 0)
    assert int(point.sum()) == 4 * kernels_to_keep(16, 3.6)
    assert all(torch.equal(point[0::4], point[i::4]) for i in range(1, 4))
    for name in ("conv2", "conv3"):
        mask = r0["masks"][name]
        w = r0["state"][f"{name}.weight"]
        assert torch.all(w[~mask] == 0)
        ids = mask_pattern_ids(mask, lib).reshape(-1)  # raises unless every kernel is a pattern
        assert int((ids >= 0).sum()) == kernels_to_keep(ids.numel(), 2.0)

    # the same global batches in one process give the same result
    torch.set_num_threads(1)
    single = worker.run_single()
    assert single.library == lib
    for name, mask in single.masks.items():
        assert torch.equal(mask, r0["masks"][name]), name
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(value, r0["state"][key], rtol=1e-4, atol=1e-5)
    assert abs(single.report.accuracy_after - r0["accuracy"]) <= 1 / worker.N


def test_set_epoch_reaches_sampler_or_batch_sampler() -> None:
    batches = worker.GlobalBatches()
    loader = torch.utils.data.DataLoader(worker.dataset(), batch_sampler=batches)
    set_epoch(loader, 3)
    assert batches.epoch == 3
    sampler = worker.RecordingSampler(worker.dataset(), num_replicas=2, rank=0)
    set_epoch(torch.utils.data.DataLoader(worker.dataset(), sampler=sampler), 5)
    assert sampler.epochs == [5]
    set_epoch([(torch.zeros(1), torch.zeros(1))], 1)  # a plain list: nothing to call
