"""A Context with every xDSL dialect plus patdnn's, and the printer of modules."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects import get_all_dialects as get_xdsl_dialects
from xdsl.dialects.builtin import ModuleOp
from xdsl.printer import Printer

from patdnn.dialect import get_all_dialects


def make_context(*, allow_unregistered: bool = False) -> Context:
    ctx = Context(allow_unregistered=allow_unregistered)
    for name, factory in {**get_xdsl_dialects(), **get_all_dialects()}.items():
        ctx.register_dialect(name, factory)
    return ctx


def print_module(module: ModuleOp, *, generic: bool = False) -> str:
    """The text of `module` (in generic form with `generic`, the form mlir-opt reads)."""
    from io import StringIO

    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()
