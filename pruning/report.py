"""What pruning did: per-layer kind, ratio, block shape, kernels or blocks kept, pattern
use and sparsity, and accuracy.

Every pruned layer kind is reported: 3x3 pattern layers and depthwise pattern layers
(kernels kept, pattern use), 1x1 and linear block layers (blocks kept, block shape).
``str(report)`` / :meth:`PruneReport.table` give a text table;
:meth:`PruneReport.save_figure` draws the pattern library (each pattern as a 3x3 grid)
and the per-layer pattern use and kept share to a PNG with matplotlib's Agg canvas (no
pyplot, no global backend change).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from patdnn.pruning.blocks import DEFAULT_BLOCK, DEFAULT_LINEAR_BLOCK, kept_blocks
from patdnn.pruning.layers import DEPTHWISE, KIND_LABELS, LINEAR, PATTERN, POINTWISE
from patdnn.pruning.patterns import Library, mask_pattern_ids

if TYPE_CHECKING:
    from patdnn.pruning.admm import LayerPlan


@dataclass(frozen=True)
class LayerReport:
    """One pruned layer. ``pattern_histogram[i]`` counts kernels using library pattern i.

    ``kind`` is one of :data:`patdnn.pruning.layers.KINDS`. For 3x3 and depthwise layers
    ``kernels_kept``/``kernels_total`` count 3x3 kernels; for 1x1 and linear layers
    they count blocks of shape ``block`` (and the pattern histogram is all zeros).
    ``ratio`` is the connectivity or block ratio asked for (None for depthwise layers
    and when unknown); ``group`` the filter group of a 3x3 layer (filters sharing kernel
    positions and patterns, 1: none).
    """

    name: str
    shape: tuple[int, ...]
    kernels_kept: int
    kernels_total: int
    weights_kept: int
    weights_total: int
    pattern_histogram: tuple[int, ...]
    kind: str = PATTERN
    ratio: float | None = None
    block: tuple[int, int] | None = None
    group: int = 1

    @property
    def units(self) -> str:
        """What ``kernels_kept`` counts: ``"kernels"`` or ``"blocks"``."""
        return "blocks" if self.kind in (POINTWISE, LINEAR) else "kernels"

    @property
    def kept_share(self) -> float:
        """Fraction of the layer's weights that are kept."""
        return self.weights_kept / self.weights_total

    @property
    def sparsity(self) -> float:
        """Fraction of the layer's weights that are pruned."""
        return 1.0 - self.weights_kept / self.weights_total

    @property
    def kernel_fraction(self) -> float:
        """Fraction of kernels (or blocks) kept (about ``1 / ratio``)."""
        return self.kernels_kept / self.kernels_total


@dataclass(frozen=True)
class EpochRecord:
    """One epoch of training: phase ('admm' or 'retrain'), mean task loss, and for ADMM
    the penalty ``rho`` used and the residuals ``||W - Z||``, ``||W - Y||`` after the update."""

    phase: str
    epoch: int
    loss: float
    rho: float | None = None
    pattern_residual: float | None = None
    connectivity_residual: float | None = None


