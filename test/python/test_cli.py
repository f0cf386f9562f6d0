"""The `patdnn` command line, run as a subprocess the way users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_models import small_conv

PATDNN = Path(sys.executable).parent / "patdnn"
HELPERS = Path(__file__).resolve().parent
SHAPE = "1,3,8,8"

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64",
)


def patdnn(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PATDNN_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), env.get("PYTHONPATH", "")]).rstrip(":")
    return subprocess.run(
        [str(PATDNN), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd,
        timeout=300,
    )  # fmt: skip


def assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit status 1, one line `patdnn: error: ...` on stderr, no traceback."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("patdnn: error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def x_npy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs") / "x.npy"
    np.save(path, np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def expected(x_npy: Path) -> np.ndarray:
    with torch.no_grad():
        return small_conv()(torch.from_numpy(np.load(x_npy))).numpy()


@pytest.fixture(scope="module")
def host_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "host"
    proc = patdnn("compile", "cli_models:small_conv", "--target", "host", "-o", out,
                  "--input-shape", SHAPE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "convert-torch-to-patdnn" in proc.stdout  # per-stage progress
    assert "pattern conv" in proc.stdout and "MACs: 87.6K dense -> 30.2K" in proc.stdout
    assert f"artefacts in {out}" in proc.stdout
    return out


def test_help_is_fast() -> None:
    start = time.perf_counter()
    proc = patdnn("--help")
    assert proc.returncode == 0
    for command in ("compile", "run", "inspect", "prune", "bench", "demo"):
        assert command in proc.stdout
    assert time.perf_counter() - start < 5
    check = subprocess.run(
        [sys.executable, "-c", "import sys, patdnn.cli; print('torch' in sys.modules)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert check.stdout.strip() == "False"


def test_compile_and_run_host(host_dir: Path, x_npy: Path, expected: np.ndarray) -> None:
    for name in ("small_conv.ll", "small_conv.o", "small_conv.h", "small_conv.weights",
                 "manifest.json"):  # fmt: skip
        assert (host_dir / name).is_file()
    y_npy = host_dir.parent / "y.npy"
    proc = patdnn("run", host_dir, "--input", x_npy, "--output", y_npy)
    assert proc.returncode == 0, proc.stderr
    assert "shape (1, 16, 8, 8)" in proc.stdout
    np.testing.assert_allclose(np.load(y_npy), expected, rtol=1e-5, atol=1e-6)


@needs_aarch64_tools
def test_compile_and_run_aarch64(tmp_path: Path, x_npy: Path, expected: np.ndarray) -> None:
    out = tmp_path / "a64"
    proc = patdnn("compile", "cli_models:small_conv", "--target", "aarch64", "-o", out,
                  "--input-shape", SHAPE)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "qemu-aarch64" in proc.stdout and not (out / "small_conv.so").exists()
    y_npy = tmp_path / "y.npy"
    proc = patdnn("run", out, "--input", x_npy, "--output", y_npy)
    assert proc.returncode == 0, proc.stderr
    assert "under qemu-aarch64" in proc.stdout
    np.testing.assert_allclose(np.load(y_npy), expected, rtol=1e-5, atol=1e-6)


def test_inspect_dir(host_dir: Path) -> None:
    proc = patdnn("inspect", host_dir)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "saved for host" in out and "pattern library (1 patterns)" in out
    assert "64/128" in out and "4.50x" in out and "2.90x fewer" in out


def test_inspect_pt2(tmp_path: Path) -> None:
    program = torch.export.export(small_conv(), (torch.randn(1, 3, 8, 8),))
    path = tmp_path / "small.pt2"
    torch.export.save(program, str(path))
    proc = patdnn("inspect", path)
    assert proc.returncode == 0, proc.stderr
    assert "small: input [1, 3, 8, 8] -> output [[1, 16, 8, 8]]" in proc.stdout
    assert "pattern conv" in proc.stdout and "2.90x fewer" in proc.stdout


def test_pt2_input_shape_is_the_programs(tmp_path: Path) -> None:
    """A .pt2 fixes its input shape: --input-shape may repeat it, never replace it."""
    program = torch.export.export(small_conv(), (torch.randn(1, 3, 16, 16),))
    path = tmp_path / "small16.pt2"
    torch.export.save(program, str(path))
    out = tmp_path / "o"
    for shape in ("1,3,8,8", "1,3,16"):
        proc = patdnn("compile", path, "--target", "host", "-o", out, "--input-shape", shape)
        assert_user_error(proc, "--input-shape " + shape.replace(",", "x"), "1x3x16x16")
        assert not out.exists()
    proc = patdnn("inspect", path, "--input-shape", "1,3,16,16")
    assert proc.returncode == 0, proc.stderr
    assert "small16: input [1, 3, 16, 16] -> output [[1, 16, 16, 16]]" in proc.stdout


def test_corrupt_pt2(tmp_path: Path) -> None:
    """One error line, none of torch's logged tracebacks."""
    junk = tmp_path / "junk.pt2"
    junk.write_text("junk\n")
    proc = patdnn("compile", junk, "--target", "host", "-o", tmp_path / "o")
    assert_user_error(proc, "junk.pt2: not a torch.export program")
    assert_user_error(patdnn("inspect", junk), "junk.pt2: not a torch.export program")


