"""Bad input at every entry point: `patdnn-opt`, the `patdnn` command and the Python API.

Each case asserts the exit status (or the error class), the key words of the one-line
message, that no traceback is printed, and what the filesystem holds afterwards. The
commands run in this process (`main(argv)`), so a hundred cases take seconds; the
subprocess tests of `test_cli.py` cover the installed scripts themselves.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cli_models import small_conv
from torch import nn

import patdnn
from patdnn import cli
from patdnn.api import ArtifactError, manifest_digest
from patdnn.errors import ArgumentError, PatdnnError
from patdnn.runtime.errors import SignatureError
from patdnn.tools import patdnn_opt

SHAPE = (1, 3, 8, 8)


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATDNN_DEBUG", raising=False)


def run_opt(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """`patdnn-opt ARGS` in this process: (exit status, stdout, stderr)."""
    try:
        patdnn_opt.main([str(a) for a in args])
        status = 0
    except SystemExit as e:
        status = int(e.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """`patdnn ARGS` in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(a) for a in args])
    except SystemExit as e:
        status = int(e.code or 0)
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_one_line(status: int, err: str, prog: str, *needles: str, code: int = 1) -> None:
    assert status == code, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") or lines[0].startswith(f"{prog} "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def listing(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` (hidden ones too) with its bytes."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = small_conv().eval()
    compiled = patdnn.compile(model, torch.randn(*SHAPE), name="small", keep_stages=False)
    return compiled.save(tmp_path_factory.mktemp("saved") / "small")