@dataclass
class PruneReport:
    """Per-layer statistics of a pruning run, with accuracies when validation data was given.

    ``accuracy_before``: the dense model; ``accuracy_hard_pruned``: right after hard
    pruning, before retraining; ``accuracy_after``: the final model. All in [0, 1].
    """

    library: Library
    layers: tuple[LayerReport, ...]
    accuracy_before: float | None = None
    accuracy_hard_pruned: float | None = None
    accuracy_after: float | None = None
    history: tuple[EpochRecord, ...] = field(default_factory=tuple)

    @classmethod
    def from_masks(
        cls,
        masks: Mapping[str, torch.Tensor],
        library: Library,
        plans: Mapping[str, LayerPlan] | None = None,
        **kwargs: Any,
    ) -> PruneReport:
        """Build the per-layer statistics from hard-pruning masks.

        ``plans`` (``{layer: LayerPlan}``, e.g. :attr:`ADMMPruner.plans`) gives each
        layer's kind, ratio and block shape; without it a 2-D mask is a linear layer, a
        1x1 mask a 1x1 layer with the default block shape, any other a 3x3 layer.
        """
        layers = []
        for name, mask in masks.items():
            plan = plans.get(name) if plans is not None else None
            if plan is not None:
                kind, ratio, block, group = plan.kind, plan.ratio, plan.block, plan.group
            else:
                kind = LINEAR if mask.dim() == 2 else PATTERN
                kind = POINTWISE if mask.dim() == 4 and mask.shape[2:] == (1, 1) else kind
                ratio, block, group = None, None, 1
            if kind in (POINTWISE, LINEAR):
                block = block or (DEFAULT_LINEAR_BLOCK if kind == LINEAR else DEFAULT_BLOCK)
                kept = kept_blocks(mask, block)
                units_kept, units_total = int(kept.sum()), kept.numel()
                hist = (0,) * len(library)
            else:
                ids = mask_pattern_ids(mask, library).reshape(-1)
                counts = torch.bincount(ids[ids >= 0], minlength=len(library))
                units_kept, units_total = int((ids >= 0).sum()), ids.numel()
                hist = tuple(int(c) for c in counts.tolist())
            layers.append(
                LayerReport(
                    name=name,
                    shape=tuple(mask.shape),
                    kernels_kept=units_kept,
                    kernels_total=units_total,
                    weights_kept=int(mask.sum()),
                    weights_total=mask.numel(),
                    pattern_histogram=hist,
                    kind=kind,
                    ratio=ratio,
                    block=block,
                    group=group,
                )
            )
        return cls(library=library, layers=tuple(layers), **kwargs)

    # -- totals ---------------------------------------------------------------------------
    @property
    def kernels_kept(self) -> int:
        """3x3 kernels kept over the 3x3 and depthwise layers."""
        return sum(layer.kernels_kept for layer in self.layers if layer.units == "kernels")

    @property
    def kernels_total(self) -> int:
        return sum(layer.kernels_total for layer in self.layers if layer.units == "kernels")

    @property
    def blocks_kept(self) -> int:
        """Blocks kept over the 1x1 and linear layers."""
        return sum(layer.kernels_kept for layer in self.layers if layer.units == "blocks")

    @property
    def blocks_total(self) -> int:
        return sum(layer.kernels_total for layer in self.layers if layer.units == "blocks")

    @property
    def weights_kept(self) -> int:
        return sum(layer.weights_kept for layer in self.layers)

    @property
    def weights_total(self) -> int:
        return sum(layer.weights_total for layer in self.layers)

    @property
    def sparsity(self) -> float:
        """Fraction of pruned weights over all pruned layers."""
        return 1.0 - self.weights_kept / self.weights_total if self.weights_total else 0.0

    @property
    def compression(self) -> float:
        """``weights_total / weights_kept`` over all pruned layers."""
        return self.weights_total / self.weights_kept if self.weights_kept else math.inf

    # -- text -----------------------------------------------------------------------------
    def table(self) -> str:
        """The report as a readable text table."""
        k = len(self.library)
        lines = [f"Pattern library ({k} patterns, 'x' = kept tap):"]
        for start in range(0, k, 12):
            chunk = range(start, min(k, start + 12))
            lines.append("  " + " ".join(f"{'p' + str(i):<4}" for i in chunk).rstrip())
            for r in range(3):
                row = []
                for i in chunk:
                    taps = set(self.library[i])
                    row.append(f"{''.join('x' if (r, c) in taps else '.' for c in range(3)):<4}")
                lines.append("  " + " ".join(row).rstrip())
        lines.append("")

        headers = ["layer", "kind", "shape", "ratio", "block", "kept", "weights kept"]
        headers += ["kept share", "sparsity"] + [f"p{i}" for i in range(k)]
        rows: list[list[str]] = []
        for layer in self.layers:
            blocks = layer.units == "blocks"
            rows.append(
                [
                    layer.name,
                    KIND_LABELS.get(layer.kind, layer.kind),
                    "x".join(str(d) for d in layer.shape),
                    "" if layer.ratio is None else f"{layer.ratio:g}",
                    "x".join(map(str, layer.block)) if layer.block else "",
                    f"{layer.kernels_kept}/{layer.kernels_total} {layer.units}",
                    f"{layer.weights_kept}/{layer.weights_total}",
                    f"{100 * layer.kept_share:.1f}%",
                    f"{100 * layer.sparsity:.1f}%",
                    *("-" if blocks else str(c) for c in layer.pattern_histogram),
                ]
            )
        totals = [sum(layer.pattern_histogram[i] for layer in self.layers) for i in range(k)]
        kept = []
        if self.kernels_total:
            kept.append(f"{self.kernels_kept}/{self.kernels_total} kernels")
        if self.blocks_total:
            kept.append(f"{self.blocks_kept}/{self.blocks_total} blocks")
        rows.append(
            [
                "total",
                "",
                "",
                "",
                "",
                ", ".join(kept),
                f"{self.weights_kept}/{self.weights_total}",
                f"{100 * (1 - self.sparsity):.1f}%",
                f"{100 * self.sparsity:.1f}%",
                *(str(c) for c in totals),
            ]
        )
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headers)]

        def fmt(cells: Sequence[str]) -> str:
            out = [c.ljust(w) for c, w in zip(cells[:5], widths[:5], strict=False)]
            out += [c.rjust(w) for c, w in zip(cells[5:], widths[5:], strict=False)]
            return "  ".join(out).rstrip()

        lines.append(fmt(headers))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(fmt(r) for r in rows[:-1])
        lines.append("  ".join("-" * w for w in widths))
        lines.append(fmt(rows[-1]))
        lines.append(
            f"pruned layers: {self.weights_kept}/{self.weights_total} weights kept, "
            f"{self.compression:.1f}x fewer"
        )
        groups = sorted({layer.group for layer in self.layers if layer.group > 1})
        if groups:
            lines.append(
                "filter groups: 3x3 filters in groups of "
                + ", ".join(map(str, groups))
                + " share kernel positions and patterns"
            )

        admm = [h for h in self.history if h.phase == "admm"]
        if admm and admm[0].pattern_residual is not None:
            first, last = admm[0], admm[-1]
            lines.append(
                f"ADMM ({len(admm)} epochs): ||W-Z|| {first.pattern_residual:.4g} -> "
                f"{last.pattern_residual:.4g}, ||W-Y|| {first.connectivity_residual:.4g} -> "
                f"{last.connectivity_residual:.4g}, rho {first.rho:.3g} -> {last.rho:.3g}"
            )
        accs = []
        if self.accuracy_before is not None:
            accs.append(f"dense {100 * self.accuracy_before:.2f}%")
        if self.accuracy_hard_pruned is not None:
            accs.append(f"hard-pruned {100 * self.accuracy_hard_pruned:.2f}%")
        if self.accuracy_after is not None:
            accs.append(f"after retraining {100 * self.accuracy_after:.2f}%")
        if accs:
            line = "accuracy: " + " -> ".join(accs)
            if self.accuracy_before is not None and self.accuracy_after is not None:
                line += f" ({100 * (self.accuracy_after - self.accuracy_before):+.2f} pp)"
            lines.append(line)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    # -- figure ---------------------------------------------------------------------------
    def save_figure(self, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
        """Save a PNG of the pattern library (3x3 grids) and the per-layer pattern use."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        k = len(self.library)
        ncols = min(k, 12)
        nrows = math.ceil(k / ncols)
        n_layers = max(1, len(self.layers))
        width = max(9.0, 0.8 * ncols + 1.0)
        height = 1.0 * nrows + 0.45 * n_layers + 1.6
        fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(
            nrows + 1, ncols, height_ratios=[1.0] * nrows + [0.45 * n_layers + 0.6]
        )
        colors = _pattern_colors(k)
        for i, pattern in enumerate(self.library):
            ax = fig.add_subplot(grid[i // ncols, i % ncols])
            img = [[0.0] * 3 for _ in range(3)]
            for r, c in pattern:
                img[r][c] = 1.0
            ax.imshow(img, cmap="Greys", vmin=0.0, vmax=1.0)
            for edge in range(4):
                ax.axhline(edge - 0.5, color="0.6", lw=0.6)
                ax.axvline(edge - 0.5, color="0.6", lw=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colors[i])
                spine.set_linewidth(2.0)
            ax.set_title(f"p{i}", fontsize=8)

        ax = fig.add_subplot(grid[nrows, :])
        names = [
            f"{layer.name} ({KIND_LABELS.get(layer.kind, layer.kind)})" for layer in self.layers
        ]
        left = [0.0] * len(self.layers)
        for i in range(k):
            frac = [
                layer.pattern_histogram[i] / layer.kernels_kept
                if layer.kernels_kept and layer.units == "kernels"
                else 0.0
                for layer in self.layers
            ]
            ax.barh(names, frac, left=left, color=colors[i], label=f"p{i}")
            left = [a + b for a, b in zip(left, frac, strict=False)]
        block_share = [
            layer.kept_share if layer.units == "blocks" else 0.0 for layer in self.layers
        ]
        if any(layer.units == "blocks" for layer in self.layers):
            ax.barh(
                names, block_share, color="0.55", hatch="//", edgecolor="0.3", label="kept blocks"
            )
        for y, layer in enumerate(self.layers):
            text = f"{layer.kernels_kept}/{layer.kernels_total} {layer.units}"
            if layer.block:
                text += f" {layer.block[0]}x{layer.block[1]}"
            if layer.ratio is not None:
                text += f", 1/{layer.ratio:g}"
            text += f", {100 * layer.kept_share:.1f}% kept"
            ax.text(1.01, y, text, va="center", fontsize=7, transform=ax.get_yaxis_transform())
        ax.set_xlim(0.0, 1.0)
        ax.invert_yaxis()
        ax.set_xlabel(
            "3x3 / depthwise: share of kept kernels using each pattern; "
            "1x1 / linear: share of weights kept (blocks)"
        )
        if k <= 16:
            ax.legend(
                ncol=min(k + 1, 9), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.35)
            )
        title = f"{k} patterns, {100 * self.sparsity:.1f}% of pruned-layer weights removed"
        title += "".join(
            f", {sum(layer.kind == kind for layer in self.layers)} {KIND_LABELS[kind]}"
            for kind in (PATTERN, POINTWISE, LINEAR, DEPTHWISE)
            if any(layer.kind == kind for layer in self.layers)
        )
        if self.accuracy_before is not None and self.accuracy_after is not None:
            title += (
                f"; accuracy {100 * self.accuracy_before:.2f}% -> {100 * self.accuracy_after:.2f}%"
            )
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, format="png")
        return out


def _pattern_colors(k: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if k <= 20 else "viridis"]
    if k <= 20:
        return [cmap(i) for i in range(k)]
    return [cmap(i / max(1, k - 1)) for i in range(k)]
