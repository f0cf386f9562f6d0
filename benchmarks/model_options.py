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


def build(name: str, target: str, options: dict[str, int]):  # type: ignore[no-untyped-def]
    """The pruned model `name` compiled with the pass options `options`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, **options)  # type: ignore[misc]
    try:
        case = model_case(name)
        return case, _compile(case.pruned, case.x, target, 1)
    finally:
        pipeline.LowerPatdnnToVectorPass = lowering  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mobilenet_v2,resnet50")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--target", default="host")
    parser.add_argument("--a", default="channel-tiles=0", help="pass options of build a")
    parser.add_argument("--b", default="channel-tiles=1", help="pass options of build b")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"a: {args.a}  b: {args.b}")
    print(f"{'model':>14} {'threads':>7} {'a ms':>8} {'b ms':>8} {'a/b':>7}  max |diff|")
    for name in args.models.split(","):
        builds = [build(name, args.target, pass_options(o)) for o in (args.a, args.b)]
        x = builds[0][0].x.numpy()
        outs = [np.array(compiled(x)) for _, compiled in builds]
        diff = float(np.abs(outs[0] - outs[1]).max())
        for count in threads:
            for _, compiled in builds:
                compiled.num_threads = count
            calls = [_patdnn_runner(compiled, x) for _, compiled in builds]
            times = interleaved_times(calls, args.rounds, settle=True, sample=SAMPLE_SECONDS)
            a, b = (statistics.median(t) * 1e3 for t in times)
            print(f"{name:>14} {count:>7} {a:8.3f} {b:8.3f} {a / b:7.2f}  {diff:.1e}", flush=True)


if __name__ == "__main__":
    main()
