"""The benchmark's plumbing: runners, checking peers, tables, the FMA peak, the estimate.

Fake peers stand in for the optional runtimes, so the logic is tested without them; the
tests of the real peers run only where they are installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from patdnn.bench import core
from patdnn.bench.estimate import (
    Loop,
    find_loops,
    fp_pipes,
    hot_loop,
    mca_estimate,
    model_fmla_rate,
    stack_accesses,
)
from patdnn.bench.peak import FmaPeak, _accumulators, fma_loop_mlir, measure_fma_peak
from patdnn.bench.peers import PEERS, Peer, PeerUnavailable, check_output, relative_error, scratch
from patdnn.errors import PatdnnError
from patdnn.runtime.target import Target

PEAK = FmaPeak("host", 8, 100.0)


def tiny_case() -> core.Case:
    torch.manual_seed(0)
    dense = torch.nn.Conv2d(8, 8, 3, padding=1).eval()
    pruned = torch.nn.Conv2d(8, 8, 3, padding=1).eval()
    pruned.load_state_dict(dense.state_dict())
    core.pattern_prune(pruned)
    return core.Case("tiny", "pattern conv", dense, pruned, torch.randn(1, 8, 9, 11))


def _right(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path):
    return lambda: model(x).detach().numpy()


def _wrong(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path):
    return lambda: model(x).detach().numpy() + 1.0


def _broken(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path):
    raise RuntimeError("converter crashed\nUnsupported operator Foo")


FAKES = (
    Peer("Right", "torch", _right),
    Peer("Wrong", "torch", _wrong),
    Peer("Broken", "torch", _broken),
    Peer("Absent", "no_such_module_here", _right),
)


def test_fma_loop_computes_every_iteration() -> None:
    from patdnn.lowering.upstream import host_module_from_mlir

    target = Target.get("host")
    text = fma_loop_mlir(target, 5)
    assert "vector.fma" in text and "memref" in text
    module = host_module_from_mlir(text)
    w, n = target.vector_width, _accumulators(target)
    acc = np.linspace(0.5, 1.0, n * w, dtype=np.float32)
    x = np.concatenate([acc, np.full(w, 0.5), np.full(w, 0.25)]).astype(np.float32)
    out = module(x)
    expected = acc.astype(np.float64)
    for _ in range(5):
        expected = expected * 0.5 + 0.25
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_measured_peak_is_plausible() -> None:
    peak = measure_fma_peak(iterations=20_000, rounds=3)
    assert peak.target == "host" and peak.vector_width == Target.get("host").vector_width
    # One core does at least a vector FMA every 4 cycles at 0.5 GHz, and fewer than 4 a cycle
    # at 6 GHz: bounds that fail if the loop is optimised away or not run.
    lanes = 2 * peak.vector_width
    assert lanes * 0.5 / 4 < peak.gflops < lanes * 4 * 6


def test_shares_use_the_higher_of_the_peaks_before_and_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    again = {"host": 80.0, "x86-avx2": 50.0}
    monkeypatch.setattr(core, "_measure_peaks", lambda ts: [FmaPeak(t, 8, again[t]) for t in ts])
    loaded, quiet = FmaPeak("host", 8, 40.0), FmaPeak("x86-avx2", 8, 60.0)
    results = [core.CaseResult("a", "conv", 1, 1, loaded, 0.0),
               core.CaseResult("b", "conv", 1, 1, loaded, 0.0, target="host"),
               core.CaseResult("c", "conv", 1, 1, quiet, 0.0, target="x86-avx2")]  # fmt: skip
    core._settle_peaks(results)
    assert [r.peak.gflops for r in results] == [80.0, 80.0, 60.0]
    core._settle_peaks([])


def test_relative_error_and_check() -> None:
    ref = np.arange(6, dtype=np.float32).reshape(1, 6)
    assert relative_error(ref.copy(), ref) == 0.0
    assert relative_error(np.zeros(5, np.float32), ref) == float("inf")
    assert relative_error(np.full((1, 6), np.nan, np.float32), ref) == float("inf")
    assert check_output("X", ref + 1e-5, ref, 1e-3) < 1e-3
    with pytest.raises(
        PeerUnavailable, match=r"X: wrong output \(relative error 2\.0e-01 > 1e-03, shape 1x6\)"
    ):
        check_output("X", ref + 1, ref, 1e-3)


def test_peer_failures_are_one_line() -> None:
    case = tiny_case()
    with scratch() as folder:
        with pytest.raises(PeerUnavailable, match="^Absent: not installed"):
            FAKES[3].prepare(case.dense, case.x, 1, Path(folder))
        with pytest.raises(PeerUnavailable) as info:
            FAKES[2].prepare(case.dense, case.x, 1, Path(folder))
    assert str(info.value) == "Broken: conversion failed: Unsupported operator Foo"


def test_run_case_times_right_peers_and_reports_the_rest() -> None:
    logged: list[str] = []
    r = core.run_case(tiny_case(), [1, 2], 2, PEAK, FAKES, log=logged.append)
    assert r.macs < r.dense_macs and r.kind == "pattern conv"
    assert r.patdnn[1].ms is not None and r.patdnn[1].ms > 0
    assert r.patdnn[1].error is not None and r.patdnn[1].error < 1e-5
    if core.compile_accepts_threads():
        assert r.patdnn[2].ms is not None
    else:
        assert r.patdnn[2].ms is None and r.patdnn[2].note == "n/a (single-threaded)"
    for n in (1, 2):
        assert r.peers["Right"][n].ms is not None and r.peers["Right"][n].error == 0.0
        assert r.peers["Wrong"][n].ms is None and r.peers["Wrong"][n].note == "wrong"
        assert r.peers["Broken"][n].ms is None and r.peers["Broken"][n].note == "skipped"
        assert r.peers["Absent"][n].ms is None
    assert r.fastest_peer(1) == ("Right", r.peers["Right"][1].ms)
    assert any("Wrong: wrong output" in line for line in logged)
    assert any("Broken: conversion failed" in line for line in logged)
    assert len(r.notes) == len(logged) == 6

    table = core.format_results([r], [1, 2])
    assert "| tiny | pattern conv |" in table
    assert "Right ms" in table and "| wrong |" in table and "| skipped |" in table
    ratio = r.peers["Right"][1].ms / r.patdnn[1].ms
    assert f"| Right | {ratio:.2f}x |" in table
    share = 2 * r.macs / (r.patdnn[1].ms * 1e-3) / 1e9 / PEAK.gflops
    assert f"{100 * share:.0f} %" in table


def test_wrong_patdnn_output_is_not_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    real = core._patdnn_runner

    def doubled(compiled: object, x: np.ndarray):
        run = real(compiled, x)
        return lambda: run() * 2

    monkeypatch.setattr(core, "_patdnn_runner", doubled)
    r = core.run_case(tiny_case(), [1], 1, PEAK, FAKES[:1])
    assert r.patdnn[1].ms is None and r.patdnn[1].note.startswith("wrong")


def test_dense_layer_cases_and_linear() -> None:
    case = core.dense_case(("fc", "linear", 16, 5, 0, 1, 1, 1))
    r = core.run_case(case, [1], 1, PEAK, FAKES[:1])
    assert r.macs == r.dense_macs == 16 * 5
    assert r.patdnn[1].error is not None and r.patdnn[1].error < 1e-5
    names = [spec[0] for spec in core.DENSE_LAYERS]
    assert {spec[1] for spec in core.DENSE_LAYERS} == {"conv", "pointwise", "depthwise", "linear"}
    assert [c.name for c in core.suite_cases("dense", "0,mobilenet fc 1280->1000")] == [
        names[0],
        "mobilenet fc 1280->1000",
    ]


def test_selection_and_threads_errors() -> None:
    assert core.parse_threads("1,2,2") == [1, 2]
    for bad in ("", "0", "1,x"):
        with pytest.raises(PatdnnError, match="--threads"):
            core.parse_threads(bad)
    assert core.select_shapes("0,2") == [(64, 224), (256, 56)]
    with pytest.raises(PatdnnError, match="--layers '9': '9' is neither an index 0..4"):
        core.select_shapes("9")
    with pytest.raises(PatdnnError, match="unknown suite"):
        core.suite_cases("big")
    with pytest.raises(PatdnnError, match="unknown peer 'tvm'"):
        core._peers("onnxruntime,tvm")
    assert [p.name for p in core._peers("onnxruntime,ncnn")] == ["ONNX Runtime", "ncnn"]


def test_profile_layers_covers_every_layer() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
    ).eval()
    core.pattern_prune(model[2])
    case = core.Case("net", "model", model, model, torch.randn(1, 3, 10, 10))
    layers, whole = core.profile_layers(case, 2, PEAK)
    assert sorted(layer.name for layer in layers) == ["0", "2", "6"]
    kinds = {layer.name: layer.kind for layer in layers}
    assert kinds == {"0": "conv", "2": "pattern conv", "6": "linear"}
    assert [layer.ms for layer in layers] == sorted((layer.ms for layer in layers), reverse=True)
    assert whole > 0
    table = core.format_profile("net", layers, whole)
    assert "| 2 | pattern conv | 8->8 3x3/1 10x10->10x10 |" in table
    assert "rest (whole - layers)" in table


ASM = """\
f:
	mov x0, #0