@pytest.fixture
def copy(saved: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "model"
    shutil.copytree(saved, dst)
    return dst


def edit_manifest(directory: Path, edit: Callable[[dict[str, Any]], None], rehash: bool) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    if rehash:
        manifest["manifest_sha256"] = manifest_digest(manifest)
    path.write_text(json.dumps(manifest))


def npy(tmp_path: Path, array: np.ndarray, name: str = "x.npy") -> Path:
    path = tmp_path / name
    np.save(path, array)
    return path


# ---------------------------------------------------------------------------
# patdnn-opt
# ---------------------------------------------------------------------------

RESOURCE_MODULE = """func.func @f() -> tensor<2xf32> {{
  %0 = arith.constant dense_resource<{name}> : tensor<2xf32>
  return %0 : tensor<2xf32>
}}
{{-# dialect_resources: {{ builtin: {{ {name}: "{blob}" }} }} #-}}
"""

OPT_CASES: list[tuple[str, bytes, list[str], list[str]]] = [
    ("binary", bytes(range(128, 256)) * 3, [], ["input.mlir:1: not MLIR text", "not UTF-8"]),
    ("nul-byte", b"builtin.module {}\n\0\n", [], ["input.mlir:2: not MLIR text", "NUL"]),
    ("truncated", b"func.func @f(%x: tensor<1xf32> {\n", [], ["input.mlir:2:1:", "Expected"]),
    ("bad-op", b'"test.op"() : () -> ()\n%0 = "no.such"() : () -> i32\n', [], ["input.mlir:2"]),
    (
        "blob-not-hex",
        RESOURCE_MODULE.format(name="opt_nothex", blob="0x04000000zz").encode(),
        [],
        ["input.mlir:", "'opt_nothex' is corrupt"],
    ),
    (
        "blob-truncated",
        RESOURCE_MODULE.format(name="opt_short", blob="0x0400").encode(),
        [],
        ["input.mlir:", "'opt_short' is truncated"],
    ),
    (
        "blob-alignment",
        RESOURCE_MODULE.format(name="opt_align", blob="0x0300000000000000").encode(),
        [],
        ["'opt_align' has alignment 3"],
    ),
    (
        "blob-no-prefix",
        RESOURCE_MODULE.format(name="opt_prefix", blob="04000000").encode(),
        [],
        ["input.mlir:5:", "Blob must be a hex string"],
    ),
    (
        "unknown-pass",
        b"builtin.module {}\n",
        ["-p", "no-such-pass"],
        ["unknown pass 'no-such-pass'"],
    ),
    (
        "option-type-int",
        b"builtin.module {}\n",
        ["-p", "lower-patdnn-to-vector{vector-width=abc}"],
        ["pass 'lower-patdnn-to-vector'", "option 'vector-width'", "an integer", "'abc'"],
    ),
    (
        "option-type-bool",
        b"builtin.module {}\n",
        ["-p", "convert-torch-to-patdnn{strict=maybe}"],
        ["pass 'convert-torch-to-patdnn'", "option 'strict'", "true or false", "'maybe'"],
    ),
    (
        "option-unknown",
        b"builtin.module {}\n",
        ["-p", "fkw-layout{width=4}"],
        ["pass 'fkw-layout' has no option 'width'"],
    ),
    (
        "option-range",
        b"builtin.module {}\n",
        ["-p", "lower-patdnn-to-vector{vector-width=0}"],
        ["vector-width must be positive"],
    ),
    (
        "num-patterns-range",
        b"builtin.module {}\n",
        ["-p", "convert-torch-to-patdnn{num_patterns=57}"],
        ["num_patterns must be in 1..56"],
    ),
    ("pipeline-syntax", b"builtin.module {}\n", ["-p", "fkw-layout{"], ["bad pass pipeline"]),
    (
        "array-element-width",
        b'%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32>)\n'
        b"%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i664: 1, 1>}"
        b" : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>\n",
        [],
        ["input.mlir: cannot read this input", "i664"],
    ),
    (
        "verify-error",
        b'%x, %w = "test.op"() : () -> (tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32>)\n'
        b"%y = patdnn.conv2d %x, %w {strides = array<i64: 1, 1>, padding = array<i64: 1, 1>}"
        b" : tensor<1x4x6x6xf32>, tensor<8x3x3x3xf32> -> tensor<1x8x6x6xf32>\n",
        [],
        ["weight expects 3 input channels, input has 4", "patdnn.conv2d"],
    ),
]


@pytest.mark.parametrize(
    ("source", "args", "needles"),
    [c[1:] for c in OPT_CASES],
    ids=[c[0] for c in OPT_CASES],
)
def test_patdnn_opt_bad_input(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    source: bytes,
    args: list[str],
    needles: list[str],
) -> None:
    path = tmp_path / "input.mlir"
    path.write_bytes(source)
    out = tmp_path / "out.mlir"
    out.write_text("previous output\n")
    status, _, err = run_opt(capsys, path, *args, "-o", out)
    assert_one_line(status, err, "patdnn-opt", *needles)
    # The existing output is untouched and nothing else is left behind.
    assert listing(tmp_path) == {"input.mlir": source, "out.mlir": b"previous output\n"}


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda d: d / "missing.mlir", ["missing.mlir: cannot read it"]),
        (lambda d: d, ["is a directory"]),
        (lambda d: (d / "model.txt", (d / "model.txt").write_text("x"))[0], ["file extension"]),
    ],
    ids=["missing-file", "directory", "extension"],
)
def test_patdnn_opt_bad_input_path(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make: Callable[[Path], Path],
    needles: list[str],
) -> None:
    status, _, err = run_opt(capsys, make(tmp_path))
    assert_one_line(status, err, "patdnn-opt", *needles)


