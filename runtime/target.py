"""Code generation targets: triple, CPU, features and SIMD width."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, ClassVar

from patdnn.errors import PatdnnError

if TYPE_CHECKING:
    from llvmlite.binding import TargetMachine

__all__ = ["Target", "TargetError", "initialize_llvm"]


class TargetError(PatdnnError, ValueError):
    """An unknown target, or one LLVM has no backend for."""


@cache
def initialize_llvm() -> None:
    """Register every LLVM target and assembly printer in llvmlite (idempotent)."""
    import llvmlite.binding as llvm

    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()


@dataclass(frozen=True)
class Target:
    """A code generation target.

    `vector_width` is the number of f32 lanes of one SIMD register the lowering should use,
    `vector_registers` the number of such registers (it sizes the register tiles).
    """

    name: str
    triple: str
    cpu: str
    features: str
    vector_width: int
    vector_registers: int = 32

    KNOWN: ClassVar[tuple[str, ...]] = ("host", "aarch64")

    @staticmethod
    def get(name: str) -> Target:
        """The target called `name`: "host" (this machine) or "aarch64" (NEON, Cortex-A76)."""
        if name == "aarch64":
            return _aarch64()
        if name == "host":
            return _host()
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(Target.KNOWN)}")

    @property
    def arch(self) -> str:
        """The architecture part of the triple (e.g. "x86_64", "aarch64")."""
        return self.triple.split("-", 1)[0]

    @property
    def runs_on_host(self) -> bool:
        """Whether code for this target can be executed in this process."""
        return self.arch == _host().arch

    @property
    def data_layout(self) -> str:
        """The LLVM data layout string of the target machine."""
        return _data_layout(self)

    def create_target_machine(
        self, *, opt: int = 3, reloc: str = "pic", codemodel: str = "default", jit: bool = False
    ) -> TargetMachine:
        """An llvmlite target machine for this target."""
        import llvmlite.binding as llvm

        initialize_llvm()
        try:
            llvm_target = llvm.Target.from_triple(self.triple)
        except RuntimeError as exc:
            raise TargetError(f"LLVM has no backend for triple {self.triple!r}: {exc}") from exc
        return llvm_target.create_target_machine(
            cpu=self.cpu,
            features=self.features,
            opt=opt,
            reloc=reloc,
            codemodel=codemodel,
            jit=jit,
        )


@cache
def _aarch64() -> Target:
    return Target(
        name="aarch64",
        triple="aarch64-unknown-linux-gnu",
        cpu="cortex-a76",
        features="+neon",
        vector_width=4,
    )


@cache
def _host() -> Target:
    import llvmlite.binding as llvm

    initialize_llvm()
    triple = llvm.get_process_triple()
    try:
        feature_map = llvm.get_host_cpu_features()
    except RuntimeError:
        feature_map = None
    features = feature_map.flatten() if feature_map else ""
    enabled = {k for k, v in feature_map.items() if v} if feature_map else set()
    if triple.startswith(("x86_64", "i386", "i686")):
        width = 16 if "avx512f" in enabled else 8 if "avx2" in enabled else 4
        registers = 32 if "avx512f" in enabled else 16
    else:
        width, registers = 4, 32
    return Target(
        name="host",
        triple=triple,
        cpu=llvm.get_host_cpu_name(),
        features=features,
        vector_width=width,
        vector_registers=registers,
    )


@cache
def _data_layout(target: Target) -> str:
    return str(target.create_target_machine().target_data)