.LBB0_1:
	add x1, x1, #1
.LBB0_2:
	fmla v0.4s, v1.4s, v2.s[0]
	fmla v3.4s, v1.4s, v2.s[1]
	ldr q1, [x2], #16   // comment
	subs x3, x3, #1
	b.ne .LBB0_2
// %bb.3:
	str q0, [sp, #16]
	cbnz x1, .LBB0_1
.LBB0_4:
	fmla v0.4s, v1.4s, v2.4s
	b .LBB0_5
.LBB0_5:
	ret
"""


def test_hot_loop_is_the_innermost_with_most_fmla() -> None:
    loops = find_loops(ASM)
    assert [loop.label for loop in loops] == [".LBB0_2", ".LBB0_1"]
    loop = hot_loop(ASM)
    assert loop.label == ".LBB0_2" and loop.fmla == 2
    assert loop.instructions[-1] == "b.ne .LBB0_2" and "ldr q1, [x2], #16" in loop.instructions
    assert stack_accesses(loop) == []
    assert stack_accesses(loops[1]) == ["str q0, [sp, #16]"]
    with pytest.raises(PatdnnError, match="no loop with fmla"):
        hot_loop("f:\n\tret\n")


def test_estimate_on_a_small_aarch64_build() -> None:
    r = core.estimate_case(tiny_case(), clock_ghz=2.0)
    assert r.fmla > 0 and r.cycles > 0 and r.spills == 0
    # of the model's rate: at most 1, up to llvm-mca's rounding of the cycle counts
    assert 0 < r.utilisation <= r.model_utilisation <= 1.01
    # llvm-mca's pressure on the A57 tables' FP pipes: at least the hardware share
    assert r.utilisation <= r.pipe_pressure <= 1.01
    # the kept MACs, 4 lanes an fmla, at the predicted cycles per iteration and 2 GHz
    expected = r.macs / (4 * r.fmla) * r.cycles / 2e9 * 1e3
    assert r.layer_ms == pytest.approx(expected)
    table = core.format_estimates([r], 2.0, "cortex-a76")
    assert "at 2 GHz" in table and "| tiny |" in table
    assert "| fmla per cycle of 2 (hardware) | FP-pipe pressure (llvm-mca) |" in table
    assert f"| {100 * r.utilisation:.0f} % | {100 * r.pipe_pressure:.0f} % |" in table
    assert "A57UnitW and A57UnitX" in table


def test_model_fmla_rate_is_the_cpu_model_s() -> None:
    # LLVM's cortex-a76 model is the A57's: one 128-bit fmla a cycle; neoverse-n1 two
    assert model_fmla_rate("cortex-a76") == pytest.approx(1.0, abs=0.05)
    assert model_fmla_rate("neoverse-n1") == pytest.approx(2.0, abs=0.1)


def test_fp_pipe_pressure_is_llvm_mca_s() -> None:
    """llvm-mca's resource pressure: the A57 tables behind `cortex-a76` hold W or X 2 cycles
    for a q-form fmla, so a loop of independent ones keeps both pipes busy at one fmla a
    cycle (pressure 100 %, half the hardware's 2 a cycle); `neoverse-n1` runs 2 a cycle."""
    assert fp_pipes("cortex-a76") == ("A57UnitW", "A57UnitX")
    assert fp_pipes("neoverse-n1") == ("N1UnitV0", "N1UnitV1")
    fmla = "".join(f"\tfmla v{8 + i}.4s, v0.4s, v1.4s\n" for i in range(16))
    halves = "".join(f"\tfmla v{8 + i}.2s, v0.2s, v1.2s\n" for i in range(16))
    for cpu, pressure, hardware in (("cortex-a76", 1.0, 0.5), ("neoverse-n1", 1.0, 1.0)):
        loop = Loop(".L", 0, 0, (*fmla.split("\n")[:-1], "b .L"))
        r = mca_estimate(loop, cpu)
        assert r.pipe_pressure == pytest.approx(pressure, abs=0.1), cpu
        assert r.fma_utilisation == pytest.approx(hardware, abs=0.06), cpu
    # d-form fmla: 1 cycle of a pipe on the A57 tables, so half the pressure per fmla
    d = mca_estimate(Loop(".L", 0, 0, (*halves.split("\n")[:-1], "b .L")), "cortex-a76")
    assert d.cycles_per_iteration == pytest.approx(8, abs=1)
    with pytest.raises(PatdnnError):
        mca_estimate(Loop(".L", 0, 0, ("b .L",)), "no-such-cpu")


def test_mca_cycles_grow_with_the_loop() -> None:
    short = hot_loop(ASM)
    body = short.instructions[:-1] * 4 + short.instructions[-1:]
    longer = type(short)(short.label, 0, 0, body)
    assert mca_estimate(longer).cycles_per_iteration > mca_estimate(short).cycles_per_iteration


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["layers", "--estimate"], "--estimate predicts aarch64 code"),
        (["layers", "--target", "aarch64"], "--target aarch64 does not run here"),
        (["layers", "--threads", "0"], "--threads '0'"),
        (["models", "--models", "alexnet"], "'alexnet' is neither"),
        (["models", "--prune", "dense"], "--prune 'dense': 'dense' is not one of"),
        (["layers", "--peers", "tvm"], "unknown peer 'tvm'"),
        (["layers", "--filter-group", "0"], "--filter-group '0': '0' is not a positive integer"),
        (["layers", "--filter-group=-4"], "--filter-group '-4': '-4' is not a positive"),
        (["layers", "--filter-group", "1,x"], "--filter-group '1,x': 'x' is not a positive"),
        (["layers", "--filter-group", "1,3"], "--filter-group 3 does not divide the 64 filters"),
        (
            ["models", "--models", "resnet50", "--filter-group", "6"],
            "--filter-group 6 does not divide the 64 filters of layer1.0.conv2",
        ),  # fmt: skip
        (["layers", "--filter-group", "16"], "patdnn compiles filter groups of 2, 4, 8"),
        (["layers", "--suite", "dense", "--filter-group", "4"], "the dense suite has none"),
    ],
)
def test_cli_errors_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from patdnn.cli import main

    assert main(["bench", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("patdnn: error: ") and message in err


@pytest.mark.parametrize("peer", PEERS[1:], ids=lambda p: p.name)
def test_real_peer_matches_pytorch(peer: Peer) -> None:
    if not peer.installed:
        pytest.skip(f"{peer.name} is not installed (pip install -e '.[bench]')")
    case = tiny_case()
    with scratch() as folder:
        run = peer.prepare(case.dense, case.x, 1, Path(folder))
        with torch.no_grad():
            ref = case.dense(case.x).numpy()
        assert check_output(peer.name, run(), ref, 1e-4) < 1e-4


def test_sparse_cases_against_dense_patdnn() -> None:
    w = torch.randn(13, 10)
    core.block_prune(w, 0.72)
    blocks = (w != 0).reshape(13, 10).numpy()
    padded = np.zeros((16, 10), dtype=bool)
    padded[:13] = blocks
    kept = padded.reshape(4, 4, 10).any(axis=1)
    assert kept.sum() == round(0.28 * 40)  # 1 - 72 % of the 4x1 blocks
    # A kept block is non-zero on every row it has (random weights are never 0).
    assert np.array_equal(blocks, np.repeat(kept, 4, axis=0)[:13])
    case = core.sparse_case(("tiny 1x1", 24, 20, 9, 0.72))
    r = core.run_case(case, [1], 1, PEAK, [core.PATDNN_DENSE])
    assert r.kind == "sparse 1x1 72%" and r.macs < 0.3 * r.dense_macs
    assert r.patdnn[1].ms is not None and r.patdnn[1].error is not None
    assert r.patdnn[1].error < 1e-5
    assert r.peers["patdnn dense"][1].ms is not None
    assert r.peers["patdnn dense"][1].error is not None and r.peers["patdnn dense"][1].error < 1e-5
    assert {c.kind for c in core.suite_cases("sparse", "0,vgg16 fc 4096->4096")} == {
        "sparse 1x1 72%",
        "sparse linear 90%",
    }


def _separable_net() -> torch.nn.Module:
    """stem 3x3, 3x3, 1x1 at 12x12 (odd channel counts), linear 40->36, classifier."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 12, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(12, 40, 1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(40, 36),
        torch.nn.ReLU(),
        torch.nn.Linear(36, 5),
    ).eval()


def test_prune_modes_and_variants_in_the_same_rounds() -> None:
    dense = _separable_net()
    by_mode = {}
    for mode in core.PRUNE_MODES:
        model = _separable_net()
        core.prune_model(model, mode)
        by_mode[mode] = {n: float((m.weight == 0).float().mean())
                         for n, m in model.named_modules() if hasattr(m, "weight")}  # fmt: skip
    # defaults: 3x3, 1x1 and the hidden linear pruned; stem and classifier dense
    assert by_mode["defaults"]["0"] == by_mode["defaults"]["10"] == 0.0
    assert by_mode["defaults"]["2"] > 0.5 and by_mode["defaults"]["4"] > 0.5
    assert by_mode["defaults"]["8"] > 0.8
    # patterns: the 3x3 layer alone
    assert by_mode["patterns"]["2"] == by_mode["defaults"]["2"]
    assert by_mode["patterns"]["4"] == by_mode["patterns"]["8"] == 0.0
    assert core.parse_prune("patterns, defaults") == ["patterns", "defaults"]
    with pytest.raises(PatdnnError, match="--prune 'dense': 'dense' is not one of"):
        core.parse_prune("dense")

    main = _separable_net()
    core.prune_model(main)
    variant = _separable_net()
    core.prune_model(variant, "patterns")
    case = core.Case("net", "model, default pruning", dense, main, torch.randn(1, 3, 12, 12),
                     {"model, 3x3 only": variant})  # fmt: skip
    r = core.run_case(case, [1], 2, PEAK, FAKES[:1])
    (v,) = r.variants
    assert v.kind == "model, 3x3 only" and v.peers is r.peers
    for form in (r, v):
        assert form.patdnn[1].ms is not None and form.patdnn[1].error < 1e-5
    assert r.macs < v.macs < v.dense_macs == r.dense_macs
    table = core.format_results([r, *r.variants], [1])
    assert "| net | model, default pruning |" in table and "| net | model, 3x3 only |" in table


def test_sparse_layers_show_in_the_summary_and_profile() -> None:
    model = _separable_net()
    core.prune_model(model)
    x = torch.randn(1, 3, 12, 12)
    compiled = core._compile(model, x, "host", None)
    kinds = {layer.name: layer.kind for layer in compiled.layers}  # type: ignore[attr-defined]
    assert kinds == {"0": "conv", "2": "pattern conv", "4": "sparse_conv1x1",
                     "8": "sparse_linear"}  # fmt: skip
    by_name = {layer.name: layer for layer in compiled.layers}  # type: ignore[attr-defined]
    pw = by_name["4"]
    assert pw.kernels == 40 * 12 and pw.kernels_kept == int((model[4].weight != 0).sum())
    assert pw.dense_macs == 40 * 12 * 144 and pw.macs < 0.5 * pw.dense_macs
    case = core.Case("net", "model", model, model, x)
    layers, whole = core.profile_layers(case, 2, PEAK)
    assert {layer.name: layer.kind for layer in layers} == {**kinds, "10": "linear"}
    table = core.format_profile("net", layers, whole)
    share = 100 * by_name["8"].macs / by_name["8"].dense_macs
    assert (
        f"| 8 | sparse_linear | 40->36 | {by_name['8'].macs / 1e6:.1f}M | {share:.0f} % |" in table
    )


def test_sparse_case_block_shape_field() -> None:
    """A sixth field sets the block: 35 outputs in 16x1 blocks (3 block rows, the last
    partial) x 20 inputs, 90 % of the 60 blocks zero."""
    from patdnn.pruning.blocks import kept_blocks

    case = core.sparse_case(("tiny fc 16x1", 20, 35, 0, 0.9, (16, 1)))
    weight = case.pruned.fc.weight.detach()  # type: ignore[union-attr]
    assert int(kept_blocks(weight != 0, (16, 1)).sum()) == round(0.1 * 60)
    assert [spec[5] for spec in core.SPARSE_LAYERS if len(spec) > 5] == [(16, 1), (16, 1)]


def test_prune_model_leaves_a_model_without_its_kind_dense() -> None:
    """3x3-only pruning of a net whose 3x3 layers are the stem and depthwise ones (as in
    MobileNet-V2): the model stays dense. Only that error is taken: the same call with
    an unknown layer name is still reported."""
    from patdnn.pruning import NoPrunableLayerError, PruningError
    from patdnn.pruning.project import project_model

    def net() -> torch.nn.Module:
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
            torch.nn.Conv2d(8, 16, 1),
        )

    model = net()
    before = [p.detach().clone() for p in model.parameters()]
    core.prune_model(model, "patterns")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert issubclass(NoPrunableLayerError, PruningError)
    with pytest.raises(NoPrunableLayerError, match="no prunable layer"):
        project_model(net(), pointwise=None, linear=None)
    with pytest.raises(PruningError, match="not a module") as info:
        project_model(net(), pointwise=None, linear=None, include=["nope"])
    assert not isinstance(info.value, NoPrunableLayerError)


def test_two_targets_in_the_same_rounds() -> None:
    """Each target's build is a row with its own peak; a line compares their shares."""
    if "x86-avx2" not in _runnable_targets():
        pytest.skip("the host has no AVX2 and FMA")
    avx2 = FmaPeak("x86-avx2", 8, 50.0)
    r = core.run_case(tiny_case(), [1], 2, PEAK, FAKES[:1], more_targets=[avx2])
    (v,) = r.variants
    assert (r.target, v.target, v.peak, v.kind, v.macs) == (
        "host",
        "x86-avx2",
        avx2,
        r.kind,
        r.macs,
    )
    assert v.peers is r.peers and v.patdnn[1].ms is not None and v.patdnn[1].error < 1e-5
    table = core.format_results([r, *r.variants], [1])
    assert "| layer / model | kind | target | kept MACs |" in table
    assert (
        "| tiny | pattern conv | host |" in table and "| tiny | pattern conv | x86-avx2 |" in table
    )
    a, b = v.share_of_peak(1), r.share_of_peak(1)
    assert a is not None and b is not None
    assert (
        f"x86-avx2 against host, each as a share of its own FMA peak: tiny "
        f"{100 * a:.0f} % / {100 * b:.0f} % = {a / b:.2f}"
    ) in table
    assert "target" not in core.format_results([r], [1])  # one target: the usual table


def _runnable_targets() -> list[str]:
    return [name for name in Target.HOST_VARIANTS if Target.available(name)]


def test_filter_groups_in_the_same_rounds() -> None:
    """`--filter-group 1,4`: the layer pruned per filter and in groups of 4 (which the FKW
    layout detects, so the group tiles compute it), each a row against the same peers,
    both right; a line compares the grouped time with the per-filter one."""
    from patdnn.lowering.fkw_layout import filter_group_size

    assert core.parse_filter_groups("1, 4,1") == [1, 4]
    case = core.vgg_case(8, 9, (1, 4))
    assert (case.kind, list(case.variants), case.filter_groups) == (
        "pattern conv",
        ["pattern conv, groups of 4"],
        {"pattern conv, groups of 4": 4},
    )
    grouped = case.variants["pattern conv, groups of 4"]
    weight = grouped.weight.detach().numpy()  # type: ignore[union-attr]
    assert filter_group_size(weight, core.PATTERNS_8) == 4
    per_filter = case.pruned.weight.detach().numpy()  # type: ignore[union-attr]
    assert filter_group_size(per_filter, core.PATTERNS_8) == 1
    r = core.run_case(case, [1], 2, PEAK, FAKES[:1])
    (v,) = r.variants
    assert (r.filter_group, v.filter_group, v.peers is r.peers) == (1, 4, True)
    for form in (r, v):
        assert form.patdnn[1].ms is not None and form.patdnn[1].error < 1e-5
    table = core.format_results([r, v], [1])
    assert "| conv 8 @9 | pattern conv, groups of 4 |" in table
    ms_1, ms_4 = r.patdnn[1].ms, v.patdnn[1].ms
    assert ms_1 is not None and ms_4 is not None
    line = "filter groups of 4 against per filter (per-filter time / grouped time): conv 8 @9"
    assert f"{line} {ms_1 / ms_4:.2f}x" in table
    assert "filter groups" not in core.format_results([r], [1])  # per filter alone: as before


def test_models_pruned_in_filter_groups() -> None:
    """Every prune mode in every filter group, in that order; the 3x3 layer's filters
    share kernel positions in groups of 4; a group that does not divide them is refused."""
    model = _separable_net()
    assert core.pattern_filters(model) == {"2": 12}
    core.prune_model(model, "patterns", 4)
    kept = (model[2].weight.detach() != 0).any(dim=(2, 3)).reshape(3, 4, 8)
    assert bool((kept == kept[:, :1]).all()) and 0 < int(kept.sum()) < 96
    with pytest.raises(PatdnnError, match="--filter-group 8 does not divide the 12 filters of 2"):
        core.check_filter_groups([1, 8], core.pattern_filters(_separable_net()))
    core.check_filter_groups([1, 2, 4], {"2": 12})


def test_mnnconvert_env_keeps_its_logger_from_installing(tmp_path: Path) -> None:
    """MNN's converter logger runs `pip install` into the environment when `aliyun.log`
    does not import; under `_mnnconvert_env` it imports (a stub), `LogClient` does not
    (so `mnnconvert` drops its logger), and pip has no index."""
    import subprocess
    import sys

    from patdnn.bench.peers import _mnnconvert_env

    env = _mnnconvert_env(tmp_path)
    assert env["PIP_NO_INDEX"] == "1"
    probe = (
        "import aliyun.log\n"
        "try:\n    from aliyun.log import LogClient\nexcept ImportError:\n    print('no logger')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "no logger"


def test_mnn_logger_stays_off_under_mnnconvert_env(tmp_path: Path) -> None:
    """MNN's own logger module, imported as `mnnconvert` imports it, fails on `LogClient`
    under `_mnnconvert_env` (so `mnnconvert` runs without it) and never reaches its
    `pip install`."""
    import subprocess
    import sys

    from patdnn.bench.peers import _mnnconvert_env

    mnn = next(p for p in PEERS if p.name == "MNN")
    if not mnn.installed:
        pytest.skip("MNN is not installed (pip install -e '.[bench]')")
    done = subprocess.run(
        [sys.executable, "-c", "import MNN.tools.utils.log"],
        env=_mnnconvert_env(tmp_path), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert "cannot import name 'LogClient'" in done.stderr, done.stderr
    assert "pip install" not in done.stdout
