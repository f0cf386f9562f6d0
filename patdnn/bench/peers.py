"""Dense peers of the benchmark: PyTorch, ONNX Runtime, MNN, ncnn and LiteRT (XNNPACK).

Each peer turns a dense `torch.nn.Module` and an example input into a callable that runs one
inference at a given intra-op thread count and returns the output as a numpy array (the time
of a call includes handing the input over and reading the output back, as patdnn's does).
A peer that is not installed, or whose conversion fails, raises `PeerUnavailable` with one
line saying why; the benchmark reports it and goes on. Every peer's output is checked
against PyTorch (`check_output`) before it is timed.

Conversions: ONNX Runtime and MNN from the ONNX export (`torch.onnx.export`, TorchScript
path; MNN through its `mnnconvert` tool), ncnn through `pnnx` (TorchScript to ncnn), LiteRT
through `litert-torch` in a child process. `litert-torch` depends on `litert-converter`,
which pins an old xDSL that cannot share an environment with the project's; `make
bench-deps` installs the two with that xDSL into `.bench-litert/`, put first on the child's
`PYTHONPATH` (`PATDNN_LITERT_PATH` names another folder). Running the `.tflite` file only
needs `ai-edge-litert`, which installs beside the project.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from patdnn.errors import PatdnnError

__all__ = [
    "PEERS",
    "Peer",
    "PeerUnavailable",
    "check_output",
    "relative_error",
]

Runner = Callable[[], np.ndarray]
"""One inference: returns the output array."""


class PeerUnavailable(PatdnnError):
    """A peer that is not installed here or could not convert the model (one line why)."""


@dataclass(frozen=True)
class Peer:
    """A dense runtime the benchmark compares against."""

    name: str
    module: str
    """The Python module whose presence says the peer is installed."""
    build: Callable[[torch.nn.Module, torch.Tensor, int, Path], Runner]
    """(model, example input, threads, scratch folder) -> runner."""

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None

    def prepare(self, model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
        if not self.installed:
            raise PeerUnavailable(f"{self.name}: not installed (pip install -e '.[bench]')")
        try:
            return self.build(model, x, threads, work)
        except PeerUnavailable:
            raise
        except Exception as e:  # a converter's failure is the peer's, not the benchmark's
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1][:200]
            raise PeerUnavailable(f"{self.name}: conversion failed: {first}") from e


def relative_error(out: np.ndarray, ref: np.ndarray) -> float:
    """max |out - ref| / max(1, max |ref|); inf when the shapes differ."""
    out = np.asarray(out, dtype=np.float32)
    if out.size != ref.size:
        return float("inf")
    diff = np.abs(out.reshape(ref.shape) - ref)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    return float(diff.max() / max(1.0, float(np.abs(ref).max())))


def check_output(name: str, out: np.ndarray, ref: np.ndarray, tolerance: float) -> float:
    """The relative error of `out` against the PyTorch reference `ref`; a `PeerUnavailable`
    naming the peer and the error when it is above `tolerance` (a wrong answer is not timed)."""
    error = relative_error(out, ref)
    if not error <= tolerance:
        shape = "x".join(map(str, np.shape(out)))
        raise PeerUnavailable(
            f"{name}: wrong output (relative error {error:.1e} > {tolerance:.0e}, shape {shape})"
        )
    return error


# -- the peers -------------------------------------------------------------------------------


def _torch(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
    def run() -> np.ndarray:
        torch.set_num_threads(threads)
        with torch.no_grad():
            return model(x).numpy()

    return run


def _onnx_bytes(model: torch.nn.Module, x: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (x,),
        buffer,  # pyright: ignore[reportArgumentType]  # torch's hint omits file objects, which it takes
        input_names=["x"],
        output_names=["y"],
        dynamo=False,
    )
    return buffer.getvalue()


def _onnxruntime(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        _onnx_bytes(model, x), options, providers=["CPUExecutionProvider"]
    )
    feed = {"x": x.numpy()}

    def run() -> np.ndarray:
        (y,) = session.run(None, feed)
        assert isinstance(y, np.ndarray)  # the one dense output of the model
        return y

    return run


def _tool(name: str) -> str:
    """A console script of the running interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise PeerUnavailable(f"{name}: not found beside {sys.executable} nor on PATH")
    return found


