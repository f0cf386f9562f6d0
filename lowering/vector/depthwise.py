"""Depthwise convolutions: one input channel per group (MobileNet's 3x3 layers), each
channel copied into a padded plane right before the tiles that read it.

The general generator (`conv.py`) first copies the whole padded, phase-split input in a
phase of its own, then its tiles read it back: a full extra pass over memory, which a
layer of 9 multiply-adds per output pays for more than its arithmetic. Here the layer is
one phase; a task takes a range of groups and, group by group, copies the input channel
into its own plane of the scratch buffer (slot = task index, so concurrent tasks never
share scratch bytes), then computes every output channel of the group from it while the
plane is still in cache (L1 or L2: one plane of 112 x 112 floats is 57 KiB).

The plane has the layout of `ConvGenerator.allocate_scratch` (padded rows of whole
vectors; for stride 2 the 2 x 2 phases), so the tiles address it with the same
compile-time tap offsets. Its padding is written once per task: the copy only writes the
input's own pixels (stride 1), or whole phase rows, each vector deinterleaved from two
input vectors (stride 2, `ConvGenerator.copy_phase_row`), never lane by lane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from patdnn.lowering.vector.conv import ConvGenerator, ConvSpec
from patdnn.lowering.vector.emitter import Value
from patdnn.lowering.vector.pointwise import reads_in_place
from patdnn.lowering.vector.tasks import part_bounds, serial_phases, split_count


def is_depthwise(spec: ConvSpec) -> bool:
    """Whether `DepthwiseGenerator` computes `spec`: a dense convolution with one input
    channel per group (any channel multiplier), stride 1 or 2, that reads a padded copy."""
    return (
        spec.pool is None
        and spec.fkw is None
        and spec.groups > 1
        and spec.cin == spec.groups
        and spec.stride in ((1, 1), (2, 2))
        and not reads_in_place(spec.kernel, spec.stride, spec.padding)
    )


@dataclass
class DepthwiseGenerator(ConvGenerator):
    """Emits a depthwise convolution (see the module docstring)."""

    def emit(self) -> None:
        em, s = self.em, self.spec
        phases = self.phases or serial_phases(em)
        parts = split_count(s.groups)
        self.allocate_scratch(channels=parts)
        multiplier = s.cout // s.groups
        with phases.open(parts) as slot:
            first, last = part_bounds(em, slot, s.groups, parts)
            self.fill_padding(slot)
            with em.loop(0, s.batch) as n, em.loop(first, last) as g:
                self.batch_index = n.iv
                self.copy_plane(n.iv, g.iv, slot)
                for f in range(multiplier):
                    self.emit_plane(n.iv, slot, em.add(em.mul(g.iv, multiplier), f))
        assert self.flat is not None
        em.dealloc(self.flat)

    # -- the plane of one channel ----------------------------------------------------

    def phase_rows(self, a: int) -> tuple[int, int]:
        """The rows `first .. last` of row phase `a` that an input row fills (the others
        are padding): phase row i holds padded row `i * sh + a`."""
        s = self.spec
        sh, ph = s.stride[0], s.padding[0]
        rows = self.scratch_shape[3]
        first = max(0, -(-(ph - a) // sh))
        last = min(rows, (s.height - 1 + ph - a) // sh + 1)
        return first, max(first, last)

    def fill_padding(self, slot: Value) -> None:
        """The padding of the task's plane that no copy overwrites: the rows without an
        input row, and for stride 1 the columns left and right of the input's own (a
        vector that also covers input pixels is overwritten by each channel's copy)."""
        em, s, v = self.em, self.spec, self.width
        plane = self.scratch
        assert plane is not None
        _, _, nb, rows, cols = self.scratch_shape
        zero = em.splat(0.0, v)

        def fill_row(ai: int, bi: int, i: Value | int, columns: Sequence[int]) -> None:
            row = em.index(i) if isinstance(i, int) else i
            for m in columns:
                em.vstore(zero, plane, [slot, em.index(ai), em.index(bi), row, em.index(m)])

        for ai, a in enumerate(self.row_phases):
            first, last = self.phase_rows(a)
            for bi in range(nb):
                for i in [*range(first), *range(last, rows)]:
                    fill_row(ai, bi, i, range(0, cols, v))
                if s.stride == (1, 1):
                    pw = s.padding[1]
                    edge = [*range(0, pw, v), *range((pw + s.width) // v * v, cols, v)]
                    if edge and last > first:
                        with em.loop(first, last) as i:
                            fill_row(ai, bi, i.iv, edge)

    def copy_plane(self, n: Value, g: Value, slot: Value) -> None:
        """Input channel `g` of image `n` into the task's plane: stride 1, each input
        row between its padding columns (the last vector masked); stride 2, each phase
        row whole, its vectors deinterleaved from the input row (`copy_phase_row`)."""
        em, s = self.em, self.spec
        sh, ph = s.stride[0], s.padding[0]
        if s.stride == (1, 1):
            with em.loop(0, s.height) as ih:
                self.copy_input_row(n, g, ih.iv, slot, em.add(ih.iv, ph))
            return
        for ai, a in enumerate(self.row_phases):
            first, last = self.phase_rows(a)
            if last <= first:
                continue
            with em.loop(first, last) as i:
                ih = em.add(em.mul(i.iv, sh), a - ph)
                self.copy_phase_row(n, g, ih, slot, ai, i.iv)

    # -- the tiles of one output channel ---------------------------------------------

    def emit_plane(self, n: Value, slot: Value, co: Value) -> None:
        """Output channel `co` from the plane in `slot`, tile by tile (rows x vectors of
        `self.tiling`), the channel's weights and bias in registers throughout."""
        em, s, t, v = self.em, self.spec, self.tiling, self.width
        assert s.dense_weight is not None
        zero = em.index(0)
        weights = [
            em.broadcast(em.load(s.dense_weight, [co, zero, em.index(r), em.index(q)]), v)
            for r, q in s.patterns[0]
        ]
        (init,) = self.initial_accumulators([co], 1)
        base = em.mul(slot, self.channel_stride)

        def tile(oh0: Value, col0: Value, rows: int, lanes: Sequence[int]) -> None:
            origin = em.add(base, self.tile_origin(oh0, col0))
            acc = self.tile_accumulators([init] * (rows * len(lanes)), lanes)
            taps = self.narrowed_taps(weights, lanes)
            for at, products in self.input_uses(0, rows, len(lanes)):
                for tap, i, u in products:
                    k = i * len(lanes) + u
                    x = self.load_at(origin, at, lanes[u])
                    acc[k] = em.fma(x, taps[tap, lanes[u]], acc[k])
            self.store_tile(n, [co], oh0, col0, rows, lanes, acc)

        blocks, rest = divmod(self.full_vectors, t.cols)
        lanes = [v] * rest + ([self.tail_lanes] if self.tail_lanes else [])

        def row_block(oh0: Value, rows: int) -> None:
            if blocks:
                with em.loop(0, blocks) as cb:
                    tile(oh0, em.mul(cb.iv, t.cols * v), rows, [v] * t.cols)
            if lanes:
                tile(oh0, em.index(blocks * t.cols * v), rows, lanes)

        main_rows, tail_rows = divmod(s.out_h, t.rows)
        if main_rows:
            with em.loop(0, main_rows) as rb:
                row_block(em.mul(rb.iv, t.rows), t.rows)
        if tail_rows:
            row_block(em.index(main_rows * t.rows), tail_rows)
