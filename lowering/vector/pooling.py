"""Pooling: windows (max, average) and global average pooling.

A `patdnn.pool2d` window is the convolution generator with one "filter" per channel,
every tap of the window, and max or mean as the reduction (`conv.ConvGenerator`). A
window of column stride 2 (VGG-16's 2x2/2 and ResNet-50's 3x3/2 max pools, the 1x1/2
subsample of a strided 1x1 layer) instead reads its input rows in place
(`emit_strided_pool`): each row split into its even and odd columns in registers
(`ConvGenerator.column_phases`), no padded copy. `patdnn.global_avg_pool` sums rows in
vector registers and reduces once per channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from xdsl.dialects import memref

from patdnn.dialect.patdnn import Pool2dOp
from patdnn.lowering.vector.conv import ConvGenerator, ConvSpec
from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import (
    Phases,
    decompose,
    part_bounds,
    serial_phases,
    split_count,
)


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


def reads_rows_in_place(spec: ConvSpec) -> bool:
    """Whether a pooling window runs as `emit_strided_pool`: a column stride of 2."""
    return spec.pool is not None and spec.stride[1] == 2


def row_segments(spec: ConvSpec) -> list[tuple[int, int, list[int]]]:
    """The output rows of a pooling window as `(first, end, window rows)`: runs of rows
    whose window rows inside the input (`r` with `0 <= i * sh + r - ph < height`) are
    the same; the top and bottom padding give the edge runs their own."""
    (kh, _), (sh, _), (ph, _) = spec.kernel, spec.stride, spec.padding
    inside = [
        (max(0, -(-(ph - r) // sh)), min(spec.out_h, (spec.height - 1 + ph - r) // sh + 1))
        for r in range(kh)
    ]
    cuts = sorted(
        {0, spec.out_h, *(x for bounds in inside for x in bounds)} & set(range(spec.out_h + 1))
    )
    return [
        (a, b, [r for r, (lo, hi) in enumerate(inside) if lo <= a and b <= hi])
        for a, b in pairwise(cuts)
    ]


def emit_strided_pool(gen: ConvGenerator) -> None:
    """A pooling window of column stride 2, read in place: for each output row, each
    window row inside the input is loaded once, at aligned columns (masked at its right
    end), split into its even and odd columns (one shuffle a vector, one more for an
    offset of an odd number of columns: `ConvGenerator.column_phases`, the padding value
    outside the row), and reduced into the output row's vectors, then stored (masked to
    the row's end). The padding is the reduction's identity and an average divides by
    the whole window, as the generator's tiles do. Tasks: images x channel ranges.
    VGG-16's pool of 64 x 224 x 224: no padded copy of its 12.8 MB input to write and
    read again."""
    em, s, v = gen.em, gen.spec, gen.width
    (kh, kw), (ph, pw), sh = s.kernel, s.padding, s.stride[0]
    offsets = sorted({q - pw for q in range(kw)})
    vectors = -(-s.out_w // v)
    fill = em.splat(s.fill, v)
    scale = em.splat(1.0 / (kh * kw), v) if s.pool == "avg" else None
    parts = split_count(s.cin)
    phases = gen.phases or serial_phases(em)
    with phases.open(s.batch * parts) as task:
        image, part = decompose(em, task, [s.batch, parts])
        first, last = part_bounds(em, part, s.cin, parts)
        with em.loop(first, last) as c:
            for a, b, window in row_segments(s):
                with em.loop(a, b) as i:
                    acc = [fill] * vectors
                    for r in window:
                        ih = em.add(em.mul(i.iv, sh), r - ph)
                        row = gen.column_phases(image, c.iv, ih, offsets, vectors)
                        for o in offsets:
                            acc = [gen.reduce(x, y) for x, y in zip(acc, row[o], strict=True)]
                    for m, value in enumerate(acc):
                        if scale is not None:
                            value = em.mulf(value, scale)
                        active = min(v, s.out_w - m * v)
                        em.vstore_masked(
                            value, s.output, [image, c.iv, i.iv, em.index(m * v)], active
                        )
