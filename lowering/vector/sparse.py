"""Block-sparse 1x1 convolutions and linear layers (`patdnn.sparse_conv1x1`,
`patdnn.sparse_linear`), after XNNPACK's f32-spmm kernels.

Both read the weight by blocks of `bo` output rows (`SparseMatmulOp`): `offset[b] ..
offset[b+1]` are the stored columns of block `b`, `index[j]` the input column of stored
column `j` and `values[j][0..bo]` its weights.

- 1x1 convolution (NCHW, the plane flattened to P = H*W pixels): a tile of `M` vectors
  of pixels; for each block of `bo` output channels, its stored input channels one by
  one: the `M` input vectors are loaded once and each of the `bo` weights, broadcast,
  multiplies them: `bo x M` accumulators in registers. Bias, residual and activation are
  applied on the registers before the one store of each output vector (XNNPACK's
  32x4 kernels tile 32 pixels x 4 channels the same way); the pixels past
  the last whole tile run as a tile of fewer vectors, its last one masked. A task runs
  a range of blocks, each over a range of tiles: the output is written plane by plane,
  and the range of tiles is small enough for its input to stay in the L2 cache across
  the blocks (`tiling.sparse_spatial_parts`). Tasks: images x ranges of tiles x ranges
  of blocks.
- Linear layer (GEMV per image): each block of `bo` output features is `bo / L` vectors
  of `L` lanes; over its stored columns, `acc += values[j] * broadcast(x[index[j]])`,
  with `UNROLL` independent sets of accumulators summed at the end in a fixed order (the
  latency of one FMA chain would bound it otherwise), the `UNROLL` column indices read
  by one vector load. Tasks: images x ranges of blocks.

Task boundaries are fixed at compile time: every thread count gives the same bits.
"""

from __future__ import annotations

from collections.abc import Callable
from math import gcd

from xdsl.dialects import arith, vector
from xdsl.dialects.builtin import IndexType, VectorType, i32

from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.tasks import (
    TASKS_PER_PHASE,
    Phases,
    decompose,
    is_equal,
    part_bounds,
    split_count,
)


def _ranges(
    em: Emitter,
    part: Value,
    parts: int,
    full: int,
    partial: bool,
    body: Callable[[Value], None],
    last: Callable[[], None],
) -> None:
    """Runs units `part_bounds(part)` of `full + partial` units: the whole ones in a loop
    (`body(index)`), the partial last one (`last()`, with the last part) after it."""
    first, end = part_bounds(em, part, full + (1 if partial else 0), parts)
    if full:
        with em.loop(first, em.minui(end, full)) as unit:
            body(unit.iv)
    if partial:
        if parts == 1:
            last()
        else:
            with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                last()