def test_patdnn_opt_output_in_missing_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "input.mlir"
    path.write_text("builtin.module {}\n")
    status, _, err = run_opt(capsys, path, "-o", tmp_path / "nowhere" / "out.mlir")
    assert_one_line(status, err, "patdnn-opt", "the directory", "does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_patdnn_opt_output_written_whole(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The positive control: a good run replaces `-o FILE` and leaves no temporary."""
    path = tmp_path / "input.mlir"
    path.write_text("builtin.module {}\n")
    out = tmp_path / "out.mlir"
    out.write_text("previous output\n")
    status, _, err = run_opt(capsys, path, "-o", out)
    assert status == 0, err
    assert "builtin.module" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.mlir", "out.mlir"]


def test_patdnn_opt_internal_error_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (not a `PatdnnError`) says so, with how to report it: exit status 3."""

    def broken(self: object, prog: object) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(patdnn_opt.PatdnnOptMain, "output_resulting_program", broken)
    path = tmp_path / "input.mlir"
    path.write_text("builtin.module {}\n")
    status, _, err = run_opt(capsys, path)
    assert status == 3
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "patdnn-opt: internal error (KeyError): 'boom'" in err
    assert "PATDNN_DEBUG=1" in err


# ---------------------------------------------------------------------------
# Saved artefacts: patdnn run / inspect / patdnn.load
# ---------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(manifest: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest.pop(key)


# (id, edit, re-hash the manifest, key words). With re-hashing, the manifest's own checksum
# holds and the field checks or the code's ABI record must catch the edit.
MANIFEST_CASES: list[tuple[str, Callable[[dict[str, Any]], None], bool, list[str]]] = [
    ("edited-no-rehash", _set("inputs", [[1, 3, 16, 16]]), False, ["field 'manifest_sha256'"]),
    ("input-shape", _set("inputs", [[1, 3, 16, 16]]), True, ["field 'inputs'", "small.ll"]),
    ("input-same-size", _set("inputs", [[1, 8, 8, 3]]), True, ["field 'inputs'", "[1, 3, 8, 8]"]),
    ("output-shape", _set("outputs", [[1, 16, 9, 9]]), True, ["field 'outputs'"]),
    ("workspace", _set("workspace_bytes", 16), True, ["field 'workspace_bytes'"]),
    ("workspace-null", _set("workspace_bytes", None), True, ["field 'workspace_bytes'"]),
    ("weights-bytes", _set("weights_bytes", 8), True, ["field 'weights_bytes'"]),
    ("entry", _set("entry", "main"), True, ["field 'entry'"]),
    ("format-text", _set("format", "2.x"), True, ["field 'format'", "'2.x'"]),
    ("format-old", _set("format", 2), True, ["field 'format' is 2", "older patdnn"]),
    ("format-new", _set("format", 99), True, ["field 'format' is 99", "upgrade"]),
    ("target-string", _set("target", "host"), True, ["field 'target'"]),
    ("target-name", _set("target.name", "gpu"), True, ["field 'target.name'", "'gpu'"]),
    ("target-triple", _set("target.triple", 5), True, ["field 'target.triple'"]),
    ("files-list", _set("files", []), True, ["field 'files'"]),
    (
        "files-traversal",
        _set("files", {"../small.ll": {"sha256": "0" * 64, "bytes": 1}}),
        True,
        ["field 'files'"],
    ),
    ("inputs-negative", _set("inputs", [[1, -3, 8, 8]]), True, ["field 'inputs'"]),
    ("inputs-text", _set("inputs", "1x3x8x8"), True, ["field 'inputs'"]),
    ("model-path", _set("model", "../x"), True, ["field 'model'"]),
    ("layers", _set("layers", {"a": 1}), True, ["field 'layers'"]),
    ("library", _set("pattern_library", [[["a", 1]]]), True, ["field 'pattern_library'"]),
    ("missing-field", _drop("outputs"), True, ["field 'outputs' is missing"]),
    ("missing-checksum", _drop("manifest_sha256"), False, ["field 'manifest_sha256'"]),
]


@pytest.mark.parametrize(
    ("edit", "rehash", "needles"),
    [c[1:] for c in MANIFEST_CASES],
    ids=[c[0] for c in MANIFEST_CASES],
)
@pytest.mark.parametrize("entry", ["run", "inspect", "load"])
def test_edited_manifest_is_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    copy: Path,
    entry: str,
    edit: Callable[[dict[str, Any]], None],
    rehash: bool,
    needles: list[str],
) -> None:
    edit_manifest(copy, edit, rehash)
    before = listing(copy)
    if entry == "load":
        with pytest.raises(PatdnnError) as info:
            patdnn.load(copy)(np.zeros(SHAPE, np.float32))
        message = str(info.value)
        assert "\n" not in message
        for needle in needles:
            assert needle in message, (needle, message)
    else:
        x = npy(tmp_path, np.zeros(SHAPE, np.float32))
        args = ["run", copy, "--input", x] if entry == "run" else ["inspect", copy]
        status, _, err = run_cli(capsys, *args)
        assert_one_line(status, err, "patdnn", *needles)
    assert listing(copy) == before


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        (lambda d: (d / "small.weights").write_bytes(b"\0" * 8), ["small.weights is corrupt"]),
        (lambda d: (d / "small.ll").unlink(), ["small.ll is missing"]),
        (lambda d: (d / "manifest.json").write_text("{not json"), ["manifest.json is corrupt"]),
        (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe"), ["manifest.json is corrupt"]),
        (lambda d: (d / "manifest.json").write_text("[1, 2]"), ["expected a JSON object"]),
        (lambda d: (d / "manifest.json").write_text("[" * 100000), ["manifest.json is corrupt"]),
        (lambda d: (d / "manifest.json").unlink(), ["no manifest.json"]),
    ],
    ids=["weights", "missing-ll", "not-json", "not-utf8", "not-object", "deep", "no-manifest"],
)
def test_damaged_artefacts_are_refused(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    copy: Path,
    damage: Callable[[Path], object],
    needles: list[str],
) -> None:
    damage(copy)
    x = npy(tmp_path, np.zeros(SHAPE, np.float32))
    status, _, err = run_cli(capsys, "run", copy, "--input", x)
    assert_one_line(status, err, "patdnn", *needles)
    with pytest.raises(PatdnnError):
        patdnn.load(copy)


def test_code_of_another_model_is_refused(
    tmp_path: Path, copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The .ll (and .o) swapped for another model's, checksums made to match: the code's own
    record of its shapes catches it before any call."""
    other = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1)).eval()
    compiled = patdnn.compile(other, torch.randn(1, 3, 6, 6), name="small", keep_stages=False)
    (copy / "small.ll").write_text(compiled.llvm_ir)

    def rehash_files(manifest: dict[str, Any]) -> None:
        data = (copy / "small.ll").read_bytes()
        import hashlib

        manifest["files"]["small.ll"] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }

    edit_manifest(copy, rehash_files, rehash=True)
    x = npy(tmp_path, np.zeros(SHAPE, np.float32))
    status, _, err = run_cli(capsys, "run", copy, "--input", x)
    assert_one_line(status, err, "patdnn", "small.ll was compiled for", "field 'inputs'")


