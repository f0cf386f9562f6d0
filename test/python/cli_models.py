"""Model factories for the `patdnn` command-line tests (`cli_models:NAME`)."""

from __future__ import annotations

import torch
from torch import nn


def small_conv() -> nn.Module:
    """conv 3->8 with ReLU, then a 3x3 conv 8->16 pattern-pruned (4 taps, half the kernels)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
    )
    mask = torch.zeros(16, 8, 3, 3)
    taps = ((0, 1), (1, 0), (1, 1), (1, 2))
    for o in range(16):
        for i in range(8):
            if (o + i) % 2 == 0:
                for r, c in taps:
                    mask[o, i, r, c] = 1
    with torch.no_grad():
        model[2].weight.mul_(mask)
    return model.eval()


class _Erf(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.special.erf(x)


def unsupported() -> nn.Module:
    """A conv followed by erf, an op patdnn does not compile."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), _Erf()).eval()


def not_a_module() -> int:
    return 3
