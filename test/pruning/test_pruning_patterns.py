from __future__ import annotations

import math

import pytest
import torch

from patdnn.errors import PatdnnError
from patdnn.pruning import (
    CANDIDATES,
    LibraryError,
    PruningError,
    assign_patterns,
    connectivity_mask,
    extract_library,
    hard_prune_mask,
    kernels_to_keep,
    mask_pattern_ids,
    pattern_counts,
    pattern_mask,
    project_both,
    project_connectivity,
    project_patterns,
)
from patdnn.pruning.patterns import normalize_library

LIB8 = CANDIDATES[::7]  # 8 fixed library patterns


def supports(t: torch.Tensor) -> torch.Tensor:
    return (t != 0).reshape(-1, 3, 3)


def library_codes(library) -> set[bytes]:
    return {pattern_mask(p).numpy().tobytes() for p in library}


def test_candidates() -> None:
    assert len(CANDIDATES) == 56 == math.comb(8, 3)
    assert len(set(CANDIDATES)) == 56
    for p in CANDIDATES:
        assert len(p) == 4 and (1, 1) in p and list(p) == sorted(p)
    assert list(CANDIDATES) == sorted(CANDIDATES)


def planted_weights(plan: list[tuple[tuple[tuple[int, int], ...], int]], seed: int = 0):
    """Kernels holding large values on the planted taps, tiny noise elsewhere."""
    g = torch.Generator().manual_seed(seed)
    kernels = []
    for pattern, count in plan:
        m = pattern_mask(pattern).float()
        for _ in range(count):
            big = (0.5 + torch.rand(3, 3, generator=g)) * torch.sign(torch.randn(3, 3, generator=g))
            noise = 0.01 * torch.randn(3, 3, generator=g)
            kernels.append(m * big + (1 - m) * noise)
    w = torch.stack(kernels)
    perm = torch.randperm(len(w), generator=g)
    return w[perm]


def test_extract_library_recovers_planted_patterns() -> None:
    planted = [CANDIDATES[i] for i in (40, 3, 17, 55, 8, 29, 0, 33)]
    plan = [(p, 60 - 5 * i) for i, p in enumerate(planted)]
    plan += [(CANDIDATES[i], 4) for i in (1, 2, 5, 6)]  # rare distractors
    w = planted_weights(plan)
    # split into three "layers" of different shapes
    layers = [w[:100].reshape(10, 10, 3, 3), w[100:200].reshape(20, 5, 3, 3), w[200:]]
    lib = extract_library(layers, num_patterns=8)
    assert lib == tuple(planted)  # most frequent first
    assert extract_library(layers, num_patterns=6) == tuple(planted[:6])
    counts = pattern_counts(layers)
    assert counts[planted[0]] == 60 and counts[CANDIDATES[1]] == 4
    assert sum(counts.values()) == sum(c for _, c in plan)


def test_extract_library_from_model_uses_prunable_layers(tiny_model) -> None:
    with torch.no_grad():
        planted = CANDIDATES[12]
        m = pattern_mask(planted).float()
        tiny_model.conv1.weight.copy_(torch.ones_like(tiny_model.conv1.weight))  # dense first conv
        for conv in (tiny_model.conv2, tiny_model.conv3):
            conv.weight.mul_(0.01).add_(m)
    assert extract_library(tiny_model, 1) == (planted,)
    # only the first conv: its all-equal kernels prefer the first candidate
    assert extract_library(tiny_model, 1, include=["conv1"]) == (CANDIDATES[0],)


@pytest.mark.parametrize("k", [1, 6, 8, 12, 56])
def test_extract_library_returns_exactly_k_and_fills_deterministically(k: int) -> None:
    w = torch.zeros(1, 1, 3, 3)
    for r, c in CANDIDATES[30]:
        w[0, 0, r, c] = 1.0
    lib = extract_library(w, num_patterns=k)
    assert len(lib) == k == len(set(lib))
    assert lib[0] == CANDIDATES[30]
    rest = [p for p in CANDIDATES if p != CANDIDATES[30]]
    assert list(lib[1:]) == rest[: k - 1]
    assert extract_library(w.clone(), num_patterns=k) == lib


def test_extract_library_ties_sorted_by_taps() -> None:
    a, b = CANDIDATES[20], CANDIDATES[10]
    w = torch.stack([pattern_mask(a).float(), pattern_mask(b).float()]) * 2
    assert extract_library(w, num_patterns=2) == (b, a)  # equal counts: sorted taps order
    # equal magnitudes among the other taps: earliest taps win
    assert extract_library(torch.ones(4, 3, 3), 1) == (((0, 0), (0, 1), (0, 2), (1, 1)),)


def test_all_zero_kernels_are_not_counted() -> None:
    w = torch.zeros(5, 3, 3)
    w[0] = pattern_mask(CANDIDATES[9]).float()
    assert sum(pattern_counts(w).values()) == 1
    assert extract_library(w, 1) == (CANDIDATES[9],)


@pytest.mark.parametrize("bad", [0, 57, -1, 2.5, True, "8", None])
def test_num_patterns_out_of_range(bad) -> None:
    with pytest.raises(LibraryError, match="num_patterns"):
        extract_library(torch.randn(4, 3, 3), num_patterns=bad)
    assert issubclass(LibraryError, ValueError) and issubclass(LibraryError, PatdnnError)


