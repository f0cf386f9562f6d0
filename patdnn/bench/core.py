"""The benchmark: patdnn against dense peers, layer by layer and on whole models.

`bench layers` times each layer shape of a suite: `vgg` (the VGG-16 3x3 shapes C->C,
padding 1, pattern-pruned to 8 patterns of 4 taps with 1 in 3.6 kernels kept) or `dense`
(the layers pattern pruning leaves dense in ResNet-50 and MobileNet-V2: the 7x7 and 3x3
stems, 1x1 convolutions, depthwise 3x3, linear) or `sparse` (1x1 convolutions of ResNet-50
and MobileNet-V2 at 72 % block sparsity, VGG-16's linear layers at 90 %, blocks of 4x1 and,
for the linear layers, 16x1 too, the pruning default:
patdnn's sparse kernels against the same layers compiled dense by patdnn, `patdnn dense`,
and the peers, all on the same pruned weights). `bench models` times whole VGG-16,
ResNet-50 and MobileNet-V2 at 224x224, projected as `patdnn.prune` prunes by default (3x3
patterns, 1x1 and linear blocks; the stem and the classifier dense) or, with `--prune
patterns`, on their 3x3 layers alone; `--prune defaults,patterns` times both in the same
rounds against the same peers (`PRUNE_MODES`). `--filter-group 1,4` prunes the 3x3
pattern layers per filter and in filter groups of 4 (`patdnn.prune(filter_group=G)`:
neighbouring filters share kernel positions and patterns, compiled to the group tiles of
`lowering/vector/fkw_group.py`), each a pruned form timed in the same rounds.

patdnn compiles the pruned model; every peer (`patdnn.bench.peers`: PyTorch, ONNX Runtime,
MNN, ncnn, LiteRT with XNNPACK, whichever are installed) runs the dense model with the
same architecture; each output is checked against PyTorch on the same weights first, and a
peer that is wrong or fails to convert is reported, not timed. All contenders of one case
and thread count run in the same interleaved rounds (`patdnn.runtime.timing`); the tables
give medians. GFLOP/s count the multiply-adds patdnn keeps (2 flops each), and the share of
the FMA peak is against `patdnn.bench.peak.measure_fma_peak` for the same target, measured
in the same run (times the thread count).

`bench models --per-layer` profiles a compiled model layer by layer: each convolution and
linear layer of the pruned model is compiled alone as its own model (same weights, the
input shape it sees in the whole model, its batch norm not folded in: elementwise work
that the whole model fuses) and timed in interleaved rounds; a last row gives the rest of
the whole model's time (pooling, residual adds, padded copies, what the layers' separate
calls do not share).
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from patdnn.bench.peak import FmaPeak, measure_fma_peak

if TYPE_CHECKING:
    from patdnn.api import CompiledModel
from patdnn.bench.peers import PEERS, Peer, PeerUnavailable, check_output, relative_error, scratch
from patdnn.errors import PatdnnError
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

MODELS: tuple[str, ...] = ("vgg16", "resnet50", "mobilenet_v2")
TOLERANCE = 1e-2
"""Largest relative error (max |out - ref| / max(1, max |ref|)) an output may have: fp32
Winograd (MNN, ncnn) is off by up to a few 1e-3 on the deep VGG layers; a wrong layout or
a wrong operator is off by about 1."""
SAMPLE_SECONDS = 0.05
"""How long a round's stream of calls of one contender lasts (`interleaved_times`): its
time in the round is their mean, so a model of a few milliseconds is not timed on one
scheduler tick's luck."""


def pattern_prune(
    conv: torch.nn.Conv2d,
    library: Sequence[Sequence[tuple[int, int]]] = PATTERNS_8,
    connectivity: float = 3.6,
    filter_group: int = 1,
) -> None:
    """Projects `conv`'s weights in place onto `library` and 1 in `connectivity` kernels
    (positions of filter groups of `filter_group`, see `patdnn.pruning.patterns`)."""
    from patdnn.pruning import project_both

    patterns = tuple(map(tuple, library))
    with torch.no_grad():
        conv.weight.copy_(project_both(conv.weight, patterns, connectivity, filter_group))


# -- cases -----------------------------------------------------------------------------------


@dataclass
class Case:
    """One thing to time: patdnn compiles `pruned`, the peers run `dense`, both on `x`."""

    name: str
    kind: str
    dense: torch.nn.Module
    pruned: torch.nn.Module
    x: torch.Tensor
    variants: dict[str, torch.nn.Module] = field(default_factory=dict[str, torch.nn.Module])
    """More pruned forms of the model (kind: model) that patdnn compiles and times in the
    same rounds, each against the same peers."""
    filter_groups: dict[str, int] = field(default_factory=dict[str, int])
    """The filter group of each form pruned in groups (kind: G); the others are per filter."""


def group_kind(kind: str, filter_group: int) -> str:
    """The kind of a form pruned in filter groups of `filter_group` (1: `kind` itself)."""
    return kind if filter_group == 1 else f"{kind}, groups of {filter_group}"


def _case_of_forms(
    name: str, dense: torch.nn.Module, x: torch.Tensor,
    forms: dict[str, tuple[int, torch.nn.Module]],
) -> Case:  # fmt: skip
    """A case of pruned forms (`{kind: (filter group, model)}`): the first is the case's
    own, the others its variants."""
    (kind, (_, pruned)), *rest = forms.items()
    groups = {k: g for k, (g, _) in forms.items() if g > 1}
    return Case(name, kind, dense, pruned, x, {k: m for k, (_, m) in rest}, groups)


def _conv(cin: int, cout: int, k: int, stride: int, groups: int = 1) -> torch.nn.Conv2d:
    return torch.nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=True).eval()


