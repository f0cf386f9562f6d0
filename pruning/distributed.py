"""Pruning under ``torch.distributed`` (``torchrun`` + ``DistributedDataParallel``).

The rules pruning follows when a process group is initialised (any backend: nccl on
GPUs, gloo on CPUs):

- The model may be wrapped in ``DistributedDataParallel``; layers, masks and reports
  use the names of the wrapped module (``conv2``, not ``module.conv2``).
- The ADMM penalty is part of the loss, so DDP averages its gradient with the task
  gradient (it is the same on every rank).
- The projections (pattern library, pattern assignment, connectivity top-k, the
  ADMM's Z and Y) are computed on every rank from the synchronised weights and then
  *broadcast from rank 0*, so every rank holds rank 0's masks and auxiliary variables
  bit for bit even if floating point made the ranks' weights drift apart.
- Rank 0 alone draws progress and writes checkpoints and reports; losses and
  accuracies are summed over ranks.

Without a process group every helper here is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

T = TypeVar("T")


def is_distributed() -> bool:
    """A process group is initialised and has more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """Rank 0, or the only process: the one that prints and writes files."""
    return rank() == 0


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` / ``DataParallel`` wrapper."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


def broadcast_tensors(tensors: Sequence[torch.Tensor]) -> None:
    """Overwrite ``tensors`` on every rank with rank 0's values (in place)."""
    if not is_distributed():
        return
    for t in tensors:
        if t.dtype == torch.bool:  # not every backend broadcasts bool
            buf = t.to(torch.uint8)
            dist.broadcast(buf, src=0)
            t.copy_(buf.bool())
        else:
            dist.broadcast(t, src=0)


def broadcast_object(obj: T) -> T:
    """Rank 0's ``obj`` (picklable) on every rank."""
    if not is_distributed():
        return obj
    box: list[Any] = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_over_ranks(values: Sequence[float], device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64 on ``device``)."""
    if not is_distributed():
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def set_epoch(loader: object, epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the first of the loader, its sampler, its batch
    sampler and the batch sampler's sampler that has it (``DistributedSampler``
    reshuffles per epoch only then)."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    for holder in (
        loader,
        getattr(loader, "sampler", None),
        batch_sampler,
        getattr(batch_sampler, "sampler", None),
    ):
        fn = getattr(holder, "set_epoch", None)
        if callable(fn):
            fn(epoch)
            return
