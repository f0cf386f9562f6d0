"""Pooling: windows (max, average) and global average pooling.

A `patdnn.pool2d` window is the convolution generator with one "filter" per channel,
every tap of the window, and max or mean as the reduction (`conv.ConvGenerator`);
`patdnn.global_avg_pool` sums rows in vector registers and reduces once per channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from patdnn.dialect.patdnn import Pool2dOp
from patdnn.lowering.vector.conv import ConvSpec
from patdnn.lowering.vector.emitter import Emitter, Value
from xdsl.dialects import memref


def pool_spec(op: Pool2dOp, src: Value, out: Value) -> ConvSpec:
    """The generator's description of a pooling window layer."""
    n, c, h, w = op.input.type.get_shape()  # type: ignore[union-attr]
    _, _, ho, wo = op.result.type.get_shape()  # type: ignore[union-attr]
    kh, kw = op.kernel_values
    return ConvSpec(
        layer=op.layer_name,
        batch=n,
        cin=c,
        height=h,
        width=w,
        cout=c,
        out_h=ho,
        out_w=wo,
        kernel=op.kernel_values,
        stride=op.stride_values,
        padding=op.padding_values,
        groups=c,
        patterns=(tuple((r, q) for r in range(kh) for q in range(kw)),),
        activation="none",
        tuning=None,
        input=src,
        output=out,
        bias=None,
        residual=None,
        pool=op.kind.data,
    )


def emit_global_avg_pool(
    em: Emitter, width: int, src: Value, out: Value, shape: Sequence[int]
) -> None:
    """out[n][c][0][0] = mean of src[n][c]: rows summed in vector registers, then reduced."""
    n, c, h, w = shape
    full, tail = divmod(w, width)
    with em.loop(0, n) as i, em.loop(0, c) as ch:
        with em.loop(0, h, 1, [em.splat(0.0, width)]) as row:
            acc = row.carried[0]
            for k in range(full):
                acc = em.addf(acc, em.vload(src, [i.iv, ch.iv, row.iv, em.index(k * width)], width))
            if tail:
                idx = [i.iv, ch.iv, row.iv, em.index(full * width)]
                acc = em.addf(acc, em.vload_masked(src, idx, tail, width))
            row.yield_([acc])
        mean = em.mulf(em.reduce_add(row.results[0]), em.const_f32(1.0 / (h * w)))
        zero = em.index(0)
        em.emit(memref.StoreOp.get(mean, out, [i.iv, ch.iv, zero, zero]))
