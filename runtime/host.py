"""Run LLVM IR on this machine: JIT with llvmlite's MCJIT, call through ctypes."""

from __future__ import annotations

import copy
import ctypes
import threading
from collections.abc import Callable, Sequence

import numpy as np

from patdnn.runtime.abi import ABI_SYMBOL, AbiError, AbiRecord, read_abi_at
from patdnn.runtime.compile import optimize_module, parse_llvm_ir
from patdnn.runtime.errors import PatdnnRuntimeError
from patdnn.runtime.signature import Arg, Signature, aligned_zeros
from patdnn.runtime.target import Target
from patdnn.runtime.threads import HostPool

__all__ = ["HostModule"]


class HostModule:
    """An entry point JIT-compiled (after LLVM O3) for the host and callable with numpy arrays.

    `module(x, weights=blob)` returns the output array (a tuple if there are several outputs).
    A multi-threaded entry point (`signature.pool`) runs on the default pool of
    `num_threads` threads (1: NULL, the calling thread alone); the call releases the GIL.
    """

    def __init__(
        self,
        llvm_ir: str,
        entry: str,
        signature: Signature,
        *,
        target: Target | None = None,
        optimize: bool = True,
        num_threads: int = 1,
    ) -> None:
        import llvmlite.binding as llvm

        self.target = target if target is not None else Target.get("host")
        if not self.target.runs_on_host:
            raise PatdnnRuntimeError(
                f"target {self.target.name!r} ({self.target.triple}) cannot run in this process"
            )
        self.entry = entry
        self.signature = signature
        module = parse_llvm_ir(llvm_ir, self.target)
        function = next((f for f in module.functions if f.name == entry), None)
        if function is None or function.is_declaration:
            defined = sorted(f.name for f in module.functions if not f.is_declaration)
            raise PatdnnRuntimeError(
                f"the LLVM module defines no function {entry!r} (it defines: "
                f"{', '.join(defined) or 'nothing'})"
            )
        n_params = len(list(function.arguments))
        names = [a.name for a in signature.args] + (["pool"] if signature.pool else [])
        if n_params != len(names):
            raise PatdnnRuntimeError(
                f"{entry!r} takes {n_params} argument(s) but the signature lists "
                f"{len(names)}: {', '.join(names)}"
            )
        tm = self.target.create_target_machine(
            opt=3 if optimize else 0, reloc="default", codemodel="jitdefault", jit=True
        )
        if optimize:
            optimize_module(module, tm)
        self.optimized_llvm_ir = str(module)
        self._engine = llvm.create_mcjit_compiler(module, tm)
        self._engine.finalize_object()
        self._function = self._resolve(entry)
        self._workspaces = threading.local()
        self._pool = HostPool(num_threads)

    @property
    def num_threads(self) -> int:
        """Threads a multi-threaded entry point runs on (set it to change the pool)."""
        return self._pool.num_threads

    @num_threads.setter
    def num_threads(self, value: int) -> None:
        if value != self._pool.num_threads:
            self._pool = HostPool(value)

    def _workspace(self, arg: Arg) -> np.ndarray:
        """This thread's workspace (the code keeps its intermediate buffers there), made
        on its first call and kept: calls from several threads never share one."""
        buffer: np.ndarray | None = getattr(self._workspaces, "buffer", None)
        if buffer is None:
            buffer = self._workspaces.buffer = aligned_zeros(arg)
        return buffer

    def abi(self, source: str) -> AbiRecord:
        """The `@patdnn_abi` record of the JIT-compiled code (`AbiError` if it has none)."""
        address = self._engine.get_global_value_address(ABI_SYMBOL)
        if not address:
            raise AbiError(f"{source} carries no ABI record: compile and save the model again")
        return read_abi_at(address, source)

    def _resolve(self, entry: str) -> Callable[..., None]:
        address = self._engine.get_function_address(entry)
        if not address:
            raise PatdnnRuntimeError(f"the JIT could not resolve {entry!r}")
        count = len(self.signature.args) + (1 if self.signature.pool else 0)
        prototype = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * count))
        return prototype(address)

    def function(self, entry: str) -> HostModule:
        """Another entry point of the same module, with the same signature (no new JIT)."""
        other = copy.copy(self)
        other.entry = entry
        other._function = self._resolve(entry)
        return other

    def __call__(
        self,
        *inputs: np.ndarray,
        weights: np.ndarray | bytes | None = None,
        out: np.ndarray | Sequence[np.ndarray] | None = None,
    ) -> np.ndarray | tuple[np.ndarray, ...]:
        """Run the entry point on `inputs`; write into `out` if given, else new arrays."""
        signature = self.signature
        arrays = signature.check_inputs(inputs)
        blob = signature.check_weights(weights)
        outputs = signature.make_outputs(out)
        signature.check_no_overlap(outputs, arrays + ([blob] if blob is not None else []))
        by_role = {"input": iter(arrays), "output": iter(outputs)}
        pointers: list[int | None] = []
        for arg in signature.args:
            if arg.role == "workspace":
                pointers.append(self._workspace(arg).ctypes.data)
                continue
            array = blob if arg.role == "weights" else next(by_role[arg.role])
            assert array is not None
            pointers.append(array.ctypes.data)
        if signature.pool:
            pointers.append(self._pool.pointer)
        # ctypes releases the GIL for the call; the pool's workers are C threads.
        self._function(*pointers)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)
