"""Exposes patdnn's dialects and passes to plain `xdsl-opt` (entry point `xdsl.universe`)."""

from xdsl.universe import Universe

from patdnn.dialect import get_all_dialects
from patdnn.lowering import get_all_passes

PATDNN_UNIVERSE = Universe(all_dialects=get_all_dialects(), all_passes=get_all_passes())
