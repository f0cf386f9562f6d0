"""A real, small, offline task for pruning: scikit-learn's 8x8 digits (1797 images).

:func:`load_digits` gives seeded train/validation DataLoaders; :class:`DigitsNet` is a
small CNN of 3x3 convolutions built only from conv2d, relu, max_pool2d, flatten and
linear, so the compiler can take it as is; :class:`DigitsBlockNet` adds a MobileNet-style
depthwise 3x3 + 1x1 block and a hidden linear layer, for the block-sparse layers; :func:`train_dense` and :func:`evaluate`
train and score it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from patdnn.pruning.training import evaluate, train_dense

__all__ = [
    "DigitsBlockNet",
    "DigitsNet",
    "digits_tensors",
    "evaluate",
    "load_digits",
    "train_dense",
]


def digits_tensors(
    *, val_fraction: float = 0.25, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """Stratified, seeded split of the digits into (train, val) datasets.

    Images are ``(1, 8, 8)`` float32, scaled from 0..16 and standardised with the train
    split's mean and standard deviation; labels are int64 in 0..9.
    """
    from sklearn.datasets import load_digits as _load

    data: Any = _load()  # a Bunch; the stub's return type is the union of every form
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    return split_standardised(x, y, val_fraction=val_fraction, seed=seed)


def split_standardised(
    x: torch.Tensor, y: torch.Tensor, *, val_fraction: float, seed: int
) -> tuple[TensorDataset, TensorDataset]:
    """Stratified, seeded (train, val) split of images ``x`` and labels ``y``, the images
    standardised with the train split's mean and standard deviation."""
    from sklearn.model_selection import train_test_split

    idx_train, idx_val = train_test_split(
        list(range(len(y))), test_size=val_fraction, random_state=seed, stratify=y.numpy()
    )
    x_train, x_val = x[idx_train], x[idx_val]
    mean, std = x_train.mean(), x_train.std()
    x_train = (x_train - mean) / std
    x_val = (x_val - mean) / std
    return TensorDataset(x_train, y[idx_train]), TensorDataset(x_val, y[idx_val])


def load_digits(
    batch_size: int = 64, *, val_fraction: float = 0.25, seed: int = 0
) -> tuple[DataLoader, DataLoader]:
    """``(train_loader, val_loader)`` over the digits, the split fixed by ``seed``.

    The train loader shuffles with torch's global RNG (which :func:`train_dense` and
    ``prune`` seed), the validation loader does not shuffle.
    """
    train, val = digits_tensors(val_fraction=val_fraction, seed=seed)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True),
        DataLoader(val, batch_size=256, shuffle=False),
    )


class DigitsNet(nn.Module):
    """conv 1->16, conv 16->32, maxpool, conv 32->32, conv 32->64, maxpool, linear 256->10.

    All convolutions are 3x3 with padding 1 and ReLU; ``conv1`` is the first layer and
    stays dense under pattern pruning, ``conv2..conv4`` are pruned.
    """

    def __init__(self, widths: tuple[int, int, int, int] = (16, 32, 32, 64)) -> None:
        super().__init__()
        c1, c2, c3, c4 = widths
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1)
        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1)
        self.fc = nn.Linear(c4 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 8x8 -> 4x4
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)  # 4x4 -> 2x2
        return self.fc(torch.flatten(x, 1))


class DigitsBlockNet(nn.Module):
    """conv 1->16, conv 16->32, maxpool, depthwise 3x3 32, 1x1 conv 32->64, maxpool,
    linear 256->128, linear 128->10 (ReLU after every layer but the last).

    The depthwise + 1x1 pair is MobileNet's separable block. Under the default pruning
    ``conv1`` (the stem) and ``fc`` (the classifier) stay dense, ``conv2`` is pattern
    pruned, ``pw3`` and ``fc1`` are pruned in blocks, and ``dw3`` stays dense unless
    ``depthwise=True``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dw3 = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.pw3 = nn.Conv2d(32, 64, 1)
        self.fc1 = nn.Linear(64 * 2 * 2, 128)
        self.fc = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 8x8 -> 4x4
        x = F.relu(self.dw3(x))
        x = F.max_pool2d(F.relu(self.pw3(x)), 2)  # 4x4 -> 2x2
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc(x)