def vgg_case(channels: int, size: int, groups: Sequence[int] = (1,)) -> Case:
    """A VGG-16 3x3 layer, dense and pattern-pruned (8 patterns, connectivity 3.6) per
    filter group of `groups` (the first the case itself, the others its variants)."""
    name = f"conv {channels} @{size}"
    check_filter_groups(groups, {name: channels})
    torch.manual_seed(0)
    dense = _conv(channels, channels, 3, 1)

    def pruned(group: int) -> torch.nn.Module:
        conv = _conv(channels, channels, 3, 1)
        conv.load_state_dict(dense.state_dict())
        pattern_prune(conv, filter_group=group)
        return conv

    x = torch.randn(1, channels, size, size)
    forms = {group_kind("pattern conv", g): (g, pruned(g)) for g in groups}
    return _case_of_forms(name, dense, x, forms)


class _Linear(torch.nn.Module):
    """A linear layer on a (1, C, 1, 1) input, as a classifier head sees it flattened."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(x, 1))


# (name, kind, cin, cout, kernel, stride, groups, input size): the layers of ResNet-50 and
# MobileNet-V2 that pattern pruning leaves dense; kernel 0 is a linear layer.
DENSE_LAYERS: tuple[tuple[str, str, int, int, int, int, int, int], ...] = (
    ("resnet50 stem 7x7/2", "conv", 3, 64, 7, 2, 1, 224),
    ("mobilenet stem 3x3/2", "conv", 3, 32, 3, 2, 1, 224),
    ("resnet50 1x1 64->256 @56", "pointwise", 64, 256, 1, 1, 1, 56),
    ("resnet50 1x1 256->64 @56", "pointwise", 256, 64, 1, 1, 1, 56),
    ("resnet50 1x1 512->128 @28", "pointwise", 512, 128, 1, 1, 1, 28),
    ("resnet50 1x1 1024->256 @14", "pointwise", 1024, 256, 1, 1, 1, 14),
    ("resnet50 1x1 512->2048 @7", "pointwise", 512, 2048, 1, 1, 1, 7),
    ("resnet50 1x1/2 256->512 @56", "pointwise", 256, 512, 1, 2, 1, 56),
    ("mobilenet 1x1 24->144 @56", "pointwise", 24, 144, 1, 1, 1, 56),
    ("mobilenet 1x1 144->24 @56", "pointwise", 144, 24, 1, 1, 1, 56),
    ("mobilenet 1x1 96->576 @14", "pointwise", 96, 576, 1, 1, 1, 14),
    ("mobilenet 1x1 384->64 @14", "pointwise", 384, 64, 1, 1, 1, 14),
    ("mobilenet 1x1 576->96 @14", "pointwise", 576, 96, 1, 1, 1, 14),
    ("mobilenet 1x1 960->160 @7", "pointwise", 960, 160, 1, 1, 1, 7),
    ("mobilenet 1x1 320->1280 @7", "pointwise", 320, 1280, 1, 1, 1, 7),
    ("mobilenet dw 3x3 32 @112", "depthwise", 32, 32, 3, 1, 32, 112),
    ("mobilenet dw 3x3/2 96 @112", "depthwise", 96, 96, 3, 2, 96, 112),
    ("mobilenet dw 3x3 144 @56", "depthwise", 144, 144, 3, 1, 144, 56),
    ("mobilenet dw 3x3 576 @14", "depthwise", 576, 576, 3, 1, 576, 14),
    ("resnet50 fc 2048->1000", "linear", 2048, 1000, 0, 1, 1, 1),
    ("mobilenet fc 1280->1000", "linear", 1280, 1000, 0, 1, 1, 1),
)


def dense_case(spec: tuple[str, str, int, int, int, int, int, int]) -> Case:
    name, kind, cin, cout, k, stride, groups, size = spec
    torch.manual_seed(0)
    layer: torch.nn.Module = _Linear(cin, cout) if k == 0 else _conv(cin, cout, k, stride, groups)
    return Case(name, kind, layer.eval(), layer.eval(), torch.randn(1, cin, size, size))


PRUNE_MODES: tuple[str, ...] = ("defaults", "patterns")
"""How `bench models` prunes: `defaults`, as `patdnn.prune` does by default (3x3 patterns
+ connectivity 3.6, 1x1 convolutions 1 in 3.6 blocks and linear layers 1 in 10 blocks of
4x1, the stem and the classifier dense); `patterns`, the 3x3 layers alone."""


def prune_model(model: torch.nn.Module, mode: str = "defaults", filter_group: int = 1) -> None:
    """One-shot projection of `model` in place (`patdnn.pruning.project.project_model`)
    with the 8-pattern library, as `mode` (one of `PRUNE_MODES`) says, the 3x3 layers in
    filter groups of `filter_group`."""
    from patdnn.pruning.errors import NoPrunableLayerError
    from patdnn.pruning.project import project_model

    if mode not in PRUNE_MODES:
        raise PatdnnError(f"--prune {mode!r}: expected one of {', '.join(PRUNE_MODES)}")
    try:
        if mode == "patterns":  # the 1x1 and linear layers stay dense
            project_model(model, library=PATTERNS_8, connectivity=3.6, pointwise=None,
                          linear=None, filter_group=filter_group)  # fmt: skip
        else:
            project_model(model, library=PATTERNS_8, connectivity=3.6, filter_group=filter_group)
    except NoPrunableLayerError:  # MobileNet-V2 3x3-only: its 3x3 layers are the stem and
        pass  # depthwise ones, so it stays dense; any other pruning error is reported


def model_case(
    name: str, size: int = 224, prune: Sequence[str] = ("defaults",), groups: Sequence[int] = (1,)
) -> Case:
    """A zoo model, dense and pruned as `prune[0]` says (see `PRUNE_MODES`) with the
    filter group `groups[0]`; each further mode and group is a variant patdnn compiles and
    times in the same rounds."""
    from patdnn.frontend.zoo import get_model

    def pruned(mode: str, group: int) -> torch.nn.Module:
        model = get_model(name).eval()
        model.load_state_dict(dense.state_dict())
        prune_model(model, mode, group)
        return model

    torch.manual_seed(0)
    dense = get_model(name).eval()
    forms = {group_kind(_model_kind(m), g): (g, pruned(m, g)) for m in prune for g in groups}
    return _case_of_forms(f"{name} @{size}", dense, torch.randn(1, 3, size, size), forms)


def pattern_filters(model: torch.nn.Module) -> dict[str, int]:
    """`{layer: filters}` of the 3x3 layers `patdnn.prune` pattern-prunes in `model`."""
    from patdnn.pruning.errors import NoPrunableLayerError
    from patdnn.pruning.layers import PATTERN, select_sparse_layers

    try:
        chosen = select_sparse_layers(model, kinds=(PATTERN,))
    except NoPrunableLayerError:
        return {}
    return {name: int(module.weight.shape[0]) for name, (_, module) in chosen.items()}


def _model_kind(mode: str) -> str:
    return {"defaults": "model, default pruning", "patterns": "model, 3x3 only"}[mode]


def parse_targets(text: str) -> list[str]:
    """`host,x86-avx2` -> the target names, the first the main one; a `PatdnnError` on a
    name `patdnn.runtime.target.Target` does not know."""
    from patdnn.runtime.target import Target

    names = list(dict.fromkeys(t.strip() for t in text.split(",")))
    for name in names:
        if name not in Target.KNOWN:
            raise PatdnnError(
                f"--target {text!r}: unknown target {name!r}; known targets: "
                f"{', '.join(Target.KNOWN)}"
            )
    return names


def _target_list(target: str | Sequence[str]) -> list[str]:
    return parse_targets(target) if isinstance(target, str) else list(target)


def parse_filter_groups(text: str) -> list[int]:
    """`1,4` -> the filter groups, the first the main one; a `PatdnnError` unless each is
    a filter group `patdnn.prune` takes (`check_filter_group`)."""
    from patdnn.pruning.errors import PruningError
    from patdnn.pruning.patterns import check_filter_group

    groups: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        try:
            groups.append(check_filter_group(int(part)))
        except (ValueError, PruningError):
            raise PatdnnError(
                f"--filter-group {text!r}: {part!r} is not a positive integer"
            ) from None
    return list(dict.fromkeys(groups))


def check_filter_groups(groups: Sequence[int], filters: dict[str, int]) -> None:
    """A `PatdnnError` unless every filter group divides the filters of every pattern
    layer (`{layer: filters}`), so that each group is whole, and is one that the FKW
    layout stores as such (1, or `fkw_layout.GROUP_SIZES`)."""
    from patdnn.lowering.fkw_layout import GROUP_SIZES

    for group in groups:
        for layer, count in filters.items():
            if count % group:
                raise PatdnnError(
                    f"--filter-group {group} does not divide the {count} filters of {layer}"
                )
        if group != 1 and group not in GROUP_SIZES:
            raise PatdnnError(
                f"--filter-group {group}: patdnn compiles filter groups of "
                f"{', '.join(map(str, sorted(GROUP_SIZES)))} (or 1, per filter)"
            )


def parse_prune(text: str) -> list[str]:
    """`defaults,patterns` -> the modes, the first the main one; a `PatdnnError` otherwise."""
    modes = list(dict.fromkeys(m.strip() for m in text.split(",")))
    for mode in modes:
        if mode not in PRUNE_MODES:
            raise PatdnnError(f"--prune {text!r}: {mode!r} is not one of {', '.join(PRUNE_MODES)}")
    return modes


# (name, cin, cout, input size, zero share): 1x1 convolutions of ResNet-50 and MobileNet-V2
# at 72 % block sparsity (1 in 3.6 blocks kept), VGG-16's linear layers at 90 %; size 0 is
# a linear layer. Blocks of 4 outputs x 1 input unless a sixth field says otherwise.
SPARSE_LAYERS: tuple[
    tuple[str, int, int, int, float] | tuple[str, int, int, int, float, tuple[int, int]], ...
] = (
    ("resnet50 1x1 64->256 @56", 64, 256, 56, 1 - 1 / 3.6),
    ("resnet50 1x1 256->64 @56", 256, 64, 56, 1 - 1 / 3.6),
    ("resnet50 1x1 1024->256 @14", 1024, 256, 14, 1 - 1 / 3.6),
    ("resnet50 1x1 512->2048 @7", 512, 2048, 7, 1 - 1 / 3.6),
    ("mobilenet 1x1 32->192 @56", 32, 192, 56, 1 - 1 / 3.6),
    ("mobilenet 1x1 320->1280 @7", 320, 1280, 7, 1 - 1 / 3.6),
    ("vgg16 fc 4096->4096", 4096, 4096, 0, 0.9),
    ("vgg16 fc 25088->4096", 25088, 4096, 0, 0.9),
    ("vgg16 fc 4096->4096 16x1", 4096, 4096, 0, 0.9, (16, 1)),
    ("vgg16 fc 25088->4096 16x1", 25088, 4096, 0, 0.9, (16, 1)),
)
"""A sixth field is the block shape, (4, 1) otherwise: the 16x1 linear cases are what
`patdnn.prune` makes of linear layers by default (`pruning.blocks.DEFAULT_LINEAR_BLOCK`)."""
SPARSE_BLOCK = (4, 1)


def block_prune(weight: torch.Tensor, zeros: float, block: tuple[int, int] = SPARSE_BLOCK,
                seed: int = 0) -> None:  # fmt: skip
    """Zeroes `zeros` of the (bo x bi) blocks of W[out][in] (a 1x1 or linear weight, in
    place), chosen at random; partial blocks at the edges count as blocks."""
    bo, bi = block
    w = weight.data.view(weight.shape[0], -1)
    rows, cols = -(-w.shape[0] // bo), -(-w.shape[1] // bi)
    keep = round((1 - zeros) * rows * cols)
    rng = np.random.default_rng(seed)
    kept = np.zeros(rows * cols, dtype=bool)
    kept[rng.choice(rows * cols, size=keep, replace=False)] = True
    mask = np.repeat(np.repeat(kept.reshape(rows, cols), bo, 0), bi, 1)[: w.shape[0], : w.shape[1]]
    with torch.no_grad():
        w.mul_(torch.from_numpy(mask).to(w.dtype))


def sparse_case(spec: tuple[object, ...]) -> Case:
    """A block-sparse 1x1 or linear layer (a `SPARSE_LAYERS` entry): patdnn's sparse kernel
    against the same layer compiled dense by patdnn (the `patdnn dense` contender) and the
    peers, all on the same pruned weights."""
    name, cin, cout, size, zeros = spec[:5]
    block = spec[5] if len(spec) > 5 else SPARSE_BLOCK
    assert isinstance(name, str) and isinstance(cin, int) and isinstance(cout, int)
    assert isinstance(size, int) and isinstance(zeros, float) and isinstance(block, tuple)
    torch.manual_seed(0)
    if size:
        layer: torch.nn.Module = _conv(cin, cout, 1, 1)
        block_prune(layer.weight, zeros, block)
        x = torch.randn(1, cin, size, size)
    else:
        layer = _Linear(cin, cout)
        block_prune(layer.fc.weight, zeros, block)
        x = torch.randn(1, cin, 1, 1)
    kind = f"sparse {'1x1' if size else 'linear'} {zeros:.0%}"
    return Case(name, kind, layer.eval(), layer.eval(), x)


def _patdnn_dense(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path):
    compiled = _compile(model, x, "host", threads, {"sparse_threshold": 1.0})
    return _patdnn_runner(compiled, x.numpy())


PATDNN_DENSE = Peer("patdnn dense", "patdnn", _patdnn_dense)
"""The sparse suite's contender: the same layer compiled by patdnn with dense kernels."""


