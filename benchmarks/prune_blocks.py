"""Pattern only vs pattern + 1x1 + linear defaults, on a net with 1x1 convolutions and a
hidden linear layer (the block-sparse section of ``prune_digits.py`` and ``prune_mnist.py``).

From the same dense weights, ADMM-prunes twice with the same library, epochs and seed:

- "pattern only": 3x3 pattern + connectivity, 1x1 and linear layers dense
  (``pointwise=None, linear=None``);
- "pattern + 1x1 + linear defaults": the same, plus the defaults of ``prune``: 1x1
  convolutions at connectivity 3.6 and hidden linear layers at 1 in 10, both in (4, 1)
  blocks;
- optionally (``--with-depthwise``) the defaults plus depthwise pattern pruning.

Run through ``prune_digits.py`` / ``prune_mnist.py`` (``--blocks-only`` runs just this).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from patdnn.pruning import PruneResult, evaluate, prune, select_sparse_layers, train_dense


@dataclass
class BlockComparison:
    net: str
    dense_epochs: int
    dense_accuracy: float
    dense_time: float
    pattern_only: PruneResult
    pattern_only_time: float
    with_blocks: PruneResult
    with_blocks_time: float
    budget: str
    with_depthwise: PruneResult | None = None
    with_depthwise_time: float = 0.0
    linear_variants: list[tuple[tuple[int, int], PruneResult, float]] = field(
        default_factory=list[tuple[tuple[int, int], PruneResult, float]]
    )
    """The defaults with the linear layers in other block shapes: (shape, result, s)."""

    def rows(self) -> list[tuple[str, PruneResult, float]]:
        rows = [
            ("pattern only", self.pattern_only, self.pattern_only_time),
            ("pattern + 1x1 + linear defaults", self.with_blocks, self.with_blocks_time),
        ]
        for (bo, bi), result, secs in self.linear_variants:
            rows.append((f"defaults, linear {bo}x{bi} blocks", result, secs))
        if self.with_depthwise is not None:
            rows.append(
                ("defaults + depthwise patterns", self.with_depthwise, self.with_depthwise_time)
            )
        return rows

    def cost(self) -> float:
        """Points lost by adding the 1x1 and linear defaults to pattern pruning."""
        a = self.pattern_only.report.accuracy_after
        b = self.with_blocks.report.accuracy_after
        assert a is not None and b is not None
        return 100 * (a - b)

    def table(self) -> str:
        lines = [
            f"{self.net}: dense {100 * self.dense_accuracy:.2f}% ({self.dense_epochs} epochs, "
            f"{self.dense_time:.1f}s); ADMM {self.budget}",
            "{:<32} {:>16} {:>11} {:>8} {:>9} {:>6}".format(
                "pruning", "weights removed", "hard-pruned", "final", "vs dense", "time"
            ),
        ]
        layers = list(self.with_blocks.masks)  # the layers the defaults prune
        if self.with_depthwise is not None:
            layers = list(self.with_depthwise.masks)
        for name, result, secs in self.rows():
            modules = dict(result.model.named_modules())
            weights = [modules[n].weight.detach() for n in layers]
            kept = sum(int((w != 0).sum()) for w in weights)
            total = sum(w.numel() for w in weights)
            hard, final = result.report.accuracy_hard_pruned, result.report.accuracy_after
            assert hard is not None and final is not None
            lines.append(
                f"{name:<32} {100 * (1 - kept / total):>15.1f}% {100 * hard:>10.2f}% "
                f"{100 * final:>7.2f}% {100 * (final - self.dense_accuracy):>+6.2f} pp "
                f"{secs:>5.1f}s"
            )
        lines.append(
            f"weights removed: non-zero weights of {', '.join(layers)} in each final model; "
            f"cost of the 1x1 + linear defaults: {self.cost():+.2f} pp"
        )
        return "\n".join(lines)


def filter_group_list(text: str) -> list[int]:
    """``--filter-group 2,4,8`` of ``prune_digits.py`` / ``prune_mnist.py``: the groups
    (empty: none)."""
    return [int(g) for g in text.split(",") if g]


def prune_in_filter_groups(
    dense: nn.Module, train: Iterable[Any], groups: Sequence[int], **settings: Any
) -> list[tuple[int, PruneResult, float]]:
    """ADMM-prunes ``dense`` once per filter group of ``groups`` (``prune(...,
    filter_group=G)``), each with the same ``settings`` (``prune``'s other keyword
    arguments, the library among them): ``(G, result, seconds)`` per group, in order."""
    runs = []
    for group in groups:
        t = time.perf_counter()
        result = prune(dense, train, filter_group=group, **settings)
        runs.append((group, result, time.perf_counter() - t))
    return runs


def compare_block_defaults(
    make_net: Callable[[], nn.Module],
    train: Iterable[Any],
    val: Iterable[Any],
    *,
    dense_epochs: int,
    admm_epochs: int,
    retrain_epochs: int,
    num_patterns: int,
    connectivity: float,
    lr: float,
    rho: float,
    seed: int,
    progress: bool,
    rho_growth: float = 1.5,
    with_depthwise: bool = False,
    linear_blocks: Sequence[tuple[int, int]] = (),
) -> BlockComparison:
    torch.manual_seed(seed)
    dense = make_net()
    t = time.perf_counter()
    train_dense(dense, train, dense_epochs, seed=seed, progress=progress)
    dense_time = time.perf_counter() - t
    common: dict[str, Any] = dict(
        connectivity=connectivity,
        admm_epochs=admm_epochs,
        retrain_epochs=retrain_epochs,
        lr=lr,
        rho=rho,
        rho_growth=rho_growth,
        val_loader=val,
        seed=seed,
        progress=progress,
    )
    t = time.perf_counter()
    pattern_only = prune(
        dense, train, num_patterns=num_patterns, pointwise=None, linear=None, **common
    )
    pattern_only_time = time.perf_counter() - t
    t = time.perf_counter()
    with_blocks = prune(dense, train, library=pattern_only.library, **common)
    with_blocks_time = time.perf_counter() - t
    depthwise, depthwise_time = None, 0.0
    if with_depthwise:
        t = time.perf_counter()
        depthwise = prune(dense, train, library=pattern_only.library, depthwise=True, **common)
        depthwise_time = time.perf_counter() - t
    linear = [n for n, (kind, _) in select_sparse_layers(dense).items() if kind == "linear"]
    variants = []
    for shape in linear_blocks:
        t = time.perf_counter()
        blocks = {n: shape for n in linear}
        result = prune(dense, train, library=pattern_only.library, block_shape=blocks, **common)
        variants.append((tuple(shape), result, time.perf_counter() - t))
    return BlockComparison(
        linear_variants=variants,  # type: ignore[arg-type]
        net=type(dense).__name__,
        dense_epochs=dense_epochs,
        dense_accuracy=evaluate(dense, val),
        dense_time=dense_time,
        pattern_only=pattern_only,
        pattern_only_time=pattern_only_time,
        with_blocks=with_blocks,
        with_blocks_time=with_blocks_time,
        budget=f"{admm_epochs} + {retrain_epochs} retrain epochs, "
        f"{num_patterns} patterns x {connectivity:g}",
        with_depthwise=depthwise,
        with_depthwise_time=depthwise_time,
    )
