"""Pooling: windows (max, average) and global average pooling.

A `patdnn.pool2d` window is the convolution generator with one "filter" per channel,
every tap of the window, and max or mean as the reduction (`conv.ConvGenerator`);
`patdnn.global_avg_pool` sums rows in vector registers and reduces once per channel.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import memref

from patdnn.dialect.patdnn import Pool2dOp
from patdnn.lowering.vector.conv import ConvSpec
from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import Phases, decompose, part_bounds, split_count


def pool_spec(op: Pool2dOp, src: Value, out: Value) -> ConvSpec:
    """The generator's description of a pooling window layer."""
    n, c, h, w = op.input.type.get_shape()
    _, _, ho, wo = op.result.type.get_shape()
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
    em: Emitter, phases: Phases, width: int, src: Value, out: Value, shape: Sequence[int]
) -> None:
    """out[n][c][0][0] = mean of src[n][c]: rows summed in vector registers, then reduced.
    Tasks: images x channel ranges."""
    n, c, h, w = shape
    full, tail = divmod(w, width)
    parts = split_count(c)
    with phases.open(n * parts) as task:
        image, part = decompose(em, task, [n, parts])
        first, last = part_bounds(em, part, c, parts)
        with em.loop(first, last) as ch:
            with em.loop(0, h, 1, [em.splat(0.0, width)]) as row:
                acc = row.carried[0]
                for k in range(full):
                    at = [image, ch.iv, row.iv, em.index(k * width)]
                    acc = em.addf(acc, em.vload(src, at, width))
                if tail:
                    at = [image, ch.iv, row.iv, em.index(full * width)]
                    acc = em.addf(acc, em.vload_masked(src, at, tail, width))
                row.yield_([acc])
            mean = em.mulf(em.reduce_add(row.results[0]), em.const_f32(1.0 / (h * w)))
            zero = em.index(0)
            em.emit(memref.StoreOp.get(mean, out, [image, ch.iv, zero, zero]))
