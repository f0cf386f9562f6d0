"""Pattern pruning on scikit-learn's digits: dense vs ADMM vs one-shot projection.

Trains ``DigitsNet`` dense, then prunes it to 8 patterns and connectivity 3.6 (the first
conv stays dense) two ways, from the same dense weights and the same pattern library:

- ADMM: extended ADMM training, hard pruning, masked retraining;
- one-shot: hard pruning of the dense weights, then the same masked retraining budget
  (and, as a second baseline, retraining for as many epochs as ADMM + retraining).

With ``--filter-group 2,4``, the ADMM row is repeated with the filters of every 3x3
layer in groups of G sharing their kernel positions and patterns (same dense weights,
same library, same seed): the accuracy cost of grouped pruning.

Then, on ``DigitsBlockNet`` (a depthwise 3x3 + 1x1 block and a hidden linear layer), it
compares pattern pruning alone with pattern pruning plus the 1x1 and linear defaults
(connectivity 3.6 and 1 in 10, in (4, 1) blocks; see ``prune_blocks.py``).

Prints the accuracies on the held-out split and exits with status 1 if the ADMM-pruned
model loses more than ``--max-drop`` percentage points against dense, or the 1x1 +
linear defaults cost more than ``--max-drop`` points over pattern pruning alone.

    python benchmarks/prune_digits.py [--seed 0] [--figure out.png] [--blocks-only]
        [--filter-group 2,4] [--patterns-only]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from prune_blocks import compare_block_defaults, filter_group_list, prune_in_filter_groups

from patdnn.pruning import prune
from patdnn.pruning.digits import DigitsBlockNet, DigitsNet, evaluate, load_digits, train_dense


def _block(text: str) -> tuple[int, int]:
    bo, _, bi = text.partition("x")
    return (int(bo), int(bi))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (the net is too small to gain from more; 1 also "
        "keeps the run time steady on a busy machine)",
    )
    ap.add_argument("--dense-epochs", type=int, default=30)
    ap.add_argument("--admm-epochs", type=int, default=20)
    ap.add_argument("--retrain-epochs", type=int, default=15)
    ap.add_argument("--num-patterns", type=int, default=8)
    ap.add_argument("--connectivity", type=float, default=3.6)
    ap.add_argument("--rho", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-drop", type=float, default=1.0, help="allowed loss, in points")
    ap.add_argument("--figure", default=None, help="save the ADMM report figure (PNG)")
    ap.add_argument("--progress", action="store_true", help="show progress bars")
    ap.add_argument(
        "--blocks-only", action="store_true", help="run only the DigitsBlockNet comparison"
    )
    ap.add_argument(
        "--patterns-only", action="store_true", help="skip the DigitsBlockNet comparison"
    )
    ap.add_argument(
        "--filter-group", type=filter_group_list, default=[], metavar="G,...",
        help="also ADMM-prune with 3x3 filters in groups of G sharing kernel positions "
        "and patterns (e.g. 2,4,8)",
    )  # fmt: skip
    ap.add_argument("--blocks-figure", default=None, help="save its report figure (PNG)")
    ap.add_argument(
        "--with-depthwise", action="store_true", help="add a row with depthwise patterns too"
    )
    ap.add_argument(
        "--linear-block", action="append", default=[], metavar="OUTxIN",
        help="also prune with the linear layers in these blocks (repeatable, e.g. 16x1)",
    )  # fmt: skip
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    train, val = load_digits(seed=args.seed)
    status = 0 if args.blocks_only else patterns_section(args, train, val)
    if args.patterns_only:
        return status

    t = time.perf_counter()
    blocks = compare_block_defaults(
        DigitsBlockNet,
        train,
        val,
        dense_epochs=args.dense_epochs,
        admm_epochs=args.admm_epochs,
        retrain_epochs=args.retrain_epochs,
        num_patterns=args.num_patterns,
        connectivity=args.connectivity,
        lr=args.lr,
        rho=args.rho,
        seed=args.seed,
        progress=args.progress,
        with_depthwise=args.with_depthwise,
        linear_blocks=[_block(b) for b in args.linear_block],
    )
    print()
    print(blocks.with_blocks.report.table())
    print()
    print(blocks.table())
    print(f"block comparison run time {time.perf_counter() - t:.1f}s")
    if args.blocks_figure:
        print(f"figure: {blocks.with_blocks.report.save_figure(args.blocks_figure)}")
    if blocks.cost() > args.max_drop:
        print(f"FAIL: the 1x1 + linear defaults cost {blocks.cost():.2f} pp (> {args.max_drop})")
        return 1
    print(f"OK: the 1x1 + linear defaults cost {blocks.cost():+.2f} pp (<= {args.max_drop})")
    return status


def patterns_section(args: argparse.Namespace, train, val) -> int:
    """DigitsNet: dense, ADMM, one-shot (two budgets); 1 if ADMM loses > max_drop."""
    start = time.perf_counter()
    torch.manual_seed(args.seed)
    dense = DigitsNet()
    t = time.perf_counter()
    train_dense(dense, train, args.dense_epochs, seed=args.seed, progress=args.progress)
    dense_acc = evaluate(dense, val)
    dense_time = time.perf_counter() - t

    common = dict(
        connectivity=args.connectivity,
        lr=args.lr,
        val_loader=val,
        seed=args.seed,
        progress=args.progress,
    )
    t = time.perf_counter()
    admm = prune(
        dense,
        train,
        num_patterns=args.num_patterns,
        admm_epochs=args.admm_epochs,
        retrain_epochs=args.retrain_epochs,
        rho=args.rho,
        **common,
    )
    admm_time = time.perf_counter() - t
    t = time.perf_counter()
    oneshot = prune(
        dense,
        train,
        admm_epochs=0,
        retrain_epochs=args.retrain_epochs,
        library=admm.library,
        **common,
    )
    oneshot_time = time.perf_counter() - t
    total_epochs = args.admm_epochs + args.retrain_epochs
    t = time.perf_counter()
    oneshot_long = prune(
        dense, train, admm_epochs=0, retrain_epochs=total_epochs, library=admm.library, **common
    )
    oneshot_long_time = time.perf_counter() - t
    grouped = prune_in_filter_groups(
        dense, train, args.filter_group, library=admm.library, admm_epochs=args.admm_epochs,
        retrain_epochs=args.retrain_epochs, rho=args.rho, **common,
    )  # fmt: skip
    total = time.perf_counter() - start

    print(admm.report.table())
    print()
    n_val = sum(len(y) for _, y in val)
    print(f"digits: {n_val} held-out images, seed {args.seed}, {args.threads} threads")
    rows = [
        ("dense", f"{args.dense_epochs} epochs", None, dense_acc, dense_time),
        (
            "ADMM-pruned",
            f"{args.admm_epochs} ADMM + {args.retrain_epochs} retrain",
            admm.report.accuracy_hard_pruned,
            admm.report.accuracy_after,
            admm_time,
        ),
        (
            "one-shot-pruned",
            f"{args.retrain_epochs} retrain",
            oneshot.report.accuracy_hard_pruned,
            oneshot.report.accuracy_after,
            oneshot_time,
        ),
        (
            "one-shot-pruned",
            f"{total_epochs} retrain",
            oneshot_long.report.accuracy_hard_pruned,
            oneshot_long.report.accuracy_after,
            oneshot_long_time,
        ),
    ]
    rows += [
        (
            f"ADMM, group {group}",
            f"{args.admm_epochs} ADMM + {args.retrain_epochs} retrain",
            result.report.accuracy_hard_pruned,
            result.report.accuracy_after,
            secs,
        )
        for group, result, secs in grouped
    ]
    header = ("model", "training", "hard-pruned", "final", "vs dense", "time")
    print("{:<16} {:<22} {:>11} {:>8} {:>9} {:>6}".format(*header))
    for name, budget, hard, final, secs in rows:
        assert final is not None
        hard_s = "" if hard is None else f"{100 * hard:.2f}%"
        delta = "" if name == "dense" else f"{100 * (final - dense_acc):+.2f} pp"
        print(f"{name:<16} {budget:<22} {hard_s:>11} {100 * final:>7.2f}% {delta:>9} {secs:>5.1f}s")
    print(f"total run time {total:.1f}s")

    if args.figure:
        print(f"figure: {admm.report.save_figure(args.figure)}")

    assert admm.report.accuracy_after is not None and oneshot.report.accuracy_after is not None
    drop = 100 * (dense_acc - admm.report.accuracy_after)
    diff = 100 * (admm.report.accuracy_after - oneshot.report.accuracy_after)
    verdict = "beats" if diff > 0 else ("ties" if diff == 0 else "loses to")
    print(f"ADMM {verdict} one-shot with the same retraining budget ({diff:+.2f} pp)")
    if drop > args.max_drop:
        print(f"FAIL: ADMM-pruned model loses {drop:.2f} pp (> {args.max_drop} pp)")
        return 1
    print(f"OK: ADMM-pruned model within {args.max_drop} pp of dense ({-drop:+.2f} pp)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
