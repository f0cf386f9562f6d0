"""The register tile of a pattern convolution in filter groups (FKW group layout).

When the filters `G*g .. G*g+G-1` of a layer share their kernel positions and patterns
(`fkw_layout.filter_group_size`), `fkw-layout` stores one kernel list per group and the
G filters' weights of each kernel side by side (`weight[kernel][G*T]`). A tile then
computes the G filters of a group over `rows x cols` output vectors: per kernel, each
input vector is loaded once and feeds the FMAs of all G filters (filter-level load
reuse, which per-filter pattern tiles cannot have), against the group's `G x T`
broadcast weights. A smaller last group is the spare tile of `emit_filters`: its
padding filters (zero weights) are not computed.

The rest is `ConvGenerator`'s: the scratch copy and its addressing (`tile_origin`,
`tap_offset`, `load_at`), the prefetching of the inputs and the FKW streams, the
weights (`kernel_weights`) and the epilogue (`store_tile`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.dialects import arith

from patdnn.lowering.vector.conv import ConvGenerator, ConvSpec
from patdnn.lowering.vector.emitter import Value


def is_grouped(spec: ConvSpec) -> bool:
    """Whether a layer is a pattern convolution stored in filter groups."""
    return spec.fkw is not None and spec.filter_group > 1


@dataclass
class GroupGenerator(ConvGenerator):
    """A pattern convolution in filter groups: `ConvGenerator` with the group tile."""

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
        """The tile of the `nf` stored filters `j .. j+nf-1` (`j` the first of a group)
        over output rows `oh0 .. oh0+rows` and the vectors `lanes` from `col0`: the
        group's kernels pattern by pattern, then the epilogue."""
        em, s = self.em, self.spec
        assert s.fkw is not None
        group = s.filter_group
        reorder, offset, index, pattern_bounds, weight = s.fkw
        channels = [em.load_index(reorder, [em.add(j, f)]) for f in range(nf)]
        acc0 = self.tile_accumulators(self.initial_accumulators(channels, rows * len(lanes)), lanes)
        self.window_bound = self.opaque_last(channels[0])
        unit = em.emit(arith.DivUIOp(j, em.index(group))).results[0]
        first = em.load_index(offset, [unit])
        bounds = [
            em.add(first, em.load_index(pattern_bounds, [unit, em.index(p)]))
            for p in range(len(s.patterns) + 1)
        ]
        acc = acc0
        for p, pattern in enumerate(s.patterns):
            taps = len(pattern)
            reads = self.input_uses(p, rows, len(lanes))
            with em.loop(bounds[p], bounds[p + 1], 1, acc) as k:
                channel = em.load_index(index, [k.iv])
                self.prefetch_streams(index, weight, k.iv)
                self.prefetch_kernel(index, k.iv, origin, rows, lanes)
                w = [self.kernel_weights(weight, k.iv, taps, f * taps) for f in range(nf)]
                narrow = [self.narrowed_taps(ws, lanes) for ws in w]
                shifted = self.column_bases(channel, origin, [at for at, _ in reads])
                out = list(k.carried)
                for at, products in reads:
                    active = lanes[products[0][2]]
                    x = self.load_at(*shifted(at), active)
                    for f in range(nf):
                        for t, i, u in products:
                            a = (f * rows + i) * len(lanes) + u
                            out[a] = em.fma(x, narrow[f][t, active], out[a])
                k.yield_(out)
            acc = k.results
        self.store_tile(n, channels, oh0, col0, rows, lanes, acc)
