"""Block sparsity for 1x1 convolutions and linear layers.

A 1x1 convolution (weight ``[Cout, Cin, 1, 1]``) and a linear layer (weight
``[Out, In]``) are the same matrix ``W[out, in]``. A block shape ``(bo, bi)`` cuts it
into blocks of ``bo`` consecutive outputs x ``bi`` consecutive inputs; when ``bo`` or
``bi`` does not divide the matrix the last block of a row or column is partial. A
block-sparse weight keeps or zeroes every block as a whole:
:func:`block_mask` keeps the ``round(n / ratio)`` blocks (at least 1) with the largest
L2 norms, which is the Euclidean projection onto that set (:func:`project_blocks`).
Ties go to the earlier block (row-major over the block grid). The default shapes are per
kind: ``(4, 1)`` (4 consecutive outputs x 1 input, what 4-lane sparse kernels exploit)
for 1x1 convolutions, :data:`DEFAULT_BLOCK`, and ``(16, 1)`` for linear layers,
:data:`DEFAULT_LINEAR_BLOCK` (a sparse GEMV pays an index and an input load per block).
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from patdnn.pruning.errors import PruningError
from patdnn.pruning.patterns import kernels_to_keep

#: The default block shape ``(outputs, inputs)`` of 1x1 convolutions.
DEFAULT_BLOCK: tuple[int, int] = (4, 1)
#: The default block shape of linear layers: 16 consecutive outputs x 1 input. A sparse
#: GEMV reads one input and one index per block: 16 values per index and broadcast (a
#: whole AVX-512 vector, two AVX2 or four NEON vectors) run VGG-16's 25088->4096 at 90 %
#: about 4-5x faster than (4, 1) blocks do (one index per 4 values), for the same share
#: of weights kept.
DEFAULT_LINEAR_BLOCK: tuple[int, int] = (16, 1)


def check_block_shape(block: object, what: str = "block_shape") -> tuple[int, int]:
    """``block`` as ``(bo, bi)``: two positive ints, or a ``PruningError`` naming ``what``."""
    if (
        not isinstance(block, (tuple, list))
        or len(block) != 2
        or any(isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1 for b in block)
    ):
        raise PruningError(f"{what} must be two positive ints (outputs, inputs), got {block!r}")
    return (int(block[0]), int(block[1]))


def _matrix(weight: torch.Tensor) -> torch.Tensor:
    """The ``[out, in]`` matrix view of a linear or 1x1 convolution weight."""
    if weight.dim() == 2:
        return weight
    if weight.dim() == 4 and tuple(weight.shape[2:]) == (1, 1):
        return weight.reshape(weight.shape[0], weight.shape[1])
    raise PruningError(
        f"weight of shape {tuple(weight.shape)} is neither a linear [out, in] nor a 1x1 "
        "convolution [out, in, 1, 1] weight"
    )


def block_grid(shape: tuple[int, ...], block: tuple[int, int]) -> tuple[int, int]:
    """Number of blocks ``(along outputs, along inputs)`` of a weight of ``shape``
    (partial last blocks counted)."""
    bo, bi = check_block_shape(block)
    return (math.ceil(shape[0] / bo), math.ceil(shape[1] / bi))


def block_norms(weight: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """Squared L2 norm of every block, shape :func:`block_grid`."""
    bo, bi = check_block_shape(block)
    w = _matrix(weight.detach())
    rows, cols = w.shape
    go, gi = block_grid((rows, cols), block)
    padded = F.pad(w.square(), (0, gi * bi - cols, 0, go * bo - rows))
    return padded.reshape(go, bo, gi, bi).sum(dim=(1, 3))


def expand_blocks(
    kept: torch.Tensor, shape: tuple[int, ...], block: tuple[int, int]
) -> torch.Tensor:
    """Weight-shaped mask from a block-grid mask ``kept``."""
    bo, bi = check_block_shape(block)
    rows, cols = shape[0], shape[1]
    full = kept.repeat_interleave(bo, dim=0).repeat_interleave(bi, dim=1)[:rows, :cols]
    return full.reshape(shape)


def block_mask(
    weight: torch.Tensor, ratio: float, block: tuple[int, int] = DEFAULT_BLOCK
) -> torch.Tensor:
    """Boolean mask (shape of ``weight``) keeping the ``max(1, round(n / ratio))`` blocks of
    largest L2 norm out of the ``n`` blocks of shape ``block`` (ties: earlier block)."""
    norms = block_norms(weight, block)
    n = norms.numel()
    keep = kernels_to_keep(n, ratio)
    order = torch.sort(norms.reshape(-1), descending=True, stable=True).indices[:keep]
    kept = torch.zeros(n, dtype=torch.bool, device=weight.device)
    kept[order] = True
    return expand_blocks(kept.reshape(norms.shape), tuple(weight.shape), block)


def project_blocks(
    weight: torch.Tensor, ratio: float, block: tuple[int, int] = DEFAULT_BLOCK
) -> torch.Tensor:
    """Euclidean projection of ``weight`` onto the block-sparse set."""
    return weight * block_mask(weight, ratio, block).to(weight.dtype)


def kept_blocks(mask: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """Block-grid boolean tensor: which blocks of ``mask`` hold a kept weight.

    Raises :class:`PruningError` if a block is partly kept (not block-sparse)."""
    m = _matrix(mask).to(torch.float32)
    counts = block_norms(m, block)  # mask entries are 0/1: the count of kept weights
    full = block_norms(torch.ones_like(m), block)
    if bool(((counts > 0) & (counts < full)).any()):
        raise PruningError(f"a mask block of shape {block} is neither all kept nor all pruned")
    return counts > 0
