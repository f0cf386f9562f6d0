"""C header for a compiled entry point: shapes, sizes and the prototype."""

from __future__ import annotations

import re
from pathlib import Path

from patdnn.runtime.signature import Arg, Signature
from patdnn.runtime.threads import pool_abi

__all__ = ["generate_header", "prototype", "write_header"]


def _identifier(name: str) -> str:
    ident = re.sub(r"\W", "_", name)
    return ident if not ident[:1].isdigit() else f"_{ident}"


def _param(arg: Arg) -> str:
    const = "" if arg.role in ("output", "workspace") else "const "
    return f"{const}{arg.c_type} *{_identifier(arg.name)}"


def prototype(entry: str, signature: Signature) -> str:
    """The C prototype, e.g. `void f(const float *input, float *output, const uint8_t *weights,
    uint8_t *workspace)`."""
    params = ", ".join(
        [_param(a) for a in signature.args]
        + (["const patdnn_pool *pool"] if signature.pool else [])
    )
    params = params or "void"
    return f"void {_identifier(entry)}({params})"


def _dims(shape: tuple[int, ...]) -> str:
    return "{" + ", ".join(str(d) for d in shape) + "}" if shape else "{1}"


def generate_header(entry: str, signature: Signature) -> str:
    """The C header declaring `entry`, with its argument shapes and sizes as macros.

    Macros `<ENTRY>_<ARG>_{NDIM,SHAPE,SIZE,BYTES}` describe each argument (SIZE in elements);
    the `PATDNN_*` block describes the entry generically for the runtime's harness.
    """
    ident = _identifier(entry)
    prefix = ident.upper()
    guard = f"PATDNN_{prefix}_H"
    lines = [
        f"/* {ident}: entry point compiled by patdnn. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
    ]
    for arg in signature.args:
        name = f"{prefix}_{_identifier(arg.name).upper()}"
        if arg.role == "weights":
            lines.append(f"#define {prefix}_WEIGHTS_SIZE {arg.nbytes} /* bytes */")
            continue
        if arg.role == "workspace":
            lines.append(
                f"#define {prefix}_WORKSPACE_SIZE {arg.nbytes} "
                "/* bytes of scratch memory, 64-byte aligned, owned by the caller */"
            )
            continue
        lines += [
            f"#define {name}_NDIM {len(arg.shape)}",
            f"#define {name}_SHAPE {_dims(arg.shape)}",
            f"#define {name}_SIZE {arg.size} /* {arg.c_type} elements */",
            f"#define {name}_BYTES {arg.nbytes}",
        ]
    if signature.weights is None:
        lines.append(f"#define {prefix}_WEIGHTS_SIZE 0 /* takes no weights */")
    if signature.workspace is None:
        lines.append(f"#define {prefix}_WORKSPACE_SIZE 0 /* takes no workspace */")
    lines += [""]
    if signature.pool:
        lines += [
            "/* Multi-threaded execution. Every layer is split into tasks whose boundaries are",
            "   fixed at compile time; the layers run one after the other, each as one",
            "   pool->parallel_for(pool->context, task, task_context, task_count) call, which",
            "   must return when all its tasks have run. pool == NULL runs every task on the",
            "   calling thread. The output is bitwise identical for any pool and thread count.",
            "   Concurrent tasks never share scratch memory: a layer's padded copies are",
            "   written by tasks of their own before the tasks that read them.",
            "   patdnn_pool.h (in patdnn's runtime/) has the default pthread pool:",
            "   patdnn_pool_create(num_threads), patdnn_pool_destroy(pool). */",
            pool_abi(),
            "",
        ]
    lines += [
        "/* Arguments must not overlap. The workspace is scratch memory for one call at a",
        "   time: give each thread that calls concurrently its own (the tasks of one call",
        "   share it safely). */",
        prototype(entry, signature) + ";",
        "",
        "/* Generic description of this entry point. */",
    ]
    inputs, outputs, weights = signature.inputs, signature.outputs, signature.weights
    workspace = signature.workspace
    call_args = [f"({a.c_type} *)(in)[{i}]" for i, a in enumerate(inputs)]
    call_args += [f"({a.c_type} *)(out)[{i}]" for i, a in enumerate(outputs)]
    order = {id(a): n for n, a in enumerate(inputs + outputs)}
    ordered: list[str] = []
    for arg in signature.args:
        if arg.role == "weights":
            ordered.append("(const uint8_t *)(w)")
        elif arg.role == "workspace":
            ordered.append("(uint8_t *)(ws)")
        else:
            ordered.append(call_args[order[id(arg)]])
    if signature.pool:
        ordered.append("(pool)")
    lines += [
        f"#define PATDNN_ENTRY {ident}",
        f'#define PATDNN_ENTRY_NAME "{ident}"',
        f"#define PATDNN_NUM_INPUTS {len(inputs)}",
        f"#define PATDNN_NUM_OUTPUTS {len(outputs)}",
        f"#define PATDNN_INPUT_BYTES {_dims(tuple(a.nbytes for a in inputs)) if inputs else '{0}'}",
        f"#define PATDNN_OUTPUT_BYTES {_dims(tuple(a.nbytes for a in outputs))}",
        f"#define PATDNN_HAS_WEIGHTS {0 if weights is None else 1}",
        f"#define PATDNN_WEIGHTS_BYTES {0 if weights is None else weights.nbytes}",
        f"#define PATDNN_HAS_WORKSPACE {0 if workspace is None else 1}",
        f"#define PATDNN_WORKSPACE_BYTES {0 if workspace is None else workspace.nbytes}",
        f"#define PATDNN_HAS_POOL {1 if signature.pool else 0}",
        f"#define PATDNN_CALL(in, out, w, ws, pool) {ident}({', '.join(ordered)})",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {guard} */",
        "",
    ]
    return "\n".join(lines)


def write_header(path: str | Path, entry: str, signature: Signature) -> Path:
    """Write the header of `entry` to `path`; return the path."""
    path = Path(path)
    path.write_text(generate_header(entry, signature))
    return path
