"""The tile over output channels of a flat pointwise layer (1x1, stride 1, unpadded, one
group), as XNNPACK's f32 GEMM microkernels do it.

The tile over pixels (`conv.py`) keeps `filters x cols` vectors of output pixels and
broadcasts a weight per filter; on the small planes of MobileNet-V2 and ResNet-50 (196
or 49 pixels) its last vector is mostly masked lanes. This tile vectorises over the
output channels instead: the weights are prepacked at compile time into the weight blob
as `[ceil(cout / v)][cin][v]` (the last block zero padded, `pack_channel_weights`), and
for each input channel a tile of `pixels` pixels x `channel_vectors` vectors of
channels loads the channels' weight vectors once and broadcasts one input scalar
`x[ci][p]` per pixel into `pixels x channel_vectors` FMAs (AVX2: 6 pixels x 2 vectors,
12 accumulators, 2 weights and a broadcast in 15 of the 16 registers). The bias is the
accumulators' start (one vector load per channel vector). With 4, 8 or 16 lanes the
epilogue transposes the tile (`transpose`) into vectors of one channel's pixels, adds
the residual, applies the activation and stores whole vectors to the NCHW output
(`store_transposed`; AVX-512: 14 pixels x 2 vectors, 28 accumulators, each vector's 14
pixels and 2 zero rows transposed 16 x 16); any other width stores lane by lane
(`store_tile`). A last tile of fewer pixels and a last block of fewer channels are
tiles of their own sizes, so only live channels and pixels are stored.

The tasks are images x ranges of channel tiles x ranges of pixel tiles (about
`TASKS_PER_PHASE` in all: a layer of few channel tiles, 144->24 @56, still has work for
every thread); each task runs its channel tiles one by one over its pixels (a channel
tile's weights stay in cache across them).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from xdsl.dialects import arith, func, memref
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
)
from xdsl.ir import Operation

from patdnn.dialect.patdnn import Conv2dOp, LinearOp
from patdnn.lowering.vector.conv import ConvSpec
from patdnn.lowering.vector.emitter import Emitter, Value
from patdnn.lowering.vector.memory import WeightBlob
from patdnn.lowering.vector.pointwise import reads_in_place
from patdnn.lowering.vector.tasks import (
    TASKS_PER_PHASE,
    Phases,
    decompose,
    is_equal,
    part_bounds,
    split_count,
)
from patdnn.lowering.vector.tiling import (
    DEFAULT_TILING,
    ConvTiling,
    TilingOptions,
    channel_panel_rule,
    channel_pixels,
)


def pack_channel_weights(weight: np.ndarray, width: int) -> np.ndarray:
    """Dense 1x1 weights `[cout][cin][1][1]` as `[ceil(cout / width)][cin][width]`:
    block `b`, channel `ci`, lane `l` is `weight[b * width + l][ci]`, zero past `cout`."""
    cout, cin = weight.shape[:2]
    blocks = -(-cout // width)
    padded = np.zeros((blocks * width, cin), dtype=np.float32)
    padded[:cout] = weight.reshape(cout, cin)
    return np.ascontiguousarray(padded.reshape(blocks, width, cin).transpose(0, 2, 1))


def channel_tiling(
    *,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    groups: int,
    cin: int,
    cout: int,
    out_h: int,
    out_w: int,
    tuning: DictionaryAttr | None,
    width: int,
    registers: int,
    options: TilingOptions = DEFAULT_TILING,
) -> ConvTiling | None:
    """The tile over output channels a layer takes (the default rule, then its `tuning`),
    or None: the tile over pixels. Only pointwise layers of one group that read their
    input in place take one, over their flat plane (`pointwise.runs_flat`; a single-row
    output is its own plane)."""
    if groups != 1 or not reads_in_place(kernel, stride, padding):
        return None
    plane = out_h * out_w
    default = ConvTiling.default(
        dense=True,
        filters_per_group=cout,
        taps=1,
        cin=cin,
        registers=registers,
        options=options,
        width=width,
        out_vectors=-(-plane // width),
        plane=plane,
    )
    tiling = default.tuned(tuning, dense=True, filters_per_group=cout)
    if tiling.channel_vectors <= 0:
        return None
    pixels = tiling.pixels if tiling.pixels > 0 else channel_pixels(registers)
    vectors = min(tiling.channel_vectors, -(-cout // width))
    panels = (
        tiling.panels
        if tuning is not None and "panels" in tuning.data
        else channel_panel_rule(options.channel_panels, registers, cout)
    )
    return ConvTiling(1, 1, 1, 0, vectors, min(pixels, plane), panels)


L = TypeVar("L", Conv2dOp, LinearOp)


def constant_weight_layers(
    functions: Sequence[func.FuncOp], kind: type[L]
) -> Iterator[tuple[L, arith.ConstantOp]]:
    """The layers of type `kind` in `functions` whose weights are a constant, with it:
    the layers whose weights can be packed at compile time."""
    for fn in functions:
        for op in fn.body.walk():
            if not isinstance(op, kind):
                continue
            const = op.weight.owner
            if isinstance(const, arith.ConstantOp) and isinstance(
                const.value, DenseResourceAttr | DenseIntOrFPElementsAttr
            ):
                yield op, const


def pack_layers(
    functions: Sequence[func.FuncOp],
    blob: WeightBlob,
    width: int,
    registers: int,
    options: TilingOptions = DEFAULT_TILING,
) -> dict[Operation, tuple[DenseResourceAttr, ConvTiling]]:
    """The layers of `functions` that take a tile over output channels, each with its
    packed weights (`pack_channel_weights`, placed in `blob` as a weight of their own;
    the IR only refers to them) and its tile. A layer whose weights are not a constant
    keeps the tile over pixels. Run before the constants are placed: a weight only
    these layers read is not placed (`packed_away`)."""
    packed: dict[Operation, tuple[DenseResourceAttr, ConvTiling]] = {}
    for op, const in constant_weight_layers(functions, Conv2dOp):
        _, cin, _, _ = op.input.type.get_shape()
        _, _, kh, kw = op.weight.type.get_shape()
        _, cout, out_h, out_w = op.result.type.get_shape()
        tiling = channel_tiling(
            kernel=(kh, kw),
            stride=op.stride_values,
            padding=op.padding_values,
            groups=op.group_count,
            cin=cin,
            cout=cout,
            out_h=out_h,
            out_w=out_w,
            tuning=op.tuning,
            width=width,
            registers=registers,
            options=options,
        )
        if tiling is None:
            continue
        name = f"{op.layer_name or 'conv'}.channels{width}"
        attr = blob.place_packed(const, name, lambda w: pack_channel_weights(w, width))
        packed[op] = (attr, tiling)
    return packed


def packed_away(const: Operation, packed: Collection[Operation]) -> bool:
    """Whether every reader of the constant reads it as the weights of a layer of
    `packed` (the layers of `pack_layers` and `linear.pack_linear_layers`, which read
    their packed weights instead): the constant then takes no room in the weight blob."""
    if not const.results:
        return False
    value = const.results[0]
    uses = list(value.uses)
    return bool(uses) and all(
        isinstance(use.operation, Conv2dOp | LinearOp)
        and use.operation in packed
        and use.operation.weight is value
        for use in uses
    )


@dataclass
class ChannelTileGenerator:
    """Emits a flat pointwise layer with tiles over output channels (module docstring).
    `spec` is the layer over its flattened planes (`ConvSpec.flattened`), `packed` the
    weights of `pack_channel_weights` (`[blocks][cin][width]`)."""

    em: Emitter
    spec: ConvSpec
    packed: Value
    width: int
    tiling: ConvTiling
    phases: Phases
    flat: Value = field(init=False)
    """The input seen as one dimension."""
    panel: Value | None = field(init=False, default=None)
    """With `tiling.panels`: the packed input panels (`pack_panels`), one dimension."""

    def emit(self) -> None:
        em, s, t, v = self.em, self.spec, self.tiling, self.width
        self.flat = em.reinterpret(s.input, [s.batch * s.cin * s.out_w])
        if t.panels:
            self.pack_panels()
        span = t.channel_vectors * v
        main, rest = divmod(s.cout, span)
        units = main + (1 if rest else 0)
        most = max(1, TASKS_PER_PHASE // s.batch)
        parts = split_count(units, most)
        full = s.out_w // t.pixels
        spans = split_count(full, most // parts) if full else 1
        rest_lanes = [v] * (rest // v) + ([rest % v] if rest % v else [])
        with self.phases.open(s.batch * parts * spans) as task:
            n, part, piece = decompose(em, task, [s.batch, parts, spans])
            first, last = part_bounds(em, part, units, parts)
            tiles = part_bounds(em, piece, full, spans)

            def plane(block: Value, lanes: list[int]) -> None:
                if spans == 1:
                    self.emit_plane(n, block, lanes)
                else:
                    self.emit_span(n, block, lanes, tiles, piece, spans)

            if main:
                with em.loop(first, em.minui(last, main)) as ct:
                    plane(em.mul(ct.iv, t.channel_vectors), [v] * t.channel_vectors)
            if rest:
                block = em.index(main * t.channel_vectors)
                if parts == 1:
                    plane(block, rest_lanes)
                else:
                    with em.if_else(is_equal(em, part, parts - 1)) as (then, _), em.at(then):
                        plane(block, rest_lanes)
        if self.panel is not None:
            em.dealloc(self.panel)

    def panel_stride(self) -> int:
        """Floats between the panels of two pixel tiles: the tile's `cin x pixels`
        floats, room for the last row's whole-vector stores (`pack_panels`), rounded up
        to whole 64-byte lines."""
        s, t, v = self.spec, self.tiling, self.width
        last = (t.pixels - 1) // v * v
        return -(-((s.cin - 1) * t.pixels + last + v) // 16) * 16

    def pack_panels(self) -> None:
        """The phase that packs the input `[cin][plane]` of each image into one panel
        `[cin][pixels]` per pixel tile (the last one's missing pixels zero), so that a
        tile's broadcasts read one stream of consecutive floats rather than a line of
        each input channel. Each row is `pixels` floats of whole-vector loads and
        stores: a store's lanes past the row fall on the next row, stored after it (the
        last row's on the panel's own slack); the tiles whose loads would run past the
        plane load masked. Tasks: images x ranges of pixel tiles."""
        em, s, t, v = self.em, self.spec, self.tiling, self.width
        plane, pixels = s.out_w, t.pixels
        tiles = -(-plane // pixels)
        stride = self.panel_stride()
        self.panel = em.alloc([s.batch * tiles * stride])
        chunks = list(range(0, pixels, v))
        reach = chunks[-1] + v
        safe = min(plane // pixels, (plane - reach) // pixels + 1) if plane >= reach else 0
        parts = split_count(tiles, max(1, TASKS_PER_PHASE // s.batch))
        panel = self.panel
        with self.phases.open(s.batch * parts) as task:
            n, part = decompose(em, task, [s.batch, parts])
            g0, g1 = part_bounds(em, part, tiles, parts)
            image = em.mul(n, s.cin * plane)

            def tile(g: Value, live: int | None) -> None:
                src0 = em.add(image, em.mul(g, pixels))
                dst0 = em.mul(em.add(em.mul(n, tiles), g), stride)
                with em.loop(0, s.cin) as c:
                    src = em.add(em.mul(c.iv, plane), src0)
                    dst = em.add(em.mul(c.iv, pixels), dst0)
                    for c0 in chunks:
                        at = [em.add(src, c0)]
                        if live is None:
                            value = em.vload(self.flat, at, v)
                        elif c0 < live:
                            value = em.vload_masked(self.flat, at, min(v, live - c0), v)
                        else:
                            value = em.splat(0.0, v)
                        em.vstore(value, panel, [em.add(dst, c0)])

            with em.loop(g0, em.minui(g1, safe)) as g:
                tile(g.iv, None)
            full = plane // pixels
            if safe < full:
                low = em.maxui(g0, safe)
                with em.loop(low, em.minui(g1, full)) as g:
                    tile(g.iv, pixels)
            if full < tiles:
                last = em.index(full)
                inside = em.emit(arith.CmpiOp(last, g1, "ult")).results[0]
                with em.if_else(inside) as (then, _), em.at(then):
                    tile(last, plane - full * pixels)

    def emit_plane(self, n: Value, block: Value, lanes: list[int]) -> None:
        """The channel tile of weight blocks `block ..` (`lanes`: live channels of each)
        over the whole plane: tiles of `pixels` pixels, then one of the pixels left.
        The tiles whose transposed stores may run whole vectors past their pixels (into
        the next tile's, stored after them: `overrun`) come first; the last ones, whose
        vectors would run past the plane, store exactly."""
        em, s, t = self.em, self.spec, self.tiling
        plane = s.out_w
        full, left = divmod(plane, t.pixels)
        loose = self.loose_tiles()
        bias = self.bias_vectors(block, lanes)
        if loose:
            with em.loop(0, loose) as g:
                self.emit_tile(n, block, lanes, g.iv, t.pixels, bias, exact=False)
        for g in range(loose, full):
            self.emit_tile(n, block, lanes, em.index(g), t.pixels, bias)
        if left:
            self.emit_tile(n, block, lanes, em.index(full), left, bias)

    def emit_span(
        self,
        n: Value,
        block: Value,
        lanes: list[int],
        tiles: tuple[Value, Value],
        piece: Value,
        spans: int,
    ) -> None:
        """The channel tile over the whole pixel tiles `tiles` of the plane (and, in the
        last of `spans` pieces, the pixels left): a task of its own, so no store may run
        past its last tile into the next piece's pixels, which another thread may be
        storing. Its tiles store loosely (`overrun`) up to the last ones whose vectors
        would reach past the piece (or past the plane's loose tiles), which store
        exactly."""
        em, s, t = self.em, self.spec, self.tiling
        g0, g1 = tiles
        full, left = divmod(s.out_w, t.pixels)
        tail = -(-self.overrun(t.pixels) // t.pixels) - 1
        exact = g1
        if tail:
            below = em.maxui(em.add(g0, tail), g1)
            exact = em.emit(arith.SubiOp(below, em.index(tail))).results[0]
        loose = em.minui(exact, em.index(self.loose_tiles()))
        loose = em.maxui(g0, loose)
        bias = self.bias_vectors(block, lanes)
        with em.loop(g0, loose) as g:
            self.emit_tile(n, block, lanes, g.iv, t.pixels, bias, exact=False)
        with em.loop(loose, g1) as g:
            self.emit_tile(n, block, lanes, g.iv, t.pixels, bias)
        if left:
            with em.if_else(is_equal(em, piece, spans - 1)) as (then, _), em.at(then):
                self.emit_tile(n, block, lanes, em.index(full), left, bias)

    def loose_tiles(self) -> int:
        """The whole pixel tiles from the plane's start whose stores may overrun
        (`overrun`) and stay inside the plane."""
        plane, pixels = self.spec.out_w, self.tiling.pixels
        reach = self.overrun(pixels)
        full = plane // pixels
        return min(full, (plane - reach) // pixels + 1) if plane >= reach else 0

    def transposes(self) -> bool:
        """Whether the epilogue transposes the tile (`transpose`) into vectors of one
        channel's pixels (4, 8 and 16 lanes) rather than storing lane by lane."""
        return self.width in (4, 8, 16)

    def overrun(self, pixels: int) -> int:
        """The pixels from a tile's first that its stores write when they need not be
        exact: whole vectors of its pixels when it transposes."""
        v = self.width
        return -(-pixels // v) * v if self.transposes() else pixels

    def bias_vectors(self, block: Value, lanes: list[int]) -> list[Value]:
        """The initial accumulator of each channel vector: its channels' biases (masked
        to the live ones), or zero."""
        em, s, v = self.em, self.spec, self.width
        if s.bias is None:
            return [em.splat(0.0, v)] * len(lanes)
        out: list[Value] = []
        for u, active in enumerate(lanes):
            at = [em.mul(em.add(block, u), v)]
            out.append(em.vload_masked(s.bias, at, active, v))
        return out

    def emit_tile(
        self,
        n: Value,
        block: Value,
        lanes: list[int],
        g: Value,
        pixels: int,
        bias: list[Value],
        exact: bool = True,
    ) -> None:
        """`pixels` pixels of pixel tile `g` x the channel vectors of blocks `block ..`:
        `acc[p * len(lanes) + u]`, then the epilogue (`store_tile`; not `exact`: its
        stores may run on up to `overrun` pixels). The broadcasts read the input in
        place (a line of each channel) or, with `panels`, the tile's panel."""
        em, s, t, v = self.em, self.spec, self.tiling, self.width
        nv = len(lanes)
        acc0 = [bias[u] for _ in range(pixels) for u in range(nv)]
        p0 = em.mul(g, t.pixels)
        if self.panel is not None:
            flat, step = self.panel, t.pixels
            tiles = -(-s.out_w // t.pixels)
            origin = em.mul(em.add(em.mul(n, tiles), g), self.panel_stride())
        else:
            flat, step = self.flat, s.out_w
            origin = em.add(em.mul(n, s.cin * s.out_w), p0)
        zero = em.index(0)
        with em.loop(0, s.cin, 1, acc0) as c:
            w = [em.vload(self.packed, [em.add(block, u), c.iv, zero], v) for u in range(nv)]
            base = em.add(em.mul(c.iv, step), origin)
            out = list(c.carried)
            for p in range(pixels):
                x = em.broadcast(em.load(flat, [em.add(base, p)]), v)
                for u in range(nv):
                    out[p * nv + u] = em.fma(x, w[u], out[p * nv + u])
            c.yield_(out)
        if self.transposes():
            self.store_transposed(n, block, lanes, p0, pixels, c.results, exact)
        else:
            self.store_tile(n, block, lanes, p0, pixels, c.results)

    def store_tile(
        self,
        n: Value,
        block: Value,
        lanes: list[int],
        p0: Value,
        pixels: int,
        acc: list[Value],
    ) -> None:
        """Each live lane `l` of `acc[p * len(lanes) + u]` (bias already in) plus the
        residual, through the activation, into `out[n][(block + u) * v + l][0][p0 + p]`.
        Without a residual the activation runs on the whole vector."""
        em, s, v = self.em, self.spec, self.width
        nv = len(lanes)
        zero = em.index(0)
        for p in range(pixels):
            pixel = em.add(p0, p)
            for u, active in enumerate(lanes):
                value = acc[p * nv + u]
                if s.residual is None:
                    value = em.activation(value, s.activation)
                co0 = em.mul(em.add(block, u), v)
                for lane in range(active):
                    x = em.extract_lane(value, lane)
                    idx = [n, em.add(co0, lane), zero, pixel]
                    if s.residual is not None:
                        x = em.addf(x, em.load(s.residual, idx))
                        x = em.activation(x, s.activation)
                    em.emit(memref.StoreOp.get(x, s.output, idx))

    def store_transposed(
        self,
        n: Value,
        block: Value,
        lanes: list[int],
        p0: Value,
        pixels: int,
        acc: list[Value],
        exact: bool,
    ) -> None:
        """The epilogue by vectors of one channel's pixels: each channel vector's
        accumulators, in groups of `v` pixels, transposed (`transpose`, the missing
        pixels zero), then plus the residual, through the activation, stored to
        `out[n][co][0][p0 + group ..]`: whole vectors unless `exact` (the lanes past
        the tile's pixels fall on the next tile's, which stores them after), else
        masked to the live pixels. Only live channels are stored."""
        em, s, v = self.em, self.spec, self.width
        nv = len(lanes)
        zero = em.index(0)
        for g0 in range(0, pixels, v):
            group = min(v, pixels - g0)
            active = group if exact else v
            pixel = em.add(p0, g0)
            for u, live in enumerate(lanes):
                rows = [acc[p * nv + u] for p in range(g0, g0 + group)]
                if s.residual is None:
                    rows = [em.activation(r, s.activation) for r in rows]
                rows += [em.splat(0.0, v)] * (v - group)
                columns = transpose(em, rows)
                co0 = em.mul(em.add(block, u), v)
                for lane in range(live):
                    value = columns[lane]
                    idx = [n, em.add(co0, lane), zero, pixel]
                    if s.residual is not None:
                        value = em.addf(value, em.vload_masked(s.residual, idx, active, v))
                        value = em.activation(value, s.activation)
                    em.vstore_masked(value, s.output, idx, active)


def transpose(em: Emitter, rows: list[Value]) -> list[Value]:
    """The transpose of `v x v` floats held as `v` vectors (4, 8 or 16 lanes), by
    shuffles: interleave pairs of rows, then pairs of pairs (the 4 x 4 transposes within
    each 128-bit block: AVX's unpack and shufps), then, with 8 or 16 lanes, transpose
    the `v/4 x v/4` matrix of 128-bit blocks by swapping its off-diagonal halves
    (permute2f128, shuf_f32x4): 24 shuffles for 8 x 8, 64 for 16 x 16."""
    v = len(rows)
    shuffle = em.shuffle

    quarter = [(k // 4) * 4 for k in range(v)]  # start of each lane's 128-bit group
    lo = [q + (k % 4) // 2 + (v if k % 2 else 0) for k, q in enumerate(quarter)]
    hi = [q + 2 + (k % 4) // 2 + (v if k % 2 else 0) for k, q in enumerate(quarter)]
    pairs: list[Value] = []
    for i in range(0, v, 2):
        pairs += [shuffle(rows[i], rows[i + 1], lo), shuffle(rows[i], rows[i + 1], hi)]
    lo2 = [q + (k % 4) % 2 + (v if (k % 4) >= 2 else 0) for k, q in enumerate(quarter)]
    hi2 = [q + 2 + (k % 4) % 2 + (v if (k % 4) >= 2 else 0) for k, q in enumerate(quarter)]
    quads: list[Value] = []
    for i in range(0, v, 4):
        t0, t1, t2, t3 = pairs[i : i + 4]
        quads += [shuffle(t0, t2, lo2), shuffle(t0, t2, hi2)]
        quads += [shuffle(t1, t3, lo2), shuffle(t1, t3, hi2)]
    if v == 4:
        return quads
    assert v in (8, 16)
    # quads[4 * r + k], block j: column 4 * j + k of rows 4 * r ..; column 4 * j + k is
    # block j of quads[4 * r + k] at block r, for every r.
    columns: list[Value] = [quads[0]] * v
    for k in range(4):
        blocks = [quads[4 * r + k] for r in range(v // 4)]
        for j, column in enumerate(transpose_blocks(em, blocks)):
            columns[4 * j + k] = column
    return columns


def transpose_blocks(em: Emitter, rows: list[Value]) -> list[Value]:
    """The transpose of the `m x m` matrix of 4-lane blocks of `m` vectors of `4 * m`
    lanes: for each block size `b` (in blocks, m / 2 down to 1), each pair of rows
    `i, i + b` (i in the first half of a run of `2 * b`) swaps its off-diagonal
    `b x b` blocks."""
    m = len(rows)
    v = 4 * m
    rows = list(rows)
    b = m // 2
    while b:
        low = [
            4 * (q if (q // b) % 2 == 0 else v // 4 + q - b) + e for q in range(m) for e in range(4)
        ]
        high = [
            4 * (q + b if (q // b) % 2 == 0 else v // 4 + q) + e for q in range(m) for e in range(4)
        ]
        for i in range(m):
            if (i // b) % 2 == 0:
                a, c = rows[i], rows[i + b]
                rows[i], rows[i + b] = em.shuffle(a, c, low), em.shuffle(a, c, high)
        b //= 2
    return rows
