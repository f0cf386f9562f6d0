"""A/B: flat pointwise layers with the tile over pixels against the tile over output
channels (`lower-patdnn-to-vector{channel-tiles=0}` against `channel-tiles=2`).

Both builds of every shape are compiled for the target, then timed in interleaved rounds
(one call of each build a round, in alternating order) on one thread; the table gives the
medians of the calling thread's CPU time and their ratio (off / on: above 1, the tile
over output channels is faster).
    python benchmarks/channel_tiles.py [--rounds 9] [--target x86-avx2] [--shapes 384:64:14,...]
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


def build(cin: int, cout: int, size: int, target: str, mode: int) -> patdnn.CompiledModel:
    """The layer compiled with `channel-tiles=mode`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, channel_tiles=mode)  # type: ignore[misc]
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
    args = parser.parse_args()
    shapes = (
        [tuple(int(n) for n in s.split(":")) for s in args.shapes.split(",")]
        if args.shapes
        else list(SHAPES)
    )
    print(f"{'layer':>16} {'off ms':>8} {'on ms':>8} {'off/on':>7}  max |diff|")
    for cin, cout, size in shapes:
        x = np.random.default_rng(0).standard_normal((1, cin, size, size)).astype(np.float32)
        builds = [build(cin, cout, size, args.target, mode) for mode in (0, 2)]
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
