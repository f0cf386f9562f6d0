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


POINTWISE_CHUNK_BYTES = 24576
"""The input bytes a flat pointwise tile reads per chunk of input channels: a column
tile over the chunk stays in the L1 cache while every filter tile reads it."""


def pointwise_chunk(cin: int, tile_floats: int) -> int:
    """The input channels of a chunk of a flat pointwise layer whose column tiles read
    `tile_floats` floats a channel (the whole `cin` when they fit
    `POINTWISE_CHUNK_BYTES`): its tiles run chunk by chunk, the accumulators of a chunk
    start from the partial sums the one before stored in the output. A column tile
    touches one cache line more than it reads (a channel's plane starts anywhere on a
    line); the chunks split `cin` evenly."""
    per_channel = tile_floats * 4 + 64
    most = max(1, POINTWISE_CHUNK_BYTES // per_channel)
    if cin <= most:
        return cin
    chunks = -(-cin // most)
    return -(-cin // chunks)