@pytest.mark.parametrize(
    ("array", "needles"),
    [
        (np.zeros((1, 8, 8, 3), np.float32), ["shape [1, 8, 8, 3]", "takes [1, 3, 8, 8]"]),
        (np.zeros((192,), np.float32), ["shape [192]", "takes [1, 3, 8, 8]"]),
        (np.zeros((2, 3, 8, 8), np.float32), ["shape [2, 3, 8, 8]"]),
        (np.array(["a", "b"]), ["numeric array"]),
        (np.zeros((1, 3, 8, 8), np.complex64), ["numeric array"]),
    ],
    ids=["nhwc", "flat", "batch-2", "strings", "complex"],
)
def test_run_refuses_inputs_of_another_shape(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    saved: Path,
    array: np.ndarray,
    needles: list[str],
) -> None:
    x = npy(tmp_path, array)
    y = tmp_path / "y.npy"
    y.write_bytes(b"previous")
    status, _, err = run_cli(capsys, "run", saved, "--input", x, "--output", y)
    assert_one_line(status, err, "patdnn", *needles)
    assert y.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda d: d / "missing.npy", ["missing.npy: no such file"]),
        (lambda d: (d / "x.npy", (d / "x.npy").write_text("not numpy"))[0], ["not a .npy array"]),
        (
            lambda d: (d / "x.npy", np.savez(d / "x.npy", a=np.zeros(3)))[0],
            ["x.npy"],
        ),
        (
            lambda d: (d / "x.npy", np.save(d / "x.npy", np.array([{}], dtype=object)))[0],
            ["not a .npy array"],
        ),
    ],
    ids=["missing", "text", "npz", "pickle"],
)
def test_run_refuses_bad_input_files(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    saved: Path,
    make: Callable[[Path], Path],
    needles: list[str],
) -> None:
    status, _, err = run_cli(capsys, "run", saved, "--input", make(tmp_path))
    assert_one_line(status, err, "patdnn", *needles)


def test_run_output_checked_before_running(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, saved: Path
) -> None:
    x = npy(tmp_path, np.zeros(SHAPE, np.float32))
    status, out, err = run_cli(
        capsys, "run", saved, "--input", x, "--output", tmp_path / "no" / "y.npy"
    )
    assert_one_line(status, err, "patdnn", "does not exist")
    assert "ran small" not in out


