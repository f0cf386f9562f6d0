"""The patdnn passes, each in its own file, and the pass registry."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Pass name -> factory returning the pass class; modules are imported on demand."""

    def get_convert_torch_to_patdnn() -> type[ModulePass]:
        from patdnn.lowering.convert_torch_to_patdnn import ConvertTorchToPatdnnPass

        return ConvertTorchToPatdnnPass

    return {
        "convert-torch-to-patdnn": get_convert_torch_to_patdnn,
    }
