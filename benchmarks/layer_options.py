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

from channel_tiles import pass_options  # the sibling scripts
from model_options import compare, compile_with, parse

from patdnn.bench.core import suite_cases


def main() -> None:
    parser = parse(__doc__.splitlines()[0], "all")
    parser.add_argument("--suite", default="vgg")
    parser.add_argument("--layers", dest="cases", help="the layers (as --cases)")
    parser.set_defaults(threads="1", a="output-prefetch=0", b="output-prefetch=1")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    print(f"a: {args.a}  b: {args.b}")
    print(f"{'layer':>28} {'threads':>7} {'a ms':>8} {'b ms':>8} {'a/b':>7}  max |diff|")
    for case in suite_cases(args.suite, args.cases):
        builds = [
            compile_with(case.pruned, case.x, args.target, pass_options(o))
            for o in (args.a, args.b)
        ]
        compare(case.name, builds, case.x.numpy(), threads, args.rounds)


if __name__ == "__main__":
    main()
