"""A small UNet-style encoder-decoder: two 2x2 max-pool downsamplings, two nearest-neighbour
upsamplings (`nn.Upsample` and `F.interpolate`), each followed by a `torch.cat` with the
encoder's output at that scale along the channels. Height and width must be multiples of 4."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["DoubleConv", "UNet", "unet"]


class DoubleConv(nn.Sequential):
    """(3x3 conv, batch norm, in-place ReLU) twice: children 0..5."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """`enc1` at full size, `enc2` at 1/2, `bottleneck` at 1/4; `dec2` takes the
    upsampled bottleneck and `enc2`, `dec1` takes `enc1` and the upsampled `dec2`;
    `head` is a 1x1 convolution to `num_classes` maps at full size."""

    def __init__(
        self, in_channels: int = 3, num_classes: int = 2, widths: Sequence[int] = (16, 32, 64)
    ) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.enc1 = DoubleConv(in_channels, w1)
        self.pool1 = nn.MaxPool2d(2)
        self.enc2 = DoubleConv(w1, w2)
        self.pool2 = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(w2, w3)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = DoubleConv(w3 + w2, w2)
        self.dec1 = DoubleConv(w1 + w2, w1)
        self.head = nn.Conv2d(w1, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool1(e1))
        b = self.bottleneck(self.pool2(e2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        up1 = F.interpolate(d2, scale_factor=2, mode="nearest")
        d1 = self.dec1(torch.cat([e1, up1], dim=1))
        return self.head(d1)


def unet(in_channels: int = 3, num_classes: int = 2, widths: Sequence[int] = (16, 32, 64)) -> UNet:
    """The small encoder-decoder, 118,610 parameters with the default widths."""
    return UNet(in_channels, num_classes, widths)
