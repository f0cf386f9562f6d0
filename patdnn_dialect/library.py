"""Patterns and pattern libraries: the one home of the pattern rules (numpy only).

A *tap* is a `(row, col)` position of a kernel; a *pattern* the taps a pruned kernel
keeps; a *library* the K patterns a layer may use (PatDNN Section 3). For the 3x3 layers
of pattern pruning a pattern has 4 taps, the centre always among them: C(8, 3) = 56
candidates (`CANDIDATES`). The dialect's `#patdnn.patterns` attribute, every pass and
the pruning package use what is here:

- validation: `check_library` (any kernel: distinct, non-negative taps, distinct
  patterns), `check_for_kernel` (taps inside a Kh x Kw kernel, equal tap counts), and for
  pruning `normalize_pattern` / `normalize_library` / `check_num_patterns` (the 3x3,
  4-tap, centre-kept rules);
- library extraction: `design_library` (from dense weights: the patterns kernels prefer
  on their own, PatDNN Section 4.1) and `library_of_supports` (from pruned weights: the
  supports the kernels actually have);
- kernel-to-pattern matching: `kernel_pattern_ids` and `misfit_message`;
- text: `format_taps`, `format_library` (the attribute's syntax).

Every function is deterministic: ties go to the earlier library entry, the earlier
kernel or the earlier tap (row-major).
"""

from __future__ import annotations

import itertools
import numbers
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from patdnn.errors import PatdnnError

Tap = tuple[int, int]
Pattern = tuple[Tap, ...]
Library = tuple[Pattern, ...]

CENTRE: Tap = (1, 1)
TAPS_PER_PATTERN = 4

OTHER_TAPS: tuple[Tap, ...] = tuple((r, c) for r in range(3) for c in range(3) if (r, c) != CENTRE)
"""The 8 non-centre taps of a 3x3 kernel, row-major."""

CANDIDATES: Library = tuple(
    sorted(tuple(sorted((CENTRE, *combo))) for combo in itertools.combinations(OTHER_TAPS, 3))
)
"""All 56 candidate patterns of a 3x3 kernel, sorted."""

MAX_PATTERNS = len(CANDIDATES)  # 56

MISFIT = -2
"""`kernel_pattern_ids` value of a non-empty kernel that no pattern covers."""


class LibraryError(PatdnnError, ValueError):
    """A pattern or library that breaks the pattern rules; the message says which."""


# -- text -------------------------------------------------------------------------------


def format_taps(taps: Iterable[Sequence[int]]) -> str:
    """`[(0,1),(1,0),(1,1),(1,2)]`: taps as the library attribute prints them."""
    return "[" + ",".join(f"({int(r)},{int(c)})" for r, c in taps) + "]"


def format_library(patterns: Iterable[Iterable[Sequence[int]]]) -> str:
    """`[[(0,1),(1,0),(1,1),(1,2)], ...]`: a library as the attribute prints it."""
    return "[" + ", ".join(format_taps(p) for p in patterns) + "]"


# -- validation -------------------------------------------------------------------------


def check_library(patterns: Sequence[Pattern]) -> None:
    """The checks of a library on its own, whatever the kernel size: at least one
    pattern, each with taps, no negative or repeated tap, no two patterns alike."""
    if not patterns:
        raise LibraryError("pattern library is empty: it needs at least one pattern")
    seen: dict[frozenset[Tap], int] = {}
    for i, pattern in enumerate(patterns):
        if not pattern:
            raise LibraryError(f"pattern {i} of the library has no taps")
        for r, c in pattern:
            if r < 0 or c < 0:
                raise LibraryError(
                    f"pattern {i} has the tap ({r},{c}): rows and columns start at 0"
                )
        taps = frozenset(pattern)
        if len(taps) != len(pattern):
            twice = next(t for t in pattern if pattern.count(t) > 1)
            raise LibraryError(f"pattern {i} lists the tap ({twice[0]},{twice[1]}) twice")
        if taps in seen:
            raise LibraryError(f"patterns {seen[taps]} and {i} of the library keep the same taps")
        seen[taps] = i


