"""Tiling of the vector lowering: register tiles, prefetching, and the heuristics that
choose them, in one table.

A convolution's tile is `filters x rows x cols` output vectors kept in registers across
all its kernels (`ConvTiling`). Without tuning, `ConvTiling.default` picks it from the
target's vector register count and the layer kind; the thresholds it uses are the
`TilingOptions` (pass options of `lower-patdnn-to-vector`). A layer's `tuning`
dictionary (written by hand or by `auto-tune`, which tries the candidate tables below)
overrides the default.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects.builtin import DictionaryAttr, IntegerAttr


@dataclass(frozen=True)
class TilingOptions:
    """Thresholds of the default tiles (pass options of `lower-patdnn-to-vector`)."""

    prefetch_distance: int = 2
    """How many kernels ahead a pattern convolution prefetches its input lines."""
    prefetch_min_channels: int = 256
    """Pattern layers with fewer input channels keep their rows in cache without
    prefetching: from 256 channels up, the input of a row block no longer fits the L2
    cache and the channels of a filter's kernels jump across it."""
    stream_prefetch: int = 64
    """How many kernels ahead a pattern convolution prefetches its FKW weight and index
    streams with the non-temporal hint (0: not at all). Read once per row block, the
    streams of a wide layer would otherwise push its input rows out of the L2 cache."""
    stream_prefetch_min_bytes: int = 1 << 19
    """Only layers whose FKW weights take at least this many bytes (512 KiB: more than
    an L2 cache holds beside the input rows) prefetch their streams; measured on VGG-16's
    layers: 2-2.7x faster for 512 channels (1.2 MB of weights), 0.92x for 256 (0.3 MB)."""
    fused_copy: bool = True
    """A stride-1 layer whose tiles' tasks split rows only copies the padded input rows
    of each task in the task itself, into a scratch slice of its own, instead of in a
    phase of its own before the tiles (`ConvGenerator.copies_in_tasks`)."""
    row_prefetch: int = 1
    """Whether a pattern layer that does not prefetch kernels ahead prefetches the next
    row block's input rows into the L2 cache, a channel per filter tile (0: not at all;
    `ConvGenerator.prefetch_next_rows`). VGG-16 @224 (64 channels) 1.10x, @112 1.03x
    (interleaved, 1 thread, Zen 4); the wider layers prefetch kernels ahead instead."""
    channel_tiles: int = 1
    """Where a flat pointwise layer (1x1, stride 1, unpadded, one group) takes the tile
    over output channels (`channel_tile.py`, `ConvTiling.channel_vectors`): 0 nowhere,
    1 where `channel_tile_rule` says so (AVX2: `CHANNEL_TILE_MIN_CHANNELS` input
    channels and planes of `CHANNEL_TILE_MIN_PIXELS` pixels, or fewer where the tile
    reads packed panels), 2 in every such layer. A layer's `tuning` overrides it."""
    channel_panels: int = 1
    """Whether a tile over output channels reads its input from panels packed in a phase
    of their own (`channel_tile.py`, `ConvTiling.panels`): 0 never, 1 where
    `channel_panel_rule` says so, 2 always. A layer's `tuning` (`panels`) overrides it."""

    output_prefetch: int = 1
    """Whether a pattern layer's tile prefetches for writing the output lines it stores,
    before its kernels (`ConvGenerator.emit_tile`; 0: not at all). VGG-16 (1
    thread, Zen 3, AVX2, thread CPU time, medians of 9-11 interleaved rounds, two pairs
    each): 64 @224 1.19x, 128 @112 1.18x, 256 @56 0.97-1.02x, 512 @28 1.04-1.05x,
    512 @14 1.04-1.07x. Without it the output stores of 64 @224 took about a quarter of
    the layer's time."""

    column_bases: int = 0
    """Whether a pattern or dense tile reads its input vectors through one base index per
    column shift (`ConvGenerator.column_bases`; 0: one base). For aarch64, where
    `ldr q` encodes an immediate offset only as a multiple of 16 bytes (or within
    -256..255 unscaled): the taps of a 3-wide kernel read at 4 and 8 bytes past a vector,
    which LLVM otherwise reaches by an `add` before each load. VGG-16 256 @56 on
    llvm-mca (neoverse-n1): 257 instructions, 121 cycles an iteration -> 193, 103
    (cortex-a76 108 -> 107); the clamp once per kernel rather than once per tile: 200, 105.

    2 (the aarch64 target's): bases per window of offsets within `ldur q` reach and
    never a whole vector from them (`unscaled_bases`), so that every input vector is one
    `ldur q`, neither `ldr q` at an unsigned offset nor `ldp q`. llvm-mca's Neoverse-N1
    model (LLVM 22, dispatch 3 micro-ops a cycle) charges `ldur q` 1 micro-op (L), `ldr q`
    at an unsigned offset 2 (I, L) and `ldp q` 3; VGG-16's hot loops 251-260 -> 185-216
    micro-ops, 53/54/49/48/49 % -> 77/78/67/67/71 % of two `fmla` a cycle; cortex-a76
    (the A57's tables, one load pipe) 96.1/96.1/99.2/101.2/98.2 -> 96.1/96.1/100.2/102.2/
    96.2 cycles. On the cores themselves the effective addresses and cache lines stay the
    same. LLVM's N1 tables follow the Neoverse-N1 optimization guide's pipeline columns
    (its `ldp q`, latency 7, one a cycle, on I and L, is what the guide gives as quoted
    with it in slothy's N1 model); the guide's table itself was not at hand here, so
    whether the real core spends an I-pipe slot on `ldr q` at an unsigned offset is the
    model's word. `ldur q` needs only the load pipe either way, so the change costs no
    load bandwidth; what it costs is decode: the cores decode 4 instructions a cycle, and
    each `ldp q` split into two `ldur q` is one more (256 @56: 183 -> 215 instructions for
    96 `fmla`, 54 cycles of decode against 48 of `fmla`), a cost the model, which
    counts micro-ops, does not see."""

    slice_claims: int = 1
    """Where the tiles of a layer that copies its input rows in its tasks (`fused_copy`)
    take the scratch slice they copy into (`ConvGenerator.claim_slice`): 0 the slice of
    their own task index; 1 (where the slices take `SLICE_CLAIM_MIN_BYTES` or more) or
    2 (always) the first free one, claimed with an atomic operation, so that the tasks a
    thread runs one after the other reuse one slice, warm in its cache, instead of
    writing a cold one each (VGG-16 64 @224: 16 slices of 1 MB). Costs a phase of one
    task before the tiles that clears the claims."""

    narrow_tail: int = 1
    """Whether the last vector of a tile's row, when it holds at most half the lanes, is
    computed as a vector of half the target's width (`ConvGenerator.lane_width`; 0: at
    the target's width): on a 16-lane target in every tile, on an 8-lane one in tiles of
    one filter (pattern, depthwise and pooling tiles). Zen 4 issues a 512-bit multiply-add as two
    256-bit halves, so the 8-lane vector takes half the FMA slots of the 16-lane one it
    replaces, and its loads read one cache line instead of two: a 56-wide row is 3.5
    vectors. On 8 lanes (Zen 3, AVX2, whose FMA is 256 bits wide) the 4-lane vector
    saves no FMA slot, but its loads never split across two lines; its weights are
    broadcast once more, a cost that grows with the filters of a tile. Zen 3, 1 thread,
    medians of 11-15 interleaved rounds, both orders: VGG-16 conv 512 @28 (3.5 vectors
    a row) 1.14-1.15x, pattern 128 @28 1.05-1.08x, depthwise 3x3 192 @28 1.34-1.65x,
    depthwise 3x3/2 144 @56 1.01-1.10x; a dense 3x3/2 64->128 @56, tiles of 4 filters,
    0.90-0.91x, so those stay at full width."""

    line_rows: int = 0
    """Whether a pattern layer that prefetches kernels ahead pads the rows of its input copy
    to whole 64-byte lines (`ConvGenerator.allocate_scratch`; 0: to whole vectors). For
    4-lane vectors (NEON), where 56 + 2 columns pad to 60: 3 prefetches a row instead of 2,
    and offsets that `prfm` cannot encode. VGG-16 256 @56 on llvm-mca (neoverse-n1): 193
    instructions, 103 cycles an iteration -> 184, 97 (cortex-a76 107 -> 99), for a copy
    a tenth larger (64 floats a row instead of 60)."""