def select(spec: str, names: Sequence[str], what: str) -> list[int]:
    """`all`, or comma-separated indices into `names` or names (e.g. `0,2`, `resnet50`)."""
    if spec == "all":
        return list(range(len(names)))
    chosen = []
    for part in (p.strip() for p in spec.split(",")):
        if part in names:
            chosen.append(list(names).index(part))
        elif part.isdigit() and int(part) < len(names):
            chosen.append(int(part))
        else:
            raise PatdnnError(
                f"{what} {spec!r}: {part!r} is neither an index 0..{len(names) - 1} nor one of "
                f"{', '.join(names)}"
            )
    return chosen


def select_shapes(spec: str) -> list[tuple[int, int]]:
    """`all` or comma-separated indices into `VGG_LAYERS` (e.g. `0,2`)."""
    names = [f"{c}@{h}" for c, h in VGG_LAYERS]
    return [VGG_LAYERS[i] for i in select(spec, names, "--layers")]


def suite_cases(suite: str, layers: str = "all", groups: Sequence[int] = (1,)) -> list[Case]:
    """The cases of `bench layers --suite`: `vgg`, `dense` or `sparse`, filtered by
    `layers`; the `vgg` layers pruned in each filter group of `groups`."""
    if suite == "vgg":
        shapes = select_shapes(layers)
        for c, h in shapes:  # every argument checked before a case is built
            check_filter_groups(groups, {f"conv {c} @{h}": c})
        return [vgg_case(c, h, groups) for c, h in shapes]
    if list(groups) != [1]:
        raise PatdnnError(f"--filter-group prunes 3x3 pattern layers: the {suite} suite has none")
    if suite == "dense":
        names = [spec[0] for spec in DENSE_LAYERS]
        return [dense_case(DENSE_LAYERS[i]) for i in select(layers, names, "--layers")]
    if suite == "sparse":
        names = [spec[0] for spec in SPARSE_LAYERS]
        return [sparse_case(SPARSE_LAYERS[i]) for i in select(layers, names, "--layers")]
    raise PatdnnError(f"unknown suite {suite!r}: expected vgg, dense or sparse")


