"""One pruning run of the tests' TinyNet, under torchrun (2 gloo ranks) or in one process.

``python -m torch.distributed.run --standalone --nproc-per-node 2 ddp_worker.py OUT``
prunes a DistributedDataParallel model with a DistributedSampler (each rank half of
every global batch) and writes ``OUT/rank{r}.pt``; :func:`run_single` prunes the same
model in one process on the same global batches. ``test_pruning_distributed.py`` compares
them.
"""

from __future__ import annotations

import faulthandler
import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from conftest import make_tiny_loader, make_tiny_model
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Sampler, TensorDataset

from patdnn.pruning import prune

N, GLOBAL_BATCH, WORLD, SEED = 64, 16, 2, 0


def sgd(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


OPTIONS = dict(
    num_patterns=4,
    connectivity=2.0,
    admm_epochs=3,
    retrain_epochs=2,
    rho=1e-2,
    optimizer=sgd,
    seed=SEED,
    progress=False,
)


def make_model() -> nn.Module:
    return make_tiny_model(SEED)


def dataset() -> TensorDataset:
    data = make_tiny_loader(n=N, seed=SEED).dataset
    assert isinstance(data, TensorDataset)
    return data


class RecordingSampler(DistributedSampler):
    """A DistributedSampler that remembers the epochs it was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        super().set_epoch(epoch)


class GlobalBatches(Sampler[list[int]]):
    """The global batches of WORLD DistributedSamplers (shuffle, seed SEED): batch k is
    the union of every rank's batch k."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return N // GLOBAL_BATCH

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(SEED + self.epoch)
        order = torch.randperm(N, generator=g).tolist()
        per_rank = [order[r::WORLD] for r in range(WORLD)]
        b = GLOBAL_BATCH // WORLD
        for k in range(len(self)):
            yield [i for r in range(WORLD) for i in per_rank[r][k * b : (k + 1) * b]]


def run_single():
    ds = dataset()
    loader = DataLoader(ds, batch_sampler=GlobalBatches())
    return prune(make_model(), loader, val_loader=DataLoader(ds, batch_size=32), **OPTIONS)


def run_distributed(out: Path, checkpoint_dir: Path) -> None:
    faulthandler.enable()  # a native abort prints every thread's Python stack
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    ds = dataset()
    sampler = RecordingSampler(ds, shuffle=True, seed=SEED)
    loader = DataLoader(ds, batch_size=GLOBAL_BATCH // dist.get_world_size(), sampler=sampler)
    val = DataLoader(ds, batch_size=16, sampler=DistributedSampler(ds, shuffle=False))
    model = nn.parallel.DistributedDataParallel(make_model())
    result = prune(model, loader, val_loader=val, checkpoint_dir=checkpoint_dir, **OPTIONS)
    torch.save(
        {
            "masks": result.masks,
            "state": result.model.state_dict(),
            "library": result.library,
            "accuracy": result.report.accuracy_after,
            "epochs": sampler.epochs,
        },
        out / f"rank{rank}.pt",
    )
    # DDP's reducer holds the process group: drop it first, so that the group's gloo
    # threads end in destroy_process_group, not in interpreter finalization; the barrier
    # keeps either rank from closing its sockets while the other still talks on them
    del model, result
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    run_distributed(Path(sys.argv[1]), Path(sys.argv[2]))