def test_run_adds_a_leading_batch_of_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, saved: Path
) -> None:
    """The positive control: (3, 8, 8) runs as (1, 3, 8, 8), the output written whole."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((3, 8, 8)).astype(np.float32)
    x = npy(tmp_path, image)
    y = tmp_path / "y.npy"
    status, _, err = run_cli(capsys, "run", saved, "--input", x, "--output", y)
    assert status == 0, err
    with torch.no_grad():
        ref = small_conv().eval()(torch.from_numpy(image[None])).numpy()
    np.testing.assert_allclose(np.load(y), ref, rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


# ---------------------------------------------------------------------------
# patdnn compile / prune / usage
# ---------------------------------------------------------------------------

COMPILE = ["compile", "cli_models:small_conv", "--target", "host", "-o", "{out}"]
CLI_CASES: list[tuple[str, list[str], list[str]]] = [
    (
        "compile-no-file",
        ["compile", "nosuch.pt2", "--target", "host", "-o", "{out}"],
        ["no such file"],
    ),
    (
        "compile-bad-shape",
        [*COMPILE, "--input-shape", "1,a"],
        ["bad input shape '1,a'"],
    ),
    (
        "compile-zero-shape",
        [*COMPILE, "--input-shape", "0,3"],
        ["bad input shape"],
    ),
    (
        "compile-no-shape",
        COMPILE,
        ["needs --input-shape"],
    ),
    (
        "compile-bad-factory",
        [
            "compile",
            "cli_models:nothing",
            "--target",
            "host",
            "-o",
            "{out}",
            "--input-shape",
            "1,3,8,8",
        ],
        ["has no attribute 'nothing'"],
    ),
    (
        "compile-not-module",
        ["compile", "os:getcwd", "--target", "host", "-o", "{out}", "--input-shape", "1,3,8,8"],
        ["not a torch.nn.Module"],
    ),
    (
        "compile-unknown-zoo",
        ["compile", "resnet7", "--target", "host", "-o", "{out}"],
        ["zoo models"],
    ),
    (
        "compile-wrong-channels",
        [*COMPILE, "--input-shape", "1,4,8,8"],
        ["torch.export failed"],
    ),
    (
        "compile-tune-aarch64",
        ["compile", "cli_models:small_conv", "--target", "aarch64", "--tune", "-o", "{out}"],
        ["--tune"],
    ),
    (
        "compile-out-missing-dir",
        [*COMPILE[:-1], "{tmp}/a/b", "--input-shape", "1,3,8,8"],
        ["does not exist"],
    ),
    (
        "compile-out-is-file",
        [*COMPILE[:-1], "{file}", "--input-shape", "1,3,8,8"],
        ["not a directory"],
    ),
    ("prune-connectivity", ["prune", "-o", "{out}", "--connectivity", "0.5"], ["--connectivity"]),
    (
        "prune-connectivity-nan",
        ["prune", "-o", "{out}", "--connectivity", "nan"],
        ["--connectivity"],
    ),
    (
        "prune-patterns",
        ["prune", "-o", "{out}", "--patterns", "57"],
        ["--patterns must be in 1..56"],
    ),
    ("prune-model", ["prune", "-o", "{out}", "--model", "nosuch:f"], ["cannot import 'nosuch'"]),
    ("prune-data", ["prune", "-o", "{out}", "--data", "os:getcwd"], ["must return (train_loader"]),
    ("prune-out-is-file", ["prune", "-o", "{file}"], ["not a directory"]),
    ("prune-out-missing-dir", ["prune", "-o", "{tmp}/a/b"], ["does not exist"]),
    ("inspect-unknown", ["inspect", "nosuch"], ["cannot read MODEL 'nosuch'"]),
    ("run-no-dir", ["run", "{tmp}/nowhere", "--input", "{file}"], ["no such directory"]),
    ("run-not-saved", ["run", "{tmp}", "--input", "{file}"], ["no manifest.json"]),
]


@pytest.mark.parametrize(
    ("args", "needles"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_patdnn_command_bad_arguments(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needles: list[str],
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    file = tmp_path / "existing"
    file.write_bytes(b"keep")
    values = {"out": str(tmp_path / "out"), "tmp": str(tmp_path), "file": str(file)}
    status, _, err = run_cli(capsys, *[a.format(**values) for a in args])
    assert_one_line(status, err, "patdnn", *needles)
    # Nothing created, the existing file untouched.
    assert listing(tmp_path) == {"existing": b"keep"}
    assert [p.name for p in tmp_path.iterdir()] == ["existing"]


@pytest.mark.parametrize(
    "args",
    [[], ["compile"], ["run", "d"], ["compile", "m", "--target", "gpu", "-o", "d"], ["prune"]],
    ids=["nothing", "compile", "run", "target", "prune"],
)
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    status, _, err = run_cli(capsys, *args)
    assert status == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "error:" in err and "--help" in err


def test_internal_error_is_one_line_with_how_to_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "cmd_inspect", broken)
    status, _, err = run_cli(capsys, "inspect", tmp_path)
    assert status == 3
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "patdnn: internal error (ZeroDivisionError): division by zero" in err
    assert "PATDNN_DEBUG=1" in err


def test_value_error_is_not_a_user_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stray ValueError or OSError is a bug, not the user's fault."""

    def broken(args: object) -> int:
        raise OSError(5, "Input/output error", "somewhere")

    monkeypatch.setattr(cli, "cmd_inspect", broken)
    status, _, err = run_cli(capsys, "inspect", tmp_path)
    assert status == 3 and "internal error (OSError)" in err


