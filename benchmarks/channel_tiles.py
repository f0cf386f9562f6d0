"""A/B: flat pointwise layers with the tile over pixels against the tile over output
channels (`lower-patdnn-to-vector{channel-tiles=0}` against `channel-tiles=2`), or any
two sets of pass options (`--a`, `--b`: `channel-tiles=2,channel-panels=0`).

Both builds of every shape are compiled for the target, then timed in interleaved rounds
(one call of each build a round, in alternating order) on one thread; the table gives the
medians of the calling thread's CPU time and their ratio (a / b: above 1, b is faster).
    python benchmarks/channel_tiles.py [--rounds 9] [--target x86-avx2] [--shapes 384:64:14,...]
        [--a channel-tiles=0] [--b channel-tiles=2]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np
import torch

import patdnn
import patdnn.lowering.pipeline as pipeline

SHAPES = (
    (384, 64, 14),
    (96, 576, 14),
    (576, 96, 14),
    (1024, 256, 14),
    (256, 64, 56),
    (512, 128, 28),
    (144, 24, 56),
    (960, 160, 7),
    (320, 1280, 7),
    (512, 2048, 7),
)
"""(cin, cout, plane side) of the 1x1 layers of MobileNet-V2 and ResNet-50."""


def pass_options(text: str) -> dict[str, int]:
    """`name=value,...` pass options of `lower-patdnn-to-vector` as keyword arguments."""
    pairs = (item.split("=") for item in text.split(",") if item)
    return {name.strip().replace("-", "_"): int(value) for name, value in pairs}


def build(
    cin: int, cout: int, size: int, target: str, options: dict[str, int]
) -> patdnn.CompiledModel:
    """The layer compiled with the pass options `options`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, **options)  # type: ignore[misc]
    try:
        torch.manual_seed(0)
        layer = torch.nn.Conv2d(cin, cout, 1).eval()
        x = torch.randn(1, cin, size, size)
        return patdnn.compile(layer, x, target=target, keep_stages=False, num_threads=1)
    finally:
        pipeline.LowerPatdnnToVectorPass = lowering  # type: ignore[misc]


def cpu_ms(run: functools.partial[object], calls: int) -> float:
    start = time.thread_time()
    for _ in range(calls):
        run()
    return (time.thread_time() - start) * 1e3 / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--target", default="x86-avx2")
    parser.add_argument("--shapes", default="", help="cin:cout:size,... (default: all)")
    parser.add_argument("--a", default="channel-tiles=0", help="pass options of build a")
    parser.add_argument("--b", default="channel-tiles=2", help="pass options of build b")
    args = parser.parse_args()
    shapes = (
        [tuple(int(n) for n in s.split(":")) for s in args.shapes.split(",")]
        if args.shapes
        else list(SHAPES)
    )
    options = [pass_options(args.a), pass_options(args.b)]
    print(f"a: {args.a}  b: {args.b}")
    print(f"{'layer':>16} {'a ms':>8} {'b ms':>8} {'a/b':>7}  max |diff|")
    for cin, cout, size in shapes:
        x = np.random.default_rng(0).standard_normal((1, cin, size, size)).astype(np.float32)
        builds = [build(cin, cout, size, args.target, o) for o in options]
        outs = [b(x) for b in builds]
        diff = float(np.abs(outs[0] - outs[1]).max())
        runs = [functools.partial(b, x) for b in builds]
        first = cpu_ms(runs[0], 3)
        calls = max(3, int(100 / max(first, 0.01)))  # about 0.1 s a timing
        times: list[list[float]] = [[], []]
        for r in range(args.rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for i in order:
                times[i].append(cpu_ms(runs[i], calls))
        off, on = (statistics.median(t) for t in times)
        name = f"{cin}->{cout}@{size}"
        print(f"{name:>16} {off:8.3f} {on:8.3f} {off / on:7.2f}  {diff:.1e}", flush=True)


if __name__ == "__main__":
    main()