def test_pattern_projection_keeps_most_energy() -> None:
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3)
    pw = project_patterns(w, LIB8)
    masks = torch.stack([pattern_mask(p) for p in LIB8])
    sup = supports(pw)
    codes = library_codes(LIB8)
    for k in range(sup.shape[0]):
        assert sup[k].numpy().tobytes() in codes  # exactly one library pattern
    flat_w, flat_p = w.reshape(-1, 3, 3), pw.reshape(-1, 3, 3)
    energies = (flat_w.square()[:, None] * masks[None].float()).sum(dim=(2, 3))
    assert torch.allclose(flat_p.square().sum(dim=(1, 2)), energies.max(dim=1).values)
    # kept values are the original ones
    assert torch.equal(flat_p[sup], flat_w[sup])
    assert torch.equal(assign_patterns(w, LIB8), energies.argmax(dim=1).reshape(16, 8))


def test_pattern_projection_ties_go_to_first_pattern() -> None:
    assert assign_patterns(torch.ones(2, 2, 3, 3), LIB8).eq(0).all()


@pytest.mark.parametrize("connectivity", [1, 1.5, 3.6, 7.0, 1000.0])
def test_connectivity_projection_exact_count(connectivity: float) -> None:
    torch.manual_seed(1)
    w = torch.randn(12, 7, 3, 3)
    n = 12 * 7
    keep = max(1, round(n / connectivity))
    assert kernels_to_keep(n, connectivity) == keep
    pw = project_connectivity(w, connectivity)
    norms = pw.reshape(n, 9).norm(dim=1)
    kept = norms > 0
    assert int(kept.sum()) == keep
    orig = w.reshape(n, 9).norm(dim=1)
    if keep < n:
        assert orig[kept].min() >= orig[~kept].max()
    assert torch.equal(pw.reshape(n, 9)[kept], w.reshape(n, 9)[kept])
    assert torch.equal(connectivity_mask(w, connectivity).reshape(-1), kept)


def test_connectivity_ties_keep_earlier_kernels() -> None:
    mask = connectivity_mask(torch.ones(4, 2, 3, 3), 4.0)
    assert mask.reshape(-1).tolist() == [True, True] + [False] * 6


@pytest.mark.parametrize("bad", [0.5, 0, -3, float("nan"), float("inf"), "3.6", None])
def test_connectivity_below_one_rejected(bad) -> None:
    with pytest.raises(PruningError, match="connectivity"):
        project_connectivity(torch.randn(2, 2, 3, 3), bad)


def test_projections_are_idempotent() -> None:
    torch.manual_seed(2)
    w = torch.randn(10, 6, 3, 3)
    p = project_patterns(w, LIB8)
    assert torch.equal(project_patterns(p, LIB8), p)
    c = project_connectivity(w, 3.6)
    assert torch.equal(project_connectivity(c, 3.6), c)
    b = project_both(w, LIB8, 3.6)
    assert torch.equal(project_both(b, LIB8, 3.6), b)
    assert torch.equal(project_patterns(b, LIB8), b)
    assert torch.equal(project_connectivity(b, 3.6), b)


@pytest.mark.parametrize("shape", [(32, 16), (7, 3), (1, 1), (64, 32)])
def test_hard_prune_mask_is_intersection(shape: tuple[int, int]) -> None:
    torch.manual_seed(3)
    w = torch.randn(*shape, 3, 3)
    mask = hard_prune_mask(w, LIB8, 3.6)
    flat = mask.reshape(-1, 3, 3)
    nonempty = flat.any(dim=(1, 2))
    assert int(nonempty.sum()) == max(1, round(shape[0] * shape[1] / 3.6))
    codes = library_codes(LIB8)
    for k in range(flat.shape[0]):
        assert (not nonempty[k]) or flat[k].numpy().tobytes() in codes
    # the pruned weights have exactly the mask's support
    assert torch.equal(supports(project_both(w, LIB8, 3.6)), flat)
    ids = mask_pattern_ids(mask, LIB8)
    assert torch.equal(ids >= 0, nonempty.reshape(shape))
    for k, i in enumerate(ids.reshape(-1).tolist()):
        if i >= 0:
            assert torch.equal(flat[k], pattern_mask(LIB8[i]))


def test_mask_pattern_ids_rejects_foreign_masks() -> None:
    mask = torch.zeros(1, 1, 3, 3, dtype=torch.bool)
    mask[0, 0, 0, 0] = True
    with pytest.raises(PruningError, match="library pattern"):
        mask_pattern_ids(mask, LIB8)


@pytest.mark.parametrize(
    "library, message",
    [
        ((), "empty"),
        ((((0, 0), (0, 1), (1, 1)),), "4 distinct taps"),
        ((((0, 0), (0, 1), (0, 2), (1, 0)),), "centre"),
        ((((0, 0), (0, 1), (1, 1), (3, 1)),), "outside"),
        ((CANDIDATES[0], CANDIDATES[0]), "twice"),
    ],
)
def test_bad_library_rejected(library, message: str) -> None:
    with pytest.raises(LibraryError, match=message):
        normalize_library(library)


def test_library_normalized_to_sorted_tuples() -> None:
    lib = normalize_library([[(1, 2), [1, 1], (0, 1), (1, 0)]])
    assert lib == (((0, 1), (1, 0), (1, 1), (1, 2)),)
