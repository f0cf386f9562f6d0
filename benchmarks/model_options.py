"""A/B: whole zoo models, pruned with `patdnn prune`'s defaults, compiled with two sets
of `lower-patdnn-to-vector` pass options (`--a`, `--b`, as in `channel_tiles.py`), timed
at each thread count in the same interleaved rounds (wall time of ~50 ms streams of
calls, `runtime.timing.interleaved_times`); the table gives the medians and their ratio
(a / b: above 1, b is faster).

    python benchmarks/model_options.py [--models mobilenet_v2,resnet50] [--threads 1,2]
        [--rounds 9] [--a channel-tiles=0] [--b channel-tiles=1] [--target host]
"""

from __future__ import annotations

import argparse
import functools
import statistics

import numpy as np
from channel_tiles import pass_options  # the sibling script

import patdnn.lowering.pipeline as pipeline
from patdnn.bench.core import SAMPLE_SECONDS, _compile, _patdnn_runner, model_case
from patdnn.runtime.timing import interleaved_times


def compile_with(model, x, target: str, options: dict[str, int]):  # type: ignore[no-untyped-def]
    """`model` compiled for `target` with the pass options `options`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, **options)  # type: ignore[misc]
    try:
        return _compile(model, x, target, 1)
    finally:
        pipeline.LowerPatdnnToVectorPass = lowering  # type: ignore[misc]


def compare(name: str, builds, x: np.ndarray, threads: list[int], rounds: int) -> None:  # type: ignore[no-untyped-def]
    """Times the two `builds` on `x` in the same interleaved rounds at each thread count
    and prints a row of the table each."""
    outs = [np.array(compiled(x)) for compiled in builds]
    diff = float(np.abs(outs[0] - outs[1]).max())
    for count in threads:
        for compiled in builds:
            compiled.num_threads = count
        calls = [_patdnn_runner(compiled, x) for compiled in builds]
        times = interleaved_times(calls, rounds, settle=True, sample=SAMPLE_SECONDS)
        a, b = (statistics.median(t) * 1e3 for t in times)
        print(f"{name:>28} {count:>7} {a:8.3f} {b:8.3f} {a / b:7.2f}  {diff:.1e}", flush=True)


def parse(description: str, default: str):  # type: ignore[no-untyped-def]
    """The options both scripts take; `default`, of the cases to run."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", default=default, help="models or layers, comma-separated")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--target", default="host")
    parser.add_argument("--a", default="channel-tiles=0", help="pass options of build a")
    parser.add_argument("--b", default="channel-tiles=1", help="pass options of build b")
    return parser


def main() -> None:
    parser = parse(__doc__.splitlines()[0], "mobilenet_v2,resnet50")
    parser.add_argument("--models", dest="cases", help="the models (as --cases)")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"a: {args.a}  b: {args.b}")
    print(f"{'model':>28} {'threads':>7} {'a ms':>8} {'b ms':>8} {'a/b':>7}  max |diff|")
    for name in args.cases.split(","):
        case = model_case(name)
        builds = [
            compile_with(case.pruned, case.x, args.target, pass_options(o))
            for o in (args.a, args.b)
        ]
        compare(name, builds, case.x.numpy(), threads, args.rounds)


if __name__ == "__main__":
    main()
