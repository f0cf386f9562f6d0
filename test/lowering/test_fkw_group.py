"""Pattern layers in filter groups: detection, the FKW group layout, filter kernel
reorder by whole groups, and the group tile against PyTorch (host and aarch64)."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.lowering.filter_kernel_reorder import filter_kernel_order
from patdnn.lowering.fkw_layout import (
    FKWLayoutError,
    PatternMismatchError,
    filter_group_size,
    pack_fkw,
    unpack_fkw,
)
from patdnn.pruning.patterns import CANDIDATES, hard_prune_mask
from patdnn.runtime.target import Target

LIBRARY = CANDIDATES[5:13]
TOLERANCE = 1e-4


def grouped_weight(
    cout: int, cin: int, group: int, connectivity: float = 2.5, seed: int = 0, empty: int = 0
) -> np.ndarray:
    """A random [cout, cin, 3, 3] weight pruned with filter groups of `group`; the
    first `empty` groups lose every kernel."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(cout, cin, 3, 3, generator=g)
    w = w * hard_prune_mask(w, LIBRARY, connectivity, group)
    w[: empty * group] = 0.0
    return w.numpy()


@pytest.mark.parametrize(
    "cout, cin, group", [(8, 5, 2), (10, 3, 4), (13, 6, 4), (16, 4, 8), (20, 7, 8)]
)
def test_detects_groups(cout: int, cin: int, group: int) -> None:
    w = grouped_weight(cout, cin, group)
    assert filter_group_size(w, LIBRARY) == group
    # PatDNN's per-kernel pruning has no groups; nor has a layer without kernels
    free = torch.randn(cout, cin, 3, 3, generator=torch.Generator().manual_seed(9))
    free = (free * hard_prune_mask(free, LIBRARY, 2.5)).numpy()
    assert filter_group_size(free, LIBRARY) == 1
    assert filter_group_size(np.zeros_like(w), LIBRARY) == 1
    # a kernel of one filter that no pattern covers breaks the groups
    broken = w.copy()
    broken[0, 0] = 1.0
    assert filter_group_size(broken, LIBRARY) == 1


@pytest.mark.parametrize("cout, group, empty", [(10, 4, 0), (12, 4, 1), (9, 2, 2), (16, 8, 1)])
def test_group_layout_round_trip(cout: int, group: int, empty: int) -> None:
    w = grouped_weight(cout, 6, group, empty=empty, seed=cout)
    # stored order: the full groups permuted as wholes, the smaller last group last
    full = cout // group
    moved = np.random.default_rng(cout).permutation(full)
    order = [int(u) * group + f for u in moved for f in range(group)]
    order += list(range(full * group, cout))
    arrays = pack_fkw(w, LIBRARY, order, filter_group=group)
    assert arrays.filter_group == group
    groups = -(-cout // group)
    assert arrays.offset.shape == (groups + 1,)
    assert arrays.pattern_bounds.shape == (groups, len(LIBRARY) + 1)
    assert arrays.weight.shape == (arrays.nnz, 4 * group)
    assert np.array_equal(unpack_fkw(arrays, LIBRARY, w.shape), w)
    # one kernel per kept group position
    assert arrays.nnz == int(np.count_nonzero(np.any(w[::group] != 0, axis=(2, 3))))
    # filter order broken inside a group: no shared pattern
    swapped = list(range(cout))
    last = (full - 1) * group  # the first filter of the last full group (not empty)
    swapped[0], swapped[last] = swapped[last], swapped[0]
    assert filter_group_size(w[swapped], LIBRARY) != group
    if not empty:  # (an empty filter fits any pattern)
        with pytest.raises(PatternMismatchError):
            pack_fkw(w, LIBRARY, swapped, filter_group=group)


def test_group_layout_errors() -> None:
    w = grouped_weight(8, 4, 4)
    free = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(3))
    free = (free * hard_prune_mask(free, LIBRARY, 1.0)).numpy()
    with pytest.raises(PatternMismatchError, match="share no pattern of the library"):
        pack_fkw(free, LIBRARY, filter_group=4)
    arrays = pack_fkw(w, LIBRARY, filter_group=4)
    with pytest.raises(FKWLayoutError, match="8 filters in groups of 2"):
        unpack_fkw(dataclasses.replace(arrays, filter_group=2), LIBRARY, (8, 4, 3, 3))


def test_reorder_moves_whole_groups() -> None:
    # 14 filters in groups of 4: 4, 4, 4 and a last group of 2, with different work
    w = grouped_weight(14, 8, 4, connectivity=2.0, seed=5)
    w[4:8] = 0.0  # the second group is empty: it sorts last among the full groups
    order = filter_kernel_order(w, LIBRARY)
    assert sorted(order) == list(range(14))
    blocks = [order[i : i + 4] for i in range(0, 14, 4)]
    for block in blocks:
        assert block == list(range(block[0], block[0] + len(block))) and block[0] % 4 == 0
    assert blocks[-1] == [12, 13]  # the smaller last group stays last
    assert blocks[2] == [4, 5, 6, 7]
    assert filter_group_size(w[order], LIBRARY) == 4