DEFAULT_TILING = TilingOptions()


def lane_width(options: TilingOptions, width: int, active: int, filters: int = 1) -> int:
    """The lanes of the vector that computes `active` output columns in a tile of
    `filters` filters on a target of `width` lanes: `width`, or half of it for at most
    half a vector of columns on a 16-lane target, or on an 8-lane one in a tile of one
    filter (`TilingOptions.narrow_tail`)."""
    narrows = width >= 16 or (width == 8 and filters == 1)
    if options.narrow_tail and narrows and active <= width // 2:
        return width // 2
    return width


NARROW_TAIL_SPARE = 4
"""Vector registers a pattern tile with a narrowed last vector leaves free for its inputs
beyond its accumulators and the 8- and 16-lane copies of its weights
(`ConvTiling.default`)."""

SLICE_CLAIM_MIN_BYTES = 4 << 20
"""The fewest bytes of all its scratch slices for which a layer that copies its input
rows in its tasks claims a free slice (`TilingOptions.slice_claims` 1): more than the
L2 caches of the threads of a small pool hold."""

FUSED_COPY_MIN_ROWS = 4
"""A layer copies its input rows in its tiles' tasks (`TilingOptions.fused_copy`) when
every task has at least this many output rows per halo row (`kh - 1`): measured as the
thread CPU time in tasks (the machine was loaded, wall times moved 2x), VGG-16's
64 @224 (12-16 rows per task) took 6-9 % less at 2 threads and the same at 1 (within
+-4 %); 128 @112 and 256 @56 (4-8 rows per task, a third more rows copied) 4-9 % less at
2 threads but 3-6 % more at 1."""


