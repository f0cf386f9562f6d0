"""The frontend: a PyTorch model -> the torch dialect in xDSL (`import_model`).

The names load on first use: `import patdnn.frontend` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patdnn.frontend.importer import (
        FrontendError,
        ImportedModel,
        InputShapeError,
        import_model,
    )

__all__ = ["FrontendError", "ImportedModel", "InputShapeError", "import_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from patdnn.frontend import importer

        return getattr(importer, name)
    raise AttributeError(f"module 'patdnn.frontend' has no attribute '{name}'")
