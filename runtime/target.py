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
    column_bases: int = 0
    """How the pattern tiles reach their input vectors (`column-bases` of
    `lower-patdnn-to-vector`): 0 from one base, 1 from a base per column shift (so that
    every immediate offset is a whole vector, as aarch64's `ldr q` encodes it), 2 from
    bases within `ldur q` reach (aarch64: one micro-op a load on the Neoverse-N1 model)."""
    line_rows: bool = False
    """Whether the input copies of the pattern layers that prefetch pad their rows to
    whole cache lines (`line-rows`): vectors shorter than a line leave rows of a few
    vectors that start inside a line."""

    KNOWN: ClassVar[tuple[str, ...]] = ("host", "x86-avx2", "aarch64")
    HOST_VARIANTS: ClassVar[tuple[str, ...]] = ("host", "x86-avx2")
    """The targets that compile for this machine's own triple and run in this process."""

    @staticmethod
    def get(name: str) -> Target:
        """The target called `name`: "host" (this machine, every feature it has),
        "x86-avx2" (this x86-64 machine with AVX-512 off: 8 lanes, 16 ymm registers) or
        "aarch64" (NEON, Cortex-A76)."""
        if name == "aarch64":
            return _aarch64()
        if name == "host":
            return _host()
        if name == "x86-avx2":
            return _x86_avx2()
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(Target.KNOWN)}")

    @staticmethod
    def available(name: str) -> bool:
        """Whether this machine can build for and run the target called `name` (for
        example "x86-avx2" needs an x86-64 host with AVX2 and FMA)."""
        try:
            Target.get(name)
        except TargetError:
            return False
        return True

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
        column_bases=2,
        line_rows=True,
    )


@cache
def _host_features() -> dict[str, bool]:
    """This CPU's LLVM features, each on or off (empty if LLVM cannot tell)."""
    import llvmlite.binding as llvm

    initialize_llvm()
    try:
        feature_map = llvm.get_host_cpu_features()
    except RuntimeError:
        return {}
    return dict(feature_map.items())


def _flatten(features: dict[str, bool]) -> str:
    """LLVM's feature string: `+name` or `-name`, sorted by name (as `FeatureMap.flatten`)."""
    return ",".join(f"{'+' if on else '-'}{name}" for name, on in sorted(features.items()))


@cache
def _host() -> Target:
    import llvmlite.binding as llvm

    initialize_llvm()
    triple = llvm.get_process_triple()
    feature_map = _host_features()
    features = _flatten(feature_map)
    enabled = {k for k, v in feature_map.items() if v}
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


_NO_512_BIT = ("avx512", "avx10", "amx", "evex512")
"""Prefixes of the x86 features that give LLVM zmm registers, 512-bit operations or the
k mask registers (AVX-512 and its extensions, AVX10, AMX): all off for "x86-avx2"."""


@cache
def _x86_avx2() -> Target:
    """The host with every AVX-512 feature off: the same CPU (and scheduling model), the
    same triple, 8 f32 lanes in 16 ymm registers."""
    host = _host()
    feature_map = _host_features()
    if host.arch != "x86_64" or not (feature_map.get("avx2") and feature_map.get("fma")):
        raise TargetError(
            f"target 'x86-avx2' needs an x86-64 host with AVX2 and FMA; this machine is "
            f"{host.triple} ({host.cpu}) without them: use target 'host'"
        )
    features = {name: on and not name.startswith(_NO_512_BIT) for name, on in feature_map.items()}
    return Target(
        name="x86-avx2",
        triple=host.triple,
        cpu=host.cpu,
        features=_flatten(features),
        vector_width=8,
        vector_registers=16,
    )


@cache
def _data_layout(target: Target) -> str:
    return str(target.create_target_machine().target_data)
