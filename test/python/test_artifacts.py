"""Saved artefacts: `save`, `patdnn.load`, the `.so`, and examples/run_model.c under qemu."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_models import small_conv

import patdnn
from patdnn.errors import PatdnnError
from patdnn.runtime.target import Target

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "run_model.c"
SHAPE = (1, 3, 8, 8)

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64",
)


def _rel_err(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return small_conv()


@pytest.fixture(scope="module")
def host_dir(model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiled = patdnn.compile(model, torch.randn(*SHAPE), target="host", name="small")
    return compiled.save(tmp_path_factory.mktemp("host"))


@pytest.fixture(scope="module")
def aarch64_dir(model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiled = patdnn.compile(model, torch.randn(*SHAPE), target="aarch64", name="small")
    return compiled.save(tmp_path_factory.mktemp("aarch64"))


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / src.name
    shutil.copytree(src, dst)
    return dst


def test_manifest(host_dir: Path) -> None:
    manifest = json.loads((host_dir / "manifest.json").read_text())
    assert manifest["model"] == "small"
    assert manifest["target"]["name"] == "host"
    assert manifest["inputs"] == [list(SHAPE)] and manifest["outputs"] == [[1, 16, 8, 8]]
    assert manifest["pattern_library"] == [[[0, 1], [1, 0], [1, 1], [1, 2]]]
    kinds = [layer["kind"] for layer in manifest["layers"]]
    assert kinds == ["conv", "pattern conv"]
    assert manifest["layers"][1]["kernels_kept"] == 64
    expected = {"small.ll", "small.o", "small.h", "small.weights", "patdnn_pool.h", "patdnn_pool.c"}
    assert manifest["thread_pool"] is True
    if shutil.which("cc"):
        expected.add("small.so")
        assert manifest["shared_library"]["file"] == "small.so"
    assert set(manifest["files"]) == expected
    for name, info in manifest["files"].items():
        assert (host_dir / name).stat().st_size == info["bytes"]


def test_load_host(host_dir: Path, model: torch.nn.Module) -> None:
    loaded = patdnn.load(host_dir)
    x = torch.randn(*SHAPE)
    with torch.no_grad():
        ref = model(x).numpy()
    assert _rel_err(loaded(x), ref) < 1e-5
    assert loaded.weights.dtype == np.uint8 and loaded.weights.ctypes.data % 64 == 0
    assert not loaded.weights.flags.writeable
    assert [layer.kind for layer in loaded.layers] == ["conv", "pattern conv"]
    assert loaded.mlir("llvm") == (host_dir / "small.ll").read_text()


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_shared_library(host_dir: Path, model: torch.nn.Module) -> None:
    lib = ctypes.CDLL(str(host_dir / "small.so"))
    weights = patdnn.load(host_dir).weights
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    y = np.zeros((1, 16, 8, 8), np.float32)
    manifest = json.loads((host_dir / "manifest.json").read_text())
    # The caller owns the scratch memory: 64-byte aligned, FORWARD_WORKSPACE_SIZE bytes.
    raw = np.empty(manifest["workspace_bytes"] + 64, np.uint8)
    workspace = raw[(-raw.ctypes.data) % 64 :]
    header = (host_dir / "small.h").read_text()
    assert f"#define FORWARD_WORKSPACE_SIZE {manifest['workspace_bytes']}" in header
    assert "const patdnn_pool *pool);" in header and "patdnn_task_fn" in header
    lib.forward.argtypes = [ctypes.c_void_p] * 5
    # pool = NULL: every task on the calling thread.
    lib.forward(x.ctypes.data, y.ctypes.data, weights.ctypes.data, workspace.ctypes.data, None)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert _rel_err(y, ref) < 1e-5


def test_corrupt_file(host_dir: Path, tmp_path: Path) -> None:
    broken = _copy(host_dir, tmp_path)
    weights = broken / "small.weights"
    data = bytearray(weights.read_bytes())
    data[0] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(PatdnnError, match=r"small\.weights is corrupt"):
        patdnn.load(broken)


def test_missing_file(host_dir: Path, tmp_path: Path) -> None:
    broken = _copy(host_dir, tmp_path)
    (broken / "small.ll").unlink()
    with pytest.raises(PatdnnError, match=r"small\.ll is missing"):
        patdnn.load(broken)


def test_bad_manifest(host_dir: Path, tmp_path: Path) -> None:
    broken = _copy(host_dir, tmp_path)
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(PatdnnError, match="manifest.json is corrupt"):
        patdnn.load(broken)
    with pytest.raises(PatdnnError, match="no such directory"):
        patdnn.load(tmp_path / "nowhere")


def test_load_aarch64_is_refused(aarch64_dir: Path) -> None:
    manifest = json.loads((aarch64_dir / "manifest.json").read_text())
    assert "small.so" not in manifest["files"]
    if Target.get("host").arch == "aarch64":
        pytest.skip("this machine is aarch64")
    with pytest.raises(PatdnnError, match="saved for aarch64.*C harness or under qemu"):
        patdnn.load(aarch64_dir)


@needs_aarch64_tools
def test_run_model_example_under_qemu(
    aarch64_dir: Path, model: torch.nn.Module, tmp_path: Path
) -> None:
    exe = tmp_path / "run_model"
    build = ["aarch64-linux-gnu-gcc", "-O2", "-static", "-pthread", '-DPATDNN_HEADER="small.h"',
             str(EXAMPLE), str(aarch64_dir / "patdnn_pool.c"), str(aarch64_dir / "small.o"),
             "-I", str(aarch64_dir), "-o", str(exe), "-lm"]  # fmt: skip
    subprocess.run(build, check=True, capture_output=True, text=True)
    x = np.random.default_rng(1).standard_normal((3, *SHAPE[1:])).astype(np.float32)
    x.tofile(tmp_path / "x.bin")
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    outputs = {}
    # No THREADS: a NULL pool; then the default pool of 2 and 3 threads.
    for threads in ([], ["2"], ["3"]):
        out = tmp_path / f"y{''.join(threads)}.bin"
        proc = subprocess.run(
            ["qemu-aarch64", str(exe), str(aarch64_dir / "small.weights"),
             str(tmp_path / "x.bin"), str(out), *threads],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"3 run(s), {threads[0] if threads else 1} thread(s)" in proc.stderr
        outputs[tuple(threads)] = out.read_bytes()
        y = np.fromfile(out, dtype=np.float32).reshape(3, 16, 8, 8)
        assert _rel_err(y, ref) < 1e-5
    assert len(set(outputs.values())) == 1, "thread counts disagree"

    bad = subprocess.run(
        ["qemu-aarch64", str(exe), str(aarch64_dir / "small.weights"),
         str(aarch64_dir / "small.h"), str(tmp_path / "z.bin")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2 and "not a multiple of one input" in bad.stderr


@needs_aarch64_tools
def test_example_needs_a_header_name(aarch64_dir: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["aarch64-linux-gnu-gcc", "-O2", "-static", "-pthread", str(EXAMPLE),
         str(aarch64_dir / "patdnn_pool.c"), str(aarch64_dir / "small.o"),
         "-I", str(aarch64_dir), "-o", str(tmp_path / "run_model")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode != 0 and "PATDNN_HEADER" in proc.stderr


@needs_aarch64_tools
def test_demo_short(tmp_path: Path) -> None:
    """`patdnn demo` with few epochs: both compiled models must match pruned PyTorch."""
    out = tmp_path / "demo"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "patdnn"), "demo", "--out", str(out),
         "--dense-epochs", "2", "--admm-epochs", "1", "--retrain-epochs", "1", "--runs", "20"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("logits match pruned PyTorch") == 2, proc.stdout
    assert "examples/run_model.c" in proc.stdout and "vs PyTorch" in proc.stdout
    for name in ("host/manifest.json", "aarch64/digitsnet.o", "pruned.pt", "patterns.png",
                 "report.txt", "sample.npy", "qemu/run_model"):  # fmt: skip
        assert (out / name).is_file(), name
    loaded = patdnn.load(out / "host")
    assert loaded(np.load(out / "sample.npy")).shape == (1, 10)
