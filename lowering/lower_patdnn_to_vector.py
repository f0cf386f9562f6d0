"""`lower-patdnn-to-vector`: patdnn layer ops -> scf loops and `vector` code on memrefs.

PatDNN Section 5.3-5.4. The function becomes
`@f(inputs..., outputs..., %weights, %workspace)`: tensors become memrefs, results are
written into output memrefs passed by the caller, and every constant (FKW arrays,
dense weights, biases) is a `memref.view` into one weight blob `memref<Nxi8>` given at
run time, so the IR never holds the numbers. The module attribute `patdnn.weights`
lists the blob layout (handle, byte offset, bytes). Intermediate activations and the
padded input copies are views into the caller's workspace `memref<Mxi8>`, at offsets
planned from their lifetimes (`emitter.Arena`): the code never allocates memory.

A convolution is computed from a scratch copy of its input that is zero padded and,
for stride s, split into s*s phases (`P[c][r%s][q%s][i][j] = Xpad[c][i*s + r%s][j*s + q%s]`),
so that every tap of every output row reads `vector_width` contiguous floats. A
stride-1 layer copies the rows of each row block just before the block's tiles read
them, so they are read from cache. Each tile of `rows x cols` output vectors (per
filter, or per group of filters for dense layers) keeps its accumulators in registers
across all kernels; its default size follows the target's vector register count
(`vector-registers`), and a layer's `tuning` (set by hand or by `auto-tune`) overrides it:

- `patdnn.fkw_conv2d` loops pattern group by pattern group over the kernels of a
  filter (`stride[j][p] .. stride[j][p+1]`); the taps of each pattern are compile-time
  constants, so the group's body is specialised code without any per-tap indexing:
  every tap reads the scratch buffer at the kernel's channel base plus a constant.
  Wide layers prefetch the input lines of the kernels a few places ahead.
- `patdnn.conv2d` (dense, grouped or depthwise) is the same code with one pattern,
  all Kh x Kw taps, and the input channels of the filter's group as the kernels.

The products of a kernel are emitted input vector by input vector, each load followed
by every product that reads it; `load-redundancy-elimination` then merges the repeated
loads, which leaves each input vector live for a few instructions only.

The last vector of an output row is stored with a constant mask when the width is
not a multiple of the vector width. Bias, residual and activation are applied in the
epilogue, on the registers, before the one store of each output vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, vector
from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    DictionaryAttr,
    FunctionType,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    TensorType,
    UnitAttr,
    i8,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from patdnn.dialect.patdnn import (
    AddOp,
    Conv2dOp,
    FKWConv2dOp,
    GlobalAvgPoolOp,
    LinearOp,
    PatternConv2dOp,
    Pool2dOp,
    ReshapeOp,
)
from patdnn.dialect.weights import WEIGHTS, numpy_dtype
from patdnn.errors import PatdnnError
from patdnn.lowering.emitter import Arena, Emitter, Value

WEIGHTS_ATTR = "patdnn.weights"
"""Module attribute: the blob layout, `[[dense_resource<handle> : tensor<..>, offset], ...]`."""

BLOB_ALIGNMENT = 64
LOWEST_F32 = float(np.finfo(np.float32).min)
PREFETCH_DISTANCE = 2
"""How many kernels ahead a pattern convolution prefetches its input lines by default."""
PREFETCH_MIN_CHANNELS = 256
"""Pattern layers with fewer input channels keep their rows in cache without prefetching:
from 256 channels up, the input of a row block no longer fits the L2 cache and the
channels of a filter's kernels jump across it."""


class LoweringError(PatdnnError):
    """A layer the vector lowering cannot handle; the message names it."""


# ---------------------------------------------------------------------------
# Tiling parameters
# ---------------------------------------------------------------------------


TUNING_KEYS = ("filters", "rows", "cols", "prefetch")
"""The integer entries of a layer's `tuning` dictionary that the lowering reads."""


