"""The patdnn passes, each in its own file, and the pass registry."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Pass name -> factory returning the pass class; modules are imported on demand."""

    def get_convert_torch_to_patdnn() -> type[ModulePass]:
        from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass

        return ConvertTorchToPatdnnPass

    def get_filter_kernel_reorder() -> type[ModulePass]:
        from patdnn.lowering.filter_kernel_reorder import FilterKernelReorderPass

        return FilterKernelReorderPass

    def get_fkw_layout() -> type[ModulePass]:
        from patdnn.lowering.fkw_layout import FKWLayoutPass

        return FKWLayoutPass

    def get_lower_patdnn_to_vector() -> type[ModulePass]:
        from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass

        return LowerPatdnnToVectorPass

    def get_load_redundancy_elimination() -> type[ModulePass]:
        from patdnn.lowering.load_redundancy_elimination import LoadRedundancyEliminationPass

        return LoadRedundancyEliminationPass

    def get_sparsify() -> type[ModulePass]:
        from patdnn.lowering.sparsify import SparsifyPass

        return SparsifyPass

    def get_auto_tune() -> type[ModulePass]:
        from patdnn.lowering.autotune import AutoTunePass

        return AutoTunePass

    return {
        "convert-torch-to-patdnn": get_convert_torch_to_patdnn,
        "sparsify": get_sparsify,
        "filter-kernel-reorder": get_filter_kernel_reorder,
        "fkw-layout": get_fkw_layout,
        "auto-tune": get_auto_tune,
        "lower-patdnn-to-vector": get_lower_patdnn_to_vector,
        "load-redundancy-elimination": get_load_redundancy_elimination,
    }
