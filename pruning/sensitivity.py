"""Per-layer sensitivity: how much accuracy each layer costs when it alone is pruned.

:func:`layer_sensitivity` hard-prunes one layer at a time (pattern projection with the
model's library, then connectivity at each ratio asked for), with every other layer
dense and no retraining, and measures validation accuracy. Layers that lose little can
take a higher connectivity ratio; :meth:`SensitivityReport.suggest` turns the table
into the per-layer mapping ``patdnn.prune(connectivity=...)`` accepts::

    from patdnn.pruning.sensitivity import layer_sensitivity

    sens = layer_sensitivity(model, val_loader, connectivity=(2.0, 3.6, 6.0))
    print(sens.table())
    sens.save_figure("sensitivity.png")
    result = patdnn.prune(model, train_loader, connectivity=sens.suggest(max_drop=2.0))
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from patdnn.pruning.distributed import unwrap
from patdnn.pruning.errors import PruningError
from patdnn.pruning.layers import select_layers
from patdnn.pruning.patterns import (
    Library,
    check_connectivity,
    extract_library,
    hard_prune_mask,
    normalize_library,
)
from patdnn.pruning.training import evaluate


@dataclass(frozen=True)
class LayerSensitivity:
    """Accuracy with layer ``name`` alone pruned, per connectivity ratio."""

    name: str
    kernels_total: int
    accuracy: tuple[float, ...]


@dataclass(frozen=True)
class SensitivityReport:
    """The result of :func:`layer_sensitivity`; accuracies in [0, 1]."""

    library: Library
    connectivity: tuple[float, ...]
    dense_accuracy: float
    layers: tuple[LayerSensitivity, ...]

    def table(self) -> str:
        """Accuracy and drop against dense, one row per layer, one column per ratio."""
        heads = ["layer", "kernels"] + [f"conn {c:g}" for c in self.connectivity]
        rows = [
            [
                layer.name,
                str(layer.kernels_total),
                *(
                    f"{100 * a:.2f}% ({100 * (a - self.dense_accuracy):+.2f})"
                    for a in layer.accuracy
                ),
            ]
            for layer in self.layers
        ]
        widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(heads)]

        def fmt(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join(
                [first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False))]
            )

        lines = [
            f"per-layer sensitivity: each layer alone pruned to {len(self.library)} patterns "
            f"at the given connectivity, no retraining; dense {100 * self.dense_accuracy:.2f}%",
            fmt(heads),
            "  ".join("-" * w for w in widths),
            *(fmt(r) for r in rows),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def suggest(self, max_drop: float = 1.0) -> dict[str, float]:
        """Per layer, the largest measured ratio whose drop is at most ``max_drop``
        percentage points (the smallest measured ratio if none is)."""
        out = {}
        for layer in self.layers:
            ok = [
                c
                for c, a in zip(self.connectivity, layer.accuracy, strict=False)
                if 100 * (self.dense_accuracy - a) <= max_drop
            ]
            out[layer.name] = max(ok) if ok else min(self.connectivity)
        return out

    def save_figure(self, path: str | os.PathLike[str], *, dpi: int = 120) -> Path:
        """PNG: accuracy against connectivity, one line per layer, dense as a dashed line."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.0), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        for layer in self.layers:
            ax.plot(
                self.connectivity, [100 * a for a in layer.accuracy], marker="o", label=layer.name
            )
        ax.axhline(100 * self.dense_accuracy, color="0.3", ls="--", lw=1.0, label="dense")
        ax.set_xlabel("connectivity (1 in N kernels kept)")
        ax.set_ylabel("validation accuracy, %")
        ax.set_title(
            f"each layer alone pruned ({len(self.library)} patterns, no retraining)", fontsize=9
        )
        ax.grid(True, lw=0.4, alpha=0.5)
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, format="png")
        return out


def layer_sensitivity(
    model: nn.Module,
    val_loader: Iterable[Any],
    *,
    connectivity: float | Sequence[float] = (2.0, 3.6, 6.0),
    num_patterns: int = 8,
    library: Iterable[Iterable[tuple[int, int]]] | None = None,
    include: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
) -> SensitivityReport:
    """Accuracy of ``model`` on ``val_loader`` with each prunable layer alone hard-pruned
    (pattern + connectivity, no retraining) at each ratio of ``connectivity``.

    The model is left unchanged (each layer's weight is restored after measuring).
    """
    inner = unwrap(model)
    ratios = (
        (check_connectivity(connectivity),)
        if isinstance(connectivity, (int, float))
        else tuple(check_connectivity(c) for c in connectivity)
    )
    if not ratios:
        raise PruningError("connectivity must hold at least one ratio")
    layers = select_layers(inner, include, exclude)
    lib = (
        normalize_library(library)
        if library is not None
        else extract_library(inner, num_patterns, include=include, exclude=exclude)
    )
    dense = evaluate(inner, val_loader)
    results = []
    for name, conv in layers.items():
        original = conv.weight.detach().clone()
        accs = []
        try:
            for c in ratios:
                with torch.no_grad():
                    conv.weight.mul_(hard_prune_mask(original, lib, c).to(original.dtype))
                accs.append(evaluate(inner, val_loader))
                with torch.no_grad():
                    conv.weight.copy_(original)
        finally:
            with torch.no_grad():
                conv.weight.copy_(original)
        n = original[..., 0, 0].numel()
        results.append(LayerSensitivity(name, n, tuple(accs)))
    return SensitivityReport(lib, ratios, dense, tuple(results))