@dataclass(frozen=True)
class ConvTiling:
    """Register tile of a convolution: `filters x rows x cols` output vectors, and how
    many kernels ahead a pattern convolution prefetches its input (0: none)."""

    filters: int
    rows: int
    cols: int
    prefetch: int = 0

    @staticmethod
    def default(
        *,
        dense: bool,
        filters_per_group: int,
        taps: int,
        cin: int,
        registers: int,
        groups: int = 1,
    ) -> ConvTiling:
        """The tile used without tuning. The accumulators, the weights of one input
        channel and one input vector must fit the `registers` vector registers. With 16
        (AVX2): a pointwise layer 5 filters x 2 vectors, another dense layer 4 filters x
        1 row x 2 vectors, a pattern layer 4 rows x 2 vectors. With 32 (AVX-512, NEON):
        dense tiles of 16 accumulators."""
        if dense and filters_per_group > 1:
            if taps == 1 and groups == 1 and registers < 32:
                return ConvTiling(min(5, filters_per_group), 1, 2)
            filters = next(f for f in (4, 2, 1) if filters_per_group % f == 0)
            if registers >= 32:
                rows, cols = (2, 2) if taps > 1 else (1, 4)
            else:
                rows, cols = 1, 2
            return ConvTiling(filters, rows, cols)
        prefetch = PREFETCH_DISTANCE if not dense and cin >= PREFETCH_MIN_CHANNELS else 0
        return ConvTiling(1, 4, 2, prefetch)

    def tuned(
        self,
        tuning: DictionaryAttr | None,
        *,
        dense: bool,
        filters_per_group: int,
        groups: int = 1,
    ) -> ConvTiling:
        """This tile with the entries of a layer's `tuning` dictionary applied: `filters`
        (dense layers only: every filter of a pattern layer has its own kernel list; with
        several groups, a divisor of the filters of a group), `rows`, `cols` (positive)
        and `prefetch` (kernels ahead, 0 for none). Other values are ignored."""
        filters, rows, cols, prefetch = self.filters, self.rows, self.cols, self.prefetch
        if tuning is not None:
            for key, value in tuning.data.items():
                if not isinstance(value, IntegerAttr):
                    continue
                v = value.value.data
                fits = groups == 1 or filters_per_group % v == 0
                if key == "filters" and dense and 1 <= v <= filters_per_group and fits:
                    filters = v
                elif key == "rows" and v >= 1:
                    rows = v
                elif key == "cols" and v >= 1:
                    cols = v
                elif key == "prefetch" and v >= 0:
                    prefetch = v
        return ConvTiling(filters, rows, cols, prefetch)

    def clamped(self, out_h: int, out_vectors: int) -> ConvTiling:
        """No more rows or vectors than the output has."""
        return ConvTiling(
            self.filters,
            max(1, min(self.rows, out_h)),
            max(1, min(self.cols, out_vectors)),
            self.prefetch,
        )


# ---------------------------------------------------------------------------
# Convolution code generation
# ---------------------------------------------------------------------------


