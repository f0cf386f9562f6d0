"""Benchmark: pattern convolution vs PyTorch dense on the VGG-16 3x3 layer shapes.

For each (C, H) in (64,224), (128,112), (256,56), (512,28), (512,14): a C->C 3x3 conv,
padding 1, batch 1, pattern-pruned to 8 patterns of 4 taps with 1 in 3.6 kernels kept.
Reports the median host latency of the compiled pattern conv and of PyTorch's dense
conv (same machine, same run, one thread), their ratio, and effective GFLOP/s counting
the non-zero MACs. Run: `patdnn bench layers` or `python benchmarks/layers.py`.

`patdnn bench models` (`bench_models`): whole VGG-16 and ResNet-50, pattern-pruned
(8 patterns, connectivity 3.6 on the 3x3 layers after the first), compiled for the host,
against PyTorch dense and ONNX Runtime dense of the same architecture, one thread each,
in one run, with the MAC reduction alongside.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from patdnn.runtime.timing import interleaved_times

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
    """Projects `conv`'s weights in place onto `library` and 1 in `connectivity` kernels."""
    from patdnn.pruning import project_both

    with torch.no_grad():
        conv.weight.copy_(project_both(conv.weight, tuple(map(tuple, library)), connectivity))


@dataclass
class LayerResult:
    channels: int
    size: int
    patdnn_ms: float
    torch_ms: float
    nonzero_macs: int
    dense_macs: int
    max_error: float
    tuned_ms: float | None = None
    tuning: dict[str, int] | None = None

    @property
    def best_ms(self) -> float:
        return min(self.patdnn_ms, self.tuned_ms or self.patdnn_ms)

    @property
    def speedup(self) -> float:
        return self.torch_ms / self.best_ms

    @property
    def gflops(self) -> float:
        return 2 * self.nonzero_macs / (self.best_ms * 1e-3) / 1e9


def bench_layer(
    channels: int, size: int, repeat: int, vector_width: int | None, tune: bool = False
) -> LayerResult:
    """One VGG layer shape: the compiled pattern conv (default tiles, and auto-tuned when
    `tune`) against PyTorch's dense conv, timed in interleaved rounds."""
    import patdnn

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).eval()
    pattern_prune(conv)
    x = torch.randn(1, channels, size, size)
    variants = [False, True] if tune else [False]
    compiled = [
        patdnn.compile(conv, x, target="host", vector_width=vector_width, keep_stages=False, tune=t)
        for t in variants
    ]
    xn = x.numpy()
    with torch.no_grad():
        ref = conv(x).numpy()
    out_buf = np.empty_like(ref)
    error = 0.0
    calls: list[Callable[[], object]] = []
    for c in compiled:
        out = c(xn)
        error = max(error, float(np.abs(out - ref).max() / max(1.0, np.abs(ref).max())))
        runner, weights = c._get_runner(), c.weights
        calls.append(lambda r=runner, w=weights: r(xn, weights=w, out=out_buf))

    def dense() -> object:
        with torch.no_grad():
            return conv(x)

    times = interleaved_medians([dense, *calls], repeat)
    nnz = int((conv.weight != 0).sum())
    return LayerResult(
        channels,
        size,
        patdnn_ms=times[1] * 1e3,
        torch_ms=times[0] * 1e3,
        nonzero_macs=nnz * size * size,
        dense_macs=conv.weight.numel() * size * size,
        max_error=error,
        tuned_ms=times[2] * 1e3 if tune else None,
        tuning=compiled[1].tuning[0].best if tune and compiled[1].tuning else None,
    )


def interleaved_medians(calls: Sequence[Callable[[], object]], repeat: int) -> list[float]:
    """The median time of each call over `repeat` interleaved rounds."""
    return [statistics.median(t) for t in interleaved_times(calls, repeat)]


