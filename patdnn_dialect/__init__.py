"""The patdnn dialect and the subset of the torch dialect it receives."""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Dialect


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """The dialects patdnn defines, by name, loaded lazily."""

    def get_patdnn() -> Dialect:
        from patdnn.dialect.patdnn import Patdnn

        return Patdnn

    def get_torch() -> Dialect:
        from patdnn.dialect.torch import Torch

        return Torch

    return {"patdnn": get_patdnn, "torch": get_torch}