def reads_in_place(
    kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> bool:
    """A 1x1, stride 1, unpadded convolution reads its input as it is: no scratch copy
    (the last vector of a row is a masked load), and over more than one row it runs
    over the flattened plane, one row of H*W pixels."""
    return kernel == (1, 1) and stride == (1, 1) and padding == (0, 0)


@dataclass
class ConvSpec:
    """Everything the generator needs to know about one convolution layer."""

    layer: str
    batch: int
    cin: int
    height: int
    width: int
    cout: int
    out_h: int
    out_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int
    patterns: tuple[tuple[tuple[int, int], ...], ...]
    activation: str
    tuning: DictionaryAttr | None
    # Buffers (memrefs)
    input: Value
    output: Value
    bias: Value | None
    residual: Value | None
    # Dense weights [Cout][Cin/g][Kh][Kw], or the FKW arrays
    dense_weight: Value | None = None
    fkw: tuple[Value, Value, Value, Value, Value] | None = None
    # Pooling ("max" or "avg") instead of a convolution: channel j reads channel j.
    pool: str | None = None

    @property
    def fill(self) -> float:
        """The value of the padding: the identity of the reduction."""
        return LOWEST_F32 if self.pool == "max" else 0.0


@dataclass
class ConvGenerator:
    """Emits the loop nest of one convolution (see the module docstring)."""

    em: Emitter
    spec: ConvSpec
    width: int
    registers: int = 32
    scratch: Value | None = None
    scratch_shape: tuple[int, ...] = ()
    flat: Value | None = None
    """The buffer the taps read (the input read in place, or the scratch copy), seen as
    one dimension: a tap reads `flat[base(channel) + constant]`."""
    batch_index: Value | None = None
    tiling: ConvTiling = field(init=False)
    reads_input_directly: bool = field(init=False)
    streams_rows: bool = field(init=False)

    def __post_init__(self) -> None:
        s = self.spec
        self.reads_input_directly = s.pool is None and reads_in_place(s.kernel, s.stride, s.padding)
        # Stride-1 layers copy their input into the scratch buffer row block by row
        # block, just before the block's tiles read it (the rows are then in cache).
        self.streams_rows = not self.reads_input_directly and s.stride == (1, 1)
        self.out_vectors = -(-s.out_w // self.width)
        self.full_vectors = s.out_w // self.width
        self.tail_lanes = s.out_w % self.width
        dense = s.fkw is None and s.pool is None
        filters_per_group = s.cout // s.groups
        default = ConvTiling.default(
            dense=dense,
            filters_per_group=filters_per_group,
            taps=len(s.patterns[0]),
            cin=s.cin,
            registers=self.registers,
            groups=s.groups,
        )
        self.tiling = default.tuned(
            s.tuning, dense=dense, filters_per_group=filters_per_group, groups=s.groups
        ).clamped(s.out_h, self.out_vectors)

    # -- the padded, phase-split input ------------------------------------------------

    def allocate_scratch(self) -> None:
        """P[c][a][b][i][j] = Xpad[i*sh + a][j*sw + b]: the padded input split into the
        stride phases (a, b) that some tap reads; tap (r, q) of output (i, j) reads
        P[c][r % sh][q % sw][i + r // sh][j + q // sw]. Rows are padded to whole vectors."""
        s = self.spec
        sh, sw = s.stride
        kh, kw = s.kernel
        taps = {tap for pattern in s.patterns for tap in pattern}
        self.row_phases = sorted({r % sh for r, _ in taps})
        self.col_phases = sorted({q % sw for _, q in taps})
        halo = (kw - 1) // sw
        rows = s.out_h + (kh - 1) // sh
        cols = -(-(self.out_vectors * self.width + halo) // self.width) * self.width
        self.scratch_shape = (s.cin, len(self.row_phases), len(self.col_phases), rows, cols)
        self.scratch = self.em.alloc(self.scratch_shape)
        self.flat = self.em.reinterpret(self.scratch, [int(np.prod(self.scratch_shape))])

    # -- addressing: a tile reads `flat[base(channel) + constant]` ----------------------

    @property
    def channel_stride(self) -> int:
        """Elements between two channels of the buffer the taps read."""
        if self.reads_input_directly:
            return self.spec.height * self.spec.width
        return int(np.prod(self.scratch_shape[1:]))

    @property
    def row_stride(self) -> int:
        return self.spec.width if self.reads_input_directly else self.scratch_shape[-1]

    def tap_offset(self, r: int, q: int, i: int, u: int) -> int:
        """Offset from a tile's base of the input vector that tap (r, q) multiplies for
        output row `i` and vector `u` of the tile: a compile-time constant."""
        v = self.width
        if self.reads_input_directly:
            return i * self.row_stride + u * v
        (sh, sw) = self.spec.stride
        _, na, nb, rows, cols = self.scratch_shape
        phase = self.row_phases.index(r % sh) * nb + self.col_phases.index(q % sw)
        return (phase * rows + i + r // sh) * cols + u * v + q // sw

    def tile_origin(self, oh0: Value, col0: Value) -> Value:
        """The part of a tile's base that does not depend on the channel."""
        em = self.em
        origin = em.add(em.mul(oh0, self.row_stride), col0)
        if self.reads_input_directly:
            assert self.batch_index is not None
            image = em.mul(self.batch_index, self.spec.cin * self.channel_stride)
            origin = em.add(origin, image)
        return origin

    def copy_rows(self, n: Value, first: Value | int, count: int) -> None:
        """Scratch rows `first .. first+count` of a stride-1 layer from image `n`: input
        row `row - ph` between its left and right padding, or a padding row. Only the
        padding columns are filled besides the copy, not the whole row."""
        em, s, v = self.em, self.spec, self.width
        assert self.scratch is not None
        cin, _, _, _, cols = self.scratch_shape
        ph, pw = s.padding
        fill = em.splat(s.fill, v)
        zero = em.index(0)
        edge = [*range(0, pw, v), *range((pw + s.width) // v * v, cols, v)]

        def copy(row: Value) -> None:
            with em.loop(0, cin) as c:
                for m in edge:
                    em.vstore(fill, self.scratch, [c.iv, zero, zero, row, em.index(m)])
                ih = em.add(row, -ph)
                for m in range(0, s.width, v):
                    src = [n, c.iv, ih, em.index(m)]
                    dst = [c.iv, zero, zero, row, em.index(pw + m)]
                    if s.width - m >= v:
                        em.vstore(em.vload(s.input, src, v), self.scratch, dst)
                    else:
                        value = em.vload_masked(s.input, src, s.width - m, v)
                        em.vstore_masked(value, self.scratch, dst, s.width - m)

        def pad(row: Value) -> None:
            with em.loop(0, cin) as c, em.loop(0, cols, v) as j:
                em.vstore(fill, self.scratch, [c.iv, zero, zero, row, j.iv])

        if isinstance(first, int):
            for row in range(first, first + count):
                (copy if ph <= row < ph + s.height else pad)(em.index(row))
            return
        with em.loop(first, em.add(first, count)) as i:
            with em.if_else(em.in_range(i.iv, ph, ph + s.height)) as (inside, outside):
                with em.at(inside):
                    copy(i.iv)
                with em.at(outside):
                    pad(i.iv)

    def gather_scratch(self, n: Value) -> None:
        """Strided layers: the padding everywhere, then each phase row gathered from its
        input row. For a column stride of 2, a vector of the phase is the even (or odd)
        lanes of two contiguous input vectors (one shuffle); the chunks that straddle
        the padding, and other strides, go lane by lane."""
        em, s, v = self.em, self.spec, self.width
        assert self.scratch is not None
        cin, na, nb, rows, cols = self.scratch_shape
        (sh, sw), (ph, pw) = s.stride, s.padding
        fill = em.splat(s.fill, v)
        with em.loop(0, cin) as c, em.loop(0, na) as ai, em.loop(0, nb) as bi:
            with em.loop(0, rows) as i, em.loop(0, cols, v) as j:
                em.vstore(fill, self.scratch, [c.iv, ai.iv, bi.iv, i.iv, j.iv])
        deinterleave = DenseArrayBase.from_list(i64, list(range(0, 2 * v, 2)))
        for ai, a in enumerate(self.row_phases):
            # Phase rows i whose input row i*sh + a - ph exists.
            first = max(0, -(-(ph - a) // sh))
            last = min(rows, (s.height - 1 + ph - a) // sh + 1)
            if last <= first:
                continue
            for bi, b in enumerate(self.col_phases):
                offset = b - pw  # phase column j reads input column j*sw + offset
                with em.loop(0, cin) as c, em.loop(first, last) as i:
                    ih = em.add(em.mul(i.iv, sh), a - ph)
                    for m in range(0, cols, v):
                        sources = [(m + lane) * sw + offset for lane in range(v)]
                        inside = [0 <= x < s.width for x in sources]
                        if not any(inside):
                            continue
                        dst = [c.iv, em.index(ai), em.index(bi), i.iv]
                        if all(inside) and sw <= 2:
                            start = sources[0]
                            src = [n, c.iv, ih, em.index(start)]
                            value = em.vload(s.input, src, v)
                            if sw == 2:
                                rest = min(v, s.width - start - v)
                                src2 = [n, c.iv, ih, em.index(start + v)]
                                high = (
                                    em.vload(s.input, src2, v)
                                    if rest == v
                                    else em.vload_masked(s.input, src2, rest, v)
                                )
                                shuffle = vector.ShuffleOp(
                                    value,
                                    high,
                                    deinterleave,
                                    result_type=value.type,  # type: ignore[arg-type]
                                )
                                value = em.emit(shuffle).results[0]
                            em.vstore(value, self.scratch, [*dst, em.index(m)])
                            continue
                        for lane, x in enumerate(sources):
                            if inside[lane]:
                                pixel = em.load(s.input, [n, c.iv, ih, em.index(x)])
                                idx = [*dst, em.index(m + lane)]
                                em.emit(memref.StoreOp.get(pixel, self.scratch, idx))

    # -- tiles ------------------------------------------------------------------------

    def emit(self) -> None:
        em, s = self.em, self.spec
        if self.reads_input_directly:
            self.flat = em.reinterpret(s.input, [s.batch * s.cin * s.height * s.width])
        else:
            self.allocate_scratch()
        t = self.tiling
        main_rows, tail_rows = divmod(s.out_h, t.rows)
        halo = s.kernel[0] - 1
        with em.loop(0, s.batch) as n:
            self.batch_index = n.iv
            if self.streams_rows:
                self.copy_rows(n.iv, 0, halo)
            elif not self.reads_input_directly:
                self.gather_scratch(n.iv)
            with em.loop(0, main_rows) as rb:
                oh0 = em.mul(rb.iv, t.rows)
                if self.streams_rows:
                    self.copy_rows(n.iv, em.add(oh0, halo), t.rows)
                self.emit_filters(n.iv, oh0, t.rows)
            if tail_rows:
                if self.streams_rows:
                    self.copy_rows(n.iv, main_rows * t.rows + halo, tail_rows)
                self.emit_filters(n.iv, em.index(main_rows * t.rows), tail_rows)
        if self.scratch is not None:
            em.dealloc(self.scratch)

    def prefetch_kernel(
        self, index: Value, k: Value, origin: Value, rows: int, vectors: int
    ) -> None:
        """Prefetches the input lines of the kernel `tiling.prefetch` places ahead: the
        channels of an FKW filter jump across the input, which the hardware cannot
        predict."""
        em, s, v = self.em, self.spec, self.width
        distance = self.tiling.prefetch
        if self.reads_input_directly or distance <= 0:
            return
        assert self.flat is not None
        nnz = index.type.get_shape()[0]  # type: ignore[union-attr]
        ahead = em.emit(arith.MinUIOp(em.add(k, distance), em.index(nnz - 1))).results[0]
        base = em.add(em.mul(em.load_index(index, [ahead]), self.channel_stride), origin)
        sh, sw = s.stride
        span_rows = rows + max(r for pattern in s.patterns for r, _ in pattern) // sh
        span = vectors * v + max(q for pattern in s.patterns for _, q in pattern) // sw
        # One prefetch per 64-byte line: every 16 floats, and the last one.
        line = 16
        columns = sorted({*range(0, span, line), span - 1})
        for i in range(span_rows):
            for m in columns:
                em.prefetch(self.flat, [em.add(base, i * self.row_stride + m)])

    def load_at(self, base: Value, offset: int, active: int) -> Value:
        """The input vector at `base + offset` (masked when fewer lanes are active and
        the input is read in place; the scratch buffer is padded to whole vectors)."""
        em, v = self.em, self.width
        assert self.flat is not None
        index = [em.add(base, offset)]
        if self.reads_input_directly and active != v:
            return em.vload_masked(self.flat, index, active, v)
        return em.vload(self.flat, index, v)

    def emit_filters(self, n: Value, oh0: Value, rows: int) -> None:
        """All filters over output rows oh0 .. oh0+rows, one column tile at a time: the
        input columns of a tile stay in cache while every filter reads them."""
        em, s, t = self.em, self.spec, self.tiling
        blocks, rest = divmod(self.full_vectors, t.cols)
        # Tiles of `filters` filters, then one of the remaining filters (a dense layer
        # of one group whose filter count the tile does not divide).
        main, spare = divmod(s.cout, t.filters)

        def filters(col0: Value, lanes: Sequence[int]) -> None:
            origin = self.tile_origin(oh0, col0)
            with em.loop(0, main * t.filters, t.filters) as j:
                self.emit_tile(n, j.iv, oh0, col0, origin, rows, lanes, t.filters)
            if spare:
                first = em.index(main * t.filters)
                self.emit_tile(n, first, oh0, col0, origin, rows, lanes, spare)

        if blocks:
            with em.loop(0, blocks) as cb:
                filters(em.mul(cb.iv, t.cols * self.width), [self.width] * t.cols)
        lanes = [self.width] * rest + ([self.tail_lanes] if self.tail_lanes else [])
        if lanes:
            filters(em.index(blocks * t.cols * self.width), lanes)

    def emit_tile(
        self,
        n: Value,
        j: Value,
        oh0: Value,
        col0: Value,
        origin: Value,
        rows: int,
        lanes: Sequence[int],
        nf: int,
    ) -> None:
        """One register tile: nf filters x rows x len(lanes) accumulators, then the
        epilogue. `origin` is `tile_origin(oh0, col0)`."""
        em, s, v = self.em, self.spec, self.width
        if s.fkw is not None:
            reorder, offset, index, stride, weight = s.fkw
            channels = [em.load_index(reorder, [j])]
        else:
            channels = [em.add(j, f) for f in range(nf)]
        acc0: list[Value] = []
        for co in channels:
            if s.bias is not None:
                init = em.broadcast(em.load(s.bias, [co]), v)
            else:
                init = em.splat(s.fill, v)
            acc0 += [init] * (rows * len(lanes))

        def uses(pattern: int) -> list[tuple[int, list[tuple[int, int, int]]]]:
            """The input vectors a kernel of `pattern` reads, in address order, each with
            the (tap, row, vector) products it feeds."""
            by_offset: dict[int, list[tuple[int, int, int]]] = {}
            for t, (r, q) in enumerate(s.patterns[pattern]):
                for i in range(rows):
                    for u in range(len(lanes)):
                        by_offset.setdefault(self.tap_offset(r, q, i, u), []).append((t, i, u))
            return sorted(by_offset.items())

        def accumulate(
            acc: list[Value], channel: Value, pattern: int, weights: list[list[Value]]
        ) -> list[Value]:
            """acc[f][i][u] += w[f][t] * X[channel][tap t of row i, vector u].

            Input vectors are visited in address order and each product that reads one
            follows its load, so a vector is consumed as soon as it is loaded. Every
            product still gets its own load here: the loads of one input vector by
            neighbouring rows' taps (kernel level) and by the filters of the tile
            (filter level) are merged by `load-redundancy-elimination`."""
            out = list(acc)
            base = em.add(em.mul(channel, self.channel_stride), origin)
            for at, products in uses(pattern):
                for f in range(len(weights)):
                    for t, i, u in products:
                        x = self.load_at(base, at, lanes[u])
                        k = (f * rows + i) * len(lanes) + u
                        out[k] = em.fma(x, weights[f][t], out[k])
            return out

        if s.pool is not None:
            acc = list(acc0)
            base = em.add(em.mul(j, self.channel_stride), origin)
            for at, products in uses(0):
                for _, i, u in products:
                    x = self.load_at(base, at, v)
                    k = i * len(lanes) + u
                    acc[k] = em.maxf(acc[k], x) if s.pool == "max" else em.addf(acc[k], x)
            if s.pool == "avg":
                scale = em.splat(1.0 / (s.kernel[0] * s.kernel[1]), v)
                acc = [em.mulf(a, scale) for a in acc]
        elif s.fkw is not None:
            reorder, offset, index, stride, weight = s.fkw
            base = em.load_index(offset, [j])
            bounds = [
                em.add(base, em.load_index(stride, [j, em.index(p)]))
                for p in range(len(s.patterns) + 1)
            ]
            acc = acc0
            for p in range(len(s.patterns)):
                with em.loop(bounds[p], bounds[p + 1], 1, acc) as k:
                    channel = em.load_index(index, [k.iv])
                    self.prefetch_kernel(index, k.iv, origin, rows, len(lanes))
                    w = [
                        em.broadcast(em.load(weight, [k.iv, em.index(t)]), v)
                        for t in range(len(s.patterns[p]))
                    ]
                    k.yield_(accumulate(k.carried, channel, p, [w]))
                acc = k.results
        else:
            assert s.dense_weight is not None
            cin_g = s.cin // s.groups
            cout_g = s.cout // s.groups
            group_base = em.mul(em.emit(arith.DivUIOp(j, em.index(cout_g))).results[0], cin_g)
            with em.loop(0, cin_g, 1, acc0) as c:
                channel = em.add(group_base, c.iv) if s.groups > 1 else c.iv
                w = [
                    [
                        em.broadcast(
                            em.load(s.dense_weight, [co, c.iv, em.index(r), em.index(q)]), v
                        )
                        for r, q in s.patterns[0]
                    ]
                    for co in channels
                ]
                c.yield_(accumulate(c.carried, channel, 0, w))
            acc = c.results

        for f, co in enumerate(channels):
            for i in range(rows):
                row = em.add(oh0, i)
                for u, active in enumerate(lanes):
                    value = acc[(f * rows + i) * len(lanes) + u]
                    idx = [n, co, row, em.add(col0, u * v)]
                    if s.residual is not None:
                        res = (
                            em.vload(s.residual, idx, v)
                            if active == v
                            else em.vload_masked(s.residual, idx, active, v)
                        )
                        value = em.addf(value, res)
                    value = em.activation(value, s.activation)
                    if active == v:
                        em.vstore(value, s.output, idx)
                    else:
                        em.vstore_masked(value, s.output, idx, active)


# ---------------------------------------------------------------------------
# Other layers
# ---------------------------------------------------------------------------


def emit_global_avg_pool(
    em: Emitter, width: int, src: Value, out: Value, shape: Sequence[int]
) -> None:
    """out[n][c][0][0] = mean of src[n][c]: rows summed in vector registers, then reduced."""
    n, c, h, w = shape
    full, tail = divmod(w, width)
    with em.loop(0, n) as i, em.loop(0, c) as ch:
        with em.loop(0, h, 1, [em.splat(0.0, width)]) as row:
            acc = row.carried[0]
            for k in range(full):
                acc = em.addf(acc, em.vload(src, [i.iv, ch.iv, row.iv, em.index(k * width)], width))
            if tail:
                idx = [i.iv, ch.iv, row.iv, em.index(full * width)]
                acc = em.addf(acc, em.vload_masked(src, idx, tail, width))
            row.yield_([acc])
        mean = em.mulf(em.reduce_add(row.results[0]), em.const_f32(1.0 / (h * w)))
        zero = em.index(0)
        em.emit(memref.StoreOp.get(mean, out, [i.iv, ch.iv, zero, zero]))


LINEAR_UNROLL = 4


def emit_linear(
    em: Emitter,
    width: int,
    x: Value,
    weight: Value,
    bias: Value | None,
    out: Value,
    shape: tuple[int, int, int],
    activation: str,
) -> None:
    """out[b][m] = act(sum_k x[b][k] * w[m][k] + bias[m]): LINEAR_UNROLL output features
    at a time share each vector of x; the dot products are reduced at the end."""
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
                    for f, a in zip(features, kk.carried)
                ]
            )
        acc = kk.results
        if tail:
            at = em.index(full * width)
            xv = em.vload_masked(x, [b, at], tail, width)
            acc = [
                em.fma(xv, em.vload_masked(weight, [f, at], tail, width), a)
                for f, a in zip(features, acc)
            ]
        for f, a in zip(features, acc):
            value = em.reduce_add(a)
            if bias is not None:
                value = em.emit(arith.AddfOp(value, em.load(bias, [f]))).results[0]
            em.emit(memref.StoreOp.get(em.activation(value, activation), out, [b, f]))

    blocks, rest = divmod(m, LINEAR_UNROLL)
    with em.loop(0, batch) as b:
        with em.loop(0, blocks) as mb:
            rows(b.iv, em.mul(mb.iv, LINEAR_UNROLL), LINEAR_UNROLL)
        if rest:
            rows(b.iv, em.index(blocks * LINEAR_UNROLL), rest)


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


# ---------------------------------------------------------------------------
# The function-level lowering
# ---------------------------------------------------------------------------


def _memref_of(ty: Attribute) -> MemRefType[Attribute]:
    assert isinstance(ty, TensorType)
    return MemRefType(ty.element_type, ty.get_shape())


@dataclass
class WeightBlob:
    """Assigns each constant a byte range in the weight blob."""

    entries: list[tuple[DenseResourceAttr, int]] = field(
        default_factory=list[tuple[DenseResourceAttr, int]]
    )
    size: int = 0
    _by_handle: dict[str, int] = field(default_factory=dict[str, int])
    _inline: int = 0

    def place(self, attr: Attribute) -> DenseResourceAttr:
        """Gives the constant a byte range; returns it as a weight-store handle."""
        if isinstance(attr, DenseIntOrFPElementsAttr):
            # Small constants written in the IR join the store like any other weight.
            attr = WEIGHTS.add(f"inline{self._inline}", WEIGHTS.value(attr))
            self._inline += 1
        if not isinstance(attr, DenseResourceAttr):
            raise LoweringError(f"unsupported constant {attr}")
        handle = attr.resource_handle.data
        if handle not in self._by_handle:
            offset = -(-self.size // BLOB_ALIGNMENT) * BLOB_ALIGNMENT
            self.entries.append((attr, offset))
            self._by_handle[handle] = offset
            self.size = offset + _nbytes(attr)
        return attr

    def offset(self, attr: DenseResourceAttr) -> int:
        return self._by_handle[attr.resource_handle.data]

    def memref_type(self) -> MemRefType[Attribute]:
        return MemRefType(i8, [max(self.size, 1)])

    def attribute(self) -> ArrayAttr[Attribute]:
        return ArrayAttr(ArrayAttr([attr, IntegerAttr(o, i64)]) for attr, o in self.entries)


def _nbytes(attr: DenseResourceAttr) -> int:
    ty = attr.type
    assert isinstance(ty, TensorType)
    return int(np.prod(ty.get_shape())) * numpy_dtype(ty.get_element_type()).itemsize


def pack_weight_blob(module: ModuleOp) -> bytes:
    """The weight blob a lowered module expects, from its `patdnn.weights` layout."""
    layout = module.attributes.get(WEIGHTS_ATTR)
    if not isinstance(layout, ArrayAttr):
        return b""
    entries: list[tuple[DenseResourceAttr, int]] = []
    for entry in layout.data:
        assert isinstance(entry, ArrayAttr)
        attr, offset = entry.data
        assert isinstance(attr, DenseResourceAttr) and isinstance(offset, IntegerAttr)
        entries.append((attr, offset.value.data))
    size = max((o + _nbytes(a) for a, o in entries), default=0)
    blob = bytearray(size)
    for attr, offset in entries:
        data = WEIGHTS.value(attr).tobytes()
        blob[offset : offset + len(data)] = data
    return bytes(blob)


LAYER_OPS = (Conv2dOp, FKWConv2dOp, Pool2dOp, GlobalAvgPoolOp, LinearOp, AddOp, ReshapeOp)


class FunctionLowering:
    """Rebuilds one tensor-level function as a memref function with vector code."""

    def __init__(self, fn: func.FuncOp, width: int, blob: WeightBlob, registers: int = 32):
        self.fn = fn
        self.width = width
        self.blob = blob
        self.registers = registers

    def run(self) -> func.FuncOp:
        fn = self.fn
        old = fn.body.block
        ret = old.last_op
        assert isinstance(ret, func.ReturnOp)
        in_types = [_memref_of(a.type) for a in old.args]
        out_types = [_memref_of(t) for t in fn.function_type.outputs.data]
        workspace_type = MemRefType(i8, [0])
        block = Block(arg_types=[*in_types, *out_types, self.blob.memref_type(), workspace_type])
        blob_arg, workspace_arg = block.args[-2], block.args[-1]
        arena = Arena(workspace_arg)
        self.em = Emitter(block, arena)
        self.values: dict[SSAValue, Value] = dict(zip(old.args, block.args, strict=False))
        results = {r: block.args[len(in_types) + i] for i, r in enumerate(ret.arguments)}

        # Buffers: a reshape aliases its input, so a buffer lives until the last use
        # of any value that shares it.
        root: dict[SSAValue, SSAValue] = {}
        last_use: dict[SSAValue, Operation] = {}
        for op in old.ops:
            for operand in op.operands:
                last_use[root.get(operand, operand)] = op
            if isinstance(op, ReshapeOp):
                root[op.result] = root.get(op.input, op.input)
        allocated: list[tuple[Value, SSAValue]] = []

        for op in old.ops:
            if op is ret:
                break
            if isinstance(op, arith.ConstantOp):
                assert isinstance(op.value, DenseResourceAttr)
                offset = self.blob.offset(op.value)
                view = memref.ViewOp(
                    blob_arg, self.em.index(offset), [], _memref_of(op.result.type)
                )
                self.em.emit(view)
                self.values[op.result] = view.result
                continue
            if isinstance(op, PatternConv2dOp):
                raise LoweringError(
                    f"layer '{op.layer_name}': run fkw-layout before lower-patdnn-to-vector"
                )
            if not isinstance(op, LAYER_OPS):
                raise LoweringError(f"{op.name} cannot be lowered to vector code")
            result = op.results[0]
            shape = _memref_of(result.type).get_shape()
            if isinstance(op, ReshapeOp):
                view_of = self.em.reinterpret(self.values[op.input], shape)
                if result in results:
                    self.em.emit(memref.CopyOp(view_of, results[result]))
                self.values[result] = view_of
            else:
                if result in results:
                    out = results[result]
                else:
                    out = self.em.alloc(shape)
                    allocated.append((out, result))
                self.values[result] = out
                self.lower_layer(op, out)
            # Free buffers whose last reader was this op.
            for buf, value in list(allocated):
                if last_use.get(value) is op:
                    self.em.dealloc(buf)
                    allocated.remove((buf, value))

        for value in ret.arguments:
            if value not in self.values or isinstance(value.owner, Block):
                raise LoweringError("a function result must be computed by a layer op")
        for buf, _ in allocated:
            self.em.dealloc(buf)
        self.em.emit(func.ReturnOp())
        # The workspace holds every intermediate buffer and scratch copy; its size is
        # known once they all are placed.
        workspace_arg._type = MemRefType(i8, [arena.plan()])  # pyright: ignore[reportPrivateUsage]

        # Inputs, outputs, the blob and the workspace never overlap: tell LLVM, so loads
        # can be hoisted and reused across stores to the output.
        noalias = DictionaryAttr({"llvm.noalias": UnitAttr()})
        return func.FuncOp(
            fn.sym_name.data,
            FunctionType.from_lists([a.type for a in block.args], []),
            Region(block),
            arg_attrs=ArrayAttr([noalias] * len(block.args)),
        )

    def lower_layer(self, op: Operation, out: Value) -> None:
        em, v = self.em, self.width
        if isinstance(op, GlobalAvgPoolOp):
            shape = op.input.type.get_shape()  # type: ignore[union-attr]
            emit_global_avg_pool(em, v, self.values[op.input], out, shape)
        elif isinstance(op, LinearOp):
            n, k = op.input.type.get_shape()  # type: ignore[union-attr]
            m = op.weight.type.get_shape()[0]  # type: ignore[union-attr]
            bias = self.values[op.bias] if op.bias is not None else None
            emit_linear(
                em,
                v,
                self.values[op.input],
                self.values[op.weight],
                bias,
                out,
                (n, k, m),
                op.activation.data,
            )
        elif isinstance(op, AddOp):
            size = int(np.prod(op.result.type.get_shape()))  # type: ignore[union-attr]
            emit_add(em, v, self.values[op.lhs], self.values[op.rhs], out, size, op.activation.data)
        else:
            self.lower_conv(op, out)

    def lower_conv(self, op: Operation, out: Value) -> None:
        """Convolutions and pooling: the register-tiled generator."""
        if isinstance(op, Pool2dOp):
            n, c, h, w = op.input.type.get_shape()  # type: ignore[union-attr]
            _, _, ho, wo = op.result.type.get_shape()  # type: ignore[union-attr]
            spec = ConvSpec(
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
                patterns=(
                    tuple(
                        (r, q)
                        for r in range(op.kernel_values[0])
                        for q in range(op.kernel_values[1])
                    ),
                ),
                activation="none",
                tuning=None,
                input=self.values[op.input],
                output=out,
                bias=None,
                residual=None,
                pool=op.kind.data,
            )
            ConvGenerator(self.em, spec, self.width, self.registers).emit()
            return
        assert isinstance(op, Conv2dOp | FKWConv2dOp)
        in_shape = op.input.type.get_shape()  # type: ignore[union-attr]
        out_shape = op.result.type.get_shape()  # type: ignore[union-attr]
        common = dict(
            layer=op.layer_name,
            batch=in_shape[0],
            cin=in_shape[1],
            height=in_shape[2],
            width=in_shape[3],
            cout=out_shape[1],
            out_h=out_shape[2],
            out_w=out_shape[3],
            stride=op.stride_values,
            padding=op.padding_values,
            activation=op.activation.data,
            tuning=op.tuning,
            input=self.values[op.input],
            output=out,
            bias=self.values[op.bias] if op.bias is not None else None,
            residual=self.values[op.residual] if op.residual is not None else None,
        )
        if isinstance(op, FKWConv2dOp):
            spec = ConvSpec(
                kernel=op.kernel_values,
                groups=1,
                patterns=op.patterns.patterns,
                fkw=(
                    self.values[op.reorder],
                    self.values[op.offset],
                    self.values[op.index],
                    self.values[op.stride],
                    self.values[op.weight],
                ),
                **common,  # type: ignore[arg-type]
            )
        else:
            _, _, kh, kw = op.weight.type.get_shape()  # type: ignore[union-attr]
            spec = ConvSpec(
                kernel=(kh, kw),
                groups=op.group_count,
                patterns=(tuple((r, q) for r in range(kh) for q in range(kw)),),
                dense_weight=self.values[op.weight],
                **common,  # type: ignore[arg-type]
            )
        if reads_in_place(spec.kernel, spec.stride, spec.padding) and spec.out_h > 1:
            # A pointwise convolution: each plane is one row of H*W pixels (no row tails).
            n, plane = spec.batch, spec.out_h * spec.out_w

            def flat(ref: Value | None, channels: int) -> Value | None:
                return None if ref is None else self.em.reinterpret(ref, [n, channels, 1, plane])

            spec.input = flat(spec.input, spec.cin)  # type: ignore[assignment]
            spec.output = flat(spec.output, spec.cout)  # type: ignore[assignment]
            spec.residual = flat(spec.residual, spec.cout)
            spec.height = spec.out_h = 1
            spec.width = spec.out_w = plane
        ConvGenerator(self.em, spec, self.width, self.registers).emit()


@dataclass(frozen=True)
class LowerPatdnnToVectorPass(ModulePass):
    """
    Lowers patdnn layer ops to scf + vector code on memrefs (PatDNN Section 5.3).

    Options: `vector-width` (f32 lanes: 4 for NEON, 8 for AVX2, 16 for AVX-512) and
    `vector-registers` (32 for NEON and AVX-512, 16 for AVX2), which sizes the default
    register tiles; a layer's `tuning` dictionary overrides them.
    """

    name = "lower-patdnn-to-vector"

    vector_width: int = 4
    vector_registers: int = 32

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.vector_width < 1:
            raise LoweringError(f"vector-width must be positive, got {self.vector_width}")
        if self.vector_registers < 8:
            raise LoweringError(f"vector-registers must be at least 8, got {self.vector_registers}")
        functions = [
            fn
            for fn in op.ops
            if isinstance(fn, func.FuncOp)
            and not fn.is_declaration
            and any(isinstance(o, (*LAYER_OPS, PatternConv2dOp)) for o in fn.body.walk())
        ]
        blob = WeightBlob()
        for fn in functions:
            for const in fn.body.walk():
                if isinstance(const, arith.ConstantOp) and isinstance(
                    const.result.type, TensorType
                ):
                    const.value = blob.place(const.value)
        for fn in functions:
            new_fn = FunctionLowering(fn, self.vector_width, blob, self.vector_registers).run()
            op.body.block.insert_op_before(new_fn, fn)
            fn.detach()
            fn.erase(safe_erase=False)
        op.attributes[WEIGHTS_ATTR] = blob.attribute()


def workspace_bytes(module: ModuleOp, entry: str) -> int:
    """The workspace size in bytes of the lowered function `entry` (its last argument)."""
    for fn in module.ops:
        if isinstance(fn, func.FuncOp) and fn.sym_name.data == entry:
            last = fn.function_type.inputs.data[-1]
            assert isinstance(last, MemRefType)
            return int(last.get_shape()[0])
    raise LoweringError(f"no function {entry!r} in the module")


__all__ = [
    "LowerPatdnnToVectorPass",
    "WEIGHTS_ATTR",
    "pack_weight_blob",
    "reads_in_place",
    "workspace_bytes",
]
