"""Multi-threaded entry points: the thread-pool ABI, the entry point that drives the
task functions, and the default pool (`patdnn_pool.c`) for the host.

A parallel lowering (`lower-patdnn-to-vector{parallel=true}`) leaves one function per
phase of tasks, `forward_task<k>(args..., i64 task)`, and the list of phases with their
task counts. `entry_llvm_ir` adds, in LLVM IR,

    void forward(args..., const patdnn_pool *pool)

which stores its arguments in a context record and, phase by phase, calls
`pool->parallel_for(pool->context, thunk_k, &record, count_k)` (or, with pool == NULL,
its own loop over the tasks); `thunk_k(record, i)` calls `forward_task<k>(args..., i)`.
The ABI (`patdnn_pool`) is in `patdnn_pool.h`, which the generated header copies.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from patdnn.runtime.errors import PatdnnRuntimeError, ToolchainError

__all__ = [
    "POOL_HEADER",
    "POOL_SOURCE",
    "HostPool",
    "entry_llvm_ir",
    "pool_abi",
]

POOL_HEADER = Path(__file__).with_name("patdnn_pool.h")
POOL_SOURCE = Path(__file__).with_name("patdnn_pool.c")

_ABI_BEGIN = "/* BEGIN PATDNN POOL ABI */"
_ABI_END = "/* END PATDNN POOL ABI */"


def pool_abi() -> str:
    """The C declarations of `patdnn_pool` and `patdnn_task_fn`, from `patdnn_pool.h`."""
    text = POOL_HEADER.read_text()
    start = text.index(_ABI_BEGIN) + len(_ABI_BEGIN)
    return text[start : text.index(_ABI_END)].strip("\n")


def entry_llvm_ir(entry: str, num_args: int, phases: Sequence[tuple[str, int]]) -> str:
    """LLVM IR defining `entry(ptr x num_args, ptr pool)` over the task functions
    `phases` (name, task count), each `void name(ptr x num_args, i64 task)`."""
    if not phases:
        raise PatdnnRuntimeError(f"entry point {entry!r} has no tasks")
    args = [f"%a{i}" for i in range(num_args)]
    serial = f"@{entry}.serial_for"
    lines = [
        f"define internal void {serial}(ptr %context, ptr %task, ptr %record, i64 %count) {{",
        "entry:",
        "  %empty = icmp eq i64 %count, 0",
        "  br i1 %empty, label %done, label %loop",
        "loop:",
        "  %i = phi i64 [ 0, %entry ], [ %next, %loop ]",
        "  call void %task(ptr %record, i64 %i)",
        "  %next = add nuw i64 %i, 1",
        "  %more = icmp ult i64 %next, %count",
        "  br i1 %more, label %loop, label %done",
        "done:",
        "  ret void",
        "}",
        "",
    ]
    for name, _ in phases:
        lines += [f"define internal void @{name}.thunk(ptr %record, i64 %task) {{"]
        for i, a in enumerate(args):
            lines += [
                f"  %p{i} = getelementptr inbounds ptr, ptr %record, i64 {i}",
                f"  {a} = load ptr, ptr %p{i}, align 8",
            ]
        params = ", ".join(f"ptr {a}" for a in args)
        lines += [f"  call void @{name}({params}, i64 %task)", "  ret void", "}", ""]
    params = ", ".join(f"ptr {a}" for a in args)
    lines += [
        f"define void @{entry}({params}, ptr %pool) {{",
        "entry:",
        f"  %record = alloca [{num_args} x ptr], align 8",
    ]
    for i, a in enumerate(args):
        lines += [
            f"  %p{i} = getelementptr inbounds ptr, ptr %record, i64 {i}",
            f"  store ptr {a}, ptr %p{i}, align 8",
        ]
    lines += [
        "  %none = icmp eq ptr %pool, null",
        "  br i1 %none, label %run, label %load",
        "load:",
        "  %for.pool = load ptr, ptr %pool, align 8",
        "  %context.at = getelementptr inbounds ptr, ptr %pool, i64 1",
        "  %context.pool = load ptr, ptr %context.at, align 8",
        "  br label %run",
        "run:",
        f"  %for = phi ptr [ {serial}, %entry ], [ %for.pool, %load ]",
        "  %context = phi ptr [ null, %entry ], [ %context.pool, %load ]",
    ]
    for name, count in phases:
        lines.append(f"  call void %for(ptr %context, ptr @{name}.thunk, ptr %record, i64 {count})")
    lines += ["  ret void", "}", ""]
    return "\n".join(lines)


# -- the default pool on the host -----------------------------------------------------------

_LIBRARY: ctypes.CDLL | None = None
_LIBRARY_LOCK = threading.Lock()


def _host_library() -> ctypes.CDLL:
    """`patdnn_pool.c` compiled by the system `cc` (once per process) and loaded."""
    global _LIBRARY
    with _LIBRARY_LOCK:
        if _LIBRARY is not None:
            return _LIBRARY
        cc = shutil.which("cc")
        if cc is None:
            raise ToolchainError(
                "cannot build the thread pool: no C compiler 'cc' on PATH (install gcc), "
                "or run with num_threads=1"
            )
        source = POOL_SOURCE.read_bytes() + POOL_HEADER.read_bytes()
        digest = hashlib.sha256(source).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"patdnn-pool-{digest}"
        folder.mkdir(exist_ok=True)
        library = folder / "libpatdnn_pool.so"
        if not library.exists():
            partial = folder / f"libpatdnn_pool.{threading.get_ident()}.so"
            command = [cc, "-O2", "-std=c11", "-shared", "-fPIC", "-pthread",
                       str(POOL_SOURCE), "-o", str(partial)]  # fmt: skip
            proc = subprocess.run(command, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ToolchainError(
                    f"building the thread pool failed: {' '.join(command)}\n{proc.stderr.strip()}"
                )
            partial.replace(library)
        lib = ctypes.CDLL(str(library))
        lib.patdnn_pool_create.restype = ctypes.c_void_p
        lib.patdnn_pool_create.argtypes = [ctypes.c_int]
        lib.patdnn_pool_destroy.restype = None
        lib.patdnn_pool_destroy.argtypes = [ctypes.c_void_p]
        lib.patdnn_pool_threads.restype = ctypes.c_int
        lib.patdnn_pool_threads.argtypes = [ctypes.c_void_p]
        _LIBRARY = lib
        return lib


class HostPool:
    """The default pool of `num_threads` threads in this process; `pointer` is the
    `const patdnn_pool *` to pass to an entry point (None, i.e. NULL, for one thread:
    the entry point then runs its tasks itself)."""

    def __init__(self, num_threads: int) -> None:
        self.num_threads = check_threads(num_threads)
        self._lib: ctypes.CDLL | None = None
        self.pointer: int | None = None
        if self.num_threads > 1:
            self._lib = _host_library()
            self.pointer = self._lib.patdnn_pool_create(self.num_threads)
            if not self.pointer:
                raise PatdnnRuntimeError(
                    f"cannot start a thread pool of {self.num_threads} threads"
                )

    def close(self) -> None:
        if self._lib is not None and self.pointer:
            self._lib.patdnn_pool_destroy(self.pointer)
        self.pointer = None

    def __del__(self) -> None:
        self.close()


MAX_THREADS = 256


def check_threads(num_threads: object) -> int:
    """`num_threads` as an int in 1..MAX_THREADS, or a one-line error naming it."""
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise PatdnnRuntimeError(f"num_threads must be a whole number, got {num_threads!r}")
    if not 1 <= num_threads <= MAX_THREADS:
        raise PatdnnRuntimeError(
            f"num_threads must be between 1 and {MAX_THREADS}, got {num_threads}"
        )
    return num_threads
