"""Console output shared by the command line, the demo and the benchmarks: one line per
pipeline step with its duration, and plain-text tables of layers, tunings and libraries."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from patdnn.lowering.autotune import LayerTuning
    from patdnn.lowering.summary import LayerSummary


class StepProgress:
    """Prints one line per step with its duration: `  name ...... 1.23 s` (a compilation's
    steps are its pipeline stages, named after their passes)."""

    def __init__(self, stream: TextIO | None = None, width: int = 50) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self._start: float | None = None

    def __call__(self, step: str) -> None:
        self.done()
        self.stream.write(f"  {step} ".ljust(self.width, "."))
        self.stream.flush()
        self._start = time.perf_counter()

    def done(self, status: str | None = None) -> None:
        if self._start is not None:
            text = status or f"{time.perf_counter() - self._start:6.2f} s"
            self.stream.write(f" {text}\n")
            self.stream.flush()
            self._start = None


def format_count(n: float) -> str:
    """`1234567` -> `1.23M`."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{int(n)}"


def _field(layer: LayerSummary | Mapping[str, Any], name: str) -> Any:
    return layer[name] if isinstance(layer, Mapping) else getattr(layer, name)


def format_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    left: set[int],
    total: Sequence[str] | None = None,
) -> list[str]:
    """Lines of a plain-text table: columns in `left` left-aligned, the others right."""
    body = [*rows, *([total] if total is not None else [])]
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [fmt(headers), rule, *(fmt(r) for r in rows)]
    if total is not None:
        lines += [rule, fmt(total)]
    return lines


def tuning_table(tuning: Sequence[LayerTuning]) -> str:
    """What auto-tuning chose per layer, with the default and tuned times."""
    headers = ["layer", "shape", "tile (filters x rows x cols)", "prefetch", "default ms",
               "tuned ms", "gain"]  # fmt: skip
    rows = [
        [
            t.layer,
            t.shape,
            f"{t.best['filters']} x {t.best['rows']} x {t.best['cols']}",
            str(t.best["prefetch"]),
            f"{t.default_ms:.3f}",
            f"{t.best_ms:.3f}",
            f"{t.gain:.2f}x" + (f" (as {t.shared_with})" if t.shared_with else ""),
        ]
        for t in tuning
    ]
    return "\n".join(format_columns(headers, rows, left={0, 1, 2}))


def layer_table(layers: Sequence[LayerSummary | Mapping[str, Any]], num_patterns: int = 0) -> str:
    """The per-layer table: kind, shape, patterns, kernels kept, dense vs pruned MACs."""
    headers = ["layer", "kind", "shape", "patterns", "kernels kept", "dense MACs", "pruned MACs",
               "reduction"]  # fmt: skip
    rows: list[list[str]] = []
    dense_total = pruned_total = 0
    for layer in layers:
        dense, macs = int(_field(layer, "dense_macs")), int(_field(layer, "macs"))
        kept, kernels = int(_field(layer, "kernels_kept")), int(_field(layer, "kernels"))
        dense_total += dense
        pruned_total += macs
        kind = str(_field(layer, "kind"))
        rows.append([
            str(_field(layer, "name")),
            kind,
            str(_field(layer, "shape")),
            str(num_patterns) if "pattern" in kind and num_patterns else "-",
            f"{kept}/{kernels}" if kernels else "-",
            format_count(dense),
            format_count(macs),
            f"{dense / macs:.2f}x" if macs else "-",
        ])  # fmt: skip
    total = [
        "total", "", f"{len(rows)} layers", "", "", format_count(dense_total),
        format_count(pruned_total),
        f"{dense_total / pruned_total:.2f}x" if pruned_total else "-",
    ]  # fmt: skip
    lines = format_columns(headers, rows, left={0, 1, 2}, total=total)
    if pruned_total == dense_total:
        lines.append(f"MACs: {format_count(dense_total)} (no pattern-pruned layer)")
    elif pruned_total:
        lines.append(
            f"MACs: {format_count(dense_total)} dense -> {format_count(pruned_total)} after "
            f"pruning ({dense_total / pruned_total:.2f}x fewer)"
        )
    return "\n".join(lines)


def library_text(library: Sequence[Sequence[Sequence[int]]]) -> str:
    """The pattern library as rows of 3x3 grids ('x' = kept tap)."""
    if not library:
        return "  (no pattern layers)"
    lines = ["  " + " ".join(f"p{i:<3}" for i in range(len(library))).rstrip()]
    for r in range(3):
        cells = []
        for pattern in library:
            taps = {(int(a), int(b)) for a, b in pattern}
            cells.append("".join("x" if (r, c) in taps else "." for c in range(3)) + " ")
        lines.append("  " + " ".join(cells).rstrip())
    return "\n".join(lines)
