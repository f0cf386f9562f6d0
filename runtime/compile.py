"""LLVM IR to optimised IR, assembly and object code, in process with llvmlite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from patdnn.runtime.errors import LoweringError
from patdnn.runtime.target import Target, initialize_llvm

if TYPE_CHECKING:
    from llvmlite.binding import ModuleRef, TargetMachine

__all__ = [
    "compile_assembly",
    "compile_object",
    "optimize_llvm_ir",
    "optimize_module",
    "parse_llvm_ir",
]


def parse_llvm_ir(llvm_ir: str, target: Target) -> ModuleRef:
    """Parse and verify `llvm_ir`; set its triple and data layout to those of `target`."""
    import llvmlite.binding as llvm

    initialize_llvm()
    try:
        module = llvm.parse_assembly(llvm_ir)
        module.verify()
    except RuntimeError as exc:
        raise LoweringError(f"LLVM rejected the IR:\n{exc}") from exc
    if module.triple and module.triple != target.triple:
        raise LoweringError(
            f"the IR was lowered for {module.triple!r}, not for target "
            f"{target.name!r} ({target.triple!r}); lower it again for this target"
        )
    module.triple = target.triple
    module.data_layout = target.data_layout
    return module


def optimize_module(module: ModuleRef, tm: TargetMachine, speed_level: int = 3) -> None:
    """Run LLVM's default O`speed_level` pipeline (loop and SLP vectorisers on) in place."""
    import llvmlite.binding as llvm

    pto = llvm.create_pipeline_tuning_options(speed_level=speed_level)
    pto.loop_vectorization = speed_level >= 2
    pto.slp_vectorization = speed_level >= 2
    pto.loop_interleaving = speed_level >= 2
    pto.loop_unrolling = speed_level >= 1
    pass_builder = llvm.create_pass_builder(tm, pto)
    pass_builder.getModulePassManager().run(module, pass_builder)


def optimize_llvm_ir(llvm_ir: str, target: Target, speed_level: int = 3) -> str:
    """`llvm_ir` after LLVM's O`speed_level` pipeline for `target`."""
    module = parse_llvm_ir(llvm_ir, target)
    optimize_module(module, target.create_target_machine(opt=speed_level), speed_level)
    return str(module)


def compile_object(llvm_ir: str, target: Target, *, optimize: bool = True) -> bytes:
    """An ELF relocatable object (position independent) for `target` from `llvm_ir`."""
    module = parse_llvm_ir(llvm_ir, target)
    tm = target.create_target_machine(opt=3 if optimize else 0)
    if optimize:
        optimize_module(module, tm)
    return bytes(tm.emit_object(module))


def compile_assembly(llvm_ir: str, target: Target, *, optimize: bool = True) -> str:
    """The assembly LLVM emits for `target` from `llvm_ir` (after O3 unless told not to)."""
    module = parse_llvm_ir(llvm_ir, target)
    tm = target.create_target_machine(opt=3 if optimize else 0)
    if optimize:
        optimize_module(module, tm)
    return str(tm.emit_assembly(module))