# ---------------------------------------------------------------------------
# Numerics of the group tile against PyTorch
# ---------------------------------------------------------------------------

CASES = [
    # (cin, cout, height, width, stride, padding, group, empty groups, connectivity)
    (8, 10, 9, 19, 1, 1, 4, 0, 2.0),  # uneven last group, width not a multiple of 16
    (6, 13, 11, 21, 2, 1, 4, 1, 2.5),  # stride 2, an empty group, last group of 1
    (5, 8, 7, 17, 1, 0, 2, 1, 2.0),  # padding 0
    (16, 16, 8, 33, 2, 0, 8, 0, 3.6),  # stride 2, padding 0, groups of 8
    (12, 12, 5, 3, 1, 1, 4, 0, 1.5),  # a row narrower than a NEON vector
    (3, 9, 13, 40, 1, 1, 2, 0, 1.0),  # every kernel kept, 5 groups of 2 (last of 1)
]


def build(case: tuple[int, ...]) -> tuple[nn.Module, torch.Tensor, np.ndarray]:
    cin, cout, h, w, stride, padding, group, empty, conn = case
    torch.manual_seed(sum(case[:6]))
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=padding)
    with torch.no_grad():
        weight = grouped_weight(cout, cin, group, conn, seed=sum(case[:6]), empty=empty)
        conv.weight.copy_(torch.from_numpy(weight))
    model = nn.Sequential(conv, nn.ReLU()).eval()
    x = torch.randn(1, cin, h, w) * 2.0
    with torch.no_grad():
        reference = model(x).numpy()
    return model, x, reference


def check_close(result: np.ndarray, reference: np.ndarray) -> None:
    assert result.shape == reference.shape
    scale = max(float(np.abs(reference).max(initial=0.0)), 1.0)
    assert float(np.abs(result - reference).max(initial=0.0)) < TOLERANCE * scale


@pytest.mark.parametrize("target", ["host", "x86-avx2", "aarch64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_group_tile_matches_pytorch(case: tuple[int, ...], target: str) -> None:
    """aarch64 and an AVX-512 host: the 32-register tiles; x86-avx2 (and an AVX2 host):
    the 16-register ones (`group_tile`)."""
    if target == "x86-avx2" and not Target.available(target):
        pytest.skip("the host has no AVX2 and FMA")
    model, x, reference = build(case)
    compiled = patdnn.compile(model, x, target=target, library=LIBRARY)
    layout = compiled.mlir("fkw-layout")
    assert re.search(rf"filter_group = {case[6]} : i64", layout), layout
    check_close(compiled(x), reference)


def test_default_group_tiles() -> None:
    """32 registers: G x rows x cols within 16 accumulators, at most 2 vectors wide; 16
    registers: G x rows x cols within 8, one vector wide unless that is the whole row."""
    from patdnn.lowering.vector.tiling import group_tile

    assert [group_tile(32, g, 8) for g in (2, 4, 8)] == [(4, 2), (2, 2), (1, 2)]
    assert group_tile(32, 4, 1) == (4, 1)
    assert [group_tile(16, g, 8) for g in (2, 4, 8)] == [(4, 1), (2, 1), (1, 1)]
    assert [group_tile(16, 4, n) for n in (1, 2)] == [(2, 1), (1, 2)]
    assert [group_tile(16, 2, n) for n in (1, 2, 3, 4)] == [(4, 1), (2, 2), (1, 3), (1, 4)]


@pytest.mark.parametrize("vector_width", [4, 8])
def test_group_tile_vector_widths(vector_width: int) -> None:
    model, x, reference = build(CASES[1])
    compiled = patdnn.compile(model, x, library=LIBRARY, vector_width=vector_width)
    check_close(compiled(x), reference)


def test_group_tile_bitwise_across_threads() -> None:
    model, x, reference = build((32, 20, 14, 23, 1, 1, 4, 1, 3.0))
    compiled = patdnn.compile(model, x, library=LIBRARY, num_threads=2, keep_stages=False)
    outputs = {}
    for n in (1, 2, 3, 4):
        compiled.num_threads = n
        outputs[n] = compiled(x)
        check_close(outputs[n], reference)
    for n in (2, 3, 4):
        assert outputs[n].tobytes() == outputs[1].tobytes(), f"{n} threads differ from 1"


def test_ungrouped_layers_keep_the_filter_layout() -> None:
    conv = nn.Conv2d(6, 10, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(hard_prune_mask(conv.weight, LIBRARY, 2.0))
    model = nn.Sequential(conv).eval()
    x = torch.randn(1, 6, 7, 9)
    compiled = patdnn.compile(model, x, library=LIBRARY)
    assert "filter_group" not in compiled.mlir("fkw-layout")
    with torch.no_grad():
        check_close(compiled(x), model(x).numpy())