# -- running ---------------------------------------------------------------------------------


@dataclass
class Timing:
    """One contender at one thread count: a median time, or why there is none."""

    ms: float | None = None
    note: str = ""
    error: float | None = None

    def cell(self) -> str:
        return f"{self.ms:.2f}" if self.ms is not None else (self.note or "n/a")


@dataclass
class CaseResult:
    name: str
    kind: str
    macs: int
    """Multiply-adds patdnn does (kept MACs)."""
    dense_macs: int
    peak: FmaPeak
    compile_s: float
    patdnn: dict[int, Timing] = field(default_factory=dict[int, Timing])
    peers: dict[str, dict[int, Timing]] = field(default_factory=dict[str, dict[int, Timing]])
    notes: list[str] = field(default_factory=list[str])
    variants: list[CaseResult] = field(default_factory=list["CaseResult"])
    """The case's variants, timed in the same rounds against the same peers."""
    target: str = "host"
    """The target patdnn compiled this form for (`peak` is that target's)."""
    filter_group: int = 1
    """The filter group this form was pruned in (1: per filter)."""

    def fastest_peer(self, threads: int) -> tuple[str, float] | None:
        timed = [(ms, name) for name, t in self.peers.items() if (ms := t[threads].ms)]
        if not timed:
            return None
        ms, name = min(timed)
        return name, ms

    def gflops(self, threads: int) -> float | None:
        ms = self.patdnn[threads].ms
        return 2 * self.macs / (ms * 1e-3) / 1e9 if ms else None

    def share_of_peak(self, threads: int) -> float | None:
        g = self.gflops(threads)
        return g / (self.peak.gflops * threads) if g is not None else None


def compile_accepts_threads() -> bool:
    """Whether `patdnn.compile` takes `num_threads` (the generated code is single-threaded
    until it does)."""
    import patdnn

    return "num_threads" in inspect.signature(patdnn.compile).parameters