def check_for_kernel(
    patterns: Sequence[Pattern], kh: int, kw: int, *, equal_tap_counts: bool = True
) -> None:
    """The library against a Kh x Kw kernel: every tap inside it and, for FKW storage,
    the same number of taps in every pattern."""
    for i, pattern in enumerate(patterns):
        for r, c in pattern:
            if r >= kh or c >= kw:
                raise LibraryError(
                    f"tap ({r},{c}) of pattern {i} lies outside the {kh}x{kw} kernel"
                )
    counts = {len(p) for p in patterns}
    if equal_tap_counts and len(counts) > 1:
        listed = ", ".join(str(len(p)) for p in patterns)
        raise LibraryError(
            f"patterns of the library must have the same number of taps, got {listed}"
        )


def normalize_pattern(pattern: Iterable[Sequence[int]]) -> Pattern:
    """`pattern` as a sorted tuple of taps, checked to be a pruning pattern: 4 distinct
    taps of a 3x3 kernel, the centre among them."""
    try:
        taps = tuple(sorted((int(t[0]), int(t[1])) for t in pattern))
    except (TypeError, ValueError, IndexError) as exc:
        raise LibraryError(f"pattern {pattern!r} is not a sequence of (row, col) taps") from exc
    if len(taps) != TAPS_PER_PATTERN or len(set(taps)) != TAPS_PER_PATTERN:
        raise LibraryError(f"pattern {taps} must have {TAPS_PER_PATTERN} distinct taps")
    if any(not (0 <= r < 3 and 0 <= c < 3) for r, c in taps):
        raise LibraryError(f"pattern {taps} has a tap outside the 3x3 kernel")
    if CENTRE not in taps:
        raise LibraryError(f"pattern {taps} does not keep the centre tap {CENTRE}")
    return taps


def normalize_library(library: Iterable[Iterable[Sequence[int]]]) -> Library:
    """`library` as a tuple of normalized patterns (non-empty, all distinct)."""
    if isinstance(library, str | bytes):
        raise LibraryError(
            f"a library is a list of patterns of (row, col) taps, not text: {library!r}"
        )
    try:
        lib = tuple(normalize_pattern(p) for p in library)
    except TypeError as exc:
        raise LibraryError(f"library {library!r} is not a list of patterns") from exc
    if not lib:
        raise LibraryError("the pattern library is empty")
    if len(set(lib)) != len(lib):
        raise LibraryError("the pattern library holds the same pattern twice")
    return lib


def check_num_patterns(num_patterns: object) -> int:
    """A library size: an int in 1..56."""
    if isinstance(num_patterns, bool) or not isinstance(num_patterns, numbers.Integral):
        raise LibraryError(
            f"num_patterns must be an int in 1..{MAX_PATTERNS}, got {num_patterns!r}"
        )
    count = int(num_patterns)
    if not 1 <= count <= MAX_PATTERNS:
        raise LibraryError(f"num_patterns must be in 1..{MAX_PATTERNS}, got {num_patterns}")
    return count


# -- matching kernels to patterns -------------------------------------------------------


def pattern_masks(library: Sequence[Pattern], kh: int = 3, kw: int = 3) -> np.ndarray:
    """`[K, Kh*Kw]` boolean masks of the library's taps."""
    check_for_kernel(library, kh, kw, equal_tap_counts=False)
    masks = np.zeros((len(library), kh * kw), dtype=bool)
    for p, pattern in enumerate(library):
        for r, c in pattern:
            masks[p, r * kw + c] = True
    return masks


def kernel_pattern_ids(weight: np.ndarray, library: Sequence[Pattern]) -> np.ndarray:
    """The pattern of every kernel of a `[Cout, Cin, Kh, Kw]` weight, as an int64
    `[Cout, Cin]` array: the first library pattern (by index) whose taps cover the
    kernel's non-zero taps, -1 for an all-zero kernel, `MISFIT` for a kernel no pattern
    covers."""
    if weight.ndim != 4:
        raise LibraryError(f"expected a 4-D weight, got shape {weight.shape}")
    cout, cin, kh, kw = weight.shape
    masks = pattern_masks(library, kh, kw)
    nonzero = (weight != 0).reshape(cout * cin, kh * kw)
    # A kernel fits a pattern when it has no non-zero tap outside it.
    fits = ~(nonzero[:, None, :] & ~masks[None, :, :]).any(axis=2)
    nonempty = nonzero.any(axis=1)
    ids = np.where(fits.any(axis=1), fits.argmax(axis=1), MISFIT)
    return np.where(nonempty, ids, -1).reshape(cout, cin).astype(np.int64)