TUNING_KEYS = ("filters", "rows", "cols", "prefetch", "channel_vectors", "pixels", "panels")
"""The integer entries of a layer's `tuning` dictionary that the lowering reads."""


@dataclass(frozen=True)
class ConvTiling:
    """Register tile of a convolution: `filters x rows x cols` output vectors, and how
    many kernels ahead a pattern convolution prefetches its input (0: none). With
    `channel_vectors` > 0, a flat pointwise layer takes instead the tile over output
    channels of `channel_tile.py`: `pixels` pixels x `channel_vectors` vectors of output
    channels (0 pixels: `channel_pixels` of the register count), reading its input
    from packed panels where `panels` is 1."""

    filters: int
    rows: int
    cols: int
    prefetch: int = 0
    channel_vectors: int = 0
    pixels: int = 0
    panels: int = 0

    @staticmethod
    def default(
        *,
        dense: bool,
        filters_per_group: int,
        taps: int,
        cin: int,
        registers: int,
        groups: int = 1,
        options: TilingOptions = DEFAULT_TILING,
        width: int = 0,
        out_vectors: int = 0,
        plane: int = 0,
        tail: int = 0,
    ) -> ConvTiling:
        """The tile used without tuning. The accumulators, the weights of one input
        channel and one input vector must fit the `registers` vector registers. With 16
        (AVX2): a pointwise layer 5 filters x 2 vectors, or 3 filters x 4 vectors where
        its (flattened) output row has fewer than 8 vectors, another dense layer 4
        filters x 1 row x 2 vectors. With 32 (AVX-512, NEON): dense tiles of 16
        accumulators; on AVX-512, a layer of several taps whose output row has 4 vectors
        or more takes 2 filters x 2 rows x 4 vectors (`DENSE_WIDE_TILE`), the others 4 x 2
        x 2. A pattern layer's tile comes from `PATTERN_TILES` by register
        count, vector width and the output row's vectors (`out_vectors`); where the row's
        last vector (`tail` lanes, 0 when it is full) is narrowed (`lane_width`), its
        weights take a register in each width, and with 32 registers the tile gives up
        rows until its accumulators, both copies of the weights and `NARROW_TAIL_SPARE`
        inputs fit: VGG-16 conv 256 @56 (3.5 vectors a row) 5 x 4 1.07x and 4 x 4 1.08x
        over the full-width 6 x 4, whose narrowed tile spills (1.02x; Zen 4, 1 thread,
        medians of 9 interleaved rounds). With 16 (AVX2) the tile keeps its rows: its
        inputs are read by the multiply-adds' memory operands, and conv 512 @28's 2 x 4
        cut to 1 x 4 ran 0.78x (Zen 3).

        The short pointwise rows are the 7 x 7 planes of ResNet-50 and MobileNet-V2 (49
        lanes: 6 vectors and 1 lane on AVX2): with 2 vectors a tile the last lane gets a
        tile of its own, 5 accumulators of one live lane; 3 x 4 takes it with two full
        vectors. `x86-avx2` builds timed in one interleaved run (medians of 15-25
        rounds): 512->2048 @7 1.19-1.35x, 320->1280 @7 1.11-1.18x; on rows of 25 vectors
        or more 3 x 4 is 0.91-1.06x of 5 x 2.

        `plane`: the pixels of a flat pointwise layer of one group (0 for any other
        layer), which takes the tile over output channels where `channel_tile_rule`
        (with `options.channel_tiles`) says so, reading packed input panels where
        `channel_panel_rule` (with `options.channel_panels`) does."""
        if plane and taps == 1 and groups == 1:
            panels = channel_panel_rule(options.channel_panels, registers, filters_per_group)
            vectors = channel_tile_rule(
                options.channel_tiles, registers, plane, cin, panels, width, filters_per_group
            )
            if vectors:
                return ConvTiling(1, 1, 1, 0, vectors, channel_pixels(registers), panels)
        if dense and filters_per_group > 1:
            if taps == 1 and groups == 1 and registers < 32:
                if 0 < out_vectors < 8:
                    return ConvTiling(min(3, filters_per_group), 1, 4)
                return ConvTiling(min(5, filters_per_group), 1, 2)
            if registers >= 32 and taps > 1 and width >= 16 and out_vectors >= 4:
                most, rows, cols = DENSE_WIDE_TILE
                filters = next(f for f in (most, 1) if filters_per_group % f == 0)
                return ConvTiling(filters, rows, cols)
            filters = next(f for f in (4, 2, 1) if filters_per_group % f == 0)
            if registers >= 32:
                rows, cols = (2, 2) if taps > 1 else (1, 4)
            else:
                rows, cols = 1, 2
            return ConvTiling(filters, rows, cols)
        wide = cin >= options.prefetch_min_channels
        prefetch = options.prefetch_distance if not dense and wide else 0
        rows, cols = pattern_tile(registers, width, out_vectors)
        if tail and registers >= 32 and lane_width(options, width, tail) < width:
            room = registers - NARROW_TAIL_SPARE - 2 * taps
            rows = max(1, min(rows, room // cols))
        return ConvTiling(1, rows, cols, prefetch)

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
        and `prefetch` (kernels ahead, 0 for none); `channel_vectors` (0: the pixel tile)
        and `pixels` (positive) of the tile over output channels, and its `panels` (0 or
        1). Other values are ignored."""
        filters, rows, cols, prefetch = self.filters, self.rows, self.cols, self.prefetch
        vectors, pixels, panels = self.channel_vectors, self.pixels, self.panels
        if tuning is not None:
            for key, value in tuning.data.items():
                if not isinstance(value, IntegerAttr):
                    continue
                v = value.value.data
                if (
                    key == "filters" and dense and 1 <= v <= filters_per_group
                    and (groups == 1 or filters_per_group % v == 0)
                ):  # fmt: skip
                    filters = v
                elif key == "rows" and v >= 1:
                    rows = v
                elif key == "cols" and v >= 1:
                    cols = v
                elif key == "prefetch" and v >= 0:
                    prefetch = v
                elif key == "channel_vectors" and v >= 0:
                    vectors = v
                elif key == "pixels" and v >= 1:
                    pixels = v
                elif key == "panels" and v in (0, 1):
                    panels = v
        return ConvTiling(filters, rows, cols, prefetch, vectors, pixels, panels)

    def clamped(self, out_h: int, out_vectors: int) -> ConvTiling:
        """No more rows or vectors than the output has."""
        return ConvTiling(
            self.filters,
            max(1, min(self.rows, out_h)),
            max(1, min(self.cols, out_vectors)),
            self.prefetch,
            self.channel_vectors,
            self.pixels,
            self.panels,
        )


DENSE_WIDE_TILE = (2, 2, 4)
"""(filters, rows, cols) of an AVX-512 dense layer of several taps whose output row has 4
vectors or more (`ConvTiling.default`): half the weight broadcasts of 4 x 2 x 2 for the
same 16 accumulators, each input vector shared by 2 filters instead of 4. Against 4 x 2
x 2 (Zen 4, 1 thread, medians of 15 interleaved rounds, two runs for the stems):
ResNet-50's 7x7/2 stem 1.07x and 1.12x, MobileNet-V2's 3x3/2 stem 1.04x and 1.09x,
dense 3x3 64->64 @56 1.28x, 32->64 @112 1.16x (4 x 1 x 4: 1.06-1.11x, 1.03-1.05x, 1.24x,
1.07x), VGG-16's 3->64 @224 2.28x and 2.27x (4 x 1 x 4: 1.33x). NEON keeps 4 x 2 x 2: not measured there."""


PATTERN_TILES: dict[tuple[int, int], tuple[tuple[int, int, int], ...]] = {
    (32, 4): ((0, 6, 4),),
    (16, 8): ((7, 4, 2), (4, 2, 4), (0, 5, 2)),
    (32, 16): ((3, 6, 4), (2, 10, 2), (0, 14, 1)),
}
"""Default (rows, cols) tile of a pattern layer by (register class, vector lanes): rows of
`(fewest output vectors, rows, cols)`, the first whose output row has at least that many
vectors applies; other targets take 4 x 2.

NEON (32 registers of 4 lanes): 6 rows x 4 vectors, 24 accumulators, one register of
the kernel's 4 weights (read by lane) and a few inputs. llvm-mca (Cortex-A76) on
VGG-16's layers predicts 44-50 % of the two FMA pipes against 35-47 % for 4 x 2, no
spills (`patdnn bench layers --target aarch64 --estimate`).

AVX2 (16 registers of 8 lanes), `vector-width=8` builds timed against each other per
VGG-16 layer in one interleaved run on a Zen 4 core (1 thread, medians of 5-9 rounds,
against 4 x 2): @224 (28 vectors)
4 x 2 (4 x 3: 0.80x); @112 4 x 3 (1.05-1.06x); @28 3 x 4 (1.24-1.31x). Those builds
still let LLVM use 32 registers; for the `x86-avx2` target (16 ymm, nothing else), a
tile of more than 10 accumulators spills in its inner loop (4 x 3: 10 stack accesses,
3 x 4: 7, 7 x 2: 14), and the tiles timed again there (medians of 21 and 31 interleaved
rounds, two runs on a shared machine) give @56 (7 vectors) 2 x 5 (1.08x over 4 x 2 in
both), @14 (2 vectors) 5 x 2 (1.10-1.12x over 7 x 2); 4 x 3 @112 and 3 x 4 @28 kept
their place then (the spill-free 5 x 2, 2 x 5, 3 x 3, 2 x 4 within 0.82-1.07x of them,
one run faster, one slower). Once tiles of an even number of vectors prefetch each input line once
(`ConvGenerator.input_span`), timed again on a Zen 3 core (`x86-avx2`, the thread's CPU
time, medians of 7-11 interleaved rounds, 3 runs, load 6-7 on 2 cores): @56 4 x 2
1.26-1.34x over 2 x 5 (5 x 2 1.13-1.32x, 3 x 2 1.21x, 6 x 2 1.16x, 2 x 4 1.07x, 3 x 3
1.00x, 1 x 7 0.87x, 2 x 7 0.81x); @28 the spill-free 2 x 4 1.02-1.07x over 3 x 4 (12
accumulators, 4 weights: 8 stack accesses a kernel), 5 x 2 0.73-0.77x, 4 x 2 0.81-0.90x.
@112 (14 vectors) takes 4 x 2 as well since the rounds of `interleaved_times` rotate
their order (with a fixed order the build timed second won by 4-11 %, whichever it
was): host build on a Zen 3 core, 1 thread, medians of 11 rounds in both orders, 4 x 2
1.05x and 1.08x over 4 x 3 (12 accumulators and 4 weights in 16 registers: 4-12 stack
accesses a kernel); `auto-tune` picks 4 x 2 there too.
On the same core unloaded (load 0.2, 9 rounds): @56 4 x 2 and 2 x 5 the same (1.00x),
@28 2 x 4 1.12x over 3 x 4; the gain of 4 x 2 @56 is that of a core that shares its
caches.

AVX-512 (32 registers of 16 lanes): 6 x 4 (24 accumulators, clamped to 6 x 3 for rows
of 3 vectors) from 3 vectors a row, 10 x 2 for 2, 14 x 1 for 1 (clamped to the output
rows). Each kernel reads (rows + 2) x (cols + 1) input lines, mostly from the L2 cache
(a row block's input over all channels does not fit L1), for 4 x rows x cols FMAs: 0.42
lines per FMA for 6 x 4 against 0.56 for 4 x 2, and the loop overhead of a kernel (its
channel, 4 weight broadcasts, the prefetches) spreads over 3x the FMAs. Timed against
4 x 2 per VGG-16 layer in interleaved runs on a Zen 4 core (1 thread, 11-15 rounds, the
thread's CPU time, shared machine): @224 1.17-1.20x (3 x 7 and 5 x 4 the same), @112
1.17-1.19x (3 x 7 1.17x, 8 x 3 1.14x), @56 1.15x, @28 10 x 2 1.10-1.15x (12 x 2
1.08x, 14 x 2 1.03x); @14, 14 x 1 against 4 x 1: 1.33-1.44x, 7 x 1 1.21-1.30x."""


CHANNEL_TILE_MIN_PIXELS = 64
"""The fewest pixels of a plane that takes the tile over output channels by default
when it reads its input in place. `x86-avx2`, one thread, the thread's CPU time, medians
of 7-9 interleaved rounds against the tile over pixels (`benchmarks/channel_tiles.py`,
Zen 3, load 1-4 on 2 cores): @7 it loses to the 3 x 4 pixel tile (960->160 0.97-0.98x,
320->1280 0.87x, 512->2048 0.89x); @14 to @56 it gains from 64 input channels on
(below). Reading packed panels (`channel_panel_rule`) it wins on smaller planes too."""
CHANNEL_TILE_MIN_CHANNELS = 64
"""The fewest input channels of a layer that takes the tile over output channels by
default: with fewer, the epilogue (a transpose and a store per channel and 8 pixels)
weighs more than the FMAs (24->144 @56 0.93x, 32->192 @28 0.97-0.98x, 48->288 @28
0.96x; 64->256 @56 1.04-1.07x, 64->384 @14 1.03-1.04x, 144->24 @56 1.08-1.13x,
384->64 @14 1.10x, 576->96 @14 1.24-1.25x, 1024->256 @14 1.09-1.13x, 256->64 @56
1.24-1.45x, 512->128 @28 0.95-1.12x)."""
CHANNEL_PANEL_MIN_FILTERS = 128
"""The fewest output channels of a layer whose tile over output channels reads packed
input panels by default (`TilingOptions.channel_panels`): the pack is one pass over the
input whatever the output channels, which the `cout / 16` channel tiles that read it
must repay. `x86-avx2`, one thread, thread CPU time, medians of 9 interleaved rounds
against the same tile reading in place (`benchmarks/channel_tiles.py`, Zen 3, load 2-3
on 2 cores): 2048->512 @7 1.46x, 576->160 @7 1.30x, 512->2048 @7 1.28x, 320->1280 @7
1.27x, 960->320 @7 1.22x, 160->960 @7 1.20x, 1024->256 @14 1.19x, 64->256 @56 1.12x,
128->512 @28 1.11x, 512->128 @28 1.06x, 96->576 @14, 64->384 @14, 256->1024 @14,
256->64 @56 1.00-1.02x; with fewer output channels 576->96 @14 1.05x, 64->64 @56 1.01x,
384->64 @14 0.98x, 384->96 @14 0.97x, 192->64 @14 0.95x, 144->32 @28 0.94x, 192->32 @28
0.92x, 96->24 @56 0.88x."""
CHANNEL_PANEL_MIN_PIXELS = 2
"""The fewest pixels of a plane that takes the tile over output channels reading packed
panels by default (against the tile over pixels, as above): 128->512 @3 1.23x, 256->128
@2 1.19x, 512->256 @4 1.15x, 2048->512 @7 1.26x, 1024->512 @7 1.19x, 960->320 @7
1.17x, 576->160 @7 1.12x, 160->960 @7 1.09x; a single pixel 1280->1000 @1 0.97x."""


def channel_pixels(registers: int) -> int:
    """The pixels of a tile over output channels of 2 vectors: its `2 x pixels`
    accumulators, the 2 weight vectors and the broadcast input fit the registers
    (16: 6 pixels, 12 accumulators; 32: 14)."""
    return max(1, (registers - 4) // 2)


def channel_tile_rule(
    mode: int, registers: int, plane: int, cin: int, panels: int = 0, width: int = 8, cout: int = 0
) -> int:
    """The output-channel vectors of the default tile of a flat pointwise layer of one
    group (0: the tile over pixels), by `TilingOptions.channel_tiles` (`mode`): 0
    never, 2 always, 1 for layers of at least `CHANNEL_TILE_MIN_CHANNELS` input channels
    on the targets where it was measured: 16 registers (AVX2) on planes of at least
    `CHANNEL_TILE_MIN_PIXELS` pixels, or `CHANNEL_PANEL_MIN_PIXELS` where the tile reads
    packed `panels`; 32 registers of 16 lanes (AVX-512) on any plane, for layers of at
    least two vectors of output channels (`cout`). NEON (32 registers of 4 lanes) keeps
    the tile over pixels.

    AVX-512, 14 pixels x 2 vectors of channels transposed 16 x 16 in the epilogue,
    reading in place (packed panels measured 0.95-1.03x of it), against the tile over
    pixels, one thread, thread CPU time, medians of 7-9 interleaved rounds
    (`benchmarks/channel_tiles.py --target host`, Zen 4): 384->64 @14 1.13-1.16x,
    576->96 @14 1.09-1.20x, 1024->256 @14 1.05-1.23x, 256->64 @56 1.18-1.28x, 512->128
    @28 1.03-1.06x, 96->576 @14 1.00-1.03x, 64->384 @14 1.04x, 144->32 @28 1.04x,
    960->160 @7 1.10x, 576->160 @7 1.10x, 320->1280 @7 1.05-1.07x, 512->2048 @7
    1.06-1.17x, 2048->512 @7 1.23x, 160->960 @7 1.05x, 1280->1000 @1 1.06x. Fewer input
    channels lose (24->144 @56 0.87x, 32->192 @28 0.91x, 16->96 @112 0.88x, 48->288 @28
    0.98x), and so do fewer than 32 output channels, whose second vector is part empty
    (144->24 @56 0.89-0.91x, 96->24 @56 0.85x)."""
    if mode == 0:
        return 0
    if mode >= 2:
        return 2
    if cin < CHANNEL_TILE_MIN_CHANNELS:
        return 0
    if registers < 32:
        fewest = CHANNEL_PANEL_MIN_PIXELS if panels else CHANNEL_TILE_MIN_PIXELS
        return 2 if plane >= fewest else 0
    if width == 16 and cout >= 2 * width:
        return 2
    return 0


def channel_panel_rule(mode: int, registers: int, cout: int) -> int:
    """Whether a tile over output channels of a flat pointwise layer reads packed input
    panels (1) or its input in place (0), by `TilingOptions.channel_panels` (`mode`): 0
    never, 2 always, 1 on 16 registers (AVX2, where it was measured) for layers of at
    least `CHANNEL_PANEL_MIN_FILTERS` output channels."""
    if mode == 0:
        return 0
    if mode >= 2:
        return 1
    return 1 if registers < 32 and cout >= CHANNEL_PANEL_MIN_FILTERS else 0


def pattern_tile(registers: int, width: int, out_vectors: int) -> tuple[int, int]:
    """The default (rows, cols) of a pattern layer (`PATTERN_TILES`)."""
    for fewest, rows, cols in PATTERN_TILES.get((register_class(registers), width), ()):
        if out_vectors >= fewest:
            return rows, cols
    return 4, 2


def group_tile(registers: int, group: int, out_vectors: int) -> tuple[int, int]:
    """The default (rows, cols) of a pattern layer in filter groups of `group`
    (`fkw_group.py`): `group x rows x cols` accumulators within `registers - 16` (the
    rest for the group's G x 4 weights and the inputs), at most 2 vectors wide. AVX-512,
    G = 4, VGG-16 conv 256 @56 / 512 @28 (connectivity 3.6, 8 patterns, 1 thread, minima
    of 5 interleaved rounds): 2 x 2 is 1.60x / 1.67x the per-filter 4 x 2 tile, 3 x 2
    1.27x / 1.06x.

    16 registers (AVX2): `group x rows x cols` accumulators within half the registers
    (the weights are broadcast from memory at each use), one vector wide unless that
    covers the whole output row. Zen 3, G = 4, one thread, medians of 5-7 interleaved
    rounds on a shared machine, against the 1 x 1 tile that `registers - 16` gives:
    2 x 1 @224 1.31x, @112 1.23x, @56 1.77x, @28 1.43x (1 x 2: 1.10x, 1.14x, 1.31x,
    1.32x; 2 x 2 and 3 x 1 in between or slower); @14 (2 vectors a row) 1 x 2 1.12x
    and 1.82x in two runs, 2 x 1 0.92x and 1.03x."""
    if register_class(registers) == 16:
        per_filter = max(1, registers // 2 // group)
        if out_vectors <= per_filter:
            return max(1, per_filter // out_vectors), out_vectors
        return per_filter, 1
    per_filter = max(1, (registers - 16) // group)
    cols = max(1, min(out_vectors, 2, per_filter))
    return max(1, per_filter // cols), cols


# ---------------------------------------------------------------------------
# The candidates `auto-tune` times, by vector register count
# ---------------------------------------------------------------------------

PATTERN_SHAPES: dict[int, tuple[tuple[int, int], ...]] = {
    16: ((4, 2), (3, 4), (2, 4), (4, 3), (2, 6), (6, 2), (7, 2)),
    32: (
        (4, 2),
        (4, 4),
        (3, 4),
        (6, 2),
        (2, 8),
        (4, 6),
        (6, 4),
        (5, 4),
        (3, 7),
        (8, 2),
        (10, 2),
        (12, 2),
    ),
}
"""(rows, cols) tiles tried for a pattern layer."""

DENSE_SHAPES: dict[int, tuple[tuple[int, int, int], ...]] = {
    16: ((4, 1, 2), (5, 1, 2), (3, 1, 4), (2, 1, 6), (2, 1, 4), (8, 1, 1), (2, 2, 2), (4, 2, 1)),
    32: ((4, 2, 2), (4, 1, 4), (6, 1, 4), (5, 1, 4), (8, 1, 2), (4, 1, 6), (2, 2, 4), (4, 2, 3)),
}
"""(filters, rows, cols) tiles tried for a dense layer with several filters per group: the
accumulators, one input vector and the weights of the filters must fit the registers."""

CHANNEL_SHAPES: dict[int, tuple[tuple[int, int], ...]] = {
    16: ((2, 6), (2, 5), (2, 4), (3, 4), (1, 8)),
    32: ((2, 14), (2, 12), (3, 8), (4, 6), (2, 8)),
}
"""(channel vectors, pixels) tiles over output channels tried for a flat pointwise layer
of one group (`channel_tile.py`)."""

DEPTHWISE_SHAPES: dict[int, tuple[tuple[int, int], ...]] = {
    16: ((4, 2), (2, 4), (3, 4), (6, 2), (2, 6), (1, 8)),
    32: ((4, 2), (4, 4), (2, 8), (6, 4), (8, 2), (1, 8)),
}
"""(rows, cols) tiles tried for a layer with one filter per group (depthwise)."""

PREFETCH_DISTANCES = (0, 2, 4, 8)
"""Prefetch distances (kernels ahead) tried on the best tile of a pattern layer."""
PREFETCH_SEARCH_MIN_CHANNELS = 128
"""Pattern layers with fewer input channels are not searched for a prefetch distance
(their input stays in cache); the search starts below the default's threshold
(`TilingOptions.prefetch_min_channels`) because a layer in between may still gain."""


def register_class(registers: int) -> int:
    """The candidate table for a register count: 32 (AVX-512, NEON) or 16 (AVX2)."""
    return 32 if registers >= 32 else 16


# ---------------------------------------------------------------------------
# Sparse or dense: the cost estimate of `sparsify`
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SparseOptions:
    """When a 1x1 convolution or a linear layer compiles to a block-sparse kernel
    (pass options of `sparsify`). Costs are in dense multiply-adds: the dense kernel of a
    W[out][in] layer costs `out * in` per output pixel (1x1) or per image (linear)."""

    threshold: float = 0.5
    """The least share of zero weights a layer needs to be considered for a sparse kernel."""
    conv_mac_cost: float = 1.25
    """A stored weight of the sparse 1x1 kernel against a dense multiply-add: both run at
    the FMA rate, the sparse one also broadcasts its weight."""
    conv_block_overhead: float = 1.0
    """The rest of a stored block of the sparse 1x1 kernel (its index, the loads of the
    input vectors, shared by the `bo` rows), in dense multiply-adds."""
    linear_block_overhead: float = 2.0
    """A stored block of the sparse GEMV besides its `bo` weights, in dense weights: its
    4-byte index and the load and broadcast of the input it picks (the dense GEMV streams
    its weights once, so bytes read are its cost)."""


DEFAULT_SPARSE = SparseOptions()

SPARSE_CONV_BLOCK = 4
"""`bo` of a sparse 1x1 convolution: 4 output channels, each of its stored weights
broadcast against the same input vectors."""


def sparse_conv_cost(kept_blocks: int, bo: int, options: SparseOptions = DEFAULT_SPARSE) -> float:
    """The estimated cost of a sparse 1x1 convolution per output pixel, in dense MACs."""
    return kept_blocks * (bo * options.conv_mac_cost + options.conv_block_overhead)


def sparse_linear_cost(kept_blocks: int, bo: int, options: SparseOptions = DEFAULT_SPARSE) -> float:
    """The estimated cost of a sparse GEMV per image, in dense weights streamed."""
    return kept_blocks * (bo + options.linear_block_overhead)


def linear_block_candidates(vector_width: int) -> tuple[int, ...]:
    """The `bo` a sparse GEMV may use: 4 (a NEON or SSE vector), the target's vector
    width and twice it, in increasing order."""
    return tuple(sorted({4, vector_width, 2 * vector_width}))


def sparse_conv_lanes(registers: int) -> int:
    """The input vectors a sparse 1x1 tile keeps: the `bo x M` accumulators, M inputs and
    a broadcast weight fit the registers (16: M = 2; 32: M = 4)."""
    return 4 if registers >= 32 else 2


SPARSE_PART_INPUT_BYTES = 1 << 19
"""The input bytes of one range of pixel tiles of a sparse 1x1 layer (512 KiB: half an L2
cache), which each of its blocks of output channels reads in turn. Against tiles
outermost (each tile over every block) and against one range for the whole plane, at
72 % block sparsity (fastest of 21 interleaved rounds, on a shared machine): as fast or
faster on ResNet-50's 1x1 layers, 1.3x faster than tiles outermost for 64->256 @56."""


def sparse_spatial_parts(cin: int, plane: int) -> int:
    """The least number of ranges of tiles of a sparse 1x1 layer: its input by ranges of
    at most `SPARSE_PART_INPUT_BYTES`."""
    return max(1, -(-cin * plane * 4 // SPARSE_PART_INPUT_BYTES))
