"""The `patdnn` command line: prune, compile, run, inspect, bench and demo.

    patdnn compile MODEL --target aarch64|host -o DIR [--input-shape 1,3,224,224]
    patdnn run DIR --input x.npy [--output y.npy]
    patdnn inspect MODEL_OR_DIR
    patdnn prune [--model package.module:factory] [--pointwise R|off] [--linear R|off]
                 [--block 4x1] [--linear-block 16x1] [--depthwise] [--filter-group G]
                 [--include L,...] -o DIR
    patdnn bench layers [--repeat N]
    patdnn demo --out DIR

MODEL is a `torch.export` program (`.pt2`, which fixes the input shape: `--input-shape` is
optional and must match it), `package.module:factory` (a callable returning an `nn.Module`;
needs `--input-shape`) or a zoo model name (`resnet18`, ...).
User errors (every `PatdnnError`) print one line `patdnn: error: ...` and exit with status
1; bad usage exits with 2 (argparse); anything else is a bug of patdnn: one line
`patdnn: internal error (TYPE): ...` and exit status 3. PATDNN_DEBUG=1 shows the traceback.
No command leaves a half-written output: outputs are written next to the target and renamed
when complete, and arguments are checked before anything is created.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import numpy as np


from patdnn.console import (
    StepProgress,
    layer_table,
    library_text,
    tuning_table,
)
from patdnn.errors import EXIT_INTERNAL, PatdnnError, internal_error_line

PROG = "patdnn"
DEFAULT_ZOO_SHAPE = (1, 3, 224, 224)


class CliError(PatdnnError):
    """A user error found by the command line itself."""


# -- models ----------------------------------------------------------------------------------


@dataclass
class ModelSpec:
    """A model read from the command line, with an example input and a name."""

    model: Any
    example: Any
    name: str


def parse_shape(text: str) -> tuple[int, ...]:
    """`1,3,224,224` or `1x3x224x224` -> (1, 3, 224, 224)."""
    parts = [p for p in re.split(r"[,x\s]+", text.strip()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise CliError(f"bad input shape {text!r}: expected positive integers like 1,3,224,224")
    return shape


def _identifier(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_").lower()
    return name or "model"


def _zoo() -> Any | None:
    try:
        from patdnn.frontend import zoo
    except ImportError:
        return None
    return zoo if hasattr(zoo, "get_model") else None


def _zoo_names(zoo: Any) -> list[str]:
    return sorted(getattr(zoo, "MODELS", {}))


def resolve_model(spec: str, input_shape: str | None) -> ModelSpec:
    """Reads MODEL: a `.pt2` file, `package.module:factory`, or a zoo model name."""
    shape = parse_shape(input_shape) if input_shape else None
    path = Path(spec)
    if spec.endswith(".pt2") or path.is_file():
        if not path.is_file():
            raise CliError(f"{spec}: no such file")
        program = _load_program(spec)
        return ModelSpec(program, _program_example(spec, program, shape), _identifier(path.stem))
    if ":" in spec:
        return _factory_model(spec, shape)
    if "/" in spec or os.sep in spec or path.suffix:
        raise CliError(f"{spec}: no such file")
    zoo = _zoo()
    if zoo is not None and spec in _zoo_names(zoo):
        import torch

        model = zoo.get_model(spec)
        return ModelSpec(model, torch.randn(*(shape or DEFAULT_ZOO_SHAPE)), _identifier(spec))
    hint = f"zoo models: {', '.join(_zoo_names(zoo))}" if zoo is not None else "no zoo installed"
    raise CliError(
        f"cannot read MODEL {spec!r}: expected a .pt2 file, package.module:factory or a zoo "
        f"model name ({hint})"
    )


def _load_program(spec: str) -> Any:
    """The `torch.export` program in the file `spec`; torch's own warnings kept quiet."""
    import logging

    import torch

    # torch.export.load logs a warning with a traceback before it raises on a bad file.
    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return torch.export.load(spec)
    except Exception as e:
        raise CliError(f"{spec}: not a torch.export program ({type(e).__name__}: {e})") from e
    finally:
        logger.setLevel(level)


