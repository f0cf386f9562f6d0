"""A Context with every xDSL dialect plus patdnn's."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import get_all_dialects as get_xdsl_dialects

from patdnn.dialect import get_all_dialects


def make_context(*, allow_unregistered: bool = False) -> Context:
    ctx = Context(allow_unregistered=allow_unregistered)
    for name, factory in {**get_xdsl_dialects(), **get_all_dialects()}.items():
        ctx.register_dialect(name, factory)
    return ctx