# ---------------------------------------------------------------------------
# The Python API
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled() -> patdnn.CompiledModel:
    return patdnn.compile(small_conv().eval(), torch.randn(*SHAPE), name="small")


X = torch.randn(*SHAPE)
TAPS = [(0, 1), (1, 0), (1, 1), (1, 2)]

COMPILE_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("model-str", {"model": "resnet18"}, "model must be a torch.nn.Module"),
    ("model-none", {"model": None}, "model must be a torch.nn.Module"),
    ("example-str", {"example_input": "x"}, "example_input must be a torch tensor"),
    ("example-int", {"example_input": torch.zeros(SHAPE, dtype=torch.int64)}, "floating-point"),
    ("target-int", {"target": 3}, "target must be a str"),
    ("target-unknown", {"target": "gpu"}, "unknown target 'gpu'"),
    ("library-text", {"library": "[[(0,1),(1,0),(1,1),(1,2)]]"}, "library must be a non-empty"),
    ("library-empty", {"library": []}, "library must be a non-empty"),
    ("library-duplicate-tap", {"library": [[(0, 1), (0, 1), (1, 1), (1, 2)]]}, "same tap twice"),
    ("library-outside", {"library": [[(0, 1), (1, 0), (1, 1), (3, 2)]]}, "inside the 3x3 kernel"),
    ("library-repeat", {"library": [TAPS, TAPS[::-1]]}, "repeats an earlier pattern"),
    ("library-not-pairs", {"library": [[0, 1, 2, 3]]}, "not a (row, col) pair"),
    ("vector-width-text", {"vector_width": "abc"}, "vector_width must be None"),
    ("vector-width-zero", {"vector_width": 0}, "vector_width must be None"),
    ("vector-width-bool", {"vector_width": True}, "vector_width must be None"),
    ("num-patterns-zero", {"num_patterns": 0}, "num_patterns must be None or an integer in 1..56"),
    ("num-patterns-many", {"num_patterns": 57}, "num_patterns must be None"),
    ("num-patterns-text", {"num_patterns": "8"}, "num_patterns must be None"),
    ("strict-text", {"strict": "yes"}, "strict must be True or False"),
    ("keep-stages-int", {"keep_stages": 1}, "keep_stages must be True or False"),
    ("tune-aarch64", {"tune": True, "target": "aarch64"}, "tune=True times the code"),
    ("name-path", {"name": "a/b"}, "name 'a/b' cannot name files"),
    ("name-int", {"name": 5}, "name must be None or a str"),
    ("progress", {"progress": 5}, "progress must be None or callable"),
    ("no-layers", {"model": nn.Identity()}, "has no layers"),
    ("empty-sequential", {"model": nn.Sequential()}, "has no layers"),
]