def format_table(results: Sequence[LayerResult]) -> str:
    tuned = any(r.tuned_ms is not None for r in results)
    head = "| layer (C, HxW) | patdnn ms | "
    rule = "|---|---:|"
    if tuned:
        head += "tuned ms | tile (rows x cols, prefetch) | "
        rule += "---:|---|"
    lines = [
        head + "PyTorch dense ms | speedup | GFLOP/s (non-zero) | MAC reduction | rel. error |",
        rule + "---:|---:|---:|---:|---:|",
    ]
    for r in results:
        row = f"| {r.channels}, {r.size}x{r.size} | {r.patdnn_ms:.2f} | "
        if tuned:
            tile = (
                f"{r.tuning['rows']} x {r.tuning['cols']}, {r.tuning['prefetch']}"
                if r.tuning
                else "default"
            )
            row += f"{r.tuned_ms:.2f} | {tile} | "
        lines.append(
            row + f"{r.torch_ms:.2f} | {r.speedup:.2f}x | {r.gflops:.1f} | "
            f"{r.dense_macs / r.nonzero_macs:.1f}x | {r.max_error:.1e} |"
        )
    return "\n".join(lines)


def bench_layers(
    shapes: Sequence[tuple[int, int]] = VGG_LAYERS,
    repeat: int = 10,
    vector_width: int | None = None,
    progress: Callable[[LayerResult], None] | None = None,
    tune: bool = False,
) -> list[LayerResult]:
    """Benchmarks each (channels, size) layer with PyTorch on one thread."""
    torch.set_num_threads(1)
    results = []
    for channels, size in shapes:
        r = bench_layer(channels, size, repeat, vector_width, tune)
        if progress is not None:
            progress(r)
        results.append(r)
    return results


