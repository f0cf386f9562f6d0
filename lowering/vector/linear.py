"""Linear (fully connected) layers.

A layer whose weights are a constant and that has at least `FEATURE_VECTORS` vectors of
output features runs vectorised over the features, as XNNPACK's and MNN's GEMV kernels
do: its weights are prepacked at compile time (`pack_linear_weights`) into groups of
`FEATURE_VECTORS` vectors of features, each group `[k][FEATURE_VECTORS * v]`
contiguous, so that the layer reads its weights as one sequential stream; per input
feature it broadcasts `x[k]` once into `FEATURE_VECTORS` FMAs, and its accumulators are
the output features themselves (no horizontal reduction). Any other layer computes dot
products with the input vector shared by `LINEAR_UNROLL` output features, reduced at
the end."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import DenseResourceAttr
from xdsl.ir import Operation

from patdnn.dialect.patdnn import LinearOp
from patdnn.lowering.vector.channel_tile import constant_weight_layers
from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.memory import WeightBlob
from patdnn.lowering.vector.tasks import Phases, decompose, is_equal, part_bounds, split_count

LINEAR_UNROLL = 4

FEATURE_VECTORS = 4
"""Vectors of output features per group of a packed linear layer: its independent
accumulator chains (4 cover the FMA latency of 4 cycles at one FMA a cycle), and the
weight vectors read per broadcast input feature. 2048->1000 and 1280->1000 on 16 lanes:
16 groups (the last of 3 vectors), as many tasks."""


def feature_groups(features: int, width: int) -> list[int]:
    """The vectors of each group of a packed layer of `features` outputs: whole groups of
    `FEATURE_VECTORS`, then the rest."""
    full, rest = divmod(-(-features // width), FEATURE_VECTORS)
    return [FEATURE_VECTORS] * full + ([rest] if rest else [])


def pack_linear_weights(weight: np.ndarray, width: int) -> np.ndarray:
    """Weights `[m][k]` as the flat groups of `feature_groups`: group `g` of `n` vectors,
    starting at feature `f0`, is `[k][n * width]` with `[i][j] = weight[f0 + j][i]`, zero
    past `m`."""
    m, k = weight.shape
    groups = feature_groups(m, width)
    padded = np.zeros((sum(groups) * width, k), dtype=np.float32)
    padded[:m] = weight
    parts, first = [], 0
    for n in groups:
        parts.append(padded[first : first + n * width].T.reshape(-1))
        first += n * width
    return np.ascontiguousarray(np.concatenate(parts))


def pack_linear_layers(
    functions: Sequence[func.FuncOp], blob: WeightBlob, width: int
) -> dict[Operation, DenseResourceAttr]:
    """The linear layers of `functions` that run vectorised over their features, each
    with its packed weights (placed in `blob` as a weight of their own; the IR only
    refers to them). Run before the constants are placed, as `channel_tile.pack_layers`."""
    packed: dict[Operation, DenseResourceAttr] = {}
    for op, const in constant_weight_layers(functions, LinearOp):
        m = op.weight.type.get_shape()[0]
        if m < FEATURE_VECTORS * width:
            continue
        name = f"{op.layer_name or 'linear'}.features{width}"
        packed[op] = blob.place_packed(const, name, lambda w: pack_linear_weights(w, width))
    return packed


def emit_packed_linear(
    em: Emitter,
    phases: Phases,
    width: int,
    x: Value,
    packed: Value,
    bias: Value | None,
    out: Value,
    shape: tuple[int, int, int],
    activation: str,
) -> None:
    """`emit_linear` over the packed weights `packed` (flat, `pack_linear_weights`): per
    group, `acc[j] += x[b][i] * packed[group][i][j]` over the input features `i`, then
    bias, activation and one store per vector (masked past `m`). Tasks: images x ranges
    of groups, the last group with the last range."""
    batch, k, m = shape
    groups = feature_groups(m, width)
    group_floats = FEATURE_VECTORS * width
    # The last group runs on its own (its vectors and masks are constants) when it is
    # shorter or ends in a partial vector; the others are whole and loop.
    full = len(groups) - (1 if groups[-1] != FEATURE_VECTORS or m % width else 0)

    def group(b: Value, first: Value, start: Value, vectors: int, live: int) -> None:
        """The group of `vectors` vectors whose features start at `first` and weights at
        `start`; `live` features of it are stored."""
        zero = em.splat(0.0, width)
        with em.loop(0, k, 1, [zero] * vectors) as kk:
            xs = em.broadcast(em.load(x, [b, kk.iv]), width)
            at = em.add(start, em.mul(kk.iv, vectors * width))
            kk.yield_(
                [
                    em.fma(xs, em.vload(packed, [em.add(at, j * width)], width), a)
                    for j, a in enumerate(kk.carried)
                ]
            )
        for j, acc in enumerate(kk.results):
            lane0 = em.add(first, j * width)
            active = min(width, live - j * width)
            value = acc
            if bias is not None:
                value = em.addf(value, em.vload_masked(bias, [lane0], active, width))
            em.vstore_masked(em.activation(value, activation), out, [b, lane0], active)

    units = len(groups)
    parts = split_count(units)
    with phases.open(batch * parts) as task:
        b, part = decompose(em, task, [batch, parts])
        first, last = part_bounds(em, part, units, parts)
        if full:
            with em.loop(first, em.minui(last, full)) as g:
                features = em.mul(g.iv, group_floats)
                group(b, features, em.mul(g.iv, group_floats * k), FEATURE_VECTORS, group_floats)
        if full < units:
            with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                at = full * group_floats
                group(b, em.index(at), em.index(at * k), groups[-1], m - at)


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
