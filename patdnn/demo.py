"""`patdnn demo`: the whole flow on a real task, in a few minutes on a laptop CPU.

Trains the digits CNN (`patdnn.pruning.digits.DigitsNet`, scikit-learn's 8x8 digits),
prunes it with the extended ADMM (8 patterns, connectivity 3.6), compiles the pruned model
for the host and for aarch64, runs both on the held-out split (the host artefacts through
`patdnn.load`, the aarch64 ones linked with `examples/run_model.c` and run under
qemu-aarch64), checks their logits against the pruned PyTorch model, and times batch-1
inference on the host against PyTorch.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import patdnn
from patdnn.console import StepProgress, layer_table
from patdnn.errors import PatdnnError
from patdnn.files import check_writable, staged_directory

RTOL = 1e-4
"""Largest allowed `max |compiled - pytorch| / max |pytorch|` over the held-out logits."""

MODEL_NAME = "digitsnet"


def _example_source() -> Path | None:
    """`examples/run_model.c` of the source tree, if patdnn runs from one."""
    path = Path(__file__).resolve().parents[1] / "examples" / "run_model.c"
    return path if path.is_file() else None


def _relative_diff(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(got - ref).max() / max(float(np.abs(ref).max()), 1e-30))


def _median_us(fn: Callable[[], object], runs: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e6 * statistics.median(times)


def run_aarch64(directory: Path, xs: np.ndarray, work: Path) -> tuple[np.ndarray, str]:
    """Logits of the aarch64 artefacts in `directory` for every row of `xs`, and how they ran.

    Builds `examples/run_model.c` against the saved object and runs all inputs in one
    qemu-aarch64 process; outside a source tree, runs the runtime's harness per input."""
    from patdnn.api import open_saved, read_saved
    from patdnn.runtime.aarch64 import find_cross_compiler, find_qemu

    saved = read_saved(directory)
    model = open_saved(saved)  # the manifest, the files and the object's ABI record
    out_shape = tuple(saved.manifest["outputs"][0])
    source = _example_source()
    if source is None:
        logits = np.concatenate([model(xs[i : i + 1]) for i in range(len(xs))])
        return logits, "the runtime harness under qemu-aarch64, one process per image"
    cc, qemu = find_cross_compiler(), find_qemu()
    work.mkdir(parents=True, exist_ok=True)
    exe = work / "run_model"
    build = [cc, "-O2", "-static", "-pthread", f'-DPATDNN_HEADER="{saved.name}.h"',
             str(source), str(directory / "patdnn_pool.c"), str(directory / f"{saved.name}.o"),
             "-I", str(directory), "-o", str(exe), "-lm"]  # fmt: skip
    proc = subprocess.run(build, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PatdnnError(f"building {source.name} failed: {proc.stderr.strip()}")
    inputs, outputs = work / "inputs.bin", work / "logits.bin"
    np.ascontiguousarray(xs, dtype=np.float32).tofile(inputs)
    run = [qemu, str(exe), str(directory / f"{saved.name}.weights"), str(inputs), str(outputs)]
    proc = subprocess.run(run, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PatdnnError(f"run_model failed under qemu-aarch64: {proc.stderr.strip()}")
    logits = np.fromfile(outputs, dtype=np.float32).reshape(len(xs), *out_shape[1:])
    return logits, f"examples/run_model.c, {len(xs)} images in one qemu-aarch64 process"


def run_demo(
    out: Path,
    *,
    dense_epochs: int = 30,
    admm_epochs: int = 20,
    retrain_epochs: int = 15,
    runs: int = 300,
    seed: int = 0,
    num_patterns: int = 8,
    connectivity: float = 3.6,
    step: StepProgress | None = None,
) -> int:
    """Runs the demo, leaves the artefacts in `out`, prints the summary; returns 0.

    PyTorch runs on one thread throughout: the model is tiny, and more threads only
    contend (and the latency comparison is one thread against one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_demo(out, dense_epochs, admm_epochs, retrain_epochs, runs, seed,
                         num_patterns, connectivity, step or StepProgress())  # fmt: skip
    finally:
        torch.set_num_threads(threads)


def _run_demo(
    out: Path,
    dense_epochs: int,
    admm_epochs: int,
    retrain_epochs: int,
    runs: int,
    seed: int,
    num_patterns: int,
    connectivity: float,
    step: StepProgress,
) -> int:
    from patdnn.pruning import prune
    from patdnn.pruning.digits import DigitsNet, evaluate, load_digits, train_dense

    started = time.perf_counter()
    out = check_writable(out, directory=True)  # before any work
    print("patdnn demo: train, pattern-prune, compile and run a digits CNN "
          f"(artefacts in {out}/)")  # fmt: skip
    # Every file is written into a scratch directory next to `out`, moved into `out` only
    # when the whole demo succeeded: a failed demo leaves `out` as it was.
    with staged_directory(out) as stage:
        step("load scikit-learn digits")
        train, val = load_digits(seed=seed)
        xs_t = torch.cat([x for x, _ in val])
        ys = torch.cat([y for _, y in val]).numpy()
        n_train = sum(len(y) for _, y in train)
        xs = xs_t.numpy()

        step(f"dense training, {dense_epochs} epochs on {n_train} images")
        torch.manual_seed(seed)
        dense = DigitsNet()
        train_dense(dense, train, dense_epochs, seed=seed)
        dense_acc = evaluate(dense, val)

        step(f"ADMM pruning ({admm_epochs} epochs) + retraining ({retrain_epochs})")
        result = prune(
            dense,
            train,
            num_patterns=num_patterns,
            connectivity=connectivity,
            admm_epochs=admm_epochs,
            retrain_epochs=retrain_epochs,
            val_loader=val,
            seed=seed,
            progress=False,
        )
        pruned = result.model.eval()
        torch.save(dense.state_dict(), stage / "dense.pt")
        torch.save(pruned.state_dict(), stage / "pruned.pt")
        (stage / "report.txt").write_text(result.report.table() + "\n")
        result.report.save_figure(stage / "patterns.png")
        with torch.no_grad():
            ref = pruned(xs_t).numpy()
        pruned_acc = float((ref.argmax(1) == ys).mean())

        compiled = {}
        for target in ("host", "aarch64"):
            step(f"compile for {target}")
            model = patdnn.compile(
                pruned, xs_t[:1], target=target, library=result.library, keep_stages=False,
                name=MODEL_NAME,
            )  # fmt: skip
            model.save(stage / target)
            compiled[target] = model

        step(f"host: patdnn.load + {len(xs)} images")
        host = patdnn.load(stage / "host")
        host_logits = np.concatenate([host(xs[i : i + 1]) for i in range(len(xs))])

        step(f"aarch64: {len(xs)} images under qemu-aarch64")
        a64_logits, a64_how = run_aarch64(stage / "aarch64", xs, stage / "qemu")

        step(f"latency, batch 1, median of {runs} runs")
        x1_t = xs_t[:1].contiguous()
        x1 = xs[:1].copy()
        with torch.no_grad():
            torch_us = _median_us(lambda: pruned(x1_t), runs)
        patdnn_us = _median_us(lambda: host(x1), runs)
        np.save(stage / "sample.npy", xs[:1])
        step.done()

        host_diff = _relative_diff(host_logits, ref)
        a64_diff = _relative_diff(a64_logits, ref)
        host_acc = float((host_logits.argmax(1) == ys).mean())
        a64_acc = float((a64_logits.argmax(1) == ys).mean())

        print()
        print(result.report.table())
        print()
        sig = compiled["host"].signature
        print(
            f"Compiled: the whole DigitsNet, input {list(sig.inputs[0].shape)} -> logits "
            f"{list(sig.outputs[0].shape)}; its conv layers ({len(result.library)}-pattern library):"
        )
        print(layer_table(compiled["host"].layers, len(compiled["host"].library)))
        print()

        def verdict(diff: float) -> str:
            word = "match" if diff <= RTOL else "DIFFER FROM"
            return f"logits {word} pruned PyTorch (max rel. diff {diff:.1e}, limit {RTOL:.0e})"

        print(f"Accuracy on the {len(xs)} held-out digits:")
        print(f"  dense PyTorch              {100 * dense_acc:6.2f}%")
        print(f"  pruned PyTorch (ADMM)      {100 * pruned_acc:6.2f}%")
        print(f"  compiled, host             {100 * host_acc:6.2f}%   {verdict(host_diff)}")
        print(f"  compiled, aarch64 (qemu)   {100 * a64_acc:6.2f}%   {verdict(a64_diff)}")
        print(f"  (aarch64 ran with {a64_how})")
        print()
        host_target = compiled["host"].target
        print(f"Latency, batch 1, host {host_target.arch} ({host_target.cpu}), "
              f"median of {runs} runs:")  # fmt: skip
        print(f"  PyTorch eager, 1 thread    {torch_us:8.1f} us")
        print(f"  patdnn compiled (host)     {patdnn_us:8.1f} us   "
              f"{torch_us / patdnn_us:.2f}x vs PyTorch")  # fmt: skip
        print()
        bad = [t for t, d in (("host", host_diff), ("aarch64", a64_diff)) if d > RTOL]
        if bad:
            raise PatdnnError(
                f"the compiled {' and '.join(bad)} model(s) disagree with pruned PyTorch "
                f"beyond {RTOL:.0e} relative"
            )
    print(f"Artefacts in {out}/:")
    for target in ("host", "aarch64"):
        files = ", ".join(sorted(p.name for p in (out / target).iterdir()))
        print(f"  {target + '/':<10} {files}")
    if (out / "qemu" / "run_model").exists():
        print(
            "  qemu/      run_model (examples/run_model.c, static aarch64), inputs.bin, logits.bin"
        )
    print("  dense.pt, pruned.pt (state dicts), report.txt, patterns.png, sample.npy")
    print(f"Try: patdnn run {out}/host --input {out}/sample.npy")
    print(f"     patdnn run {out}/aarch64 --input {out}/sample.npy")
    print(f"     patdnn inspect {out}/aarch64")
    print(f"Finished in {time.perf_counter() - started:.0f} s.")
    return 0