def _program_example(spec: str, program: Any, shape: tuple[int, ...] | None) -> Any:
    """A random input of the program's input shape; `shape` (--input-shape) must match it
    and gives the size of the program's dynamic dimensions."""
    import torch

    from patdnn.frontend.importer import format_shape, program_input_shapes, shape_fits

    shapes = program_input_shapes(program)
    if len(shapes) != 1:
        raise CliError(f"{spec}: the program takes {len(shapes)} inputs; patdnn needs one")
    expected = shapes[0]
    if shape is None:
        if any(d is None for d in expected):
            raise CliError(
                f"{spec}: the program's input shape {format_shape(expected)} is dynamic; "
                "give --input-shape"
            )
        shape = tuple(d for d in expected if d is not None)
    elif not shape_fits(shape, expected):
        raise CliError(
            f"{spec}: --input-shape {format_shape(shape)} does not match the program's input "
            f"shape {format_shape(expected)} (a .pt2 fixes its input shape: drop "
            "--input-shape or export the model again)"
        )
    return torch.randn(*shape)


def _factory_model(spec: str, shape: tuple[int, ...] | None) -> ModelSpec:
    import importlib

    import torch

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr or not re.fullmatch(r"[\w.]+", module_name + attr):
        raise CliError(f"bad MODEL {spec!r}: expected package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"cannot import {module_name!r} for MODEL {spec!r}: {e}") from e
    factory: Any = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CliError(f"module {module_name!r} has no attribute {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CliError(f"{spec} is not callable")
    try:
        model = factory()
    except Exception as e:
        raise CliError(f"{spec}() raised {type(e).__name__}: {e}") from e
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"{spec}() returned {type(model).__name__}, not a torch.nn.Module")
    if shape is None:
        raise CliError(f"MODEL {spec} needs --input-shape (e.g. --input-shape 1,3,224,224)")
    return ModelSpec(model, torch.randn(*shape), _identifier(attr.split(".")[-1]))


# -- commands --------------------------------------------------------------------------------


def cmd_compile(args: argparse.Namespace) -> int:
    import patdnn
    from patdnn.files import check_writable
    from patdnn.runtime.target import Target

    if args.tune and args.target not in Target.HOST_VARIANTS:
        raise CliError(
            f"--tune times the code on this machine: it works with --target "
            f"{' or '.join(Target.HOST_VARIANTS)}, not {args.target}"
        )
    out = check_writable(args.output, directory=True)
    print(f"patdnn compile {args.model} for {args.target}")
    progress: StepProgress = args.progress
    progress("load MODEL")
    spec = resolve_model(args.model, args.input_shape)
    progress("import (torch.export + torch-mlir)")
    compiled = patdnn.compile(
        spec.model,
        spec.example,
        target=args.target,
        num_patterns=args.patterns,
        strict=args.strict,
        keep_stages=False,
        name=args.name or spec.name,
        progress=progress,
        tune=args.tune,
        sparse_threshold=args.sparse_threshold,
    )
    progress(f"object code for {compiled.target.triple}")
    compiled.object_code  # noqa: B018 - compiled here so the step is timed
    progress(f"save to {out}")
    compiled.save(out)
    progress.done()
    print()
    print(
        f"{compiled.name}: input {list(compiled.signature.inputs[0].shape)} -> output "
        f"{list(compiled.signature.outputs[0].shape)}, weights {compiled.weights.size} bytes"
    )
    print(layer_table(compiled.layers, len(compiled.library)))
    if compiled.tuning:
        print()
        print("auto-tuning (this machine):")
        print(tuning_table(compiled.tuning))
    print()
    _print_artefacts(out)
    return 0


def _print_artefacts(directory: Path) -> None:
    from patdnn.api import read_manifest
    from patdnn.runtime.target import Target

    manifest = read_manifest(directory)
    files = manifest["files"]
    print(f"artefacts in {directory}/:")
    for filename, info in files.items():
        print(f"  {filename:<24} {info['bytes']:>10} bytes")
    print(f"  {'manifest.json':<24} (shapes, pattern library, layers, sha256 of each file)")
    note = (manifest.get("shared_library") or {}).get("note")
    if note:
        print(f"  ({note})")
    if manifest["target"]["name"] in Target.HOST_VARIANTS:
        print(f"run: patdnn run {directory} --input x.npy   or   patdnn.load({str(directory)!r})")
    else:
        print(
            f"run: patdnn run {directory} --input x.npy (qemu-aarch64), or build "
            "examples/run_model.c with aarch64-linux-gnu-gcc (examples/README.md)"
        )


def _read_input(path: str) -> np.ndarray:
    import numpy as np

    if not Path(path).is_file():
        raise CliError(f"{path}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise CliError(f"{path}: not a .npy array ({reason})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        raise CliError(f"{path}: expected a numeric array (.npy), not a .npz archive or objects")
    return np.ascontiguousarray(array, dtype=np.float32)


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from patdnn.api import fit_input, open_saved
    from patdnn.files import atomic_file, check_writable

    if args.output:
        check_writable(args.output)
    model = open_saved(args.directory, args.threads)
    (arg,) = model.signature.inputs
    x = fit_input(arg, _read_input(args.input), what=args.input)
    start = time.perf_counter()
    y = model(x)
    target = model.target.name
    how = (
        "host (JIT from the saved LLVM IR)"
        if model.target.runs_on_host
        else f"{target} (static executable under qemu-aarch64)"
    )
    elapsed = time.perf_counter() - start
    threads = f", {args.threads} threads" if args.threads > 1 else ""
    print(f"ran {model.name} on {how}{threads} in {elapsed:.2f} s")
    print(f"output: shape {tuple(y.shape)}, {y.dtype}")
    flat = y.reshape(-1)
    shown = ", ".join(f"{v:.6g}" for v in flat[:8])
    print(f"  values: [{shown}{', ...' if flat.size > 8 else ''}]")
    if y.ndim == 2:
        print(f"  argmax: {', '.join(str(int(i)) for i in y.argmax(axis=1))}")
    if args.output:
        with atomic_file(args.output, "wb") as stream:
            np.save(stream, y)
        print(f"wrote {args.output}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    target = Path(args.model)
    if target.is_dir():
        return _inspect_dir(target)
    spec = resolve_model(args.model, args.input_shape)
    from patdnn.dialect.context import make_context
    from patdnn.frontend.importer import import_model
    from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass
    from patdnn.lowering.sparsify import SparsifyPass
    from patdnn.lowering.summary import summarize_layers
    from patdnn.runtime.target import Target

    imported = import_model(spec.model, spec.example)
    ctx = make_context()
    ConvertTorchToPatdnnPass(num_patterns=args.patterns, strict=args.strict).apply(
        ctx, imported.module
    )
    # The host's sparse choice, as `patdnn compile` makes it: which layers go sparse.
    SparsifyPass(vector_width=Target.get("host").vector_width).apply(ctx, imported.module)
    layers, library = summarize_layers(imported.module)
    print(
        f"{spec.name}: input {list(imported.input_shapes[0])} -> output "
        f"{[list(s) for s in imported.output_shapes]}"
    )
    print(f"pattern library ({len(library)} patterns):")
    print(library_text(library))
    print(layer_table(layers, len(library)))
    return 0


def _inspect_dir(directory: Path) -> int:
    from patdnn.api import open_saved, read_saved

    saved = read_saved(directory)
    open_saved(saved)  # every file and the code's ABI record checked
    m = saved.manifest
    t = m["target"]
    print(f"{m['model']}: saved for {t['name']} ({t['triple']}, {t.get('cpu', '?')})")
    print(
        f"entry {m.get('entry', 'forward')}: inputs {m['inputs']} -> outputs {m['outputs']}, "
        f"weights {m['weights_bytes']} bytes, workspace {m.get('workspace_bytes') or 0} bytes"
    )
    library = m.get("pattern_library", [])
    print(f"pattern library ({len(library)} patterns):")
    print(library_text(library))
    print(layer_table(m.get("layers", []), len(library)))
    print("files: " + ", ".join(m["files"]))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    import math

    import torch

    from patdnn.files import check_writable, staged_directory
    from patdnn.pruning import prune
    from patdnn.pruning.digits import DigitsNet, load_digits, train_dense

    # Every argument checked before anything is created.
    out = check_writable(args.output, directory=True)
    if not (math.isfinite(args.connectivity) and args.connectivity >= 1):
        raise CliError(f"--connectivity must be a finite number >= 1, got {args.connectivity}")
    if not 1 <= args.patterns <= 56:
        raise CliError(f"--patterns must be in 1..56, got {args.patterns}")
    pointwise = _prune_ratio(args.pointwise, "--pointwise")
    linear = _prune_ratio(args.linear, "--linear")
    # --block sets both kinds, --linear-block the linear layers; each kind has its default
    block: dict[str, tuple[int, int]] = {}
    if args.block is not None:
        block["pointwise"] = block["linear"] = _block_shape(args.block, "--block")
    if args.linear_block is not None:
        block["linear"] = _block_shape(args.linear_block, "--linear-block")
    include = _layer_names(args.include)
    exclude = _layer_names(args.exclude)
    progress: StepProgress = args.progress
    progress("data")
    if args.data:
        loaders = _call_spec(args.data, "--data")
        if not (isinstance(loaders, tuple) and len(loaders) == 2):
            raise CliError(f"--data {args.data}() must return (train_loader, val_loader)")
        train, val = loaders
    else:
        train, val = load_digits(seed=args.seed)
    torch.manual_seed(args.seed)
    model = _call_spec(args.model, "--model") if args.model else DigitsNet()
    if not isinstance(model, torch.nn.Module):
        raise CliError(f"--model {args.model}() returned {type(model).__name__}, not an nn.Module")
    name = _identifier(args.model.split(":")[-1]) if args.model else "digitsnet"
    bars = sys.stderr.isatty()
    if args.resume and not args.checkpoint_dir:
        raise CliError("--resume needs --checkpoint-dir")

    def step(label: str) -> None:
        if bars:  # tqdm draws below a full line
            progress.done()
            print(f"  {label}", flush=True)
        else:
            progress(label)

    from patdnn.pruning.checkpoint import checkpoint_path

    resuming = args.resume and checkpoint_path(args.checkpoint_dir).exists()
    try:
        if args.epochs and not resuming:  # a checkpoint holds the weights
            step(f"dense training, {args.epochs} epochs")
            train_dense(model, train, args.epochs, seed=args.seed, progress=bars)
        step(f"ADMM pruning, {args.admm_epochs} + {args.retrain_epochs} retrain epochs")
        result = prune(
            model,
            train,
            num_patterns=args.patterns,
            connectivity=args.connectivity,
            pointwise=pointwise,
            linear=linear,
            block_shape=block,
            depthwise=args.depthwise,
            filter_group=args.filter_group,
            include=include,
            exclude=exclude,
            admm_epochs=args.admm_epochs,
            retrain_epochs=args.retrain_epochs,
            val_loader=val,
            seed=args.seed,
            progress=bars,
            checkpoint_dir=args.checkpoint_dir,
            resume=args.resume,
        )
    except RuntimeError as e:
        if not (args.model or args.data):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CliError(
            f"training failed: {first} (without --data the model must take (N,1,8,8) digits "
            "and return 10 logits)"
        ) from e
    progress("saving")
    weights = out / f"{name}_pruned.pt"
    with staged_directory(out) as stage:
        torch.save(result.model.state_dict(), stage / weights.name)
        (stage / "report.txt").write_text(result.report.table() + "\n")
        (stage / "library.json").write_text(
            json.dumps([list(map(list, p)) for p in result.library])
        )
        figure = out / Path(result.report.save_figure(stage / "patterns.png")).name
    progress.done()
    print()
    print(result.report.table())
    print()
    print(f"wrote {weights} (state dict), {out / 'report.txt'}, {out / 'library.json'}, {figure}")
    return 0


def _prune_ratio(text: str, option: str) -> float | None:
    """A ``--pointwise``/``--linear`` value: a finite number >= 1, or ``off`` (None)."""
    import math

    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise CliError(f"{option} must be a finite number >= 1 or 'off', got {text!r}")
    return value


def _block_shape(text: str, option: str) -> tuple[int, int]:
    """A ``--block`` / ``--linear-block`` value ``OUTxIN``, e.g. ``4x1``."""
    parts = text.lower().split("x")
    if len(parts) == 2 and all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        return (int(parts[0]), int(parts[1]))
    raise CliError(f"{option} must be OUTxIN with positive integers (e.g. 4x1), got {text!r}")


def _layer_names(text: str | None) -> list[str] | None:
    """A comma-separated ``--include``/``--exclude`` list of layer names."""
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


def _call_spec(spec: str, option: str) -> Any:
    import importlib

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise CliError(f"bad {option} {spec!r}: expected package.module:function")
    try:
        factory: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise CliError(f"cannot import {module_name!r} for {option}: {e}") from e
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CliError(f"module {module_name!r} has no attribute {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CliError(f"{option} {spec} is not callable")
    try:
        return factory()
    except Exception as e:
        raise CliError(f"{option} {spec}() raised {type(e).__name__}: {e}") from e


def cmd_bench(args: argparse.Namespace) -> int:
    from patdnn import bench

    threads = bench.parse_threads(args.threads)
    options: dict[str, object] = {"tune": args.tune}
    if args.vector_width is not None:
        options["vector_width"] = args.vector_width
    targets = bench.parse_targets(args.target)
    groups = bench.parse_filter_groups(args.filter_group)
    if args.suite == "layers" and args.estimate:
        if targets != ["aarch64"]:
            raise CliError("--estimate predicts aarch64 code: use it with --target aarch64")
        if groups != [1]:
            raise CliError("--estimate reads the per-filter tiles: drop --filter-group")
        bench.run_estimate(args.layer_suite, args.layers, args.clock, args.mcpu)
        return 0
    from patdnn.runtime.target import Target

    away = [t for t in targets if t not in Target.HOST_VARIANTS]
    if away:
        raise CliError(
            f"--target {away[0]} does not run here: time {' or '.join(Target.HOST_VARIANTS)} "
            "(several, comma-separated, in the same rounds), or add --estimate"
        )
    if args.suite == "models" and args.per_layer and len(targets) > 1:
        raise CliError("--per-layer profiles one build: give one --target")
    if args.suite == "layers":
        bench.run_layers(
            args.layer_suite, args.layers, threads, args.repeat, args.peers,
            tolerance=args.tolerance, options=options, target=targets, filter_group=groups,
        )  # fmt: skip
        return 0
    bench.run_models(
        args.models, args.size, threads, args.repeat, args.peers, args.per_layer,
        tolerance=args.tolerance, options=options, prune=bench.parse_prune(args.prune),
        target=targets, filter_group=groups,
    )  # fmt: skip
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from patdnn.demo import run_demo

    return run_demo(
        Path(args.out),
        dense_epochs=args.dense_epochs,
        admm_epochs=args.admm_epochs,
        retrain_epochs=args.retrain_epochs,
        runs=args.runs,
        seed=args.seed,
        step=args.progress,
    )


# -- argument parsing ------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from patdnn.runtime.target import Target

    parser = _Parser(
        prog=PROG,
        description="Pattern-based pruning and a pattern-aware compiler for CNNs (PatDNN).",
        epilog="MODEL: a torch.export .pt2 file, package.module:factory (with --input-shape), "
        "or a zoo model name. PATDNN_DEBUG=1 shows tracebacks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("compile", help="compile a model to LLVM IR, an object file and a header")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--target", choices=Target.KNOWN, required=True,
                   help="host (this machine, every feature it has), x86-avx2 (this x86-64 "
                        "machine with AVX-512 off), aarch64 (NEON, Cortex-A76)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="artefact directory")
    p.add_argument("--input-shape", metavar="SHAPE",
                   help="e.g. 1,3,224,224 (a .pt2: optional, must match it)")  # fmt: skip
    p.add_argument("--patterns", type=_positive_int, metavar="N",
                   help="cap on the pattern library read from the weights (default: every "
                        "pattern they use, up to 56)")  # fmt: skip
    p.add_argument("--strict", action="store_true",
                   help="a 3x3 layer that breaks its pattern is an error")  # fmt: skip
    p.add_argument("--name", help="artefact base name (default: from MODEL)")
    p.add_argument("--tune", action="store_true",
                   help="time candidate tiles of every convolution here, keep the fastest "
                        "(host target only)")  # fmt: skip
    p.add_argument("--sparse-threshold", type=_share, default=0.5, metavar="SHARE",
                   help="least share of zero weights for a sparse 1x1 or linear kernel, "
                        "used when estimated faster than dense (default 0.5)")  # fmt: skip
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("run", help="run saved artefacts on an input .npy")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--output", metavar="Y.npy")
    p.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                   help="threads of the default pool (1: the calling thread alone)")  # fmt: skip
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("inspect", help="per-layer table of a saved DIR or a MODEL")
    p.add_argument("model", metavar="MODEL_OR_DIR")
    p.add_argument("--input-shape", metavar="SHAPE")
    p.add_argument("--patterns", type=_positive_int, metavar="N",
                   help="cap on the pattern library read from the weights")  # fmt: skip
    p.add_argument("--strict", action="store_true")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser(
        "prune",
        help="train and prune a model: 3x3 patterns, 1x1 and linear blocks (default: digits CNN)",
    )
    p.add_argument("--model", metavar="package.module:factory",
                   help="a model taking (N,1,8,8) digits with 10 logits, or use --data")  # fmt: skip
    p.add_argument("--data", metavar="package.module:function",
                   help="returns (train_loader, val_loader); default: scikit-learn digits")  # fmt: skip
    p.add_argument("--epochs", type=_count, default=30, help="dense epochs (0: model is trained)")
    p.add_argument("--admm-epochs", type=_count, default=20)
    p.add_argument("--retrain-epochs", type=_count, default=15)
    p.add_argument("--patterns", type=_positive_int, default=8, metavar="N")
    p.add_argument("--connectivity", type=float, default=3.6,
                   help="3x3 convolutions: keep 1 in RATIO kernels (default 3.6)")  # fmt: skip
    p.add_argument("--pointwise", default="3.6", metavar="RATIO|off",
                   help="1x1 convolutions: keep 1 in RATIO blocks (default 3.6; off: dense)")  # fmt: skip
    p.add_argument("--linear", default="10", metavar="RATIO|off",
                   help="linear layers but the last: keep 1 in RATIO blocks (default 10)")  # fmt: skip
    p.add_argument("--block", default=None, metavar="OUTxIN",
                   help="block shape of 1x1 and linear layers (default 4x1 for 1x1, 16x1 "
                   "for linear)")  # fmt: skip
    p.add_argument("--linear-block", default=None, metavar="OUTxIN",
                   help="block shape of linear layers (default 16x1, or --block)")  # fmt: skip
    p.add_argument("--depthwise", action="store_true",
                   help="pattern-prune depthwise 3x3 convolutions too")  # fmt: skip
    p.add_argument("--filter-group", type=_positive_int, default=1, metavar="G",
                   help="3x3 convolutions: groups of G neighbouring filters share kernel "
                        "positions and patterns (default 1: per filter)")  # fmt: skip
    p.add_argument("--include", metavar="NAME,...",
                   help="prune exactly these layers (may name the first conv or last linear)")  # fmt: skip
    p.add_argument("--exclude", metavar="NAME,...", help="keep these layers dense")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.add_argument("--checkpoint-dir", metavar="DIR",
                   help="save the whole pruning state at every epoch end (atomically)")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint in --checkpoint-dir")  # fmt: skip
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("bench", help="benchmarks against dense peers: layers, whole models")
    suites = p.add_subparsers(dest="suite", metavar="SUITE", required=True)
    common = _Parser(add_help=False)  # the options every suite shares
    common.add_argument("--threads", default="1", metavar="N,M",
                        help="thread counts to time, e.g. 1,2 (default 1)")  # fmt: skip
    common.add_argument("--peers", default="all",
                        help="peers to time: all (default) or names, e.g. onnxruntime,ncnn")  # fmt: skip
    common.add_argument("--target", default="host", metavar="TARGET[,TARGET]",
                        help="host (default), x86-avx2, or both comma-separated: each "
                             "patdnn build a row, timed in the same rounds, against its own "
                             "target's FMA peak; aarch64 with --estimate")  # fmt: skip
    common.add_argument("--filter-group", default="1", metavar="G[,G]",
                        help="3x3 pattern layers pruned in filter groups of G (as `patdnn "
                             "prune --filter-group`; 1: per filter, the default), or several "
                             "comma-separated: each pruned form a row, timed in the same "
                             "rounds; G divides every pattern layer's filters and is 1, 2, 4 "
                             "or 8 (compiled to the group tiles)")  # fmt: skip
    common.add_argument("--tolerance", type=float, default=1e-2,
                        help="largest relative error against PyTorch (default 1e-2)")  # fmt: skip
    common.add_argument("--vector-width", type=_positive_int)
    common.add_argument("--tune", action="store_true", help="auto-tune the patdnn builds")
    q = suites.add_parser("layers", parents=[common],
                          help="layer shapes: VGG-16 pattern layers, or the dense layers")  # fmt: skip
    q.add_argument("--suite", dest="layer_suite", default="vgg",
                   choices=("vgg", "dense", "sparse"),
                   help="vgg: the VGG-16 3x3 pattern layers; dense: the layers ResNet-50 and "
                        "MobileNet-V2 keep dense; sparse: block-sparse 1x1 and linear layers, "
                        "sparse against dense patdnn")  # fmt: skip
    q.add_argument("--layers", default="all", help="indices or names of the suite (default all)")
    q.add_argument("--repeat", type=_positive_int, default=10, help="interleaved rounds")
    q.add_argument("--estimate", action="store_true",
                   help="with --target aarch64: llvm-mca on the compiled inner loops")  # fmt: skip
    q.add_argument("--clock", type=float, default=2.8, metavar="GHZ",
                   help="clock of the --estimate layer times (default 2.8)")  # fmt: skip
    q.add_argument("--mcpu", default="cortex-a76", choices=("cortex-a76", "neoverse-n1"),
                   help="llvm-mca scheduling model of --estimate (default cortex-a76)")  # fmt: skip
    q.set_defaults(func=cmd_bench)
    q = suites.add_parser("models", parents=[common],
                          help="whole pruned VGG-16, ResNet-50, MobileNet-V2 against dense peers")  # fmt: skip
    q.add_argument("--models", default="all",
                   help="vgg16,resnet50,mobilenet_v2 (default all)")  # fmt: skip
    q.add_argument("--size", type=_positive_int, default=224, help="input height and width")
    q.add_argument("--repeat", type=_positive_int, default=5, help="interleaved rounds")
    q.add_argument("--per-layer", action="store_true",
                   help="profile each layer of the compiled model instead (first --prune mode)")  # fmt: skip
    q.add_argument("--prune", default="defaults", metavar="MODES",
                   help="defaults (3x3 patterns, 1x1 and linear blocks, as `patdnn prune`), "
                   "patterns (3x3 only), or both comma-separated, timed in the same rounds "
                   "(default: defaults)")  # fmt: skip
    q.set_defaults(func=cmd_bench)

    p = sub.add_parser("demo", help="train, prune, compile and run the digits CNN end to end")
    p.add_argument("--out", default="demo-out", metavar="DIR")
    p.add_argument("--dense-epochs", type=_count, default=30)
    p.add_argument("--admm-epochs", type=_count, default=20)
    p.add_argument("--retrain-epochs", type=_count, default=15)
    p.add_argument("--runs", type=_positive_int, default=300, help="latency runs (median)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """The errors that are the user's: every `PatdnnError` (and `PruningError`, a
    `ValueError` of `patdnn.pruning`)."""
    from patdnn.pruning.errors import PruningError

    return (PatdnnError, PruningError)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `patdnn` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.progress = StepProgress()  # one step line open at a time, closed on failure
    debug = os.environ.get("PATDNN_DEBUG", "") not in ("", "0")
    try:
        status = int(args.func(args))
    except KeyboardInterrupt:
        args.progress.done("failed")
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # every failure ends in one line unless PATDNN_DEBUG is set
        args.progress.done("failed")
        if debug:
            traceback.print_exc()
        if not isinstance(e, _user_errors()):
            print(internal_error_line(PROG, e), file=sys.stderr)
            return EXIT_INTERNAL
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