def misfit_message(weight: np.ndarray, ids: np.ndarray) -> str | None:
    """Names the first kernel that `kernel_pattern_ids` found outside the library, and
    the taps it keeps; None when every kernel fits."""
    bad = np.argwhere(ids == MISFIT)
    if not bad.size:
        return None
    f, c = (int(x) for x in bad[0])
    kw = weight.shape[3]
    taps = [divmod(int(i), kw) for i in np.flatnonzero(weight[f, c].reshape(-1))]
    return (
        f"kernel (filter {f}, channel {c}) keeps taps {format_taps(taps)}, "
        "which no pattern of the library covers"
    )


# -- library extraction -----------------------------------------------------------------


def preferred_pattern_ids(weight: np.ndarray) -> np.ndarray:
    """Candidate index (into `CANDIDATES`) each 3x3 kernel of `weight` (`[..., 3, 3]`)
    would keep on its own: the centre plus its 3 largest other magnitudes (ties: earlier
    tap). Shape `weight.shape[:-2]`; all-zero kernels get -1."""
    if weight.ndim < 2 or tuple(weight.shape[-2:]) != (3, 3):
        raise LibraryError(f"weight of shape {tuple(weight.shape)} does not hold 3x3 kernels")
    flat = np.abs(weight.reshape(-1, 9).astype(np.float64))
    other_flat = [3 * r + c for r, c in OTHER_TAPS]
    others = flat[:, other_flat]
    order = np.argsort(-others, axis=1, kind="stable")[:, :3]
    bits = np.array([1 << f for f in other_flat], dtype=np.int64)
    codes = bits[order].sum(axis=1) + (1 << (3 * CENTRE[0] + CENTRE[1]))
    lookup = np.full(1 << 9, -1, dtype=np.int64)
    for i, p in enumerate(CANDIDATES):
        lookup[sum(1 << (3 * r + c) for r, c in p)] = i
    ids = lookup[codes]
    ids[flat.max(axis=1, initial=0) == 0] = -1
    return ids.reshape(weight.shape[:-2])


def preferred_counts(weights: Iterable[np.ndarray]) -> np.ndarray:
    """How many kernels prefer each of the 56 candidates (all-zero kernels not counted)."""
    counts = np.zeros(MAX_PATTERNS, dtype=np.int64)
    for w in weights:
        ids = preferred_pattern_ids(w).reshape(-1)
        counts += np.bincount(ids[ids >= 0], minlength=MAX_PATTERNS)
    return counts


def design_library(weights: Iterable[np.ndarray], num_patterns: int = 8) -> Library:
    """The `num_patterns` most frequent preferred patterns of the 3x3 kernels of
    `weights` (PatDNN Section 4.1): candidates ranked by (-count, taps), so ties and
    candidates no kernel prefers are taken in sorted order and exactly `num_patterns`
    patterns are returned."""
    k = check_num_patterns(num_patterns)
    counts = preferred_counts(weights)
    ranked = sorted(range(MAX_PATTERNS), key=lambda i: (-counts[i], CANDIDATES[i]))
    return tuple(CANDIDATES[i] for i in ranked[:k])


def library_of_supports(weights: Iterable[np.ndarray], num_patterns: int | None = None) -> Library:
    """The library a set of pruned `[Cout, Cin, Kh, Kw]` weights was pruned to: the
    supports (sets of non-zero taps) of their kernels that have the most common tap
    count, most frequent first (ties: by taps), at most `num_patterns` of them (all of
    them with None). Raises LibraryError when no kernel is non-empty."""
    counts: Counter[Pattern] = Counter()
    for w in weights:
        kw = w.shape[3]
        nnz = (w != 0).reshape(w.shape[0] * w.shape[1], -1)
        sizes = nnz.sum(axis=1)
        nonempty = sizes[sizes > 0]
        if not nonempty.size:
            continue
        tap_count = int(np.bincount(nonempty).argmax())
        keys, freq = np.unique(nnz[sizes == tap_count], axis=0, return_counts=True)
        for key, n in zip(keys, freq, strict=True):
            counts[tuple(divmod(int(i), kw) for i in np.flatnonzero(key))] += int(n)
    if not counts:
        raise LibraryError("no pattern-pruned kernel to extract a pattern library from")
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if num_patterns is not None:
        ranked = ranked[:num_patterns]
    return tuple(taps for taps, _ in ranked)
