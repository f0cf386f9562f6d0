"""Elementwise layers: the residual add (when it is not fused into a convolution)."""

from __future__ import annotations

from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import Phases, is_equal, part_bounds, split_count


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
    """out = act(lhs + rhs), elementwise over the flattened buffers; tasks: ranges of
    whole vectors (the tail goes with the last)."""
    a, b, o = (em.reinterpret(ref, [size]) for ref in (lhs, rhs, out))
    full, tail = divmod(size, width)
    parts = split_count(full)
    with phases.open(parts) as part:
        first, last = part_bounds(em, part, full, parts)
        with em.loop(em.mul(first, width), em.mul(last, width), width) as i:
            value = em.addf(em.vload(a, [i.iv], width), em.vload(b, [i.iv], width))
            em.vstore(em.activation(value, activation), o, [i.iv])
        if tail:
            at = [em.index(full * width)]
            with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                value = em.addf(
                    em.vload_masked(a, at, tail, width), em.vload_masked(b, at, tail, width)
                )
                em.vstore_masked(em.activation(value, activation), o, at, tail)
