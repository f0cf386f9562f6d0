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
from patdnn.dialect.patdnn import LAYER_ATTR
from patdnn.dialect.torch import SUPPORTED_ATEN_OPS
from patdnn.dialect.weights import WeightStore, attach_weights
from patdnn.errors import PatdnnError


class FrontendError(PatdnnError, ValueError):
    """The model cannot be imported; the message names the op and the layer."""


class InputShapeError(FrontendError):
    """The example input does not fit the exported program's input shape."""


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


def _functional_form(node: torch.fx.Node) -> Any | None:
    """The functional overload of an in-place ATen op (`aten.relu_` -> `aten.relu`), or None
    for a node that mutates nothing."""
    schema = getattr(node.target, "_schema", None)
    if schema is None or not schema.arguments or not schema.is_mutable:
        return None
    alias = schema.arguments[0].alias_info
    base = schema.name.removeprefix("aten::")
    if alias is None or not alias.is_write or not base.endswith("_") or base.endswith("__"):
        return None
    packet = getattr(torch.ops.aten, base[:-1], None)
    return getattr(packet, schema.overload_name or "default", None) if packet else None


def functionalize_inplace(graph: torch.fx.Graph) -> None:
    """Maps every in-place ATen op that torch.export leaves in a graph (`aten.relu_` of
    `nn.ReLU(inplace=True)`, `aten.hardtanh_` of `nn.ReLU6(inplace=True)`, `aten.add_` of
    `out += identity`, `aten.dropout_`, ...) to its functional form, in place.

    The mapping, rather than torch.export's `run_decompositions()`, keeps the ops the
    converter reads (`run_decompositions` would also turn `aten.batch_norm` into
    `aten._native_batch_norm_legit_no_training` and `aten.flatten` into `aten.view`).
    Every later use of the mutated tensor reads the functional result instead, which is
    what functionalisation does; the compiled code never writes its input."""
    order = {node: i for i, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if node.op != "call_function":
            continue
        functional = _functional_form(node)
        if functional is None or not node.args or not isinstance(node.args[0], torch.fx.Node):
            continue
        mutated = node.args[0]
        node.target = functional
        for user in list(mutated.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(mutated, node)


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


Shape = tuple[int | None, ...]
"""An input shape; `None` marks a dynamic dimension of an exported program."""


def format_shape(shape: Sequence[int | None]) -> str:
    """`(1, 3, 16, 16)` -> `1x3x16x16` (`?` for a dynamic dimension)."""
    return "x".join("?" if d is None else str(d) for d in shape)


def program_input_shapes(program: torch.export.ExportedProgram) -> list[Shape]:
    """The shapes of the program's user inputs, `None` for a dynamic dimension."""
    user_inputs = set(program.graph_signature.user_inputs)
    shapes: list[Shape] = []
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            if not isinstance(val, torch.Tensor):
                raise FrontendError(f"input {node.name!r} of the program is not a tensor")
            shapes.append(tuple(d if isinstance(d, int) else None for d in val.shape))
    return shapes


def shape_fits(shape: Sequence[int], program_shape: Shape) -> bool:
    """Whether a concrete `shape` matches `program_shape` (a dynamic dimension takes any size)."""
    return len(shape) == len(program_shape) and all(
        p is None or p == d for d, p in zip(shape, program_shape, strict=True)
    )


def _fit_program(
    program: torch.export.ExportedProgram, inputs: Sequence[torch.Tensor]
) -> torch.export.ExportedProgram:
    """`program` itself when `inputs` match its input shapes; re-exported at their shapes
    when it has dynamic dimensions. Raises InputShapeError naming both shapes otherwise."""
    expected = program_input_shapes(program)
    given = [tuple(t.shape) for t in inputs]
    if len(given) != len(expected):
        raise InputShapeError(
            f"the exported program takes {len(expected)} inputs, got {len(given)} example inputs"
        )
    for shape, program_shape in zip(given, expected, strict=True):
        if not shape_fits(shape, program_shape):
            raise InputShapeError(
                f"the example input has shape {format_shape(shape)} but the exported program "
                f"takes {format_shape(program_shape)}; a torch.export program fixes its input "
                "shape: export the model again at the shape you need"
            )
    if all(d is not None for shape in expected for d in shape):
        return program
    return _export(program.module(), inputs)  # specialise the dynamic dimensions


def _static(shape: Shape) -> tuple[int, ...]:
    if any(d is None for d in shape):
        raise FrontendError(
            f"the exported program's input shape {format_shape(shape)} is dynamic; "
            "give an example input to fix it"
        )
    return tuple(d for d in shape if d is not None)


def _export(model: torch.nn.Module, example_inputs: Sequence[torch.Tensor]):
    try:
        return torch.export.export(model, tuple(example_inputs), strict=False)
    except Exception as e:  # torch raises many kinds; the user needs the reason
        raise FrontendError(f"torch.export failed on {type(model).__name__}: {e}") from e


def import_model(
    model: torch.nn.Module | torch.export.ExportedProgram,
    example_input: torch.Tensor | np.ndarray | Sequence[torch.Tensor] | None,
    *,
    func_name: str = "forward",
) -> ImportedModel:
    """Imports `model` (put in eval mode) into the torch dialect, weights kept outside.

    An exported program keeps its own input shapes: `example_input` must match them (or
    be None); a program with dynamic dimensions is specialised to `example_input`'s shape.
    Its in-place ops are mapped to their functional forms (`functionalize_inplace`).
    """
    # torch_mlir.ir star-imports a native module that ships no stubs: its names are Any.
    from torch_mlir import ir as torch_mlir_ir
    from torch_mlir.extras.fx_importer import FxImporter, FxImporterHooks, GraphNodeImporter

    if isinstance(example_input, np.ndarray):
        example_input = torch.from_numpy(example_input)
    if example_input is None:
        if not isinstance(model, torch.export.ExportedProgram):
            raise FrontendError(f"{type(model).__name__} needs an example input to be exported")
        inputs = [torch.zeros(*_static(s)) for s in program_input_shapes(model)]
    elif isinstance(example_input, torch.Tensor):
        inputs = [example_input]
    else:
        inputs = list(example_input)
    if isinstance(model, torch.export.ExportedProgram):
        program = _fit_program(model, inputs)
    else:
        model.eval()
        with torch.no_grad():
            program = _export(model, inputs)
    functionalize_inplace(program.graph)
    check_supported(program.graph)

    names: dict[int, str] = {}
    for name, value in (*program.state_dict.items(), *program.constants.items()):
        if isinstance(value, torch.Tensor):
            names.setdefault(id(value), name)

    ir: Any = torch_mlir_ir
    store = WeightStore()

    class Hooks(FxImporterHooks):
        def resolve_literal(self, gni: Any, literal: Any, info: Any) -> Any:
            if not isinstance(literal, torch.Tensor) or literal.dtype != torch.float32:
                return None
            name = names.get(id(literal), "const")
            array = literal.detach().cpu().contiguous().numpy()
            attr = store.add(name, array)
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
        def _import_torch_op_overload(
            self, loc: Any, node: torch.fx.Node, concrete_target: Any = None
        ) -> Any:
            out = super()._import_torch_op_overload(loc, node, concrete_target)
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
        module = Parser(make_context(own_resources=True), text, "torch-mlir import").parse_module()
    except ParseError as e:
        raise FrontendError(f"the torch dialect import holds an unsupported construct:\n{e}") from e

    input_shapes = [_static(s) for s in program_input_shapes(program)]
    outputs = [n for n in program.graph.nodes if n.op == "output"][0].args[0]
    output_shapes = [tuple(o.meta["val"].shape) for o in outputs]
    attach_weights(module, store)
    return ImportedModel(module, input_shapes, output_shapes)