def print_progress(r: LayerResult) -> None:
    tuned = f" (tuned {r.tuned_ms:.2f} ms)" if r.tuned_ms is not None else ""
    print(
        f"C={r.channels} H=W={r.size}: patdnn {r.patdnn_ms:.2f} ms{tuned}, torch "
        f"{r.torch_ms:.2f} ms, {r.speedup:.2f}x, {r.gflops:.1f} GFLOP/s",
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
    parser.add_argument("--tune", action="store_true", help="also report the auto-tuned layers")
    args = parser.parse_args(argv)
    results = bench_layers(
        select_shapes(args.layers),
        args.repeat,
        args.vector_width,
        progress=print_progress,
        tune=args.tune,
    )
    print()
    print(format_table(results))


@dataclass
class ModelResult:
    name: str
    size: int
    patdnn_ms: float
    torch_ms: float
    onnx_ms: float | None
    dense_macs: int
    macs: int
    compile_s: float
    max_error: float
    tuned_ms: float | None = None
    tune_s: float | None = None

    @property
    def best_ms(self) -> float:
        return min(self.patdnn_ms, self.tuned_ms or self.patdnn_ms)


def _onnx_session(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object] | None:
    """ONNX Runtime (one thread) on the dense model, or None when it is not installed."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    import io

    buffer = io.BytesIO()
    torch.onnx.export(model, (x,), buffer, input_names=["x"], dynamo=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
    feed = {"x": x.numpy()}
    return lambda: session.run(None, feed)


def bench_model(name: str, size: int, repeat: int, tune: bool = False) -> ModelResult:
    """One zoo model: pattern-pruned and compiled (and auto-tuned when `tune`) against the
    dense model in PyTorch and ONNX Runtime, timed in interleaved rounds."""
    import patdnn
    from patdnn.frontend.zoo import get_model
    from patdnn.pruning.project import project_model

    torch.manual_seed(0)
    dense = get_model(name).eval()
    x = torch.randn(1, 3, size, size)
    pruned = get_model(name).eval()
    pruned.load_state_dict(dense.state_dict())
    project_model(pruned, library=PATTERNS_8, connectivity=3.6)
    start = time.perf_counter()
    compiled = patdnn.compile(pruned, x, target="host", keep_stages=False)
    compile_s = time.perf_counter() - start
    tuned, tune_s = None, None
    if tune:
        start = time.perf_counter()
        tuned = patdnn.compile(pruned, x, target="host", keep_stages=False, tune=True)
        tune_s = time.perf_counter() - start
    xn = x.numpy()
    with torch.no_grad():
        ref = pruned(x).numpy()
    error = max(
        float(np.abs(c(xn) - ref).max() / max(1e-30, np.abs(ref).max()))
        for c in [compiled, *([tuned] if tuned else [])]
    )

    def run_dense() -> object:
        with torch.no_grad():
            return dense(x)

    onnx = _onnx_session(dense, x)
    calls: list[Callable[[], object]] = [run_dense, lambda: compiled(xn)]
    if tuned is not None:
        calls.append(lambda: tuned(xn))
    if onnx is not None:
        calls.append(onnx)
    times = [t * 1e3 for t in interleaved_medians(calls, repeat)]
    return ModelResult(
        name,
        size,
        patdnn_ms=times[1],
        torch_ms=times[0],
        onnx_ms=times[-1] if onnx is not None else None,
        dense_macs=sum(layer.dense_macs for layer in compiled.layers),
        macs=sum(layer.macs for layer in compiled.layers),
        compile_s=compile_s,
        max_error=error,
        tuned_ms=times[2] if tuned is not None else None,
        tune_s=tune_s,
    )


def format_model_table(results: Sequence[ModelResult]) -> str:
    tuned = any(r.tuned_ms is not None for r in results)
    head = "| model | patdnn ms | " + ("tuned ms | " if tuned else "")
    rule = "|---|---:|" + ("---:|" if tuned else "")
    lines = [
        head + "PyTorch dense ms | ONNX Runtime dense ms | vs PyTorch | vs ONNX Runtime "
        "| conv MACs dense / pruned | compile s | rel. error |",
        rule + "---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        onnx = f"{r.onnx_ms:.1f}" if r.onnx_ms is not None else "n/a"
        vs_onnx = f"{r.onnx_ms / r.best_ms:.2f}x" if r.onnx_ms is not None else "n/a"
        compile_s = f"{r.compile_s:.1f}" + (f" (+tuning {r.tune_s:.0f})" if r.tune_s else "")
        row = f"| {r.name} {r.size}x{r.size} | {r.patdnn_ms:.1f} | "
        if tuned:
            row += f"{r.tuned_ms:.1f} | " if r.tuned_ms is not None else "n/a | "
        lines.append(
            row + f"{r.torch_ms:.1f} | {onnx} | {r.torch_ms / r.best_ms:.2f}x | {vs_onnx} | "
            f"{r.dense_macs / 1e9:.2f}G / {r.macs / 1e9:.2f}G ({r.dense_macs / r.macs:.1f}x) | "
            f"{compile_s} | {r.max_error:.1e} |"
        )
    return "\n".join(lines)


def bench_models(argv: Sequence[str] | None = None) -> None:
    """`patdnn bench models`: whole-model latency against PyTorch and ONNX Runtime."""
    parser = argparse.ArgumentParser(prog="patdnn bench models", description=bench_models.__doc__)
    parser.add_argument("--models", default="vgg16,resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tune", action="store_true", help="also report the auto-tuned models")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for name in args.models.split(","):
        r = bench_model(name.strip(), args.size, args.repeat, args.tune)
        onnx = f"{r.onnx_ms:.1f} ms" if r.onnx_ms is not None else "n/a"
        tuned = f" (tuned {r.tuned_ms:.1f} ms)" if r.tuned_ms is not None else ""
        print(
            f"{r.name}: patdnn {r.patdnn_ms:.1f} ms{tuned}, PyTorch {r.torch_ms:.1f} ms, "
            f"ONNX Runtime {onnx}, compile {r.compile_s:.1f} s",
            flush=True,
        )
        results.append(r)
    print()
    print(format_model_table(results))
