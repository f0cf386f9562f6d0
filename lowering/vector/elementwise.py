"""Elementwise layers: the residual add (when it is not fused into a convolution)."""

from __future__ import annotations

from patdnn.lowering.vector.emitter import Emitter, Value


def emit_add(
    em: Emitter, width: int, lhs: Value, rhs: Value, out: Value, size: int, activation: str
) -> None:
    """out = act(lhs + rhs), elementwise over the flattened buffers."""
    a, b, o = (em.reinterpret(ref, [size]) for ref in (lhs, rhs, out))
    full, tail = divmod(size, width)
    with em.loop(0, full * width, width) as i:
        value = em.addf(em.vload(a, [i.iv], width), em.vload(b, [i.iv], width))
        em.vstore(em.activation(value, activation), o, [i.iv])
    if tail:
        at = [em.index(full * width)]
        value = em.addf(em.vload_masked(a, at, tail, width), em.vload_masked(b, at, tail, width))
        em.vstore_masked(em.activation(value, activation), o, at, tail)
