"""Pointwise (1x1, stride 1, unpadded) convolutions: read in place, over the flat plane.

Such a layer needs no scratch copy: its taps read the input itself (the last vector of a
row is a masked load). Over more than one row it runs over the flattened plane, one row
of H*W pixels, so no vector is wasted on row tails. This module holds that rule once;
the convolution generator (`conv.py`) and `auto-tune` both ask it.
"""

from __future__ import annotations


def reads_in_place(
    kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> bool:
    """A 1x1, stride 1, unpadded convolution reads its input as it is: no scratch copy."""
    return kernel == (1, 1) and stride == (1, 1) and padding == (0, 0)


def runs_flat(
    kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int], out_h: int
) -> bool:
    """Whether the layer runs over its flattened plane (a pointwise layer of several rows)."""
    return reads_in_place(kernel, stride, padding) and out_h > 1


def output_plane(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    out_h: int,
    out_w: int,
) -> tuple[int, int]:
    """The (rows, columns) the generator iterates over: (1, H*W) for a flat pointwise
    layer, the output shape otherwise."""
    if runs_flat(kernel, stride, padding, out_h):
        return 1, out_h * out_w
    return out_h, out_w