def _compile(
    model: torch.nn.Module,
    x: torch.Tensor,
    target: str,
    threads: int | None,
    options: dict[str, Any] | None = None,
) -> CompiledModel:
    """`patdnn.compile` for the benchmark; `options` are more of its keyword arguments
    (`tune`, `vector_width`)."""
    import patdnn

    options = {"target": target, "keep_stages": False, **(options or {})}
    if threads is not None:
        options["num_threads"] = threads
    return patdnn.compile(model, x, **options)


def _patdnn_runner(compiled: CompiledModel, x: np.ndarray) -> Callable[[], np.ndarray]:
    runner = compiled._get_runner()
    weights = compiled.weights
    out = np.empty(compiled.signature.outputs[0].shape, dtype=np.float32)
    return lambda: runner(x, weights=weights, out=out)


def _kept_macs(compiled: CompiledModel, case: Case) -> tuple[int, int]:
    """(kept, dense) MACs of the compiled convolutions, plus any linear layers."""
    if case.kind.startswith("sparse"):
        return _sparse_macs(case)
    return _model_macs(compiled, case.pruned)


def _model_macs(compiled: CompiledModel, model: torch.nn.Module) -> tuple[int, int]:
    """(kept, dense) MACs of the compiled layers, plus the dense linear layers (which the
    layer summary does not list)."""
    layers = compiled.layers
    listed = {x.name for x in layers}
    linear = sum(m.in_features * m.out_features for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and n not in listed)  # fmt: skip
    return sum(x.macs for x in layers) + linear, sum(x.dense_macs for x in layers) + linear


def _sparse_macs(case: Case) -> tuple[int, int]:
    """(non-zero, all) MACs of the 1x1 convolutions and linear layers of `case`."""
    kept = dense = 0
    pixels = case.x.shape[2] * case.x.shape[3]
    for m in case.pruned.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            per = pixels if isinstance(m, torch.nn.Conv2d) else 1
            kept += int(torch.count_nonzero(m.weight)) * per
            dense += m.weight.numel() * per
    return kept, dense


def run_case(
    case: Case,
    threads: Sequence[int],
    repeat: int,
    peak: FmaPeak,
    peers: Sequence[Peer] = PEERS,
    target: str = "host",
    tolerance: float = TOLERANCE,
    log: Callable[[str], None] = lambda s: None,
    options: dict[str, Any] | None = None,
    more_targets: Sequence[FmaPeak] = (),
) -> CaseResult:
    """Compiles `case` with patdnn, prepares every peer, checks all against PyTorch, and
    times them in interleaved rounds at each thread count. `more_targets` are the peaks
    of more targets (each names its target) that patdnn compiles `case` and its variants
    for too: each build is one more variant, against its own target's peak, next to the
    same form's build for `target`."""
    xt = case.x
    xn = xt.numpy()
    with torch.no_grad():
        ref_pruned = case.pruned(xt).numpy()
        ref_dense = case.dense(xt).numpy()
    threaded = compile_accepts_threads()
    start = time.perf_counter()
    builds = {t: _compile(case.pruned, xt, target, t if threaded else None, options)
              for t in (threads if threaded else threads[:1])}  # fmt: skip
    compile_s = (time.perf_counter() - start) / len(builds)
    macs, dense_macs = _kept_macs(next(iter(builds.values())), case)
    result = CaseResult(case.name, case.kind, macs, dense_macs, peak, compile_s, target=target,
                        filter_group=case.filter_groups.get(case.kind, 1))  # fmt: skip
    forms = [(result, builds, ref_pruned)]
    pruned_forms = [(case.kind, case.pruned, ref_pruned)]
    for kind, model in case.variants.items():
        with torch.no_grad():
            pruned_forms.append((kind, model, model(xt).numpy()))
    for i, (kind, model, ref) in enumerate(pruned_forms):
        for j, form_peak in enumerate([peak, *more_targets]):
            if i == j == 0:
                continue  # the case itself, built above
            start = time.perf_counter()
            built = {t: _compile(model, xt, form_peak.target, t if threaded else None, options)
                     for t in (threads if threaded else threads[:1])}  # fmt: skip
            seconds = (time.perf_counter() - start) / len(built)
            kept, dense = (
                (macs, dense_macs) if i == 0 else _model_macs(next(iter(built.values())), model)
            )
            variant = CaseResult(case.name, kind, kept, dense, form_peak, seconds,
                                 peers=result.peers, target=form_peak.target,
                                 filter_group=case.filter_groups.get(kind, 1))  # fmt: skip
            result.variants.append(variant)
            forms.append((variant, built, ref))
    with scratch() as folder:
        for n in threads:
            calls: list[Callable[[], object]] = []
            slots: list[Timing] = []
            for form, built, ref in forms:
                compiled = built.get(n)
                if compiled is None:
                    form.patdnn[n] = Timing(note="n/a (single-threaded)")
                    continue
                runner = _patdnn_runner(compiled, xn)
                error = relative_error(runner(), ref)
                form.patdnn[n] = Timing(error=error)
                if error > tolerance:
                    form.patdnn[n].note = f"wrong ({error:.0e})"
                else:
                    calls.append(runner)
                    slots.append(form.patdnn[n])
            for peer in peers:
                slot = result.peers.setdefault(peer.name, {})[n] = Timing()
                work = Path(folder) / peer.name.replace(" ", "-")
                work.mkdir(exist_ok=True)
                try:
                    run = peer.prepare(case.dense, xt, n, work)
                    slot.error = check_output(peer.name, run(), ref_dense, tolerance)
                except PeerUnavailable as e:
                    slot.note = "wrong" if "wrong output" in str(e) else "skipped"
                    line = f"{case.name}, {n} thread(s): {e}"
                    if line not in result.notes:
                        result.notes.append(line)
                        log(line)
                    continue
                calls.append(run)
                slots.append(slot)
            timed = interleaved_times(calls, repeat, settle=True, sample=SAMPLE_SECONDS)
            for slot, times in zip(slots, timed, strict=True):
                slot.ms = statistics.median(times) * 1e3
    return result


