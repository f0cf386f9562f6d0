"""Elementwise layers: the residual add (when it is not fused into a convolution), an
activation on its own, and the product with a tensor or with a per-channel scale."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import Phases, is_equal, part_bounds, split_count


def emit_elementwise(
    em: Emitter,
    phases: Phases,
    width: int,
    inputs: Sequence[Value],
    out: Value,
    size: int,
    combine: Callable[[list[Value]], Value],
) -> None:
    """out = combine(inputs), elementwise over the flattened buffers; tasks: ranges of
    whole vectors (the tail goes with the last)."""
    flat = [em.reinterpret(ref, [size]) for ref in inputs]
    o = em.reinterpret(out, [size])
    full, tail = divmod(size, width)
    parts = split_count(full)
    with phases.open(parts) as part:
        first, last = part_bounds(em, part, full, parts)
        with em.loop(em.mul(first, width), em.mul(last, width), width) as i:
            em.vstore(combine([em.vload(a, [i.iv], width) for a in flat]), o, [i.iv])
        if tail:
            at = [em.index(full * width)]
            with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                values = [em.vload_masked(a, at, tail, width) for a in flat]
                em.vstore_masked(combine(values), o, at, tail)


def emit_add(
    em: Emitter,
    phases: Phases,
    width: int,
    lhs: Value,
    rhs: Value,
    out: Value,
    size: int,
    activation: str,
) -> None:
    """out = act(lhs + rhs)."""

    def combine(v: list[Value]) -> Value:
        return em.activation(em.addf(v[0], v[1]), activation)

    emit_elementwise(em, phases, width, [lhs, rhs], out, size, combine)


def emit_activation(
    em: Emitter, phases: Phases, width: int, src: Value, out: Value, size: int, activation: str
) -> None:
    """out = act(src)."""
    emit_elementwise(em, phases, width, [src], out, size, lambda v: em.activation(v[0], activation))


def emit_mul(
    em: Emitter, phases: Phases, width: int, lhs: Value, rhs: Value, out: Value, size: int
) -> None:
    """out = lhs * rhs, both of the same shape."""
    emit_elementwise(em, phases, width, [lhs, rhs], out, size, lambda v: em.mulf(v[0], v[1]))


def emit_channel_scale(
    em: Emitter,
    phases: Phases,
    width: int,
    src: Value,
    scale: Value,
    out: Value,
    shape: Sequence[int],
) -> None:
    """out[n][c] = src[n][c] * scale[n][c][0][0]: the scale broadcast over each plane.
    Tasks: ranges of the N*C planes."""
    n, c, h, w = shape
    plane = h * w
    planes = n * c
    a = em.reinterpret(src, [planes, plane])
    o = em.reinterpret(out, [planes, plane])
    s = em.reinterpret(scale, [planes])
    full, tail = divmod(plane, width)
    parts = split_count(planes)
    with phases.open(parts) as part:
        first, last = part_bounds(em, part, planes, parts)
        with em.loop(first, last) as p:
            factor = em.broadcast(em.load(s, [p.iv]), width)
            if full:
                with em.loop(0, full * width, width) as i:
                    at = [p.iv, i.iv]
                    em.vstore(em.mulf(em.vload(a, at, width), factor), o, at)
            if tail:
                at = [p.iv, em.index(full * width)]
                value = em.mulf(em.vload_masked(a, at, tail, width), factor)
                em.vstore_masked(value, o, at, tail)
