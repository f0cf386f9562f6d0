"""Property-based fuzzing (hypothesis) of the MLIR parser with the patdnn passes, and of
the saved-artefact loader.

The MLIR inputs are the lit tests' own modules, mutated (bytes flipped, slices cut,
tokens of the patdnn syntax spliced in, truncated); each runs through `patdnn-opt` with a
patdnn pipeline and must end in exit status 0 or 1 with at most one error line, never a
traceback or an internal error, within the deadline. The artefacts are a saved model whose
manifest fields get random JSON values (re-hashed so the checksum holds, or not) and whose
files get damaged: loading must succeed, with a call that then runs on buffers of the right
size, or raise a `PatdnnError`. A watchdog turns an example that runs longer than
`HANG_SECONDS` into a failure. Bounded to about a minute in all (`PATDNN_FUZZ_EXAMPLES`
examples per test, 120 by default; `PATDNN_FUZZ_RANDOM=1` draws new examples each run).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from cli_models import small_conv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import patdnn
from patdnn.api import manifest_digest
from patdnn.errors import PatdnnError
from patdnn.tools import patdnn_opt

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = int(os.environ.get("PATDNN_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=20_000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=os.environ.get("PATDNN_FUZZ_RANDOM", "") == "",
    database=None,
)


HANG_SECONDS = 30


class Hang(Exception):
    """An example ran longer than `HANG_SECONDS`: a hang, as far as a user can tell."""


@contextmanager
def watchdog() -> Iterator[None]:
    """Raises `Hang` in the example that runs too long (hypothesis then reports it)."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no answer within {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _seeds() -> list[bytes]:
    """The modules of the lit tests of the dialect and the passes, without their RUN lines."""
    seeds: list[bytes] = []
    folders = ("dialect", "convert-torch-to-patdnn", "filter-kernel-reorder", "fkw-layout",
               "lower-patdnn-to-vector", "load-redundancy-elimination")  # fmt: skip
    for folder in folders:
        for path in sorted((ROOT / "test" / folder).glob("*.mlir")):
            text = "\n".join(
                line for line in path.read_text().splitlines() if not line.startswith("//")
            )
            seeds += [chunk.encode() for chunk in text.split("// -----") if chunk.strip()]
    return seeds


SEEDS = _seeds()
TOKENS = [b"%0", b"}", b"{", b")", b"(", b"<", b">", b":", b",", b"tensor<", b"x", b"f32",
          b"dense_resource<w>", b"dense<1.0>", b"0x04000000", b"array<i64: 1, 1>", b"-1",
          b"#patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>", b"patdnn.conv2d", b"\"",
          b"patdnn.fkw_conv2d", b"func.func @f", b"return", b"99999999999", b"\xff", b"\x00",
          b"{-# dialect_resources: { builtin: { w: \"0x0400\" } } #-}", b"\n", b"// -----"]  # fmt: skip
PIPELINES = [
    "",
    "convert-torch-to-patdnn",
    "convert-torch-to-patdnn{strict=true num_patterns=2}",
    "filter-kernel-reorder,fkw-layout",
    "fkw-layout,lower-patdnn-to-vector{vector-width=8}",
    "lower-patdnn-to-vector,load-redundancy-elimination",
    "convert-torch-to-patdnn,filter-kernel-reorder,fkw-layout,lower-patdnn-to-vector,"
    "load-redundancy-elimination",
]


@st.composite
def mutated_module(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "insert":
            token = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
            data[at:at] = token
        elif kind == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 80))]
    return bytes(data)


@FUZZ
@given(source=mutated_module(), pipeline=st.sampled_from(PIPELINES))
def test_fuzz_patdnn_opt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: bytes, pipeline: str
) -> None:
    path = tmp_path / "fuzz.mlir"
    path.write_bytes(source)
    args = [str(path)] + (["-p", pipeline] if pipeline else [])
    try:
        with watchdog():
            patdnn_opt.main(args)
        status = 0
    except SystemExit as e:
        status = int(e.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "internal error" not in err, err
    assert status in (0, 1), err
    errors = [line for line in err.splitlines() if "error:" in line]
    if status == 1:
        assert len(errors) == 1, err
    else:
        assert not errors, err


# ---------------------------------------------------------------------------
# The artefact loader
# ---------------------------------------------------------------------------

SHAPE = (1, 3, 8, 8)
FIELDS = ["format", "model", "entry", "target", "target.name", "target.triple", "target.cpu",
          "inputs", "outputs", "weights_bytes", "workspace_bytes", "files", "pattern_library",
          "layers", "manifest_sha256", "files.small.ll", "files.small.weights.bytes"]  # fmt: skip
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
NEAR_SHAPES = st.lists(st.lists(st.integers(0, 20), min_size=0, max_size=5), min_size=0, max_size=3)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiled = patdnn.compile(small_conv().eval(), torch.randn(*SHAPE), name="small")
    return compiled.save(tmp_path_factory.mktemp("fuzz") / "small")


def _assign(manifest: dict[str, Any], field: str, value: Any) -> None:
    node: Any = manifest
    parts = re.split(r"\.(?!ll|weights|o\b|h\b|so\b)", field)
    for key in parts[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    if isinstance(node, dict):
        node[parts[-1]] = value


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(FIELDS), JSON | NEAR_SHAPES | st.integers(0, 1 << 20)),
        min_size=1,
        max_size=3,
    ),
    rehash=st.booleans(),
    damage=st.sampled_from([None, "small.weights", "small.ll", "small.o", "manifest.json"]),
    cut=st.integers(0, 4096),
)
def test_fuzz_artefact_loader(
    saved: Path, tmp_path: Path, edits: list[tuple[str, Any]], rehash: bool, damage: str | None,
    cut: int,
) -> None:  # fmt: skip
    directory = tmp_path / "model"
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(saved, directory)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for field, value in edits:
        _assign(manifest, field, value)
    if rehash:
        manifest["manifest_sha256"] = manifest_digest(manifest)
    manifest_path.write_text(json.dumps(manifest))
    if damage is not None:
        path = directory / damage
        path.write_bytes(path.read_bytes()[:cut])
    try:
        with watchdog():
            model = patdnn.load(directory)
            y = model(np.zeros(model.signature.inputs[0].shape, np.float32))
    except PatdnnError as e:
        assert "\n" not in str(e).strip()
        return
    # Loaded and ran: then the manifest still describes the code exactly.
    assert tuple(y.shape) == tuple(json.loads((saved / "manifest.json").read_text())["outputs"][0])