def test_factory_input_of_wrong_rank() -> None:
    proc = patdnn("inspect", "cli_models:small_conv", "--input-shape", "3,8,8")
    assert_user_error(proc, "layer '0'", "the input must be 4-D (N, C, H, W), got 3x8x8")


def test_prune_digits(tmp_path: Path) -> None:
    proc = patdnn("prune", "--epochs", "1", "--admm-epochs", "1", "--retrain-epochs", "1",
                  "-o", tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("digitsnet_pruned.pt", "report.txt", "patterns.png", "library.json"):
        assert (tmp_path / name).is_file(), name
    assert "Pattern library (8 patterns" in proc.stdout
    state = torch.load(tmp_path / "digitsnet_pruned.pt")
    kept = (state["conv2.weight"].abs().sum(dim=(2, 3)) > 0).float().mean().item()
    assert abs(kept - 1 / 3.6) < 0.01


# -- errors -------------------------------------------------------------------------------


def test_missing_files(tmp_path: Path, x_npy: Path) -> None:
    assert_user_error(patdnn("run", tmp_path / "nowhere", "--input", x_npy), "no such directory")
    assert_user_error(
        patdnn("compile", tmp_path / "model.pt2", "--target", "host", "-o", tmp_path / "o"),
        "model.pt2: no such file",
    )


def test_bad_model_spec(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert_user_error(patdnn("compile", "no_such_module:make", "--target", "host", "-o", out,
                             "--input-shape", SHAPE), "cannot import 'no_such_module'")  # fmt: skip
    assert_user_error(patdnn("inspect", "cli_models:not_a_module", "--input-shape", SHAPE),
                      "returned int, not a torch.nn.Module")  # fmt: skip
    assert_user_error(patdnn("inspect", "cli_models:small_conv"), "needs --input-shape")
    assert_user_error(patdnn("inspect", "notamodel"), "cannot read MODEL 'notamodel'")


def test_unsupported_op(tmp_path: Path) -> None:
    proc = patdnn("compile", "cli_models:unsupported", "--target", "host", "-o", tmp_path,
                  "--input-shape", SHAPE)  # fmt: skip
    assert_user_error(proc, "unsupported op aten.special_erf")


def test_corrupt_artefacts(host_dir: Path, tmp_path: Path, x_npy: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(host_dir, broken)
    (broken / "small_conv.ll").write_text("garbage")
    assert_user_error(patdnn("run", broken, "--input", x_npy), "small_conv.ll is corrupt")


def test_wrong_input_shape(host_dir: Path, tmp_path: Path) -> None:
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 3), np.float32))
    assert_user_error(
        patdnn("run", host_dir, "--input", x), "has shape [2, 3], the model takes [1, 3, 8, 8]"
    )


