"""FKW storage and filter kernel reorder (PatDNN Sections 5.2-5.3) on random
pattern-pruned layers: exact round trips of the numpy packers and of the passes."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp, TensorType, f32
from xdsl.ir import Block, Region

from patdnn.dialect.context import make_context
from patdnn.dialect.patdnn import (
    Conv2dOp,
    FKWConv2dOp,
    Pattern,
    PatternConv2dOp,
    PatternLibraryAttr,
)
from patdnn.dialect.weights import (
    WeightStore,
    attach_weights,
    constant_array,
    is_inline_constant,
    make_constant,
)
from patdnn.errors import PatdnnError
from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass, filter_kernel_order
from patdnn.lowering.fkw_layout import (
    FKWArrays,
    FKWLayoutError,
    FKWLayoutPass,
    PatternMismatchError,
    kernel_patterns,
    pack_fkw,
    unpack_fkw,
)

CENTRE = (1, 1)
CANDIDATES: list[Pattern] = [
    tuple(sorted((CENTRE, *others)))
    for others in itertools.combinations(
        [(r, c) for r in range(3) for c in range(3) if (r, c) != CENTRE], 3
    )
]

# (Cout, Cin, patterns, kept kernel fraction, empty filters, with a filter order)
LAYERS = [
    (1, 1, 8, 1.0, 0, False),
    (1, 40, 6, 0.5, 0, True),
    (70, 1, 12, 0.75, 3, True),
    (16, 8, 8, 1.0, 0, False),
    (16, 8, 8, 1.0, 0, True),
    (32, 16, 6, 0.25, 4, False),
    (64, 32, 8, 0.28, 5, True),
    (70, 40, 12, 0.25, 10, True),
    (45, 27, 12, 0.6, 0, False),
    (8, 3, 6, 0.0, 8, True),
    (70, 40, 8, 1.0, 0, True),
]


def random_library(rng: np.random.Generator, k: int) -> tuple[Pattern, ...]:
    picks = rng.choice(len(CANDIDATES), size=k, replace=False)
    return tuple(CANDIDATES[int(i)] for i in picks)


def random_layer(
    rng: np.random.Generator,
    cout: int,
    cin: int,
    library: tuple[Pattern, ...],
    keep: float,
    empty_filters: int,
) -> np.ndarray:
    """A pattern-pruned weight: each kept kernel takes a random library pattern, with
    random non-zero values (a few taps zero); `empty_filters` filters fully pruned."""
    weight = np.zeros((cout, cin, 3, 3), dtype=np.float32)
    kept = rng.random((cout, cin)) < keep
    kept[rng.choice(cout, size=min(empty_filters, cout), replace=False)] = False
    for f, c in zip(*np.nonzero(kept), strict=True):
        pattern = library[int(rng.integers(len(library)))]
        for r, q in pattern:
            value = np.float32(rng.standard_normal())
            weight[f, c, r, q] = 0.0 if rng.random() < 0.05 else value
    return weight


def check_arrays(
    arrays: FKWArrays, weight: np.ndarray, library: tuple[Pattern, ...], order: list[int]
) -> None:
    """Offsets, strides and indices agree with the kernels of `weight`."""
    cout = weight.shape[0]
    k = len(library)
    patterns = kernel_patterns(weight, library)
    assert arrays.reorder.dtype == np.int32 and list(arrays.reorder) == order
    assert arrays.offset.dtype == arrays.index.dtype == arrays.pattern_bounds.dtype == np.int32
    assert arrays.weight.dtype == np.float32
    assert arrays.nnz == int((patterns >= 0).sum())
    assert arrays.offset.shape == (cout + 1,) and arrays.offset[0] == 0
    assert arrays.offset[-1] == arrays.nnz
    assert arrays.pattern_bounds.shape == (cout, k + 1)
    assert arrays.weight.shape == (arrays.nnz, 4)
    assert np.all(arrays.pattern_bounds[:, 0] == 0)
    assert np.array_equal(arrays.pattern_bounds[:, -1], np.diff(arrays.offset))
    for j, f in enumerate(order):
        start = int(arrays.offset[j])
        for p in range(k):
            lo, hi = (
                start + int(arrays.pattern_bounds[j][p]),
                start + int(arrays.pattern_bounds[j][p + 1]),
            )
            channels = arrays.index[lo:hi]
            assert list(channels) == list(np.flatnonzero(patterns[f] == p))
            rows = [r for r, _ in library[p]]
            cols = [c for _, c in library[p]]
            assert np.array_equal(arrays.weight[lo:hi], weight[f][channels][:, rows, cols])


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_pack_unpack_round_trip(case: int) -> None:
    cout, cin, k, keep, empty, with_order = LAYERS[case]
    rng = np.random.default_rng(case)
    library = random_library(rng, k)
    weight = random_layer(rng, cout, cin, library, keep, empty)
    order = [int(v) for v in rng.permutation(cout)] if with_order else None
    arrays = pack_fkw(weight, library, order)
    check_arrays(arrays, weight, library, order or list(range(cout)))
    back = unpack_fkw(arrays, library, weight.shape)
    assert back.dtype == np.float32
    assert np.array_equal(back, weight)


def test_empty_filters_have_empty_ranges() -> None:
    rng = np.random.default_rng(7)
    library = random_library(rng, 8)
    weight = random_layer(rng, 12, 5, library, 0.5, 0)
    weight[[0, 4, 11]] = 0.0
    arrays = pack_fkw(weight, library, None)
    for j in (0, 4, 11):
        assert arrays.offset[j] == arrays.offset[j + 1]
        assert np.all(arrays.pattern_bounds[j] == 0)


def test_kernel_pattern_is_first_covering_pattern() -> None:
    library = (((0, 1), (1, 0), (1, 1), (1, 2)), ((1, 0), (1, 1), (1, 2), (2, 1)))
    weight = np.zeros((1, 3, 3, 3), dtype=np.float32)
    weight[0, 0, 1, 1] = 1.0  # only the centre: both patterns cover it
    weight[0, 1, 2, 1] = 2.0  # only pattern 1
    assert kernel_patterns(weight, library).tolist() == [[0, 1, -1]]
    arrays = pack_fkw(weight, library)
    assert arrays.weight.tolist() == [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]]


def test_pattern_mismatch_names_filter_and_channel() -> None:
    library = (((0, 1), (1, 0), (1, 1), (1, 2)),)
    weight = np.zeros((3, 2, 3, 3), dtype=np.float32)
    weight[2, 1, 2, 2] = 1.0
    with pytest.raises(PatternMismatchError) as info:
        pack_fkw(weight, library, layer="conv7")
    assert isinstance(info.value, PatdnnError)
    assert str(info.value) == (
        "layer 'conv7': kernel (filter 2, channel 1) keeps taps [(2,2)], "
        "which no pattern of the library covers"
    )
    with pytest.raises(PatternMismatchError, match="filter 2, channel 1"):
        filter_kernel_order(weight, library)


def test_unpack_rejects_inconsistent_arrays() -> None:
    library = (((0, 1), (1, 0), (1, 1), (1, 2)),)
    weight = np.zeros((2, 2, 3, 3), dtype=np.float32)
    weight[:, :, 1, 1] = 1.0
    arrays = pack_fkw(weight, library)
    broken = FKWArrays(
        arrays.reorder,
        arrays.offset,
        arrays.index,
        arrays.pattern_bounds[:, ::-1].copy(),
        arrays.weight,
    )
    with pytest.raises(FKWLayoutError):
        unpack_fkw(broken, library, weight.shape)
    with pytest.raises(FKWLayoutError, match="permutation"):
        pack_fkw(weight, library, [0, 0])


# ---------------------------------------------------------------------------
# The passes on IR built in Python
# ---------------------------------------------------------------------------


def layer_module(
    weight: np.ndarray,
    library: tuple[Pattern, ...],
    *,
    inline: bool = False,
    filter_order: list[int] | None = None,
    name: str = "layer",
) -> ModuleOp:
    """`func @f(%x) { %w = arith.constant; patdnn.pattern_conv2d; return }`, the weight
    given in the original filter order and stored permuted by `filter_order`."""
    cout, cin, _, _ = weight.shape
    x_type = TensorType(f32, [1, cin, 6, 6])
    y_type = TensorType(f32, [1, cout, 6, 6])
    block = Block(arg_types=[x_type])
    stored = weight[filter_order] if filter_order is not None else weight
    store = WeightStore()
    w = make_constant(stored, f"{name}.weight", store=store, inline=inline)
    conv = PatternConv2dOp(
        block.args[0],
        w,
        y_type,
        PatternLibraryAttr.from_patterns(library),
        filter_order=filter_order,
        padding=(1, 1),
        layer=name,
    )
    block.add_ops([w, conv, func.ReturnOp(conv.result)])
    fn = func.FuncOp("f", ([x_type], [y_type]), Region(block))
    module = ModuleOp([fn])
    attach_weights(module, store)
    module.verify()
    return module


def only(module: ModuleOp, kind: type) -> object:
    ops = [op for op in module.walk() if isinstance(op, kind)]
    assert len(ops) == 1
    return ops[0]


def fkw_arrays(op: FKWConv2dOp) -> FKWArrays:
    return FKWArrays(
        reorder=constant_array(op.reorder),
        offset=constant_array(op.offset),
        index=constant_array(op.index),
        pattern_bounds=constant_array(op.pattern_bounds),
        weight=constant_array(op.weight),
    )


@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_passes_round_trip(case: int) -> None:
    cout, cin, k, keep, empty, with_order = LAYERS[case]
    rng = np.random.default_rng(100 + case)
    library = random_library(rng, k)
    weight = random_layer(rng, cout, cin, library, keep, empty)
    given = [int(v) for v in rng.permutation(cout)] if with_order else None
    module = layer_module(weight, library, filter_order=given, name=f"layer{case}")
    ctx = make_context()

    FilterKernelReorderPass().apply(ctx, module)
    module.verify()
    conv = only(module, PatternConv2dOp)
    assert isinstance(conv, PatternConv2dOp)
    order = list(conv.filter_order_values or ())
    assert sorted(order) == list(range(cout))
    stored = constant_array(conv.weight)
    assert np.array_equal(stored, weight[order])
    # FKR groups filters: non-empty kernel counts never increase along the stored
    # filters, and equal counts have non-increasing pattern mixes.
    patterns = kernel_patterns(stored, library)
    counts = (patterns >= 0).sum(axis=1)
    assert np.all(np.diff(counts) <= 0)
    mixes = [tuple(int((row == p).sum()) for p in range(k)) for row in patterns]
    for j in range(cout - 1):
        if counts[j] == counts[j + 1]:
            assert mixes[j] >= mixes[j + 1]
            if mixes[j] == mixes[j + 1]:
                assert order[j] < order[j + 1]
    assert order == filter_kernel_order(weight, library)

    FKWLayoutPass().apply(ctx, module)
    module.verify()
    assert not any(isinstance(op, PatternConv2dOp) for op in module.walk())
    fkw = only(module, FKWConv2dOp)
    assert isinstance(fkw, FKWConv2dOp)
    assert fkw.layer_name == f"layer{case}"
    assert fkw.kernel_values == (3, 3) and fkw.padding_values == (1, 1)
    stored = (fkw.reorder, fkw.offset, fkw.index, fkw.pattern_bounds, fkw.weight)
    assert not any(is_inline_constant(v) for v in stored)
    arrays = fkw_arrays(fkw)
    check_arrays(arrays, weight, library, order)
    assert np.array_equal(unpack_fkw(arrays, library, weight.shape), weight)
    # Only the five arrays are left: the dense weight constant is gone.
    constants = [op for op in module.walk() if op.name == "arith.constant"]
    assert len(constants) == 5


def test_fkr_is_idempotent() -> None:
    rng = np.random.default_rng(3)
    library = random_library(rng, 8)
    weight = random_layer(rng, 24, 10, library, 0.4, 2)
    module = layer_module(weight, library)
    ctx = make_context()
    FilterKernelReorderPass().apply(ctx, module)
    once = str(module)
    FilterKernelReorderPass().apply(ctx, module)
    assert str(module) == once
    assert re.search(r"dense_resource<layer\.weight(_\d+)?\.fkr>", once)


def test_fkr_keeps_an_ordered_weight() -> None:
    library = (((0, 1), (1, 0), (1, 1), (1, 2)),)
    weight = np.zeros((3, 2, 3, 3), dtype=np.float32)
    weight[0, :, 1, 1] = 1.0
    weight[1, 0, 1, 1] = 2.0
    module = layer_module(weight, library)
    conv = only(module, PatternConv2dOp)
    assert isinstance(conv, PatternConv2dOp)
    constant = conv.weight.owner
    FilterKernelReorderPass().apply(make_context(), module)
    assert conv.filter_order_values == (0, 1, 2)
    assert conv.weight.owner is constant
    assert np.array_equal(constant_array(conv.weight), weight)


def test_inline_weights_give_inline_arrays() -> None:
    rng = np.random.default_rng(5)
    library = random_library(rng, 6)
    weight = random_layer(rng, 5, 3, library, 0.7, 1)
    module = layer_module(weight, library, inline=True)
    ctx = make_context()
    FilterKernelReorderPass().apply(ctx, module)
    conv = only(module, PatternConv2dOp)
    assert isinstance(conv, PatternConv2dOp) and is_inline_constant(conv.weight)
    FKWLayoutPass().apply(ctx, module)
    fkw = only(module, FKWConv2dOp)
    assert isinstance(fkw, FKWConv2dOp)
    arrays = (fkw.reorder, fkw.offset, fkw.index, fkw.pattern_bounds, fkw.weight)
    assert all(is_inline_constant(v) for v in arrays)
    assert np.array_equal(unpack_fkw(fkw_arrays(fkw), library, weight.shape), weight)


def test_passes_leave_dense_layers_alone() -> None:
    x_type = TensorType(f32, [1, 2, 5, 5])
    y_type = TensorType(f32, [1, 4, 5, 5])
    block = Block(arg_types=[x_type])
    store = WeightStore()
    w = make_constant(np.ones((4, 2, 3, 3), dtype=np.float32), "dense.weight", store=store)
    conv = Conv2dOp(block.args[0], w, y_type, padding=(1, 1))
    block.add_ops([w, conv, func.ReturnOp(conv.result)])
    module = ModuleOp([func.FuncOp("f", ([x_type], [y_type]), Region(block))])
    attach_weights(module, store)
    text = str(module)
    ctx = make_context()
    FilterKernelReorderPass().apply(ctx, module)
    FKWLayoutPass().apply(ctx, module)
    assert str(module) == text


@pytest.mark.parametrize("empty_filters", [0, 2])
def test_mac_count_is_the_same_before_and_after_fkw(empty_filters: int) -> None:
    """One count for both layouts: the kept kernels' taps at every output position."""
    from patdnn.lowering.summary import image_macs

    rng = np.random.default_rng(11 + empty_filters)
    library = random_library(rng, 4)
    weight = random_layer(rng, 7, 5, library, 0.6, empty_filters)
    module = layer_module(weight, library)
    conv = only(module, PatternConv2dOp)
    assert isinstance(conv, PatternConv2dOp)
    kept = int(np.count_nonzero(np.abs(weight).sum(axis=(2, 3))))
    assert image_macs(conv) == kept * 4 * 6 * 6
    assert image_macs(conv, dense=True) == 7 * 5 * 9 * 6 * 6
    FKWLayoutPass().apply(make_context(), module)
    fkw = only(module, FKWConv2dOp)
    assert isinstance(fkw, FKWConv2dOp)
    assert image_macs(fkw) == kept * 4 * 6 * 6
    assert image_macs(fkw, dense=True) == 7 * 5 * 9 * 6 * 6