def emit_sparse_conv1x1(
    em: Emitter,
    phases: Phases,
    width: int,
    lanes: int,
    x: Value,
    arrays: tuple[Value, Value, Value],
    bias: Value | None,
    residual: Value | None,
    out: Value,
    shape: tuple[int, int, int, int],
    bo: int,
    activation: str,
    spatial_parts: int = 1,
) -> None:
    """out[n][co][p] = act(sum_j values[j][co % bo] * x[n][index[j]][p] + bias[co] +
    residual[n][co][p]) over the stored columns j of block co // bo. `shape` is
    (N, Cin, Cout, P); x, out and residual are [N][C][P] views; `lanes` is the tile's
    vectors (M); `spatial_parts` the least number of ranges of tiles the plane is split
    into (`tiling.sparse_spatial_parts`)."""
    offset, index, values = arrays
    n_images, _, cout, plane = shape
    tile = lanes * width
    full_tiles, rest = divmod(plane, tile)
    rest_vectors, tail = divmod(rest, width)
    full_blocks, partial_rows = divmod(cout, bo)
    tile_units = full_tiles + (1 if rest else 0)
    block_units = full_blocks + (1 if partial_rows else 0)
    spatial_parts = max(1, min(tile_units, spatial_parts))
    channel_parts = split_count(block_units, max(1, TASKS_PER_PHASE // spatial_parts))

    def block(n: Value, p: Value, b: Value, rows: int, vectors: int, masked: int) -> None:
        # (pixel offset in the tile, active lanes or 0 for a whole vector)
        slots = [(u * width, 0) for u in range(vectors)]
        if masked:
            slots.append((vectors * width, masked))
        start = em.load_index(offset, [b])
        end = em.load_index(offset, [em.add(b, 1)])
        zero = em.splat(0.0, width)
        with em.loop(start, end, 1, [zero] * (rows * len(slots))) as j:
            c = em.load_index(index, [j.iv])
            xs = [
                em.vload_masked(x, [n, c, em.add(p, o)], m, width)
                if m
                else em.vload(x, [n, c, em.add(p, o)], width)
                for o, m in slots
            ]
            acc = list(j.carried)
            for r in range(rows):
                w = em.broadcast(em.load(values, [j.iv, em.index(r)]), width)
                for u in range(len(slots)):
                    k = r * len(slots) + u
                    acc[k] = em.fma(xs[u], w, acc[k])
            j.yield_(acc)
        first = em.mul(b, bo)
        for r in range(rows):
            channel = em.add(first, r)
            b_vec = em.broadcast(em.load(bias, [channel]), width) if bias is not None else None
            for u, (o, m) in enumerate(slots):
                value = j.results[r * len(slots) + u]
                at = [n, channel, em.add(p, o)]
                if b_vec is not None:
                    value = em.addf(value, b_vec)
                if residual is not None:
                    res = (
                        em.vload_masked(residual, at, m, width)
                        if m
                        else em.vload(residual, at, width)
                    )
                    value = em.addf(value, res)
                value = em.activation(value, activation)
                if m:
                    em.vstore_masked(value, out, at, m)
                else:
                    em.vstore(value, out, at)

    def tiles(n: Value, spart: Value, b: Value, rows: int) -> None:
        _ranges(
            em,
            spart,
            spatial_parts,
            full_tiles,
            rest > 0,
            lambda t: block(n, em.mul(t, tile), b, rows, lanes, 0),
            lambda: block(n, em.index(full_tiles * tile), b, rows, rest_vectors, tail),
        )

    with phases.open(n_images * spatial_parts * channel_parts) as task:
        n, spart, cpart = decompose(em, task, [n_images, spatial_parts, channel_parts])
        _ranges(
            em,
            cpart,
            channel_parts,
            full_blocks,
            partial_rows > 0,
            lambda b: tiles(n, spart, b, bo),
            lambda: tiles(n, spart, em.index(full_blocks), partial_rows),
        )


LINEAR_SPARSE_UNROLL = 8
"""Independent accumulator sets of the sparse GEMV (with one vector per block)."""


def emit_sparse_linear(
    em: Emitter,
    phases: Phases,
    width: int,
    x: Value,
    arrays: tuple[Value, Value, Value],
    bias: Value | None,
    out: Value,
    shape: tuple[int, int, int],
    bo: int,
    activation: str,
) -> None:
    """out[n][m] = act(sum_j values[j][m % bo] * x[n][index[j]] + bias[m]) over the stored
    columns j of block m // bo; `shape` is (N, K, M)."""
    offset, index, values = arrays
    n_images, _, m_rows = shape
    lanes = gcd(bo, width)
    vectors = bo // lanes
    unroll = max(1, LINEAR_SPARSE_UNROLL // vectors)
    full_blocks, partial_rows = divmod(m_rows, bo)
    units = full_blocks + (1 if partial_rows else 0)
    parts = split_count(units)

    def accumulate(n: Value, j: Value, acc: list[Value], c: Value | None = None) -> list[Value]:
        if c is None:
            c = em.load_index(index, [j])
        xb = em.broadcast(em.load(x, [n, c]), lanes)
        return [
            em.fma(em.vload(values, [j, em.index(v * lanes)], lanes), xb, a)
            for v, a in zip(range(vectors), acc, strict=True)
        ]

    def block(n: Value, b: Value, rows: int) -> None:
        start = em.load_index(offset, [b])
        end = em.load_index(offset, [em.add(b, 1)])
        count = em.emit(arith.SubiOp(end, start)).results[0]
        whole = em.emit(arith.DivUIOp(count, em.index(unroll))).results[0]
        main = em.add(start, em.mul(whole, unroll)) if unroll > 1 else end
        zero = em.splat(0.0, lanes)
        with em.loop(start, main, unroll, [zero] * (vectors * unroll)) as j:
            acc = list(j.carried)
            # The indices of the `unroll` columns in one vector load, not one load each.
            cols: list[Value | None] = [None] * unroll
            if unroll > 1:
                ids = em.emit(vector.LoadOp(index, [j.iv], VectorType(i32, [unroll]))).results[0]
                for k in range(unroll):
                    col = em.emit(vector.ExtractOp(ids, [k], i32)).results[0]
                    cols[k] = em.emit(arith.IndexCastOp(col, IndexType())).results[0]
            for k in range(unroll):
                acc[k * vectors : (k + 1) * vectors] = accumulate(
                    n, em.add(j.iv, k), acc[k * vectors : (k + 1) * vectors], cols[k]
                )
            j.yield_(acc)
        sets = [j.results[k * vectors : (k + 1) * vectors] for k in range(unroll)]
        if unroll > 1:
            with em.loop(main, end, 1, sets[0]) as r:
                r.yield_(accumulate(n, r.iv, list(r.carried)))
            sets[0] = r.results
        total = list(sets[0])
        for other in sets[1:]:
            total = [em.addf(t, o) for t, o in zip(total, other, strict=True)]
        first = em.mul(b, bo)
        for v in range(vectors):
            active = min(lanes, rows - v * lanes)
            if active <= 0:
                break
            at = [n, em.add(first, v * lanes)]
            value = total[v]
            if bias is not None:
                value = em.addf(value, em.vload_masked(bias, at[1:], active, lanes))
            value = em.activation(value, activation)
            em.vstore_masked(value, out, at, active)

    with phases.open(n_images * parts) as task:
        n, part = decompose(em, task, [n_images, parts])
        _ranges(
            em,
            part,
            parts,
            full_blocks,
            partial_rows > 0,
            lambda b: block(n, b, bo),
            lambda: block(n, em.index(full_blocks), partial_rows),
        )
