"""PyTorch model -> torch dialect in xDSL, through torch.export and torch-mlir's FX importer.

Weights never pass through MLIR text: the importer's literal hook turns every
parameter and buffer into `torch.vtensor.literal(dense_resource<NAME> : tensor<..>)`,
where NAME is its state-dict key, and puts the array in the `WeightStore`. The text
handed from torch-mlir to xDSL therefore holds the graph only, whatever the model's
size. Each ATen op also carries `patdnn.layer = "features.3"`, the module it came
from, so later errors and reports can name the layer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import ParseError

from patdnn.dialect.context import make_context
from patdnn.dialect.torch import SUPPORTED_ATEN_OPS
from patdnn.dialect.patdnn import LAYER_ATTR
from patdnn.dialect.weights import WEIGHTS


class FrontendError(ValueError):
    """The model cannot be imported; the message names the op and the layer."""


@dataclasses.dataclass
class ImportedModel:
    """The torch-dialect module of a model, with the names of its inputs and layers."""

    module: ModuleOp
    input_shapes: list[tuple[int, ...]]
    output_shapes: list[tuple[int, ...]]


# Ops that torch.export leaves in inference graphs and that carry no computation.
_IGNORED_TARGETS = {"aten.dropout", "aten.detach", "aten.alias"}


def _layer_of(node: torch.fx.Node) -> str:
    stack: dict[str, Any] | None = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path, _ = list(stack.values())[-1]
    return str(path).removeprefix("L['self'].").removeprefix("L__self__.")


def _source_of(node: torch.fx.Node) -> str:
    trace: str | None = node.meta.get("stack_trace")
    if not trace:
        return ""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    files = [line for line in lines if line.startswith("File ")]
    return files[-1].removeprefix("File ") if files else ""


def aten_name(node: torch.fx.Node) -> str:
    """`aten.conv2d` for the node of `torch.ops.aten.conv2d.default`."""
    target = node.target
    schema = getattr(target, "_schema", None)
    if schema is None:
        return str(target)
    name: str = schema.name.replace("::", ".")
    if schema.overload_name and schema.overload_name != "default":
        name += "." + schema.overload_name
    return name


def check_supported(graph: torch.fx.Graph) -> None:
    """Raises FrontendError for the first op outside the supported subset."""
    for node in graph.nodes:
        if node.op != "call_function":
            continue
        name = aten_name(node)
        if name in SUPPORTED_ATEN_OPS or name in _IGNORED_TARGETS:
            continue
        where = _layer_of(node)
        source = _source_of(node)
        place = f"layer '{where}'" if where else "the model's forward"
        if source:
            place += f" ({source})"
        raise FrontendError(
            f"unsupported op {name} in {place}; patdnn supports: "
            + ", ".join(sorted(SUPPORTED_ATEN_OPS))
        )


def _export(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor]):
    try:
        return torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as e:  # torch raises many kinds; the user needs the reason
        raise FrontendError(f"torch.export failed on {type(model).__name__}: {e}") from e


def import_model(
    model: torch.nn.Module | torch.export.ExportedProgram,
    example_input: torch.Tensor | np.ndarray | Sequence[torch.Tensor],
    *,
    func_name: str = "forward",
) -> ImportedModel:
    """Imports `model` (put in eval mode) into the torch dialect, weights kept outside."""
    from torch_mlir import ir
    from torch_mlir.extras.fx_importer import FxImporter, FxImporterHooks, GraphNodeImporter

    if isinstance(example_input, np.ndarray):
        example_input = torch.from_numpy(example_input)
    inputs = [example_input] if isinstance(example_input, torch.Tensor) else list(example_input)
    if isinstance(model, torch.export.ExportedProgram):
        program = model
    else:
        model.eval()
        with torch.no_grad():
            program = _export(model, inputs)
    check_supported(program.graph)

    names: dict[int, str] = {}
    for name, value in (*program.state_dict.items(), *program.constants.items()):
        if isinstance(value, torch.Tensor):
            names.setdefault(id(value), name)

    class Hooks(FxImporterHooks):
        def resolve_literal(self, gni: Any, literal: Any, info: Any) -> Any:
            if not isinstance(literal, torch.Tensor) or literal.dtype != torch.float32:
                return None
            name = names.get(id(literal), "const")
            array = literal.detach().cpu().contiguous().numpy()
            attr = WEIGHTS.add(name, array)
            dims = "x".join(str(d) for d in array.shape)
            elements = ir.Attribute.parse(
                f"dense_resource<{attr.resource_handle.data}> : tensor<{dims}xf32>"
            )
            return ir.Operation.create(
                "torch.vtensor.literal",
                results=[gni._cc.tensor_to_vtensor_type(literal)],
                attributes={"value": elements},
            ).result

    class LayerNamingImporter(GraphNodeImporter):
        def _import_torch_op_overload(self, loc: Any, node: torch.fx.Node, *args: Any) -> Any:
            out = super()._import_torch_op_overload(loc, node, *args)
            layer = _layer_of(node)
            if layer and (node, 0) in self._v:
                owner = self.resolve_node_value(node).owner
                owner.attributes[LAYER_ATTR] = ir.StringAttr.get(layer)
            return out

    context = ir.Context()
    from torch_mlir.dialects import torch as torch_d

    torch_d.register_dialect(context)
    importer = FxImporter(
        context=context, hooks=Hooks(), graph_node_importer_cls=LayerNamingImporter
    )
    try:
        importer.import_frozen_program(program, func_name=func_name)
    except Exception as e:
        raise FrontendError(f"torch-mlir could not import the model: {e}") from e
    text = importer.module.operation.get_asm(print_generic_op_form=True)

    try:
        module = Parser(make_context(), text, "torch-mlir import").parse_module()
    except ParseError as e:
        raise FrontendError(f"the torch dialect import holds an unsupported construct:\n{e}") from e

    input_shapes = [tuple(t.shape) for t in inputs]
    outputs = [n for n in program.graph.nodes if n.op == "output"][0].args[0]
    output_shapes = [tuple(o.meta["val"].shape) for o in outputs]
    return ImportedModel(module, input_shapes, output_shapes)
