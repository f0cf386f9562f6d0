"""The register-tiled convolution generator: pattern (FKW), dense, grouped, depthwise
and pointwise convolutions, and pooling windows (PatDNN Section 5.3-5.4).

A convolution is computed from a scratch copy of its input that is zero padded and,
for stride s, split into s*s phases (`P[c][r%s][q%s][i][j] = Xpad[c][i*s + r%s][j*s + q%s]`),
so that every tap of every output row reads `vector_width` contiguous floats. The copy
is a phase of tasks of its own (ranges of input channels), complete before the tiles'
tasks read it (`tasks.py`), so concurrent tasks never write the same scratch bytes.
Each tile of `rows x cols` output vectors (per
filter, or per group of filters for dense layers) keeps its accumulators in registers
across all kernels; its size comes from `tiling.ConvTiling`:

- `patdnn.fkw_conv2d` loops pattern group by pattern group over the kernels of a
  filter (`pattern_bounds[j][p] .. pattern_bounds[j][p+1]`); the taps of each pattern are compile-time
  constants, so the group's body is specialised code without any per-tap indexing:
  every tap reads the scratch buffer at the kernel's channel base plus a constant.
  Wide layers prefetch the input lines of the kernels a few places ahead.
- `patdnn.conv2d` (dense or grouped) is the same code with one pattern, all Kh x Kw
  taps, and the input channels of the filter's group as the kernels. A depthwise layer
  (one input channel per group) copies channel by channel instead (`depthwise.py`).
- A pointwise layer (see `pointwise.py`) reads its input in place, without a copy.
  Over its flat plane, the few pixels past the last whole vector (`DOT_TAIL_SHARE`)
  are dot products over the input channels rather than a vector of mostly idle lanes.
- Pooling windows are a depthwise "convolution" whose reduction is max or mean.

The products of a kernel are emitted input vector by input vector, each load followed
by every product that reads it; `load-redundancy-elimination` then merges the repeated
loads, which leaves each input vector live for a few instructions only.

The last vector of an output row is stored with a constant mask when the width is
not a multiple of the vector width. Bias, residual and activation are applied in the
epilogue, on the registers, before the one store of each output vector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import product

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import DictionaryAttr, i32

from patdnn.lowering.vector.emitter import Emitter, Value, shape_of
from patdnn.lowering.vector.pointwise import pointwise_chunk, reads_in_place, runs_flat
from patdnn.lowering.vector.tasks import (
    BALANCE_TOLERANCE,
    BALANCE_WORKERS,
    TASKS_PER_PHASE,
    Phases,
    balanced_split,
    decompose,
    is_equal,
    part_bounds,
    part_sizes,
    serial_phases,
    split_count,
    split_excess,
)
from patdnn.lowering.vector.tiling import (
    DEFAULT_TILING,
    FUSED_COPY_MIN_ROWS,
    SLICE_CLAIM_MIN_BYTES,
    ConvTiling,
    TilingOptions,
    group_tile,
    lane_width,
)

LOWEST_F32 = float(np.finfo(np.float32).min)

DOT_TAIL_SHARE = 4
"""A flat pointwise layer computes its last pixels as dot products when they fill at most
1 / DOT_TAIL_SHARE of a vector: a 7 x 7 plane is 3 vectors and 1 pixel on 16 lanes,
whose fourth vector would do 16 lanes of multiply-adds for one."""


UNSCALED_REACH = 64
"""Floats past its base an unscaled load reaches (aarch64 `ldur q`: -256..255 bytes):
the offsets that are no whole vector beyond it need a base of their own
(`ConvGenerator.column_bases`)."""


LINE_FLOATS = 16
"""f32 values in a 64-byte cache line."""


def line_columns(span: int, aligned: bool) -> list[int]:
    """The offsets of one prefetch per cache line of `span` floats from a row's start:
    every 16 floats, and the last one unless rows start on a line (`aligned`; then the
    last float is on the last of those lines)."""
    return sorted({*range(0, span, LINE_FLOATS), *([] if aligned else [span - 1])})


def unscaled_bases(offsets: Sequence[int], width: int) -> dict[int, int] | None:
    """The base (from a tile's origin, in floats) each offset of `offsets` is read from
    with `column-bases=2`, so that every load is one `ldur q` (aarch64): within
    -`UNSCALED_REACH`..`UNSCALED_REACH` - 1 floats of its base (-256..252 bytes) and never a
    whole number of vectors from it, which LLVM would encode as `ldr q` (an unsigned
    offset) and pair into `ldp q`. The bases sit at a column residue (mod `width`) that
    no offset has: 3 for the shifts 0, 1, 2 of a 3-wide kernel. Greedily, each base
    serves the offsets of one window of `2 * UNSCALED_REACH - 2 * width` floats from the
    first one it takes, and lies at most 3 floats past the last of them (inside the
    buffer whenever the loads are). None when every residue occurs."""
    free = sorted(set(range(width)) - {at % width for at in offsets})
    if not free or not offsets:
        return None
    residue = free[-1]
    span = 2 * UNSCALED_REACH - 2 * width
    bases: dict[int, int] = {}
    ordered = sorted(set(offsets))
    start = 0
    while start < len(ordered):
        first = ordered[start]
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] - first <= span:
            end += 1
        last = ordered[end]
        # The smallest base of the residue that reaches `last` (at most 60 floats
        # below it) and lies past `first`: `first` is then at most 63 floats below.
        low = max(first, last - (UNSCALED_REACH - width))
        base = low + (residue - low) % width
        for at in ordered[start : end + 1]:
            bases[at] = base
        start = end + 1
    return bases


PADDED_PLANE_LINES = 64
"""Scratch planes of at least this many cache lines (one way of a 32 KiB L1) get an odd
line stride (`plane_stride`); a smaller plane keeps its size: 512 @14 (16 lines) timed
the same either way."""


def plane_stride(plane: int) -> int:
    """Floats between two channels of a scratch copy of `plane` floats a channel: whole
    cache lines, an odd number of them. The L1 set of a line is its address in lines
    modulo a power of two; with an even stride in lines the same rows of successive
    channels fall into a fraction of the sets (256 @56 on 8 lanes: 232 lines, every
    channel on one of 8 set offsets, and its rows on half the sets), and the kernels of
    a tile evict each other's lines. Timed on 8 lanes, one thread, medians of 9-11
    interleaved rounds: 256 @56 1.05-1.06x, 512 @28 1.02x, 64 @224, 128 @112 and
    512 @14 within 2 %."""
    lines = -(-plane // LINE_FLOATS)
    if lines < PADDED_PLANE_LINES:
        return plane
    return (lines | 1) * LINE_FLOATS


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
    # FKW in groups of this many filters sharing their kernels (`fkw_group.py`).
    filter_group: int = 1
    filter_work: tuple[int, ...] | None = None
    """Multiply-adds per output pixel of each stored filter of an FKW layer (its kept
    kernels' taps), read from its FKW arrays at compile time; None: every filter the
    same (dense layers, pooling, FKW arrays that are not constants)."""

    @property
    def fill(self) -> float:
        """The value of the padding: the identity of the reduction."""
        return LOWEST_F32 if self.pool == "max" else 0.0

    def flattened(self, reinterpret: Callable[[Value, list[int]], Value]) -> ConvSpec:
        """This layer over its flattened planes when it runs flat (a pointwise layer of
        several rows, `pointwise.runs_flat`), else itself: input, output and residual
        seen as `[N][C][1][H*W]`."""
        if not runs_flat(self.kernel, self.stride, self.padding, self.out_h):
            return self
        n, plane = self.batch, self.out_h * self.out_w

        def flat(ref: Value, channels: int) -> Value:
            return reinterpret(ref, [n, channels, 1, plane])

        return replace(
            self,
            input=flat(self.input, self.cin),
            output=flat(self.output, self.cout),
            residual=None if self.residual is None else flat(self.residual, self.cout),
            height=1,
            out_h=1,
            width=plane,
            out_w=plane,
        )


@dataclass
class ConvGenerator:
    """Emits the loop nest of one convolution (see the module docstring)."""

    em: Emitter
    spec: ConvSpec
    width: int
    registers: int = 32
    options: TilingOptions = DEFAULT_TILING
    phases: Phases | None = None
    """Where the layer's tasks go (`tasks.Phases`); None: a loop over them in place."""
    scratch: Value | None = None
    scratch_shape: tuple[int, ...] = ()
    plane_stride: int = 0
    flat: Value | None = None
    """The buffer the taps read (the input read in place, or the scratch copy), seen as
    one dimension: a tap reads `flat[base(channel) + constant]`."""
    batch_index: Value | None = None
    slice_at: tuple[Value, Value] | None = None
    """A task's own scratch slice: its offset in `flat`, and the scratch row it starts
    at (None: one scratch buffer for every task)."""
    tail_slot: Value | None = None
    """The task's slot of `tail_columns` (flat pointwise layers with `dot_pixels`)."""
    tail_columns: Value | None = None
    """`[task][pixel][channel]`: the input of the last `dot_pixels` pixels, contiguous
    over the channels, gathered by each task (`gather_tail`)."""
    window_bound: Value | None = None
    """While a pattern tile runs (`column_bases` 2): the bound its window origins are
    clamped to, the buffer's last index as a value LLVM cannot see as a constant."""
    claims: Value | None = None
    """While a layer whose tasks claim their scratch slices runs (`claims_slices`): one
    i32 flag a slice, set while a task holds it."""
    chunk: tuple[Value, Value, Value, Value] | None = None
    """While a tile runs over one chunk of the input channels (`channel_chunk`): its
    first and end channel, and whether it is the first and the last chunk (i1)."""
    tiling: ConvTiling = field(init=False)
    dot_pixels: int = field(init=False)
    channel_chunk: int = field(init=False)
    reads_input_directly: bool = field(init=False)
    streams_rows: bool = field(init=False)

    def __post_init__(self) -> None:
        s = self.spec
        self.reads_input_directly = s.pool is None and reads_in_place(s.kernel, s.stride, s.padding)
        # Stride-1 layers copy their input row by row (input row or padding row);
        # strided layers gather it into stride phases.
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
            options=self.options,
            width=self.width,
            out_vectors=self.out_vectors,
            tail=self.tail_lanes,
        )
        if s.filter_group > 1:
            rows, cols = group_tile(self.registers, s.filter_group, self.out_vectors)
            default = replace(default, filters=s.filter_group, rows=rows, cols=cols)
        self.tiling = default.tuned(
            s.tuning, dense=dense, filters_per_group=filters_per_group, groups=s.groups
        ).clamped(s.out_h, self.out_vectors)
        self.dot_pixels = (
            self.tail_lanes
            if dense
            and self.reads_input_directly
            and s.groups == 1
            and s.out_h == 1
            and self.tail_lanes <= self.width // DOT_TAIL_SHARE
            and s.cin % self.width == 0
            else 0
        )
        """A flat pointwise layer whose last vector would hold this few pixels computes
        them as dot products over the input channels instead (`emit_tail_dots`)."""
        self.channel_chunk = (
            pointwise_chunk(s.cin, self.tiling.cols * self.width)
            if dense and self.reads_input_directly and s.groups == 1 and s.out_h == 1
            else s.cin
        )
        """A flat pointwise layer whose column tile over every input channel overflows
        the L1 cache runs its tiles chunk of input channels by chunk (`pointwise_chunk`)."""

    # -- the padded, phase-split input ------------------------------------------------

    def allocate_scratch(
        self, slices: int = 1, slice_rows: int | None = None, channels: int | None = None
    ) -> None:
        """P[c][a][b][i][j] = Xpad[i*sh + a][j*sw + b]: the padded input split into the
        stride phases (a, b) that some tap reads; tap (r, q) of output (i, j) reads
        P[c][r % sh][q % sw][i + r // sh][j + q // sw].

        A row holds the columns that the output's valid lanes read (`out_w` and the
        halo), padded to whole vectors. The lanes of the last vector past `out_w` read
        on into the next row (or past the buffer's end, into one vector of slack): values
        that no stored lane uses. Rows no longer than that keep a tile's rows on fewer
        lines: 16 floats for 14 outputs (@14, one line a row instead of two), 32 for 28
        (two instead of three). With `line_rows`, a pattern layer that prefetches kernels
        ahead pads its rows to whole lines, so that a tile whose column step is whole lines
        prefetches each line once (`input_span`). A buffer holds `channels` planes (default: every input
        channel); with `slices`, one such buffer of `slice_rows` rows per task, one after
        the other (`scratch_shape` is the shape of one)."""
        s, v = self.spec, self.width
        sh, sw = s.stride
        kh, kw = s.kernel
        taps = {tap for pattern in s.patterns for tap in pattern}
        self.row_phases = sorted({r % sh for r, _ in taps})
        self.col_phases = sorted({q % sw for _, q in taps})
        halo = (kw - 1) // sw
        rows = s.out_h + (kh - 1) // sh if slice_rows is None else slice_rows
        cols = -(-(s.out_w + halo) // v) * v
        if self.options.line_rows and self.tiling.prefetch > 0 and s.fkw is not None:
            cols = -(-cols // LINE_FLOATS) * LINE_FLOATS
        planes = s.cin if channels is None else channels
        self.scratch_shape = (planes, len(self.row_phases), len(self.col_phases), rows, cols)
        plane = int(np.prod(self.scratch_shape[1:]))
        self.plane_stride = plane_stride(plane)
        size = slices * planes * self.plane_stride
        self.flat = self.em.alloc([size + v])
        self.scratch = self.em.reinterpret(
            self.flat, [slices * planes, *self.scratch_shape[1:]], self.plane_stride
        )

    # -- addressing: a tile reads `flat[base(channel) + constant]` ----------------------

    @property
    def channel_stride(self) -> int:
        """Elements between two channels of the buffer the taps read."""
        if self.reads_input_directly:
            return self.spec.height * self.spec.width
        return self.plane_stride

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

    def input_uses(
        self, pattern: int, rows: int, vectors: int
    ) -> list[tuple[int, list[tuple[int, int, int]]]]:
        """The input vectors a kernel of `pattern` reads in a tile of `rows x vectors`
        outputs, in address order (offsets from the tile's base), each with the
        (tap, row, vector) products it feeds."""
        by_offset: dict[int, list[tuple[int, int, int]]] = {}
        for t, (r, q) in enumerate(self.spec.patterns[pattern]):
            for i in range(rows):
                for u in range(vectors):
                    by_offset.setdefault(self.tap_offset(r, q, i, u), []).append((t, i, u))
        return sorted(by_offset.items())

    def tile_origin(self, oh0: Value, col0: Value) -> Value:
        """The part of a tile's base that does not depend on the channel (in a task's
        own scratch slice, `slice_at`, when it has one)."""
        em = self.em
        if self.slice_at is not None:
            slice_base, row0 = self.slice_at
            oh0 = em.emit(arith.SubiOp(oh0, row0)).results[0]
            origin = em.add(em.add(em.mul(oh0, self.row_stride), col0), slice_base)
            return origin
        origin = em.add(em.mul(oh0, self.row_stride), col0)
        if self.reads_input_directly:
            assert self.batch_index is not None
            image = em.mul(self.batch_index, self.spec.cin * self.channel_stride)
            origin = em.add(origin, image)
        return origin

    def copy_rows(
        self,
        n: Value,
        first: Value | int,
        count: int | Value,
        channels: tuple[Value, Value] | None = None,
        into: tuple[Value, Value] | None = None,
    ) -> None:
        """Scratch rows `first .. first+count` of a stride-1 layer from image `n`, for the
        input channels in `channels` (default: all): input row `row - ph` between its left
        and right padding, or a padding row. Only the padding columns are filled besides
        the copy, not the whole row. `into` = (first channel, first row) of a task's
        scratch slice: row `row` goes to its row `row - first row`."""
        em, s, v = self.em, self.spec, self.width
        scratch = self.scratch
        assert scratch is not None
        cin, _, _, _, cols = self.scratch_shape
        c_lo, c_hi = channels or (em.index(0), em.index(cin))

        def at(c: Value, row: Value) -> tuple[Value, Value]:
            """The scratch channel and row of input channel `c`, scratch row `row`."""
            if into is None:
                return c, row
            c0, row0 = into
            return em.add(c, c0), em.emit(arith.SubiOp(row, row0)).results[0]

        ph, pw = s.padding
        fill = em.splat(s.fill, v)
        zero = em.index(0)
        edge = [*range(0, pw, v), *range((pw + s.width) // v * v, cols, v)]

        def copy(row: Value) -> None:
            with em.loop(c_lo, c_hi) as c:
                sc, sr = at(c.iv, row)
                for m in edge:
                    em.vstore(fill, scratch, [sc, zero, zero, sr, em.index(m)])
                self.copy_input_row(n, c.iv, em.add(row, -ph), sc, sr)

        def pad(row: Value) -> None:
            with em.loop(c_lo, c_hi) as c, em.loop(0, cols, v) as j:
                sc, sr = at(c.iv, row)
                em.vstore(fill, scratch, [sc, zero, zero, sr, j.iv])

        if isinstance(first, int) and isinstance(count, int):
            for row in range(first, first + count):
                (copy if ph <= row < ph + s.height else pad)(em.index(row))
            return
        first = em.index(first) if isinstance(first, int) else first
        with em.loop(first, em.add(first, count)) as i:
            with em.if_else(em.in_range(i.iv, ph, ph + s.height)) as (inside, outside):
                with em.at(inside):
                    copy(i.iv)
                with em.at(outside):
                    pad(i.iv)

    def copy_input_row(self, n: Value, c: Value, ih: Value, sc: Value, sr: Value) -> None:
        """Input row `ih` of channel `c` of image `n` into scratch row `sr` of scratch
        channel `sc` (stride 1: one phase), between its padding columns: whole vectors,
        the last one masked to the row's end."""
        em, s, v = self.em, self.spec, self.width
        assert self.scratch is not None
        zero, pw = em.index(0), s.padding[1]
        for m in range(0, s.width, v):
            src = [n, c, ih, em.index(m)]
            dst = [sc, zero, zero, sr, em.index(pw + m)]
            if s.width - m >= v:
                em.vstore(em.vload(s.input, src, v), self.scratch, dst)
            else:
                value = em.vload_masked(s.input, src, s.width - m, v)
                em.vstore_masked(value, self.scratch, dst, s.width - m)

    def gather_scratch(self, n: Value, channels: tuple[Value, Value] | None = None) -> None:
        """Strided layers: the padding everywhere, then each phase row gathered from its
        input row, for the input channels in `channels` (default: all). For a column
        stride of 2, a vector of the phase is the even (or odd) lanes of two contiguous
        input vectors (`column_phases`: aligned loads, masked at the right edge, and one or two
        shuffles); for other
        strides the chunks that straddle the padding go lane by lane."""
        em, s, v = self.em, self.spec, self.width
        assert self.scratch is not None
        cin, na, nb, rows, cols = self.scratch_shape
        (sh, sw), (ph, pw) = s.stride, s.padding
        c_lo, c_hi = channels or (em.index(0), em.index(cin))
        fill = em.splat(s.fill, v)
        with em.loop(c_lo, c_hi) as c, em.loop(0, na) as ai, em.loop(0, nb) as bi:
            with em.loop(0, rows) as i, em.loop(0, cols, v) as j:
                em.vstore(fill, self.scratch, [c.iv, ai.iv, bi.iv, i.iv, j.iv])
        for ai, a in enumerate(self.row_phases):
            # Phase rows i whose input row i*sh + a - ph exists.
            first = max(0, -(-(ph - a) // sh))
            last = min(rows, (s.height - 1 + ph - a) // sh + 1)
            if last <= first:
                continue
            if sw == 2:
                with em.loop(c_lo, c_hi) as c, em.loop(first, last) as i:
                    ih = em.add(em.mul(i.iv, sh), a - ph)
                    self.copy_phase_row(n, c.iv, ih, c.iv, ai, i.iv)
                continue
            for bi, b in enumerate(self.col_phases):
                offset = b - pw  # phase column j reads input column j*sw + offset
                with em.loop(c_lo, c_hi) as c, em.loop(first, last) as i:
                    ih = em.add(em.mul(i.iv, sh), a - ph)
                    for m in range(0, cols, v):
                        sources = [(m + lane) * sw + offset for lane in range(v)]
                        inside = [0 <= x < s.width for x in sources]
                        if not any(inside):
                            continue
                        dst = [c.iv, em.index(ai), em.index(bi), i.iv]
                        if sw == 1 and all(inside):
                            value = em.vload(s.input, [n, c.iv, ih, em.index(sources[0])], v)
                            em.vstore(value, self.scratch, [*dst, em.index(m)])
                            continue
                        for lane, x in enumerate(sources):
                            if inside[lane]:
                                pixel = em.load(s.input, [n, c.iv, ih, em.index(x)])
                                idx = [*dst, em.index(m + lane)]
                                em.emit(memref.StoreOp.get(pixel, self.scratch, idx))

    def copy_phase_row(
        self, n: Value, c: Value, ih: Value, slot: Value, phase: int, row: Value
    ) -> None:
        """Input row `ih` of channel `c` of image `n`, column stride 2, into row `row` of
        row phase `phase` of scratch channel `slot`: every column phase whole, padding
        included (`column_phases`)."""
        em, v = self.em, self.width
        assert self.scratch is not None
        cols = self.scratch_shape[-1]
        offsets = [b - self.spec.padding[1] for b in self.col_phases]
        phases = self.column_phases(n, c, ih, offsets, cols // v)
        for bi, offset in enumerate(offsets):
            for m, value in enumerate(phases[offset]):
                dst = [slot, em.index(phase), em.index(bi), row, em.index(m * v)]
                em.vstore(value, self.scratch, dst)

    def column_phases(
        self, n: Value, c: Value, ih: Value, offsets: Sequence[int], vectors: int
    ) -> dict[int, list[Value]]:
        """For a column stride of 2, the vectors `m < vectors` of input row `ih` read at
        each offset `o` of `offsets`: lane `l` of vector `m` is `X[n][c][ih][2(m*v + l) +
        o]`, the padding value where that column is outside the row. Every input vector
        of the row is loaded once, at its aligned column (masked at the row's right end),
        each pair of them is split into its even and its odd lanes (one shuffle each),
        and an offset other than 0 or 1 takes its vectors out of two neighbouring ones of
        those by one more shuffle. Reading the row at the odd offsets
        instead, each vector of each offset from two loads of its own, costs two loads
        that cross cache lines for one store (MobileNet-V2's 3x3/2 depthwise layer 96
        @112: 59 % of its time in that copy)."""
        em, s, v = self.em, self.spec, self.width
        fill = em.splat(s.fill, v)
        loaded: dict[int, Value] = {}
        streams: dict[tuple[int, int], Value] = {}

        def part(at: int) -> Value:
            """Input columns `at .. at + v`."""
            if at not in loaded:
                active = min(v, s.width - at)
                src = [n, c, ih, em.index(at)]
                loaded[at] = (
                    fill if active <= 0 else em.vload_masked(s.input, src, active, v, s.fill)
                )
            return loaded[at]

        def stream(parity: int, k: int) -> Value:
            """Lane `l`: input column `2 * (k * v + l) + parity`."""
            if (parity, k) not in streams:
                inside = k >= 0 and 2 * k * v < s.width
                streams[parity, k] = (
                    em.even_lanes(part(2 * k * v), part(2 * k * v + v), parity) if inside else fill
                )
            return streams[parity, k]

        phases: dict[int, list[Value]] = {}
        for o in offsets:
            parity, lanes = o % 2, o // 2  # column 2 * (m * v + l + lanes) + parity
            ahead, shift = divmod(lanes, v)
            phases[o] = [
                stream(parity, m + ahead)
                if shift == 0
                else em.shuffle(
                    stream(parity, m + ahead),
                    stream(parity, m + ahead + 1),
                    range(shift, shift + v),
                )
                for m in range(vectors)
            ]
        return phases

    # -- tiles ------------------------------------------------------------------------

    def task_split(self) -> tuple[int, int, int]:
        """(row blocks, row parts, filter parts) of the tiles' phase: output-row-block
        ranges x filter-tile classes, at most `TASKS_PER_PHASE` tasks, chosen by their
        work (`tasks.balanced_split`): as many row ranges as there are row blocks (up to
        `TASKS_PER_PHASE`) and the rest in filter classes, unless another split's greedy
        schedule on 2 and 4 threads is closer to the ideal."""
        s, t = self.spec, self.tiling
        main_rows, tail_rows = divmod(s.out_h, t.rows)
        row_blocks = main_rows + (1 if tail_rows else 0)
        block_rows = [t.rows] * main_rows + ([tail_rows] if tail_rows else [])
        tiles = self.tile_work()
        images = s.batch if self.reads_input_directly else 1

        def work(split: tuple[int, ...]) -> list[float]:
            row_parts, filter_parts = split
            rows, start = [], 0
            for blocks in part_sizes(row_blocks, row_parts):
                rows.append(sum(block_rows[start : start + blocks]))
                start += blocks
            classes = [sum(tiles[c::filter_parts]) for c in range(filter_parts)]
            return [r * c for _ in range(images) for r in rows for c in classes]

        default_rows = split_count(row_blocks)
        default = (default_rows, split_count(len(tiles), max(1, TASKS_PER_PHASE // default_rows)))
        others = [
            (r, f)
            for f in range(1, min(len(tiles), TASKS_PER_PHASE) + 1)
            for r in range(min(row_blocks, TASKS_PER_PHASE // f), 0, -1)
            if (r, f) != default
        ]
        if split_excess(work(default), BALANCE_WORKERS[:1]) <= 1 + BALANCE_TOLERANCE:
            # More filter classes than 2 threads need cost more than they balance: each
            # class re-reads the input rows. 256 @56 (AVX2), thread CPU time of its tasks
            # in interleaved rounds: 14 x 1 tasks 9.56 ms, 2-thread makespan 4.75 ms,
            # 4-thread 1.13x over the ideal; 8 x 2 tasks 9.90 ms, 4.93 ms, 1.02x.
            others = [c for c in others if c[1] <= default[1]]

        row_parts, filter_parts = balanced_split([default, *others], work)
        return row_blocks, row_parts, filter_parts

    def tile_work(self) -> list[int]:
        """The work of each filter tile (`emit_filters`: the main tiles, then the spare
        one) per output pixel: its filters' multiply-adds, and one per filter for the
        epilogue (so that empty filters count too)."""
        s, t = self.spec, self.tiling
        main, spare = divmod(s.cout, t.filters)
        if s.filter_work is not None:
            per_filter = list(s.filter_work)
        elif s.pool is not None:
            per_filter = [len(s.patterns[0])] * s.cout
        else:
            per_filter = [len(s.patterns[0]) * (s.cin // s.groups)] * s.cout
        starts = [j * t.filters for j in range(main + (1 if spare else 0))]
        return [
            sum(per_filter[j : j + t.filters]) + len(per_filter[j : j + t.filters]) for j in starts
        ]

    def copies_in_tasks(self) -> bool:
        """Whether every task of the tiles copies the input rows it reads into a scratch
        slice of its own (a stride-1 layer whose tiles split rows only, `fused_copy`,
        with enough rows per task, `FUSED_COPY_MIN_ROWS`): no copy phase and no barrier,
        the copy stays in the cache of the core that reads it, and each task copies the
        `kh - 1` halo rows of its neighbour again."""
        row_blocks, row_parts, filter_parts = self.task_split()
        fewest_rows = row_blocks // row_parts * self.tiling.rows
        return (
            self.streams_rows
            and self.options.fused_copy
            and filter_parts == 1
            and fewest_rows >= FUSED_COPY_MIN_ROWS * (self.spec.kernel[0] - 1)
        )

    def emit(self) -> None:
        """The layer as tasks (see `tasks.py`): when it reads a padded copy, a first phase
        fills it (tasks: input-channel ranges) and the tiles only read it, or, when
        `copies_in_tasks`, each tile task fills its own slice first; the tiles' phase
        splits output-row-block ranges x filter-tile classes. The scratch buffer holds
        one image, so with a copy every image has its phases; without one, the images
        are one more factor of the tasks. Row ranges are contiguous; filter tiles are
        dealt round robin (tile `f` to class `f % classes`), so after filter kernel
        reorder, which sorts filters by their work, every class gets a share of the
        heavy and of the light filters."""
        em, s = self.em, self.spec
        phases = self.phases or serial_phases(em)
        if self.reads_input_directly:
            self.flat = em.reinterpret(s.input, [s.batch * s.cin * s.height * s.width])
            self.emit_tiles(phases, None)
        elif self.copies_in_tasks():
            row_blocks, row_parts, _ = self.task_split()
            most = -(-row_blocks // row_parts)
            rows = min(most * self.tiling.rows, s.out_h) + s.kernel[0] - 1
            self.allocate_scratch(row_parts, rows)
            if self.claims_slices(row_parts):
                self.claims = em.alloc([row_parts], i32)
                with phases.open(1):
                    with em.loop(0, row_parts) as slot:
                        em.emit(memref.StoreOp.get(em.const_i32(0), self.claims, [slot.iv]))
            for image in range(s.batch):
                self.emit_tiles(phases, em.index(image), copy=True)
            if self.claims is not None:
                em.dealloc(self.claims)
                self.claims = None
        else:
            self.allocate_scratch()
            parts = split_count(s.cin)
            for image in range(s.batch):
                n = em.index(image)
                with phases.open(parts) as part:
                    channels = part_bounds(em, part, s.cin, parts)
                    if self.streams_rows:
                        self.copy_rows(n, em.index(0), self.scratch_shape[3], channels)
                    else:
                        self.gather_scratch(n, channels)
                self.emit_tiles(phases, n)
        if self.scratch is not None:
            assert self.flat is not None
            em.dealloc(self.flat)

    def emit_tiles(self, phases: Phases, image: Value | None, copy: bool = False) -> None:
        """The tiles' phase of image `image` (None: of every image, as tasks); with
        `copy`, each task first copies its input rows into its scratch slice."""
        em, s, t = self.em, self.spec, self.tiling
        main_rows, tail_rows = divmod(s.out_h, t.rows)
        row_blocks, row_parts, filter_parts = self.task_split()
        images = s.batch if image is None else 1
        tasks = images * row_parts * filter_parts
        if self.dot_pixels:
            self.tail_columns = em.alloc((tasks, self.dot_pixels, s.cin))
        with phases.open(tasks) as task:
            n, part, filter_class = decompose(em, task, [images, row_parts, filter_parts])
            n = n if image is None else image
            self.batch_index = n
            if self.dot_pixels:
                self.gather_tail(n, task)
            first, last = part_bounds(em, part, row_blocks, row_parts)
            # Only a layer whose tasks copy their rows (`copy`) claims its slices.
            slot = part if self.claims is None else self.claim_slice(row_parts)
            if copy:
                self.copy_slice(n, slot, first, last)
            if main_rows:
                end = em.minui(last, main_rows)
                with em.loop(first, end) as rb:
                    oh0 = em.mul(rb.iv, t.rows)
                    self.emit_filters(n, oh0, t.rows, filter_class, filter_parts)
            if tail_rows:
                tail = em.index(main_rows * t.rows)

                def tail_block() -> None:
                    self.emit_filters(n, tail, tail_rows, filter_class, filter_parts)

                if row_parts == 1:
                    tail_block()
                else:
                    with em.if_else(is_equal(em, part, row_parts - 1)) as (then, _):
                        with em.at(then):
                            tail_block()
            if self.claims is not None:
                em.atomic("assign", self.claims, [slot], em.const_i32(0))  # released
            self.slice_at = None
        if self.tail_columns is not None:
            em.dealloc(self.tail_columns)

    def claims_slices(self, slices: int) -> bool:
        """Whether the tasks that copy their rows into `slices` scratch slices claim the
        first free one (`TilingOptions.slice_claims`)."""
        mode = self.options.slice_claims
        nbytes = slices * self.spec.cin * self.plane_stride * 4
        return slices > 1 and (mode == 2 or (mode == 1 and nbytes >= SLICE_CLAIM_MIN_BYTES))

    def claim_slice(self, slices: int) -> Value:
        """The first of the `slices` scratch slices that no running task holds, taken:
        each claim flag is set with an atomic `or` of 1 until one was clear, then of 0
        (which leaves the others as they are). A pool runs at most `slices` tasks of the
        phase at once, so one is always free; which one does not change the output
        (the task copies its rows into it before it reads it). The task clears it at
        its end; a phase of one task clears every flag before the tiles' phase."""
        em, claims = self.em, self.claims
        assert claims is not None
        none = em.index(slices)
        with em.loop(0, slices, 1, [none]) as slot:
            (found,) = slot.carried
            searching = is_equal(em, found, slices)
            want = em.select(searching, em.const_i32(1), em.const_i32(0))
            held = em.atomic("ori", claims, [slot.iv], want)
            clear = em.emit(arith.CmpiOp(held, em.const_i32(0), "eq")).results[0]
            taken = em.emit(arith.AndIOp(searching, clear)).results[0]
            slot.yield_([em.select(taken, slot.iv, found)])
        return slot.results[0]

    def copy_slice(self, n: Value, part: Value, first: Value, last: Value) -> None:
        """The scratch slice `part` (the task's, or the one it claimed): the scratch rows
        that output row blocks `first .. last` read, and `slice_at` for their tiles."""
        em, s, t = self.em, self.spec, self.tiling
        row0 = em.mul(first, t.rows)
        rows_end = em.minui(em.mul(last, t.rows), s.out_h)
        end = em.add(rows_end, s.kernel[0] - 1)
        count = em.emit(arith.SubiOp(end, row0)).results[0]
        self.copy_rows(n, row0, count, into=(em.mul(part, s.cin), row0))
        self.slice_at = (em.mul(part, s.cin * self.channel_stride), row0)

    def gather_tail(self, n: Value, slot: Value) -> None:
        """The input of the last `dot_pixels` pixels of image `n`, channel after channel,
        into the task's slot of `tail_columns`."""
        em, s = self.em, self.spec
        assert self.tail_columns is not None
        self.tail_slot = slot
        zero, first = em.index(0), self.full_vectors * self.width
        with em.loop(0, s.cin) as c:
            for p in range(self.dot_pixels):
                pixel = em.load(s.input, [n, c.iv, zero, em.index(first + p)])
                at = [slot, em.index(p), c.iv]
                em.emit(memref.StoreOp.get(pixel, self.tail_columns, at))

    def emit_tail_dots(self, n: Value, channels: Sequence[Value]) -> None:
        """The last `dot_pixels` pixels of the filters `channels`: one dot product each of
        the filter's weights and the gathered input, `v` channels a multiply-add, all of
        them in one loop over the channels; then the epilogue of each pixel."""
        em, s, v = self.em, self.spec, self.width
        assert s.dense_weight is not None and self.tail_columns is not None
        assert self.tail_slot is not None
        weights = em.reinterpret(s.dense_weight, [s.cout, s.cin])
        pixels = self.dot_pixels
        zero = em.splat(0.0, v)
        with em.loop(0, s.cin, v, [zero] * (len(channels) * pixels)) as c:
            xs = [
                em.vload(self.tail_columns, [self.tail_slot, em.index(p), c.iv], v)
                for p in range(pixels)
            ]
            out = list(c.carried)
            for f, co in enumerate(channels):
                w = em.vload(weights, [co, c.iv], v)
                for p in range(pixels):
                    out[f * pixels + p] = em.fma(w, xs[p], out[f * pixels + p])
            c.yield_(out)
        first = self.full_vectors * self.width
        for f, co in enumerate(channels):
            for p in range(pixels):
                total = em.reduce_add(c.results[f * pixels + p])
                if s.bias is not None:
                    total = em.addf(total, em.load(s.bias, [co]))
                value = em.broadcast(total, v)
                self.store_tile(n, [co], em.index(0), em.index(first + p), 1, [1], [value])

    def kernel_ahead(self, index: Value, k: Value, distance: int) -> Value:
        """The kernel `distance` places after kernel `k`, clamped to the last one."""
        (nnz,) = shape_of(index)
        em = self.em
        return em.minui(em.add(k, distance), nnz - 1)

    def input_span(self, lanes: Sequence[int]) -> tuple[int, list[int]]:
        """The input rows a tile's kernel reads beyond its output rows, and the column
        offsets (from a row's start) of one prefetch per 64-byte line that the tile's
        valid lanes (`lanes` a vector) and their halo read (`line_columns`). Rows start on
        a line when the buffers' row and channel strides and the column step of the tiles
        (`cols` vectors) are whole lines: with 8 lanes, a tile of an even number of vectors
        (VGG-16 @28 and @14 on AVX2: a third and a half of the prefetches were a second
        one into the row's last line)."""
        s, v = self.spec, self.width
        sh, sw = s.stride
        halo_rows = max(r for pattern in s.patterns for r, _ in pattern) // sh
        last = (len(lanes) - 1) * v + lanes[-1]
        span = last + max(q for pattern in s.patterns for _, q in pattern) // sw
        step = self.tiling.cols * v
        aligned = all(x % LINE_FLOATS == 0 for x in (step, self.row_stride, self.channel_stride))
        return halo_rows, line_columns(span, aligned)

    def prefetch_kernel(
        self, index: Value, k: Value, origin: Value, rows: int, lanes: Sequence[int]
    ) -> None:
        """Prefetches the input lines of the kernel `tiling.prefetch` places ahead: the
        channels of an FKW filter jump across the input, which the hardware cannot
        predict."""
        em = self.em
        distance = self.tiling.prefetch
        if self.reads_input_directly or distance <= 0:
            return
        assert self.flat is not None
        ahead = self.kernel_ahead(index, k, distance)
        base = em.add(em.mul(em.load_index(index, [ahead]), self.channel_stride), origin)
        halo_rows, columns = self.input_span(lanes)
        for i in range(rows + halo_rows):
            for m in columns:
                em.prefetch(self.flat, [em.add(base, i * self.row_stride + m)])

    def prefetch_next_rows(
        self, j: Value, oh0: Value, col0: Value, rows: int, lanes: Sequence[int]
    ) -> None:
        """Prefetches into the L2 cache the input rows that the next row block reads and
        this one does not, under this column tile, of channel `j mod cin`: each filter
        tile one channel, so the filters of a column tile bring the next block's rows of
        (up to) every channel. Only pattern layers that read a stride-1 copy and do not
        prefetch kernels ahead (`tiling.prefetch`): the rows of a row block start in
        every channel's plane at once, more streams than the hardware prefetchers
        follow, so they would otherwise come from L3 or memory at their first kernel."""
        em, s = self.em, self.spec
        if (
            not self.options.row_prefetch
            or s.fkw is None
            or not self.streams_rows
            or self.tiling.prefetch > 0
        ):
            return
        assert self.flat is not None
        halo_rows, columns = self.input_span(lanes)
        channel = em.emit(arith.RemUIOp(j, em.index(s.cin))).results[0]
        # The rows below this block's, in the task's own slice when it copies its rows.
        below = em.add(self.tile_origin(oh0, col0), (rows + halo_rows) * self.row_stride)
        base = em.add(em.mul(channel, self.channel_stride), below)
        (size,) = shape_of(self.flat)
        last = em.index(size - 1)
        for i in range(rows):
            for m in columns:
                at = em.add(base, i * self.row_stride + m)
                at = em.minui(at, last)  # inside the buffer
                em.prefetch(self.flat, [at], locality=2)

    def prefetch_streams(self, index: Value, weight: Value, k: Value) -> None:
        """Prefetches the FKW index and weights of the kernel `stream_prefetch` places
        ahead, non-temporally: they are read once per row block and must not evict the
        input rows from the caches."""
        em, distance = self.em, self.options.stream_prefetch
        nnz, taps = shape_of(weight)
        if distance <= 0 or nnz * taps * 4 < self.options.stream_prefetch_min_bytes:
            return
        ahead = self.kernel_ahead(index, k, distance)
        em.prefetch(weight, [ahead, em.index(0)], locality=0)
        em.prefetch(index, [ahead], locality=0)

    def kernel_weights(self, weight: Value, k: Value, taps: int, first: int = 0) -> list[Value]:
        """The weights of FKW kernel `k`, each splat over a vector. With 4-lane vectors
        (NEON) the kernel's taps are one vector load and each splat is a lane, which the
        by-element `fmla` reads directly: one load per kernel instead of one per tap.
        Wider vectors broadcast each weight from memory (x86 has no by-element FMA, and
        its broadcast load costs no shuffle). `first`: the column of the first tap (a
        filter of a group layout, `fkw_group`)."""
        em, v = self.em, self.width
        if taps == v == 4:
            row = em.vload(weight, [k, em.index(first)], v)
            return [em.splat_lane(row, t) for t in range(taps)]
        return [em.broadcast(em.load(weight, [k, em.index(first + t)]), v) for t in range(taps)]

    def column_bases(
        self, channel: Value, origin: Value, offsets: Sequence[int]
    ) -> Callable[[int], tuple[Value, int]]:
        """The base and offset each input vector of a tile is read at (`at` from the base
        of `channel` and the tile's `origin`). With `column_bases` 1, an offset `at` that is
        not a whole number of vectors reads from a base of its own, the origin shifted by
        `at % width`, at `at - at % width`, so that every tap's immediate offset is a
        multiple of the vector (a 16-byte `ldr q` offset) whatever its column shift. The
        shifted origin is clamped inside the buffer (`minui`, which it always is): LLVM
        cannot fold the clamp into the constant offsets, which would bring back one
        address `add` per load; the clamp is the same for every kernel, so LLVM hoists it
        out of the kernel loop. A shift whose taps (`offsets`, those the tile reads) all
        lie within `UNSCALED_REACH` of the base keeps the tile's base: `ldur q` reaches
        them, one micro-op each, where a rebased pair is an `ldp` (VGG-16 512 @14 in
        filter groups of 4 on llvm-mca, neoverse-n1: 39 cycles an iteration; 44 rebased).
        With `column_bases` 2, the bases of `unscaled_bases` instead, each window's origin
        clamped out of the kernel loop against `window_bound` (a pattern tile's) or the
        buffer's last index. Against the constant, LLVM moves a window's shift out of the
        clamp and back into the offsets (VGG-16 on llvm-mca, neoverse-n1, cycles an
        iteration, constant / `window_bound`: 256 @56 77 / 68, 512 @28 118 / 70, 512 @14
        102 / 67; clamping each window's address in the kernel loop instead: 72, 72, 68,
        and 64 @224 119 with 37 spills)."""
        em, v = self.em, self.width
        plane = em.mul(channel, self.channel_stride)
        base = em.add(plane, origin)
        far = {at % v for at in offsets if at >= UNSCALED_REACH} - {0}
        if (
            not self.options.column_bases
            or self.reads_input_directly
            or self.row_stride % v
            or (not far and self.options.column_bases < 2)
        ):
            return lambda at: (base, at)
        assert self.flat is not None
        (size,) = shape_of(self.flat)
        if self.options.column_bases >= 2:
            windows = unscaled_bases(offsets, v)
            if windows is not None:
                moved: dict[int, Value] = {}
                bound = self.window_bound or em.index(size - 1)

                def windowed(at: int) -> tuple[Value, int]:
                    b = windows[at]
                    if b not in moved:
                        shifted = em.minui(em.add(origin, b), bound)
                        moved[b] = em.add(plane, shifted)
                    return moved[b], at - b

                return windowed
            if not far:
                return lambda at: (base, at)
        bases: dict[int, Value] = {0: base}

        def shifted(at: int) -> tuple[Value, int]:
            shift = at % v
            if shift not in far:
                return base, at
            if shift not in bases:
                moved = em.minui(em.add(origin, shift), size - 1)
                bases[shift] = em.add(em.mul(channel, self.channel_stride), moved)
            return bases[shift], at - shift

        return shifted

    def opaque_last(self, loaded: Value) -> Value | None:
        """The last index of `flat` as `max(last, loaded)` (`loaded` read from memory, of a
        value LLVM cannot bound), for `column_bases` 2: LLVM rewrites a clamp of
        `origin + b` against a constant as a clamp of `origin` plus `b`, and folds `b`
        back into the loads' offsets. The clamp never binds, so neither does the max."""
        if self.options.column_bases < 2 or self.flat is None:
            return None
        (size,) = shape_of(self.flat)
        return self.em.maxui(loaded, size - 1)

    def lane_width(self, active: int) -> int:
        """The lanes of the vector that computes `active` output columns of a tile's row:
        the target's, or half of them for a last vector of at most half a vector of
        columns (`tiling.lane_width`, `TilingOptions.narrow_tail`)."""
        return lane_width(self.options, self.width, active, self.tiling.filters)

    def narrowed(self, value: Value, active: int) -> Value:
        """`value`, a vector of the target's width, cut to `lane_width(active)` lanes."""
        width = self.lane_width(active)
        return value if width == self.width else self.em.low_lanes(value, width)

    def narrowed_taps(
        self, weights: Sequence[Value], lanes: Sequence[int]
    ) -> dict[tuple[int, int], Value]:
        """The splat weights of a tile's taps at each vector width its rows use: entry
        `(tap, active)` is `weights[tap]` `narrowed` for a vector of `active` columns."""
        return {(t, a): self.narrowed(w, a) for t, w in enumerate(weights) for a in set(lanes)}

    def reduce(self, acc: Value, x: Value) -> Value:
        """One step of a pooling window's reduction: max, or the sum of an average."""
        return self.em.maxf(acc, x) if self.spec.pool == "max" else self.em.addf(acc, x)

    def tile_accumulators(self, init: Sequence[Value], lanes: Sequence[int]) -> list[Value]:
        """The accumulators `init` of a tile whose rows hold the vectors `lanes`
        (`acc[k]` is vector `k % len(lanes)` of its row), each at its `lane_width`."""
        return [self.narrowed(a, lanes[k % len(lanes)]) for k, a in enumerate(init)]

    def load_at(self, base: Value, offset: int, active: int) -> Value:
        """The input vector at `base + offset` for `active` output columns, of
        `lane_width(active)` lanes (masked when fewer lanes are active and the input is
        read in place; the scratch buffer is padded to whole vectors)."""
        em = self.em
        width = self.lane_width(active)
        assert self.flat is not None
        index = [em.add(base, offset)]
        if self.reads_input_directly and active != width:
            return em.vload_masked(self.flat, index, active, width)
        return em.vload(self.flat, index, width)

    def emit_filters(
        self, n: Value, oh0: Value, rows: int, filter_class: Value, classes: int = 1
    ) -> None:
        """The filter tiles `filter_class, filter_class + classes, ...` over output rows
        oh0 .. oh0+rows, one column tile at a time: the input columns of a tile stay in
        cache while every filter reads them."""
        em, s, t = self.em, self.spec, self.tiling
        blocks, rest = divmod(self.full_vectors, t.cols)
        # Tiles of `filters` filters, then one of the remaining filters (a dense layer
        # of one group whose filter count the tile does not divide).
        main, spare = divmod(s.cout, t.filters)

        def filters(col0: Value, lanes: Sequence[int], dots: bool = False) -> None:
            chunks = -(-s.cin // self.channel_chunk)
            if chunks > 1 and lanes:
                with em.loop(0, chunks) as ch:
                    lo = em.mul(ch.iv, self.channel_chunk)
                    hi = em.minui(em.add(lo, self.channel_chunk), s.cin)
                    first, last = is_equal(em, ch.iv, 0), is_equal(em, ch.iv, chunks - 1)
                    self.chunk = (lo, hi, first, last)
                    filter_tiles(col0, lanes, dots)
                self.chunk = None
            else:
                filter_tiles(col0, lanes, dots)

        def filter_tiles(col0: Value, lanes: Sequence[int], dots: bool) -> None:
            origin = self.tile_origin(oh0, col0)
            start = em.mul(filter_class, t.filters)
            with em.loop(start, main * t.filters, classes * t.filters) as j:
                self.prefetch_next_rows(j.iv, oh0, col0, rows, lanes)
                self.emit_tile(n, j.iv, oh0, col0, origin, rows, lanes, t.filters, dots)
            if spare:
                first = em.index(main * t.filters)

                def spare_tile() -> None:
                    self.emit_tile(n, first, oh0, col0, origin, rows, lanes, spare, dots)

                if classes == 1:
                    spare_tile()
                else:
                    with em.if_else(is_equal(em, filter_class, main % classes)) as (then, _):
                        with em.at(then):
                            spare_tile()

        if blocks:
            with em.loop(0, blocks) as cb:
                filters(em.mul(cb.iv, t.cols * self.width), [self.width] * t.cols)
        tail = [self.tail_lanes] if self.tail_lanes and not self.dot_pixels else []
        lanes = [self.width] * rest + tail
        if lanes or self.dot_pixels:
            filters(em.index(blocks * t.cols * self.width), lanes, self.dot_pixels > 0)

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
        dots: bool = False,
    ) -> None:
        """One register tile: nf filters x rows x len(lanes) accumulators, then the
        epilogue. `origin` is `tile_origin(oh0, col0)`. `dots`: then the filters' last
        pixels as dot products (`emit_tail_dots`). A layer in filter groups has its own
        tile (`fkw_group.GroupGenerator`)."""
        em, s, v = self.em, self.spec, self.width
        if s.fkw is not None:
            reorder, *_ = s.fkw
            channels = [em.load_index(reorder, [j])]
        else:
            channels = [em.add(j, f) for f in range(nf)]
        acc0 = self.tile_accumulators(self.initial_accumulators(channels, rows * len(lanes)), lanes)
        self.window_bound = self.opaque_last(channels[0]) if s.fkw is not None else None
        if self.options.output_prefetch and s.fkw is not None:
            # The output lines the epilogue stores, prefetched for writing before the
            # kernels: each filter tile stores into another channel's plane, lines in no
            # cache by then, whose reads for ownership would otherwise stall the stores.
            # The output may be the caller's buffer: a row may start anywhere in a line.
            columns = line_columns((len(lanes) - 1) * v + lanes[-1], aligned=False)
            for co, i, m in product(channels, range(rows), columns):
                at = [n, co, em.add(oh0, i), em.add(col0, m)]
                em.prefetch(s.output, at, locality=3, write=True)

        def uses(pattern: int) -> list[tuple[int, list[tuple[int, int, int]]]]:
            return self.input_uses(pattern, rows, len(lanes))

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
            reads = uses(pattern)
            shifted = self.column_bases(channel, origin, [at for at, _ in reads])
            narrow = [self.narrowed_taps(ws, lanes) for ws in weights]
            for at, products in reads:
                shift_base, shift_at = shifted(at)
                for f in range(len(weights)):
                    for t, i, u in products:
                        x = self.load_at(shift_base, shift_at, lanes[u])
                        k = (f * rows + i) * len(lanes) + u
                        out[k] = em.fma(x, narrow[f][t, lanes[u]], out[k])
            return out

        if s.pool is not None:
            acc = list(acc0)
            base = em.add(em.mul(j, self.channel_stride), origin)
            for at, products in uses(0):
                for _, i, u in products:
                    x = self.load_at(base, at, lanes[u])
                    k = i * len(lanes) + u
                    acc[k] = self.reduce(acc[k], x)
            if s.pool == "avg":
                scale = em.splat(1.0 / (s.kernel[0] * s.kernel[1]), v)
                acc = [
                    em.mulf(a, self.narrowed(scale, lanes[k % len(lanes)]))
                    for k, a in enumerate(acc)
                ]
        elif s.fkw is not None:
            _, offset, index, pattern_bounds, weight = s.fkw
            base = em.load_index(offset, [j])
            bounds = [
                em.add(base, em.load_index(pattern_bounds, [j, em.index(p)]))
                for p in range(len(s.patterns) + 1)
            ]
            acc = acc0
            for p in range(len(s.patterns)):
                with em.loop(bounds[p], bounds[p + 1], 1, acc) as k:
                    channel = em.load_index(index, [k.iv])
                    self.prefetch_streams(index, weight, k.iv)
                    self.prefetch_kernel(index, k.iv, origin, rows, lanes)
                    w = self.kernel_weights(weight, k.iv, len(s.patterns[p]))
                    k.yield_(accumulate(k.carried, channel, p, [w]))
                acc = k.results
        elif not lanes:
            acc = []
        else:
            assert s.dense_weight is not None
            cin_g = s.cin // s.groups
            cout_g = s.cout // s.groups
            if self.chunk is not None:
                places = self.tile_places(n, channels, oh0, col0, rows, lanes)
                partial = [
                    em.vload_masked(s.output, idx, active, self.lane_width(active))
                    for idx, active in places
                ]
                acc0 = [em.select(self.chunk[2], a, p) for a, p in zip(acc0, partial, strict=True)]
            group_base = em.mul(em.emit(arith.DivUIOp(j, em.index(cout_g))).results[0], cin_g)
            lo, hi = (0, cin_g) if self.chunk is None else self.chunk[:2]
            with em.loop(lo, hi, 1, acc0) as c:
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
        self.store_tile(n, channels, oh0, col0, rows, lanes, acc)
        if dots and self.chunk is not None:
            with em.if_else(self.chunk[3]) as (then, _), em.at(then):
                self.emit_tail_dots(n, channels)
        elif dots:
            self.emit_tail_dots(n, channels)

    def initial_accumulators(self, channels: Sequence[Value], per_filter: int) -> list[Value]:
        """`per_filter` accumulators for each filter of `channels`: its bias splat, or the
        padding value (the reduction's identity) without a bias."""
        em, s, v = self.em, self.spec, self.width
        acc: list[Value] = []
        for co in channels:
            if s.bias is not None:
                init = em.broadcast(em.load(s.bias, [co]), v)
            else:
                init = em.splat(s.fill, v)
            acc += [init] * per_filter
        return acc

    def tile_places(
        self,
        n: Value,
        channels: Sequence[Value],
        oh0: Value,
        col0: Value,
        rows: int,
        lanes: Sequence[int],
    ) -> Iterator[tuple[list[Value], int]]:
        """The output index and active lanes of each vector of a tile, in the order of
        its accumulators: `(f * rows + i) * len(lanes) + u` is output channel
        `channels[f]`, row `oh0 + i`, vector `u`. Its index ops are emitted as it is
        consumed."""
        em, v = self.em, self.width
        for co in channels:
            for i in range(rows):
                row = em.add(oh0, i)
                for u, active in enumerate(lanes):
                    yield [n, co, row, em.add(col0, u * v)], active

    def store_tile(
        self,
        n: Value,
        channels: Sequence[Value],
        oh0: Value,
        col0: Value,
        rows: int,
        lanes: Sequence[int],
        acc: Sequence[Value],
    ) -> None:
        """The epilogue of a tile: `acc[(f * rows + i) * len(lanes) + u]` (bias already
        in) plus the residual, through the activation, stored to output channel
        `channels[f]`, row `oh0 + i`, vector `u` (masked to its active lanes). Over a
        chunk of the input channels (`chunk`) all but the last store the sums alone."""
        em, s = self.em, self.spec
        places = self.tile_places(n, channels, oh0, col0, rows, lanes)
        for k, (idx, active) in enumerate(places):
            value = acc[k]
            if s.residual is not None:
                (width,) = shape_of(value)
                value = em.addf(value, em.vload_masked(s.residual, idx, active, width))
            value = em.activation(value, s.activation)
            if self.chunk is not None:  # a partial sum until the last chunk
                value = em.select(self.chunk[3], value, acc[k])
            em.vstore_masked(value, s.output, idx, active)
