"""Layers that move data without arithmetic: the channel concat and the nearest-neighbour
upsampling of an encoder-decoder.

`patdnn.concat` copies each input that its layer did not write in place (see
`function.concat_slices`) into its channel range of the result (one phase per input:
ranges of whole vectors of each image's block); `patdnn.upsample` loads each input
row once, spreads it over `sw` output vectors with `vector.shuffle` (lane `l` of output
vector `j` is input lane `(j * width + l) / sw`) and stores them in the `sh` output rows
it feeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects import vector
from xdsl.dialects.builtin import DenseArrayBase, VectorType, f32, i64

from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import Phases, decompose, is_equal, part_bounds, split_count


def emit_concat(
    em: Emitter,
    phases: Phases,
    width: int,
    inputs: Sequence[tuple[Value, Sequence[int], int]],
    out: Value,
    out_shape: Sequence[int],
) -> None:
    """out[:, c0:c0+Ci] = input, for each (input, shape, c0) (the inputs that their layers
    did not write in place)."""
    n, total, h, w = out_shape
    plane = h * w
    dst = em.reinterpret(out, [n, total * plane])
    for src, shape, channel in inputs:
        start = channel * plane
        length = shape[1] * plane
        flat = em.reinterpret(src, [n, length])
        full, tail = divmod(length, width)
        parts = split_count(full)
        with phases.open(n * parts) as task:
            image, part = decompose(em, task, [n, parts])
            first, last = part_bounds(em, part, full, parts)
            with em.loop(em.mul(first, width), em.mul(last, width), width) as i:
                value = em.vload(flat, [image, i.iv], width)
                em.vstore(value, dst, [image, em.add(i.iv, start)])
            if tail:
                at = [image, em.index(full * width)]
                with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                    value = em.vload_masked(flat, at, tail, width)
                    em.vstore_masked(value, dst, [image, em.index(start + full * width)], tail)


def _spread(em: Emitter, value: Value, factor: int, width: int, active: int) -> list[Value]:
    """The vectors that repeat each lane of `value` `factor` times, in order, as many as
    hold `active` lanes of output (`factor` for a full input vector)."""
    if factor == 1:
        return [value]
    ty = VectorType(f32, [width])
    spread: list[Value] = []
    for j in range(-(-active // width)):
        mask = DenseArrayBase.from_list(
            i64, [(j * width + lane) // factor for lane in range(width)]
        )
        spread.append(em.emit(vector.ShuffleOp(value, value, mask, result_type=ty)).results[0])
    return spread


def emit_upsample(
    em: Emitter,
    phases: Phases,
    width: int,
    src: Value,
    out: Value,
    shape: Sequence[int],
    scale: tuple[int, int],
) -> None:
    """Nearest-neighbour upsampling by integer factors. Tasks: ranges of the N*C*H input
    rows (each writes its `sh` output rows)."""
    n, c, h, w = shape
    sh, sw = scale
    rows = n * c * h
    a = em.reinterpret(src, [rows, w])
    o = em.reinterpret(out, [rows, sh, w * sw])
    full, tail = divmod(w, width)
    parts = split_count(rows)

    def store(values: list[Value], row: Value, column: Value | int, active: int) -> None:
        """Stores the spread vectors from output column `column` on, `active` lanes in all."""
        for j, value in enumerate(values):
            lanes = min(width, active - j * width)
            if isinstance(column, int):
                at_col = em.index(column + j * width)
            else:
                at_col = em.add(column, j * width)
            for dy in range(sh):
                at = [row, em.index(dy), at_col]
                if lanes == width:
                    em.vstore(value, o, at)
                else:
                    em.vstore_masked(value, o, at, lanes)

    with phases.open(parts) as part:
        first, last = part_bounds(em, part, rows, parts)
        with em.loop(first, last) as r:
            if full:
                with em.loop(0, full * width, width) as x:
                    value = em.vload(a, [r.iv, x.iv], width)
                    spread = _spread(em, value, sw, width, width * sw)
                    store(spread, r.iv, em.mul(x.iv, sw), width * sw)
            if tail:
                value = em.vload_masked(a, [r.iv, em.index(full * width)], tail, width)
                spread = _spread(em, value, sw, width, tail * sw)
                store(spread, r.iv, full * width * sw, tail * sw)