@pytest.mark.parametrize(
    ("overrides", "needle"), [c[1:] for c in COMPILE_CASES], ids=[c[0] for c in COMPILE_CASES]
)
def test_compile_checks_its_arguments(overrides: dict[str, Any], needle: str) -> None:
    kwargs: dict[str, Any] = {"model": small_conv().eval(), "example_input": X}
    kwargs.update(overrides)
    model, example = kwargs.pop("model"), kwargs.pop("example_input")
    with pytest.raises(PatdnnError) as info:
        patdnn.compile(model, example, **kwargs)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("inputs", "error", "needle"),
    [
        (
            (np.zeros((1, 8, 8, 3), np.float32),),
            SignatureError,
            "[1, 8, 8, 3], the model takes [1, 3, 8, 8]",
        ),
        ((torch.zeros(192),), SignatureError, "shape [192]"),
        (("abc",), SignatureError, "must be a numpy array or a torch tensor"),
        ((np.zeros(SHAPE, np.complex64),), SignatureError, "real numbers"),
        ((torch.zeros(SHAPE, dtype=torch.complex64),), SignatureError, "real numbers"),
        ((), SignatureError, "takes 1 input(s) of shape [1, 3, 8, 8], got 0"),
        ((X, X), SignatureError, "got 2"),
        (([[1.0, 2.0], [3.0]],), SignatureError, "not a rectangular array"),
    ],
    ids=["nhwc", "flat", "str", "complex", "complex-tensor", "none", "two", "ragged"],
)
def test_call_checks_its_inputs(
    compiled: patdnn.CompiledModel, inputs: tuple[Any, ...], error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as info:
        compiled(*inputs)
    assert needle in str(info.value)
    assert isinstance(info.value, PatdnnError)


def test_call_adds_the_batch_of_one(compiled: patdnn.CompiledModel) -> None:
    with torch.no_grad():
        ref = small_conv().eval()(X).numpy()
    np.testing.assert_allclose(compiled(X[0]), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compiled(X.numpy().astype(np.float64)), ref, rtol=1e-4, atol=1e-5)


def test_mlir_save_load_check_their_arguments(
    compiled: patdnn.CompiledModel, tmp_path: Path
) -> None:
    with pytest.raises(ArgumentError, match="stage must be a stage name"):
        compiled.mlir(3)  # type: ignore[arg-type]
    with pytest.raises(PatdnnError, match="unknown stage 'nope'"):
        compiled.mlir("nope")
    with pytest.raises(ArgumentError, match="directory must be a path"):
        compiled.save(3)  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="directory must be a path"):
        patdnn.load(None)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="no such directory"):
        patdnn.load(tmp_path / "nowhere")
    existing = tmp_path / "file"
    existing.write_bytes(b"keep")
    with pytest.raises(PatdnnError, match="not a directory"):
        compiled.save(existing)
    assert existing.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_failed_save_leaves_the_existing_directory_untouched(
    compiled: patdnn.CompiledModel, saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "model"
    shutil.copytree(saved, target)
    before = listing(target)

    def failing(*args: object) -> dict[str, Any]:
        raise PatdnnError("linking failed")

    monkeypatch.setattr("patdnn.api._link_shared", failing)
    with pytest.raises(PatdnnError, match="linking failed"):
        compiled.save(target)
    assert listing(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_every_project_error_derives_from_patdnn_error() -> None:
    import patdnn.dialect.weights as weights
    import patdnn.files as files
    import patdnn.frontend.importer as importer
    import patdnn.frontend.zoo as zoo
    import patdnn.lowering.autotune as autotune
    import patdnn.lowering.convert_torch_to_patdnn as convert
    import patdnn.lowering.fkw_layout as fkw
    import patdnn.lowering.lower_patdnn_to_vector as lower
    import patdnn.runtime.abi as abi
    import patdnn.runtime.errors as runtime_errors
    import patdnn.runtime.target as target

    modules = [weights, files, importer, zoo, autotune, convert, fkw, lower, target, abi]
    modules += [runtime_errors, patdnn_opt, cli, patdnn.api]
    found = 0
    for module in modules:
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and not issubclass(value, Warning)
            ):
                if value.__module__ == module.__name__:
                    assert issubclass(value, PatdnnError), value
                    found += 1
    assert found >= 15
    assert issubclass(weights.WeightError, PatdnnError)
    assert os.path.basename(cli.__file__) == "cli.py"


# ---------------------------------------------------------------------------
# patdnn demo
# ---------------------------------------------------------------------------

DEMO = ["demo", "--dense-epochs", "1", "--admm-epochs", "1", "--retrain-epochs", "1"]


@pytest.mark.parametrize("existing", [False, True], ids=["new-dir", "existing-dir"])
def test_failed_demo_leaves_no_half_written_directory(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
) -> None:
    """The demo fails after the state dicts, the report and the host artefacts are
    written: `--out` is as it was (absent, or an existing directory unchanged) and no
    scratch directory is left next to it."""
    out = tmp_path / "demo"
    if existing:
        out.mkdir()
        (out / "notes.txt").write_text("keep")
        (out / "host").mkdir()
        (out / "host" / "old.bin").write_bytes(b"old")
    before = listing(out) if existing else None
    original = patdnn.compile

    def compile_host_only(*args: Any, **kwargs: Any) -> patdnn.CompiledModel:
        if kwargs.get("target") == "aarch64":
            raise PatdnnError("the aarch64 cross compiler is missing")
        return original(*args, **kwargs)

    monkeypatch.setattr(patdnn, "compile", compile_host_only)
    status, _, err = run_cli(capsys, *DEMO, "--out", out)
    assert_one_line(status, err, "patdnn", "the aarch64 cross compiler is missing")
    if existing:
        assert listing(out) == before
    else:
        assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["demo"] if existing else [])


