"""A/B: single layers (the `vgg` and `dense` suites of `patdnn bench layers`) compiled
with two sets of `lower-patdnn-to-vector` pass options (`--a`, `--b`, as in
`channel_tiles.py`), timed at each thread count in the same interleaved rounds (wall time
of ~50 ms streams of calls, `runtime.timing.interleaved_times`); the table gives the
medians and their ratio (a / b: above 1, b is faster) and the largest difference of the
two builds' outputs.

    python benchmarks/layer_options.py [--suite vgg] [--layers 0,2] [--threads 1,2]
        [--rounds 9] [--a output-prefetch=0] [--b output-prefetch=1] [--target host]
"""

from __future__ import annotations

import argparse
import functools
import statistics

import numpy as np
from channel_tiles import pass_options  # the sibling script

import patdnn.lowering.pipeline as pipeline
from patdnn.bench.core import SAMPLE_SECONDS, _compile, _patdnn_runner, suite_cases
from patdnn.runtime.timing import interleaved_times


def build(case, target: str, options: dict[str, int]):  # type: ignore[no-untyped-def]
    """The case's pruned layer compiled with the pass options `options`."""
    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, **options)  # type: ignore[misc]
    try:
        return _compile(case.pruned, case.x, target, 1)
    finally:
        pipeline.LowerPatdnnToVectorPass = lowering  # type: ignore[misc]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="vgg")
    parser.add_argument("--layers", default="all")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--target", default="host")
    parser.add_argument("--a", default="output-prefetch=0", help="pass options of build a")
    parser.add_argument("--b", default="output-prefetch=1", help="pass options of build b")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"a: {args.a}  b: {args.b}")
    print(f"{'layer':>28} {'threads':>7} {'a ms':>8} {'b ms':>8} {'a/b':>7}  max |diff|")
    for case in suite_cases(args.suite, args.layers):
        builds = [build(case, args.target, pass_options(o)) for o in (args.a, args.b)]
        x = case.x.numpy()
        outs = [np.array(compiled(x)) for compiled in builds]
        diff = float(np.abs(outs[0] - outs[1]).max())
        for count in threads:
            for compiled in builds:
                compiled.num_threads = count
            calls = [_patdnn_runner(compiled, x) for compiled in builds]
            times = interleaved_times(calls, args.rounds, settle=True, sample=SAMPLE_SECONDS)
            a, b = (statistics.median(t) * 1e3 for t in times)
            print(
                f"{case.name:>28} {count:>7} {a:8.3f} {b:8.3f} {a / b:7.2f}  {diff:.1e}", flush=True
            )


if __name__ == "__main__":
    main()
