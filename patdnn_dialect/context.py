"""A Context with every xDSL dialect plus patdnn's, and the printer of modules."""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
from xdsl.dialects import get_all_dialects as get_xdsl_dialects
from xdsl.dialects.builtin import Builtin, ModuleOp
from xdsl.ir import Dialect
from xdsl.printer import Printer

from patdnn.dialect import get_all_dialects


def make_context(*, allow_unregistered: bool = False, own_resources: bool = False) -> Context:
    """A context with every dialect. With `own_resources`, its builtin dialect keeps the
    `dense_resource` handles it parses to itself: the handles of one import are not
    renamed because another import in the process used the same names."""
    ctx = Context(allow_unregistered=allow_unregistered)
    factories = {**get_xdsl_dialects(), **get_all_dialects()}
    if own_resources:
        factories["builtin"] = lambda: Dialect(
            "builtin", list(Builtin.operations), list(Builtin.attributes), [OpAsmDialectInterface()]
        )
    for name, factory in factories.items():
        ctx.register_dialect(name, factory)
    return ctx


def print_module(module: ModuleOp, *, generic: bool = False) -> str:
    """The text of `module` (in generic form with `generic`, the form mlir-opt reads)."""
    from io import StringIO

    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(module)
    out.write("\n")
    return out.getvalue()