def test_demo_out_checked_before_any_work(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the demo started before checking --out")

    monkeypatch.setattr("patdnn.pruning.digits.train_dense", no_training)
    status, _, err = run_cli(capsys, *DEMO, "--out", tmp_path / "a" / "b")
    assert_one_line(status, err, "patdnn", "does not exist")
    (tmp_path / "file").write_text("x")
    status, _, err = run_cli(capsys, *DEMO, "--out", tmp_path / "file")
    assert_one_line(status, err, "patdnn", "not a directory")
    assert (tmp_path / "file").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---------------------------------------------------------------------------
# Ops of MobileNet-V3 and encoder-decoders in forms the layers do not compute
# ---------------------------------------------------------------------------


class _Wrap(nn.Module):
    """A conv, then `tail` (a module, so that the error can name its layer)."""

    def __init__(self, tail: nn.Module) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.tail = tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.conv(x))


class _Fn(nn.Module):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class _PlaneGate(nn.Module):
    """One gate per pixel, shared by the channels (not a per-channel scale)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


def _se_sigmoid() -> nn.Module:
    from patdnn.frontend.zoo.mobilenet_v3 import SqueezeExcitation

    return SqueezeExcitation(4, 8)  # torchvision's default gate: nn.Sigmoid


UNSUPPORTED_CASES: list[tuple[str, Callable[[], nn.Module], list[str]]] = [
    (
        "bilinear",
        lambda: nn.Upsample(scale_factor=2, mode="bilinear"),
        ["unsupported op aten.upsample_bilinear2d.vec in layer 'tail'"],
    ),
    (
        "sigmoid-gate",
        _se_sigmoid,
        ["unsupported op aten.sigmoid in layer 'tail.scale_activation'"],
    ),
    (
        "fractional-scale",
        lambda: nn.Upsample(scale_factor=1.5, mode="nearest"),
        ["layer 'tail'", "nearest upsampling of 8x8 by scale 1.5x1.5", "integer scale"],
    ),
    (
        "cat-rows",
        lambda: _Fn(lambda x: torch.cat([x, x], dim=2)),
        ["layer 'tail'", "cat along dim 2", "only along the channels"],
    ),
    (
        "mul-plane-gate",
        lambda: _PlaneGate(),
        ["layer 'tail'", "mul of 1x4x8x8 by 1x1x8x8 is not supported", "NxCx1x1"],
    ),
]


@pytest.mark.parametrize(
    ("tail", "needles"), [c[1:] for c in UNSUPPORTED_CASES], ids=[c[0] for c in UNSUPPORTED_CASES]
)
def test_unsupported_forms_name_op_and_layer(
    tail: Callable[[], nn.Module], needles: list[str]
) -> None:
    torch.manual_seed(0)
    with pytest.raises(PatdnnError) as info:
        patdnn.compile(_Wrap(tail()).eval(), X, keep_stages=False)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