def _run(args: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, check=False, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        lines = (done.stderr + done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        raise PeerUnavailable(f"{what}: {lines[-1][:200]}")


def _mnnconvert_env(work: Path) -> dict[str, str]:
    """The environment of `mnnconvert`: its usage logger (`MNN.tools.utils.log`) runs
    `pip install -U aliyun-log-python-sdk` into the running environment when `aliyun.log`
    does not import, which upgrades or downgrades packages the project pins (once it
    took protobuf 6.31 to 5.29 and broke ONNX), then reports each conversion over the
    network. A stub `aliyun` package first on `PYTHONPATH` imports without `LogClient`, so
    `mnnconvert` runs without its logger (it catches that import error), and with
    `PIP_NO_INDEX` no pip it starts can reach an index."""
    stub = work / "no-mnn-logger" / "aliyun"
    stub.mkdir(parents=True, exist_ok=True)
    for name in ("__init__.py", "log.py"):
        (stub / name).write_text("")
    path = os.pathsep.join(p for p in (str(stub.parent), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "PIP_NO_INDEX": "1"}


def _mnn(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
    # A bench extra (make bench-deps), untyped: its API is looked up at run time.
    MNN: Any = importlib.import_module("MNN")

    onnx_path, mnn_path = work / "model.onnx", work / "model.mnn"
    if not mnn_path.exists():
        onnx_path.write_bytes(_onnx_bytes(model, x))
        _run(
            [_tool("mnnconvert"), "-f", "ONNX", "--modelFile", str(onnx_path),
             "--MNNModel", str(mnn_path), "--bizCode", "patdnn"],
            "MNN: mnnconvert",
            _mnnconvert_env(work),
        )  # fmt: skip
        if not mnn_path.exists():
            raise PeerUnavailable("MNN: mnnconvert wrote no model")
    interpreter = MNN.Interpreter(str(mnn_path))
    session = interpreter.createSession({"numThread": threads, "precision": "high"})
    source = interpreter.getSessionInput(session)
    sink = interpreter.getSessionOutput(session)
    xn = x.numpy()
    host_in = MNN.Tensor(list(xn.shape), MNN.Halide_Type_Float, xn, MNN.Tensor_DimensionType_Caffe)
    out_shape = list(sink.getShape())
    host_out = MNN.Tensor(
        out_shape,
        MNN.Halide_Type_Float,
        np.zeros(out_shape, dtype=np.float32),
        MNN.Tensor_DimensionType_Caffe,
    )

    def run() -> np.ndarray:
        source.copyFrom(host_in)
        interpreter.runSession(session)
        sink.copyToHostTensor(host_out)
        return np.array(host_out.getNumpyData(), copy=True)

    return run


def _ncnn(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
    ncnn: Any = importlib.import_module("ncnn")  # a bench extra, untyped like MNN

    param, binary = work / "model.ncnn.param", work / "model.ncnn.bin"
    if not param.exists():
        traced = torch.jit.trace(model, (x,))
        assert isinstance(traced, torch.jit.ScriptModule)  # a module traced, not a function
        pt = work / "model.pt"
        traced.save(str(pt))
        shape = ",".join(map(str, x.shape))
        _run(
            [_tool("pnnx"), str(pt), f"inputshape=[{shape}]", "fp16=0",
             f"ncnnparam={param}", f"ncnnbin={binary}", f"pnnxparam={work / 'model.pnnx.param'}",
             f"pnnxbin={work / 'model.pnnx.bin'}", f"pnnxpy={work / 'model_pnnx.py'}",
             f"pnnxonnx={work / 'model.pnnx.onnx'}", f"ncnnpy={work / 'model_ncnn.py'}"],
            "ncnn: pnnx",
        )  # fmt: skip
        if not param.exists():
            raise PeerUnavailable("ncnn: pnnx wrote no ncnn model")
    net = ncnn.Net()
    net.opt.num_threads = threads
    net.opt.use_fp16_storage = False
    net.opt.use_fp16_packed = False
    net.opt.use_fp16_arithmetic = False
    net.opt.use_bf16_storage = False
    if net.load_param(str(param)) != 0 or net.load_model(str(binary)) != 0:
        raise PeerUnavailable(f"ncnn: cannot load {param}")
    xn = np.ascontiguousarray(x.numpy()[0])

    def run() -> np.ndarray:
        extractor = net.create_extractor()
        extractor.input("in0", ncnn.Mat(xn))
        _, out = extractor.extract("out0")
        return np.array(out)[None]

    return run


_LITERT_CONVERT = """
import sys, torch, litert_torch
model = torch.load(sys.argv[1], weights_only=False).eval()
x = torch.load(sys.argv[2])
litert_torch.convert(model, (x,)).export(sys.argv[3])
"""


def litert_path() -> Path:
    """Where `litert-torch` and its converter live (`PATDNN_LITERT_PATH`, else the
    `.bench-litert/` folder that `make bench-deps` fills at the top of the source tree)."""
    default = Path(__file__).resolve().parents[2] / ".bench-litert"
    return Path(os.environ.get("PATDNN_LITERT_PATH", default))


def _litert(model: torch.nn.Module, x: torch.Tensor, threads: int, work: Path) -> Runner:
    from ai_edge_litert.interpreter import (  # pyright: ignore[reportMissingImports]  # a bench extra
        Interpreter,
    )

    tflite = work / "model.tflite"
    if not tflite.exists():
        side = litert_path()
        if (
            importlib.util.find_spec("litert_torch") is None
            and not (side / "litert_torch").is_dir()
        ):
            raise PeerUnavailable(
                f"LiteRT: litert-torch not found (make bench-deps installs it in {side})"
            )
        torch.save(model, work / "model.torch")
        torch.save(x, work / "input.torch")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(side), *filter(None, [env.get("PYTHONPATH")])])
        _run(
            [sys.executable, "-c", _LITERT_CONVERT, str(work / "model.torch"),
             str(work / "input.torch"), str(tflite)],
            "LiteRT: litert-torch",
            env,
        )  # fmt: skip
    interpreter = Interpreter(model_path=str(tflite), num_threads=threads)
    interpreter.allocate_tensors()
    (source,) = interpreter.get_input_details()
    (sink,) = interpreter.get_output_details()
    xn = x.numpy()
    if tuple(source["shape"]) != xn.shape:
        raise PeerUnavailable(
            f"LiteRT: the converted model takes {tuple(source['shape'])}, not {xn.shape}"
        )

    def run() -> np.ndarray:
        interpreter.set_tensor(source["index"], xn)
        interpreter.invoke()
        return interpreter.get_tensor(sink["index"])

    return run


PEERS: tuple[Peer, ...] = (
    Peer("PyTorch", "torch", _torch),
    Peer("ONNX Runtime", "onnxruntime", _onnxruntime),
    Peer("MNN", "MNN", _mnn),
    Peer("ncnn", "ncnn", _ncnn),
    Peer("LiteRT", "ai_edge_litert", _litert),
)
"""Every peer, in the order of the tables."""


def scratch() -> tempfile.TemporaryDirectory[str]:
    """A folder for one model's converted files."""
    return tempfile.TemporaryDirectory(prefix="patdnn-bench-")