def test_usage_errors() -> None:
    proc = patdnn("compile", "cli_models:small_conv", "-o", "out")  # no --target
    assert proc.returncode == 2 and "--target" in proc.stderr and "Traceback" not in proc.stderr
    proc = patdnn("frobnicate")
    assert proc.returncode == 2


def test_bench_models_small() -> None:
    proc = patdnn("bench", "models", "--models", "resnet18", "--size", "32", "--repeat", "1",
                  "--peers", "pytorch,onnxruntime")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.splitlines()
    head = next(line for line in table if line.startswith("| layer / model"))
    row = next(line for line in table if line.startswith("| resnet18 @32"))
    cells = dict(zip(head.strip("|").split("|"), row.strip("|").split("|"), strict=True))
    cells = {k.strip(): v.strip() for k, v in cells.items()}
    # patdnn, PyTorch and ONNX Runtime latencies, the ratio to the fastest, the share of peak.
    assert float(cells["patdnn ms"]) > 0 and float(cells["PyTorch ms"]) > 0
    assert float(cells["ONNX Runtime ms"]) > 0
    assert cells["fastest peer"] in ("PyTorch", "ONNX Runtime") and cells["ratio"].endswith("x")
    assert cells["% of FMA peak"].endswith("%") and float(cells["GFLOP/s (kept)"]) > 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "--filter-group '0': '0' is not a positive integer"),
        ("-2", "--filter-group '-2': '-2' is not a positive integer"),
        ("1,5", "--filter-group 5 does not divide the 64 filters of conv 64 @224"),
    ],
)
def test_bench_filter_group_errors(value: str, message: str) -> None:
    proc = patdnn("bench", "layers", f"--filter-group={value}", "--peers", "pytorch")
    assert_user_error(proc, message)


def test_tune_needs_the_host(tmp_path: Path) -> None:
    proc = patdnn("compile", "cli_models:small_conv", "--target", "aarch64", "--tune",
                  "-o", tmp_path / "out", "--input-shape", SHAPE)  # fmt: skip
    assert_user_error(proc, "--tune", "--target host")
    assert not (tmp_path / "out").exists()


def test_compile_tuned(tmp_path: Path) -> None:
    """Both layers of small_conv at 100 x 100 do enough work to be tuned: the choice is
    printed and kept in the manifest, and the tuned model gives PyTorch's numbers."""
    out = tmp_path / "tuned"
    proc = patdnn("compile", "cli_models:small_conv", "--target", "host", "--tune",
                  "-o", out, "--input-shape", "1,3,100,100")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "auto-tuning (this machine):" in proc.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["tuning"]) == ["0", "2"]
    assert all(
        set(t) == {"filters", "rows", "cols", "prefetch"} for t in manifest["tuning"].values()
    )
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(1).standard_normal((1, 3, 100, 100)).astype(np.float32))
    y = tmp_path / "y.npy"
    assert patdnn("run", out, "--input", x, "--output", y).returncode == 0
    with torch.no_grad():
        expected = small_conv()(torch.from_numpy(np.load(x))).numpy()
    np.testing.assert_allclose(np.load(y), expected, rtol=1e-4, atol=1e-4)


def test_inspect_shows_sparse_layers(tmp_path: Path) -> None:
    """Block-sparse 1x1 and linear layers show as the sparse kinds `compile` makes."""
    from patdnn.pruning.project import project_model

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 24, 1), torch.nn.Flatten(),
        torch.nn.Linear(24 * 36, 40), torch.nn.Linear(40, 5),
    ).eval()  # fmt: skip
    project_model(model)
    program = torch.export.export(model, (torch.randn(1, 3, 6, 6),))
    path = tmp_path / "sparse.pt2"
    torch.export.save(program, str(path))
    proc = patdnn("inspect", path)
    assert proc.returncode == 0, proc.stderr
    kept = int((model[1].weight != 0).sum())
    assert "sparse_conv1x1" in proc.stdout and f"{kept}/192" in proc.stdout
    assert "sparse_linear" in proc.stdout and "864->40" in proc.stdout
