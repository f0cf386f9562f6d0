"""Linear (fully connected) layers: dot products with the input vector shared by
`LINEAR_UNROLL` output features, reduced at the end."""

from __future__ import annotations

from xdsl.dialects import arith, memref

from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import Phases, decompose, is_equal, part_bounds, split_count

LINEAR_UNROLL = 4


def emit_linear(
    em: Emitter,
    phases: Phases,
    width: int,
    x: Value,
    weight: Value,
    bias: Value | None,
    out: Value,
    shape: tuple[int, int, int],
    activation: str,
) -> None:
    """out[b][m] = act(sum_k x[b][k] * w[m][k] + bias[m]): LINEAR_UNROLL output features
    at a time share each vector of x; the dot products are reduced at the end. Tasks:
    images x ranges of feature blocks."""
    batch, k, m = shape
    full, tail = divmod(k, width)

    def rows(b: Value, first: Value, count: int) -> None:
        features = [em.add(first, r) for r in range(count)]
        zero = em.splat(0.0, width)
        with em.loop(0, full * width, width, [zero] * count) as kk:
            xv = em.vload(x, [b, kk.iv], width)
            kk.yield_(
                [
                    em.fma(xv, em.vload(weight, [f, kk.iv], width), a)
                    for f, a in zip(features, kk.carried, strict=False)
                ]
            )
        acc = kk.results
        if tail:
            at = em.index(full * width)
            xv = em.vload_masked(x, [b, at], tail, width)
            acc = [
                em.fma(xv, em.vload_masked(weight, [f, at], tail, width), a)
                for f, a in zip(features, acc, strict=False)
            ]
        for f, a in zip(features, acc, strict=False):
            value = em.reduce_add(a)
            if bias is not None:
                value = em.emit(arith.AddfOp(value, em.load(bias, [f]))).results[0]
            em.emit(memref.StoreOp.get(em.activation(value, activation), out, [b, f]))

    blocks, rest = divmod(m, LINEAR_UNROLL)
    parts = split_count(blocks + (1 if rest else 0))
    with phases.open(batch * parts) as task:
        b, part = decompose(em, task, [batch, parts])
        first, last = part_bounds(em, part, blocks + (1 if rest else 0), parts)
        if blocks:
            end = em.minui(last, blocks)
            with em.loop(first, end) as mb:
                rows(b, em.mul(mb.iv, LINEAR_UNROLL), LINEAR_UNROLL)
        if rest:
            # The last, partial block of features goes with the last part.
            with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                rows(b, em.index(blocks * LINEAR_UNROLL), rest)