# -- tables ----------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return f"{100 * x:.0f} %" if x is not None else "n/a"


def format_results(results: Sequence[CaseResult], threads: Sequence[int]) -> str:
    """One markdown table per thread count: patdnn, each peer, the fastest peer and the
    ratio, GFLOP/s on kept MACs and the share of the FMA peak. Builds for several targets
    get a `target` column (each share is of its own target's peak) and, under each table,
    a line comparing every other target's share with the first target's, layer by layer;
    forms pruned in filter groups, a line comparing their time with the same form's per
    filter."""
    peers = list(dict.fromkeys(p for r in results for p in r.peers))
    targets = list(dict.fromkeys(r.target for r in results))
    labels = ["layer / model", "kind", *(["target"] if len(targets) > 1 else [])]
    out: list[str] = []
    for n in threads:
        head = [*labels, "kept MACs", "patdnn ms", *[f"{p} ms" for p in peers],
                "fastest peer", "ratio", "GFLOP/s (kept)", "% of FMA peak"]  # fmt: skip
        lines = [
            f"{n} thread(s)",
            "",
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(labels) + "---:|" * (len(head) - len(labels)),
        ]
        for r in results:
            best = r.fastest_peer(n)
            mine = r.patdnn[n].ms
            ratio = f"{best[1] / mine:.2f}x" if best and mine else "n/a"
            gflops = r.gflops(n)
            cells = [
                r.name,
                r.kind,
                *([r.target] if len(labels) > 2 else []),
                f"{r.macs / 1e6:.0f}M",
                r.patdnn[n].cell(),
                *[r.peers[p][n].cell() if p in r.peers else "n/a" for p in peers],
                best[0] if best else "none",
                ratio,
                f"{gflops:.1f}" if gflops is not None else "n/a",
                _pct(r.share_of_peak(n)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [_share_line(results, targets[0], other, n) for other in targets[1:]]
        lines += _group_lines(results, n)
        out.append("\n".join(lines))
    return "\n\n".join(out)


def _share_line(results: Sequence[CaseResult], main: str, other: str, threads: int) -> str:
    """`other`'s share of its FMA peak against `main`'s, per layer (same name and kind)."""
    ours = {(r.name, r.kind): r for r in results if r.target == main}
    parts = []
    for r in results:
        base = ours.get((r.name, r.kind))
        if r.target != other or base is None:
            continue
        a, b = r.share_of_peak(threads), base.share_of_peak(threads)
        ratio = f"{a / b:.2f}" if a is not None and b else "n/a"
        parts.append(f"{r.name} {_pct(a)} / {_pct(b)} = {ratio}")
    return f"\n{other} against {main}, each as a share of its own FMA peak: " + "; ".join(parts)


def _group_lines(results: Sequence[CaseResult], threads: int) -> list[str]:
    """Per filter group, the speed-up of its forms over the same form pruned per filter
    (same layer, kind and target): the per-filter time over the grouped one."""
    single = {(r.name, r.kind, r.target): r for r in results if r.filter_group == 1}
    groups = sorted({r.filter_group for r in results} - {1})
    lines = []
    for group in groups:
        parts = []
        for r in results:
            suffix = group_kind("", group)
            base = single.get((r.name, r.kind.removesuffix(suffix), r.target))
            if r.filter_group != group or base is None:
                continue
            a, b = r.patdnn[threads].ms, base.patdnn[threads].ms
            ratio = f"{b / a:.2f}x" if a and b else "n/a"
            where = f" ({r.target})" if len({x.target for x in results}) > 1 else ""
            parts.append(f"{r.name}{where} {ratio}")
        if parts:
            lines.append(f"\nfilter groups of {group} against per filter (per-filter time / "
                         "grouped time): " + "; ".join(parts))  # fmt: skip
    return lines


def format_notes(results: Sequence[CaseResult]) -> str:
    notes = [line for r in results for line in r.notes]
    return "\n".join(f"- {line}" for line in notes)


def peak_line(peak: FmaPeak) -> str:
    """The peak and the machine's load (a shared machine's timings move with it)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"FMA peak ({peak.target}, {peak.vector_width} f32 lanes, one core, register-only "
        f"loop compiled by patdnn): {peak.gflops:.1f} GFLOP/s; load average {load}"
    )


# -- per-layer profile -----------------------------------------------------------------------


@dataclass
class LayerTime:
    name: str
    kind: str
    shape: str
    macs: int
    dense_macs: int
    ms: float
    peak: FmaPeak

    @property
    def gflops(self) -> float:
        return 2 * self.macs / (self.ms * 1e-3) / 1e9

    @property
    def share(self) -> float:
        return self.gflops / self.peak.gflops


def _layer_inputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The input every Conv2d and Linear of `model` sees on `x` (forward hooks)."""
    seen: dict[str, torch.Tensor] = {}
    hooks = []

    def keep_input(name: str) -> Callable[[torch.nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            seen.setdefault(name, args[0].detach().clone())

        return hook

    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
            hooks.append(module.register_forward_pre_hook(keep_input(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def profile_layers(
    case: Case, repeat: int, peak: FmaPeak, target: str = "host",
    tolerance: float = TOLERANCE, progress: Callable[[str], None] = lambda s: None,
    options: dict[str, Any] | None = None,
) -> tuple[list[LayerTime], float]:  # fmt: skip
    """Each conv / linear layer of `case.pruned` compiled alone and timed, interleaved with
    the whole compiled model; returns the layers (slowest first) and the whole model's ms."""
    inputs = _layer_inputs(case.pruned, case.x)
    modules = dict(case.pruned.named_modules())
    calls: list[Callable[[], object]] = []
    rows: list[tuple[str, str, str, int, int]] = []
    for i, (name, x) in enumerate(inputs.items()):
        progress(f"compiling layer {i + 1}/{len(inputs)}: {name}")
        module = modules[name]
        assert isinstance(module, torch.nn.Conv2d | torch.nn.Linear)  # what _layer_inputs hooks
        layer: torch.nn.Module = module
        if isinstance(module, torch.nn.Linear):
            layer = _Linear(module.in_features, module.out_features)
            layer.fc = module
            x = x.reshape(1, -1, 1, 1)
        compiled = _compile(layer, x, target, None, options)
        runner = _patdnn_runner(compiled, x.numpy())
        with torch.no_grad():
            error = relative_error(runner(), layer(x).numpy())
        if error > tolerance:
            raise PatdnnError(f"layer {name} compiled alone is wrong: relative error {error:.1e}")
        summary = compiled.layers
        if summary:
            kind, shape, macs = summary[0].kind, summary[0].shape, summary[0].macs
            dense_macs = summary[0].dense_macs
        else:
            assert isinstance(module, torch.nn.Linear)  # the only layer with no summary
            kind, shape = "linear", f"{module.in_features}->{module.out_features}"
            macs = dense_macs = module.in_features * module.out_features
        rows.append((name, kind, shape, macs, dense_macs))
        calls.append(runner)
    whole = _compile(case.pruned, case.x, target, None, options)
    calls.append(_patdnn_runner(whole, case.x.numpy()))
    progress(f"timing {len(calls)} layers and the whole model, {repeat} rounds")
    timed = interleaved_times(calls, repeat, sample=SAMPLE_SECONDS)
    medians = [statistics.median(t) * 1e3 for t in timed]
    layers = [LayerTime(*row, ms, peak) for row, ms in zip(rows, medians, strict=False)]
    layers.sort(key=lambda layer: layer.ms, reverse=True)
    return layers, medians[-1]


def format_profile(name: str, layers: Sequence[LayerTime], whole_ms: float) -> str:
    total = sum(layer.ms for layer in layers)
    lines = [
        f"{name}: whole model {whole_ms:.2f} ms, its layers compiled alone {total:.2f} ms",
        "",
        "| layer | kind | shape | MACs | kept | ms | share of time | GFLOP/s | % of FMA peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for layer in layers:
        kept = layer.macs / layer.dense_macs if layer.dense_macs else 1.0
        lines.append(
            f"| {layer.name} | {layer.kind} | {layer.shape} | {layer.macs / 1e6:.1f}M | "
            f"{100 * kept:.0f} % | "
            f"{layer.ms:.3f} | {100 * layer.ms / whole_ms:.1f} % | {layer.gflops:.1f} | "
            f"{100 * layer.share:.0f} % |"
        )
    lines.append(
        f"| rest (whole - layers) | | | | | {whole_ms - total:.3f} | "
        f"{100 * (whole_ms - total) / whole_ms:.1f} % | | |"
    )
    return "\n".join(lines)


# -- aarch64 estimate ------------------------------------------------------------------------


@dataclass
class EstimateResult:
    name: str
    macs: int
    loop: str
    fmla: int
    instructions: int
    cycles: float
    utilisation: float
    spills: int
    layer_ms: float
    model_utilisation: float = 0.0
    pipe_pressure: float = 0.0


def estimate_case(case: Case, clock_ghz: float, cpu: str = "cortex-a76") -> EstimateResult:
    """llvm-mca's view of the aarch64 build of `case` (`patdnn.bench.estimate`)."""
    from patdnn.bench.estimate import hot_loop, mca_estimate
    from patdnn.lowering.upstream import llvm_ir_to_assembly

    compiled = _compile(case.pruned, case.x, "aarch64", None)
    macs, _ = _kept_macs(compiled, case)
    assembly = llvm_ir_to_assembly(compiled.llvm_ir, compiled.target)
    loop = hot_loop(assembly)
    mca = mca_estimate(loop, cpu)
    return EstimateResult(
        case.name, macs, loop.label, mca.fmla, mca.instructions, mca.cycles_per_iteration,
        mca.fma_utilisation, mca.spills, mca.layer_ms(macs, clock_ghz), mca.model_utilisation,
        mca.pipe_pressure,
    )  # fmt: skip


def format_estimates(results: Sequence[EstimateResult], clock_ghz: float, cpu: str) -> str:
    """The estimate table; its three shares are those of `patdnn.bench.estimate`."""
    from patdnn.bench.estimate import fp_pipes

    lines = [
        (
            f"aarch64 ({cpu}, llvm-mca on the hot inner loop; layer time at {clock_ghz:g} GHz, "
            "the kept MACs through that loop alone)"
        ),
        "",
        (
            "| layer | kept MACs | fmla / iteration | instructions | cycles / iteration "
            "| fmla per cycle of 2 (hardware) | FP-pipe pressure (llvm-mca) "
            "| of the model's FMA rate | stack loads/stores | predicted ms |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.macs / 1e6:.0f}M | {r.fmla} | {r.instructions} | {r.cycles:.1f} "
            f"| {100 * r.utilisation:.0f} % | {100 * r.pipe_pressure:.0f} % "
            f"| {100 * r.model_utilisation:.0f} % | {r.spills} | {r.layer_ms:.2f} |"
        )
    lines += [
        "",
        "fmla per cycle of 2: fmla / (2 x cycles), the hardware's two 128-bit fmla a cycle; "
        f"FP-pipe pressure: llvm-mca's busy cycles on {' and '.join(fp_pipes(cpu))} "
        "(its FP/ASIMD pipes) per cycle; of the model's FMA rate: fmla per cycle over the "
        "model's rate for independent fmla",
    ]
    return "\n".join(lines)


# -- commands --------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, flush=True)


def _peers(names: str) -> list[Peer]:
    if names == "all":
        return list(PEERS)
    known = {p.name.lower().replace(" ", ""): p for p in PEERS}
    chosen = []
    for part in names.split(","):
        key = part.strip().lower().replace(" ", "").replace("-", "")
        if key not in known:
            raise PatdnnError(
                f"--peers: unknown peer {part.strip()!r}; known: {', '.join(p.name for p in PEERS)}"
            )
        chosen.append(known[key])
    return chosen


def parse_threads(text: str) -> list[int]:
    """`1,2` -> [1, 2]; a `PatdnnError` on anything but positive integers."""
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise PatdnnError(f"--threads {text!r}: expected positive integers separated by commas")
    return list(dict.fromkeys(values))


def run_layers(
    suite: str = "vgg", layers: str = "all", threads: Sequence[int] = (1,), repeat: int = 10,
    peers: str = "all", target: str | Sequence[str] = "host", tolerance: float = TOLERANCE,
    options: dict[str, Any] | None = None, filter_group: Sequence[int] = (1,),
) -> list[CaseResult]:  # fmt: skip
    """`patdnn bench layers`: prints progress, the tables and the skipped peers. `target`
    may name several targets (`host,x86-avx2`) and `filter_group` several filter groups
    (`1,4`, the `vgg` suite): each build is timed in the same rounds."""
    chosen = _peers(peers)
    cases = suite_cases(suite, layers, filter_group)
    if suite == "sparse":
        chosen.insert(0, PATDNN_DENSE)
    peak, *more = _measure_peaks(_target_list(target))
    results = []
    for case in cases:
        r = run_case(case, threads, repeat, peak, chosen, peak.target, tolerance, _say,
                     options, more)  # fmt: skip
        for form in (r, *r.variants):
            _say_case(form, threads[0])
            results.append(form)
    _settle_peaks(results)
    _say_tables(results, threads)
    return results


def _measure_peaks(targets: Sequence[str]) -> list[FmaPeak]:
    """The FMA peak of each target, printed."""
    from patdnn.runtime.target import Target

    peaks = [measure_fma_peak(Target.get(t)) for t in targets]
    for peak in peaks:
        _say(peak_line(peak))
    return peaks


def _settle_peaks(results: Sequence[CaseResult]) -> None:
    """Measures each target's peak once more after the cases and gives every result the
    higher of the two: the peak is what a core can do, and a load that happened to sit on
    the first measurement (a few milliseconds) would inflate every share of the run."""
    first = {r.peak.target: r.peak for r in results}
    again = dict(zip(first, _measure_peaks(list(first)), strict=True))
    for r in results:
        r.peak = max(r.peak, again[r.peak.target], key=lambda p: p.gflops)


def _say_case(r: CaseResult, threads: int) -> None:
    best = r.fastest_peer(threads)
    where = f", {r.target}" if r.target != "host" else ""
    _say(
        f"{r.name} ({r.kind}{where}): patdnn {r.patdnn[threads].cell()} ms (compile {r.compile_s:.1f} s), "
        f"fastest peer {f'{best[0]} {best[1]:.2f} ms' if best else 'none'} ({threads} thread(s))"
    )


def _say_tables(results: Sequence[CaseResult], threads: Sequence[int]) -> None:
    if not results:
        return
    _say("")
    _say(format_results(results, threads))
    if any(r.notes for r in results):
        _say("\nNot timed:\n" + format_notes(results))


def run_models(
    models: str = ",".join(MODELS), size: int = 224, threads: Sequence[int] = (1,),
    repeat: int = 5, peers: str = "all", per_layer: bool = False,
    target: str | Sequence[str] = "host", tolerance: float = TOLERANCE,
    options: dict[str, Any] | None = None, prune: Sequence[str] = ("defaults",),
    filter_group: Sequence[int] = (1,),
) -> list[CaseResult]:  # fmt: skip
    """`patdnn bench models` (and `--per-layer`, of the first `prune` mode, filter group
    and target). `target` may name several targets (`host,x86-avx2`), `prune` several
    modes and `filter_group` several filter groups: each build is timed in the same
    rounds."""
    from patdnn.frontend.zoo import MODELS as ZOO
    from patdnn.frontend.zoo import get_model

    zoo = list(ZOO)
    names = list(MODELS) if models == "all" else [zoo[i] for i in select(models, zoo, "--models")]
    chosen = _peers(peers)
    groups = filter_group[:1] if per_layer else filter_group
    for name in names:  # every argument checked before anything is timed
        with torch.device("meta"):
            check_filter_groups(groups, pattern_filters(get_model(name)))
    targets = _target_list(target)
    peak, *more = _measure_peaks(targets[:1] if per_layer else targets)
    target = peak.target
    results = []
    for name in names:
        case = model_case(name, size, prune[:1] if per_layer else prune, groups)
        if per_layer:
            layers, whole = profile_layers(case, repeat, peak, target, tolerance, _say, options)
            _say("")
            _say(format_profile(case.name, layers, whole))
            _say("")
            continue
        r = run_case(case, threads, repeat, peak, chosen, target, tolerance, _say, options, more)
        for form in (r, *r.variants):
            _say_case(form, threads[0])
            results.append(form)
    _settle_peaks(results)
    _say_tables(results, threads)
    return results


def run_estimate(
    suite: str = "vgg", layers: str = "all", clock_ghz: float = 2.8, cpu: str = "cortex-a76"
) -> list[EstimateResult]:
    """`patdnn bench layers --target aarch64 --estimate`."""
    results = []
    for case in suite_cases(suite, layers):
        r = estimate_case(case, clock_ghz, cpu)
        _say(
            f"{r.name}: {r.cycles:.1f} cycles / iteration, fmla per cycle of 2 "
            f"{100 * r.utilisation:.0f} %, FP-pipe pressure {100 * r.pipe_pressure:.0f} %"
        )
        results.append(r)
    _say("")
    _say(format_estimates(results, clock_ghz, cpu))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """`python benchmarks/layers.py`: the VGG layers against every installed peer."""
    parser = argparse.ArgumentParser(description="patdnn against dense peers, layer by layer")
    parser.add_argument("--suite", default="vgg", choices=("vgg", "dense", "sparse"))
    parser.add_argument("--layers", default="all")
    parser.add_argument("--threads", default="1")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    run_layers(args.suite, args.layers, parse_threads(args.threads), args.repeat)
