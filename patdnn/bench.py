"""Benchmark: pattern convolution vs PyTorch dense on the VGG-16 3x3 layer shapes.

For each (C, H) in (64,224), (128,112), (256,56), (512,28), (512,14): a C->C 3x3 conv,
padding 1, batch 1, pattern-pruned to 8 patterns of 4 taps with 1 in 3.6 kernels kept.
Reports the median host latency of the compiled pattern conv and of PyTorch's dense
conv (same machine, same run, one thread), their ratio, and effective GFLOP/s counting
the non-zero MACs. Run: `patdnn bench layers` or `python benchmarks/layers.py`.

`patdnn bench models` calls `bench_models(argv)` of this module when it defines one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

VGG_LAYERS: tuple[tuple[int, int], ...] = ((64, 224), (128, 112), (256, 56), (512, 28), (512, 14))

# The centre and three of its neighbours: 8 patterns as in PatDNN's 8-pattern library.
PATTERNS_8: tuple[tuple[tuple[int, int], ...], ...] = (
    ((0, 1), (1, 0), (1, 1), (1, 2)),
    ((0, 1), (1, 1), (1, 2), (2, 1)),
    ((1, 0), (1, 1), (1, 2), (2, 1)),
    ((0, 1), (1, 0), (1, 1), (2, 1)),
    ((0, 0), (0, 1), (1, 0), (1, 1)),
    ((0, 1), (0, 2), (1, 1), (1, 2)),
    ((1, 1), (1, 2), (2, 1), (2, 2)),
    ((1, 0), (1, 1), (2, 0), (2, 1)),
)


def pattern_prune(
    conv: torch.nn.Conv2d,
    library: Sequence[Sequence[tuple[int, int]]] = PATTERNS_8,
    connectivity: float = 3.6,
) -> None:
    """Projects `conv`'s weights in place: best-energy pattern per kernel, then keeps
    the 1 in `connectivity` kernels of largest norm."""
    w = conv.weight.detach()
    cout, cin = w.shape[:2]
    masks = torch.zeros(len(library), 3, 3)
    for p, taps in enumerate(library):
        for r, c in taps:
            masks[p, r, c] = 1
    energy = torch.einsum("oikl,pkl->oip", w * w, masks)
    best = energy.argmax(dim=2)
    mask = masks[best]
    norms = (w * mask).pow(2).sum(dim=(2, 3)).flatten()
    keep = max(1, round(norms.numel() / connectivity))
    kept = torch.zeros_like(norms)
    kept[norms.topk(keep).indices] = 1
    mask = mask * kept.view(cout, cin, 1, 1)
    with torch.no_grad():
        conv.weight.mul_(mask)


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class LayerResult:
    channels: int
    size: int
    patdnn_ms: float
    torch_ms: float
    nonzero_macs: int
    dense_macs: int
    max_error: float

    @property
    def speedup(self) -> float:
        return self.torch_ms / self.patdnn_ms

    @property
    def gflops(self) -> float:
        return 2 * self.nonzero_macs / (self.patdnn_ms * 1e-3) / 1e9


def bench_layer(channels: int, size: int, repeat: int, vector_width: int | None) -> LayerResult:
    import patdnn

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).eval()
    pattern_prune(conv)
    x = torch.randn(1, channels, size, size)
    compiled = patdnn.compile(conv, x, target="host", vector_width=vector_width, keep_stages=False)
    xn = x.numpy()
    out = compiled(xn)
    with torch.no_grad():
        ref = conv(x).numpy()
        torch_ms = median_time(lambda: conv(x), repeat) * 1e3
    runner = compiled._get_runner()
    weights = compiled.weights
    out_buf = np.empty_like(ref)
    patdnn_ms = median_time(lambda: runner(xn, weights=weights, out=out_buf), repeat) * 1e3
    nnz = int((conv.weight != 0).sum())
    return LayerResult(
        channels,
        size,
        patdnn_ms,
        torch_ms,
        nonzero_macs=nnz * size * size,
        dense_macs=conv.weight.numel() * size * size,
        max_error=float(np.abs(out - ref).max() / max(1.0, np.abs(ref).max())),
    )


def format_table(results: Sequence[LayerResult]) -> str:
    lines = [
        "| layer (C, HxW) | patdnn ms | PyTorch dense ms | speedup | GFLOP/s (non-zero) "
        "| MAC reduction | rel. error |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.channels}, {r.size}x{r.size} | {r.patdnn_ms:.2f} | {r.torch_ms:.2f} | "
            f"{r.speedup:.2f}x | {r.gflops:.1f} | {r.dense_macs / r.nonzero_macs:.1f}x | "
            f"{r.max_error:.1e} |"
        )
    return "\n".join(lines)


def bench_layers(
    shapes: Sequence[tuple[int, int]] = VGG_LAYERS,
    repeat: int = 10,
    vector_width: int | None = None,
    progress: Callable[[LayerResult], None] | None = None,
) -> list[LayerResult]:
    """Benchmarks each (channels, size) layer with PyTorch on one thread."""
    torch.set_num_threads(1)
    results = []
    for channels, size in shapes:
        r = bench_layer(channels, size, repeat, vector_width)
        if progress is not None:
            progress(r)
        results.append(r)
    return results


def print_progress(r: LayerResult) -> None:
    print(
        f"C={r.channels} H=W={r.size}: patdnn {r.patdnn_ms:.2f} ms, torch {r.torch_ms:.2f} ms, "
        f"{r.speedup:.2f}x, {r.gflops:.1f} GFLOP/s",
        flush=True,
    )


def select_shapes(spec: str) -> list[tuple[int, int]]:
    """`all` or comma-separated indices into `VGG_LAYERS` (e.g. `0,2`)."""
    if spec == "all":
        return list(VGG_LAYERS)
    try:
        return [VGG_LAYERS[int(i)] for i in spec.split(",")]
    except (ValueError, IndexError):
        raise ValueError(
            f"--layers {spec!r}: expected 'all' or indices 0..{len(VGG_LAYERS) - 1} "
            "separated by commas"
        ) from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--vector-width", type=int, default=None)
    parser.add_argument("--layers", default="all", help="e.g. 0,2 for the first and third shape")
    args = parser.parse_args(argv)
    results = bench_layers(
        select_shapes(args.layers), args.repeat, args.vector_width, progress=print_progress
    )
    print()
    print(format_table(results))
