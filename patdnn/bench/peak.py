"""The FMA peak of this machine, measured with code the project's own pipeline compiles.

`fma_loop_mlir(target)` writes a register-only loop in the upstream `vector` dialect:
`accumulators` independent chains `acc = fma(acc, m, a)` on `target.vector_width`-lane
vectors, enough of them to cover the FMA latency of two pipes, no memory access inside the
loop. It goes through `patdnn.lowering.upstream.mlir_to_llvm_ir` and the host runtime like
any compiled model, so the peak is that of the same target (triple, CPU, features, vector
width) the benchmarked layers are compiled for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from patdnn.runtime.target import Target
from patdnn.runtime.timing import interleaved_times

__all__ = ["FmaPeak", "fma_loop_mlir", "measure_fma_peak"]


def _accumulators(target: Target) -> int:
    """Independent FMA chains: 12 cover 2 pipes x 4-5 cycles of latency and leave room for
    the two operand registers in a 16-register file."""
    return min(12, target.vector_registers - 2)


def fma_loop_mlir(target: Target, iterations: int) -> str:
    """The loop as MLIR: `@fma_peak(x, y)`, `x` holds the initial accumulators then `m`
    and `a`, `y` receives the final accumulators (so nothing is dead code)."""
    w, n = target.vector_width, _accumulators(target)
    vec, buf_in, buf_out = f"vector<{w}xf32>", f"memref<{(n + 2) * w}xf32>", f"memref<{n * w}xf32>"
    lines = [
        "func.func @fma_peak(%x: " + buf_in + ", %y: " + buf_out + ") {",
        "  %c0 = arith.constant 0 : index",
        "  %c1 = arith.constant 1 : index",
        f"  %cn = arith.constant {iterations} : index",
    ]
    for i in range(n + 2):
        lines.append(f"  %o{i} = arith.constant {i * w} : index")
        lines.append(f"  %i{i} = vector.load %x[%o{i}] : {buf_in}, {vec}")
    m, a = f"%i{n}", f"%i{n + 1}"
    inits = ", ".join(f"%v{i} = %i{i}" for i in range(n))
    types = ", ".join([vec] * n)
    lines.append(f"  %r:{n} = scf.for %k = %c0 to %cn step %c1 iter_args({inits}) -> ({types}) {{")
    for i in range(n):
        lines.append(f"    %f{i} = vector.fma %v{i}, {m}, {a} : {vec}")
    lines.append("    scf.yield " + ", ".join(f"%f{i}" for i in range(n)) + f" : {types}")
    lines.append("  }")
    for i in range(n):
        lines.append(f"  vector.store %r#{i}, %y[%o{i}] : {buf_out}, {vec}")
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FmaPeak:
    """Measured single-core FMA throughput of one target on this machine."""

    target: str
    vector_width: int
    gflops: float

    def share(self, gflops: float) -> float:
        """`gflops` as a fraction of this peak."""
        return gflops / self.gflops


def measure_fma_peak(
    target: Target | None = None, iterations: int = 200_000, rounds: int = 7
) -> FmaPeak:
    """Compiles the FMA loop for `target` (default: the host) and returns its best
    single-thread GFLOP/s over `rounds` runs (the best, not the median: the peak is what
    the core can do, and a shared machine only ever slows it)."""
    from patdnn.lowering.upstream import mlir_to_llvm_ir
    from patdnn.runtime.host import HostModule
    from patdnn.runtime.signature import parse_entry_point

    target = target or Target.get("host")
    text = fma_loop_mlir(target, iterations)
    name, signature = parse_entry_point(text)
    module = HostModule(mlir_to_llvm_ir(text, target, entry=name), name, signature, target=target)
    w, n = target.vector_width, _accumulators(target)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.5, 1.0, n * w), np.full(w, 0.999), np.full(w, 1e-3)]).astype(
        np.float32
    )
    out = np.empty(n * w, dtype=np.float32)
    (times,) = interleaved_times([lambda: module(x, out=out)], rounds)
    flops = 2.0 * iterations * n * w
    return FmaPeak(target.name, w, flops / min(times) / 1e9)
