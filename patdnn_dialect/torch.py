"""The subset of torch-mlir's `torch` dialect that the patdnn frontend consumes.

Types and ops are spelled as torch-mlir prints them, so the FX importer's output
parses here unchanged (generic or custom form). An op outside this subset does not
parse: the error names it and its place in the input.

```
%0 = torch.vtensor.literal(dense_resource<conv1.weight> : tensor<8x3x3x3xf32>)
    : !torch.vtensor<[8,3,3,3],f32>
%int1 = torch.constant.int 1
%1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
%2 = torch.aten.relu %x : !torch.vtensor<[1,8,9,9],f32> -> !torch.vtensor<[1,8,9,9],f32>
```
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    FloatAttr,
    IntAttr,
    IntegerAttr,
    TensorType,
)
from xdsl.ir import Attribute, Dialect, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

# ---------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------


@irdl_attr_definition
class ValueTensorType(ParametrizedAttribute, TypeAttribute):
    """`!torch.vtensor<[1,3,224,224],f32>`: an immutable tensor value."""

    name = "torch.vtensor"

    shape: ArrayAttr[IntAttr]
    dtype: Attribute

    def __init__(self, shape: Sequence[int], dtype: Attribute):
        super().__init__(ArrayAttr(IntAttr(d) for d in shape), dtype)

    @staticmethod
    def parse_body(parser: AttrParser) -> tuple[ArrayAttr[IntAttr], Attribute]:
        """`[1,3,?,?],f32`: the parameters inside the angle brackets."""

        def dim() -> IntAttr:
            if parser.parse_optional_punctuation("?") is not None:
                return IntAttr(-1)
            return IntAttr(parser.parse_integer(allow_boolean=False))

        shape = parser.parse_comma_separated_list(parser.Delimiter.SQUARE, dim)
        parser.parse_punctuation(",")
        return ArrayAttr(shape), parser.parse_type()

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            return cls.parse_body(parser)

    def print_parameters(self, printer: Printer) -> None:
        dims = ",".join("?" if d.data < 0 else str(d.data) for d in self.shape)
        printer.print_string(f"<[{dims}],")
        printer.print_attribute(self.dtype)
        printer.print_string(">")

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape)


@irdl_attr_definition
class IntType(ParametrizedAttribute, TypeAttribute):
    """`!torch.int`"""

    name = "torch.int"


@irdl_attr_definition
class FloatType(ParametrizedAttribute, TypeAttribute):
    """`!torch.float`"""

    name = "torch.float"


@irdl_attr_definition
class BoolType(ParametrizedAttribute, TypeAttribute):
    """`!torch.bool`"""

    name = "torch.bool"


@irdl_attr_definition
class NoneType(ParametrizedAttribute, TypeAttribute):
    """`!torch.none`"""

    name = "torch.none"


@irdl_attr_definition
class AnyValueTensorType(ParametrizedAttribute, TypeAttribute):
    """The element of `!torch.list<vtensor>` (the tensors of `torch.aten.cat`): a value
    tensor of any shape and dtype, printed `vtensor` inside the list."""

    name = "torch.any_vtensor"


_SHORT_TYPES: dict[str, type[ParametrizedAttribute]] = {
    "int": IntType,
    "float": FloatType,
    "bool": BoolType,
    "none": NoneType,
}


@irdl_attr_definition
class ListType(ParametrizedAttribute, TypeAttribute):
    """`!torch.list<int>`: torch-mlir prints the element without its `!torch.` prefix."""

    name = "torch.list"

    element_type: Attribute

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            short = parser.parse_optional_identifier()
            if short is None:
                return (parser.parse_type(),)
            if short == "vtensor":
                if parser.parse_optional_punctuation("<") is None:
                    return (AnyValueTensorType(),)
                shape, dtype = ValueTensorType.parse_body(parser)
                parser.parse_punctuation(">")
                return (ValueTensorType.new((shape, dtype)),)
            if short not in _SHORT_TYPES:
                parser.raise_error(f"unsupported torch list element type '{short}'")
            return (_SHORT_TYPES[short](),)

    def print_parameters(self, printer: Printer) -> None:
        printer.print_string("<")
        elt = self.element_type
        if isinstance(elt, IntType | FloatType | BoolType | NoneType):
            printer.print_string(elt.name.removeprefix("torch."))
        elif isinstance(elt, AnyValueTensorType):
            printer.print_string("vtensor")
        else:
            printer.print_attribute(elt)
        printer.print_string(">")


# ---------------------------------------------------------------------------
# Constants and lists
# ---------------------------------------------------------------------------


@irdl_op_definition
class ValueTensorLiteralOp(IRDLOperation):
    """`torch.vtensor.literal`: a constant tensor (weights arrive as `dense_resource`)."""

    name = "torch.vtensor.literal"

    value = prop_def(DenseResourceAttr | DenseIntOrFPElementsAttr)
    result = result_def(ValueTensorType)

    traits = traits_def(ConstantLike(), Pure())
    assembly_format = "`(` $value `)` attr-dict `:` type($result)"

    def verify_(self) -> None:
        value_type = self.value.get_type()
        assert isinstance(self.result.type, ValueTensorType)
        if not isinstance(value_type, TensorType) or tuple(value_type.get_shape()) != (
            self.result.type.get_shape()
        ):
            raise VerifyException(
                f"literal of type {value_type} does not match the result {self.result.type}"
            )


class _ConstantOp(IRDLOperation):
    """`torch.constant.<kind> value`: printed as torch-mlir does, e.g. `torch.constant.int 3`."""

    traits = traits_def(ConstantLike(), Pure())

    @classmethod
    def _parse_value(cls, parser: Parser) -> Attribute | None:
        raise NotImplementedError

    @classmethod
    def _result_type(cls) -> Attribute:
        raise NotImplementedError

    @classmethod
    def parse(cls, parser: Parser):
        value = cls._parse_value(parser)
        attrs = parser.parse_optional_attr_dict()
        props = {} if value is None else {"value": value}
        op = cls.create(result_types=[cls._result_type()], properties=props)
        op.attributes.update(attrs)
        return op

    def print(self, printer: Printer):
        value = self.properties.get("value")
        if isinstance(value, IntegerAttr) and self.name == "torch.constant.bool":
            printer.print_string(" true" if value.value.data else " false")
        elif isinstance(value, IntegerAttr):
            printer.print_string(f" {value.value.data}")
        elif isinstance(value, FloatAttr):
            printer.print_string(" ")
            printer.print_float(value.value.data, value.type)
        printer.print_op_attributes(self.attributes)


@irdl_op_definition
class ConstantIntOp(_ConstantOp):
    """`torch.constant.int 3`"""

    name = "torch.constant.int"
    value = prop_def(IntegerAttr)
    result = result_def(IntType)

    @classmethod
    def _parse_value(cls, parser: Parser) -> Attribute | None:
        return IntegerAttr(parser.parse_integer(allow_boolean=False), 64)

    @classmethod
    def _result_type(cls) -> Attribute:
        return IntType()

    @property
    def int_value(self) -> int:
        return self.value.value.data


@irdl_op_definition
class ConstantFloatOp(_ConstantOp):
    """`torch.constant.float 1.000000e-05`"""

    name = "torch.constant.float"
    value = prop_def(FloatAttr)
    result = result_def(FloatType)

    @classmethod
    def _parse_value(cls, parser: Parser) -> Attribute | None:
        from xdsl.dialects.builtin import f64

        return FloatAttr(parser.parse_float(), f64)

    @classmethod
    def _result_type(cls) -> Attribute:
        return FloatType()


@irdl_op_definition
class ConstantBoolOp(_ConstantOp):
    """`torch.constant.bool false`"""

    name = "torch.constant.bool"
    value = prop_def(IntegerAttr)
    result = result_def(BoolType)

    @classmethod
    def _parse_value(cls, parser: Parser) -> Attribute | None:
        return IntegerAttr(int(parser.parse_boolean()), 1)

    @classmethod
    def _result_type(cls) -> Attribute:
        return BoolType()


@irdl_op_definition
class ConstantNoneOp(_ConstantOp):
    """`torch.constant.none`"""

    name = "torch.constant.none"
    result = result_def(NoneType)

    @classmethod
    def _parse_value(cls, parser: Parser) -> Attribute | None:
        return None

    @classmethod
    def _result_type(cls) -> Attribute:
        return NoneType()


@irdl_op_definition
class ListConstructOp(IRDLOperation):
    """`torch.prim.ListConstruct %a, %b : (!torch.int, !torch.int) -> !torch.list<int>`"""

    name = "torch.prim.ListConstruct"
    elements = var_operand_def()
    result = result_def(ListType)

    traits = traits_def(Pure())
    assembly_format = "$elements attr-dict `:` functional-type($elements, $result)"


# ---------------------------------------------------------------------------
# ATen ops
# ---------------------------------------------------------------------------


class AtenOp(IRDLOperation):
    """An ATen op, spelled like torch-mlir: `torch.aten.relu %x : !torch.vtensor<..> -> ..`."""

    traits = traits_def(Pure())


def _aten_format(*names: str) -> str:
    operands = " `,` ".join(f"${n}" for n in names)
    types = " `,` ".join(f"type(${n})" for n in names)
    return f"{operands} attr-dict `:` {types} `->` type($result)"


@irdl_op_definition
class ConvolutionOp(AtenOp):
    """`torch.aten.convolution`: the core ATen convolution."""

    name = "torch.aten.convolution"
    input = operand_def(ValueTensorType)
    weight = operand_def(ValueTensorType)
    bias = operand_def(ValueTensorType | NoneType)
    stride = operand_def(ListType)
    padding = operand_def(ListType)
    dilation = operand_def(ListType)
    transposed = operand_def(BoolType)
    output_padding = operand_def(ListType)
    groups = operand_def(IntType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format(
        "input",
        "weight",
        "bias",
        "stride",
        "padding",
        "dilation",
        "transposed",
        "output_padding",
        "groups",
    )


@irdl_op_definition
class Conv2dOp(AtenOp):
    """`torch.aten.conv2d`: as torch.export keeps `nn.Conv2d` without decompositions."""

    name = "torch.aten.conv2d"
    input = operand_def(ValueTensorType)
    weight = operand_def(ValueTensorType)
    bias = operand_def(ValueTensorType | NoneType)
    stride = operand_def(ListType)
    padding = operand_def(ListType)
    dilation = operand_def(ListType)
    groups = operand_def(IntType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format(
        "input", "weight", "bias", "stride", "padding", "dilation", "groups"
    )


class _UnaryOp(AtenOp):
    self_ = operand_def(ValueTensorType)
    result = result_def(ValueTensorType)


@irdl_op_definition
class ReluOp(_UnaryOp):
    """`torch.aten.relu`"""

    name = "torch.aten.relu"
    assembly_format = "$self_ attr-dict `:` type($self_) `->` type($result)"


@irdl_op_definition
class Relu6Op(_UnaryOp):
    """`torch.aten.relu6`"""

    name = "torch.aten.relu6"
    assembly_format = "$self_ attr-dict `:` type($self_) `->` type($result)"


@irdl_op_definition
class HardswishOp(_UnaryOp):
    """`torch.aten.hardswish`: `x * relu6(x + 3) / 6` (MobileNet-V3)."""

    name = "torch.aten.hardswish"
    assembly_format = "$self_ attr-dict `:` type($self_) `->` type($result)"


@irdl_op_definition
class HardsigmoidOp(_UnaryOp):
    """`torch.aten.hardsigmoid`: `relu6(x + 3) / 6` (MobileNet-V3's squeeze-and-excitation)."""

    name = "torch.aten.hardsigmoid"
    assembly_format = "$self_ attr-dict `:` type($self_) `->` type($result)"


@irdl_op_definition
class HardtanhOp(AtenOp):
    """`torch.aten.hardtanh`: relu6 when the bounds are 0 and 6."""

    name = "torch.aten.hardtanh"
    self_ = operand_def(ValueTensorType)
    min_val = operand_def(IntType | FloatType)
    max_val = operand_def(IntType | FloatType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "min_val", "max_val")


@irdl_op_definition
class BatchNormOp(AtenOp):
    """`torch.aten.batch_norm` (inference: folded into the preceding convolution)."""

    name = "torch.aten.batch_norm"
    input = operand_def(ValueTensorType)
    weight = operand_def(ValueTensorType | NoneType)
    bias = operand_def(ValueTensorType | NoneType)
    running_mean = operand_def(ValueTensorType | NoneType)
    running_var = operand_def(ValueTensorType | NoneType)
    training = operand_def(BoolType)
    momentum = operand_def(FloatType)
    eps = operand_def(FloatType)
    cudnn_enabled = operand_def(BoolType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format(
        "input",
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "training",
        "momentum",
        "eps",
        "cudnn_enabled",
    )


@irdl_op_definition
class AddTensorOp(AtenOp):
    """`torch.aten.add.Tensor`: `self + alpha * other`."""

    name = "torch.aten.add.Tensor"
    self_ = operand_def(ValueTensorType)
    other = operand_def(ValueTensorType)
    alpha = operand_def(IntType | FloatType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "other", "alpha")


@irdl_op_definition
class MulTensorOp(AtenOp):
    """`torch.aten.mul.Tensor`: `self * other`, broadcasting (a squeeze-and-excitation scale)."""

    name = "torch.aten.mul.Tensor"
    self_ = operand_def(ValueTensorType)
    other = operand_def(ValueTensorType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "other")


@irdl_op_definition
class CatOp(AtenOp):
    """`torch.aten.cat`: the tensors of a `torch.prim.ListConstruct`, joined along `dim`."""

    name = "torch.aten.cat"
    tensors = operand_def(ListType)
    dim = operand_def(IntType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("tensors", "dim")


@irdl_op_definition
class UpsampleNearest2dVecOp(AtenOp):
    """`torch.aten.upsample_nearest2d.vec`: nearest-neighbour resize to `output_size` or by
    `scale_factors` (`nn.Upsample(mode="nearest")`, `F.interpolate(mode="nearest")`)."""

    name = "torch.aten.upsample_nearest2d.vec"
    input = operand_def(ValueTensorType)
    output_size = operand_def(ListType | NoneType)
    scale_factors = operand_def(ListType | NoneType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("input", "output_size", "scale_factors")


@irdl_op_definition
class MaxPool2dOp(AtenOp):
    """`torch.aten.max_pool2d`"""

    name = "torch.aten.max_pool2d"
    self_ = operand_def(ValueTensorType)
    kernel_size = operand_def(ListType)
    stride = operand_def(ListType)
    padding = operand_def(ListType)
    dilation = operand_def(ListType)
    ceil_mode = operand_def(BoolType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format(
        "self_", "kernel_size", "stride", "padding", "dilation", "ceil_mode"
    )


@irdl_op_definition
class AvgPool2dOp(AtenOp):
    """`torch.aten.avg_pool2d`"""

    name = "torch.aten.avg_pool2d"
    self_ = operand_def(ValueTensorType)
    kernel_size = operand_def(ListType)
    stride = operand_def(ListType)
    padding = operand_def(ListType)
    ceil_mode = operand_def(BoolType)
    count_include_pad = operand_def(BoolType)
    divisor_override = operand_def(IntType | NoneType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format(
        "self_",
        "kernel_size",
        "stride",
        "padding",
        "ceil_mode",
        "count_include_pad",
        "divisor_override",
    )


@irdl_op_definition
class AdaptiveAvgPool2dOp(AtenOp):
    """`torch.aten.adaptive_avg_pool2d`"""

    name = "torch.aten.adaptive_avg_pool2d"
    self_ = operand_def(ValueTensorType)
    output_size = operand_def(ListType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "output_size")


@irdl_op_definition
class MeanDimOp(AtenOp):
    """`torch.aten.mean.dim`"""

    name = "torch.aten.mean.dim"
    self_ = operand_def(ValueTensorType)
    dim = operand_def(ListType | NoneType)
    keepdim = operand_def(BoolType)
    dtype = operand_def(IntType | NoneType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "dim", "keepdim", "dtype")


@irdl_op_definition
class FlattenOp(AtenOp):
    """`torch.aten.flatten.using_ints`"""

    name = "torch.aten.flatten.using_ints"
    self_ = operand_def(ValueTensorType)
    start_dim = operand_def(IntType)
    end_dim = operand_def(IntType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "start_dim", "end_dim")


@irdl_op_definition
class ViewOp(AtenOp):
    """`torch.aten.view`"""

    name = "torch.aten.view"
    self_ = operand_def(ValueTensorType)
    size = operand_def(ListType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("self_", "size")


@irdl_op_definition
class LinearOp(AtenOp):
    """`torch.aten.linear`"""

    name = "torch.aten.linear"
    input = operand_def(ValueTensorType)
    weight = operand_def(ValueTensorType)
    bias = operand_def(ValueTensorType | NoneType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("input", "weight", "bias")


@irdl_op_definition
class DropoutOp(AtenOp):
    """`torch.aten.dropout` (the identity at inference)."""

    name = "torch.aten.dropout"
    input = operand_def(ValueTensorType)
    p = operand_def(FloatType)
    train = operand_def(BoolType)
    result = result_def(ValueTensorType)
    assembly_format = _aten_format("input", "p", "train")


ATEN_OPS: tuple[type[IRDLOperation], ...] = (
    ConvolutionOp,
    Conv2dOp,
    ReluOp,
    Relu6Op,
    HardtanhOp,
    HardswishOp,
    HardsigmoidOp,
    BatchNormOp,
    AddTensorOp,
    MulTensorOp,
    CatOp,
    UpsampleNearest2dVecOp,
    MaxPool2dOp,
    AvgPool2dOp,
    AdaptiveAvgPool2dOp,
    MeanDimOp,
    FlattenOp,
    ViewOp,
    LinearOp,
    DropoutOp,
)

SUPPORTED_ATEN_OPS: frozenset[str] = frozenset(op.name.removeprefix("torch.") for op in ATEN_OPS)
"""ATen op names (`aten.conv2d`, ...) the frontend accepts."""

Torch = Dialect(
    "torch",
    [
        ValueTensorLiteralOp,
        ConstantIntOp,
        ConstantFloatOp,
        ConstantBoolOp,
        ConstantNoneOp,
        ListConstructOp,
        *ATEN_OPS,
    ],
    [ValueTensorType, IntType, FloatType, BoolType, NoneType, ListType, AnyValueTensorType],
)
