"""The `patdnn` dialect: the layerwise representation (LR) of PatDNN, Section 5.1.

One op per layer, carrying its shape, its weights (as SSA operands produced by
`arith.constant`, whose values stay outside the IR text as `dense_resource` handles),
the pattern library, the fused activation and room for tuning parameters.

```
%y = patdnn.pattern_conv2d %x, %w bias(%b) {
        strides = array<i64: 1, 1>, padding = array<i64: 1, 1>,
        patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>,
        activation = #patdnn.activation<relu>}
    : tensor<1x16x8x8xf32>, tensor<32x16x3x3xf32> bias tensor<32xf32> -> tensor<1x32x8x8xf32>
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeAlias, cast

import numpy as np
from typing_extensions import TypeVar
from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DictionaryAttr,
    Float32Type,
    IntegerAttr,
    StringAttr,
    TensorType,
    f32,
    i32,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import Attribute, AttributeCovT, Data, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrConstraint,
    AttrSizedOperandSegments,
    IntConstraint,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
    VerificationContext,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.parser import AttrParser, Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from patdnn.dialect.library import (
    LibraryError,
    Pattern,
    Tap,
    check_for_kernel,
    check_library,
    format_library,
)

LAYER_ATTR = "patdnn.layer"
"""Discardable attribute the frontend puts on torch ops: the `nn.Module` they came from."""


class Activation(StrEnum):
    """Activations a layer op can fuse into its epilogue (hardswish `x * relu6(x + 3) / 6`
    and hardsigmoid `relu6(x + 3) / 6` as MobileNet-V3 uses them)."""

    NONE = "none"
    RELU = "relu"
    RELU6 = "relu6"
    HARDSWISH = "hardswish"
    HARDSIGMOID = "hardsigmoid"


@irdl_attr_definition
class ActivationAttr(EnumAttribute[Activation]):
    """The fused activation of a layer op: `#patdnn.activation<relu>`."""

    name = "patdnn.activation"

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(self.data.value)

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Activation:
        with parser.in_angle_brackets():
            return parser.parse_str_enum(Activation)


class PoolKind(StrEnum):
    """What a pooling window computes."""

    MAX = "max"
    AVG = "avg"


@irdl_attr_definition
class PoolKindAttr(EnumAttribute[PoolKind]):
    """The kind of a pooling op: `#patdnn.pool_kind<max>`."""

    name = "patdnn.pool_kind"

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(self.data.value)

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> PoolKind:
        with parser.in_angle_brackets():
            return parser.parse_str_enum(PoolKind)


F32Tensor: TypeAlias = TensorType[Float32Type]
"""The type of every activation, weight and bias tensor of a layer op."""

IntTensor: TypeAlias = TensorType[Attribute]
"""The type of the FKW index arrays (checked to be i32 by the op's own verifier, which
names the array)."""

I64Array: TypeAlias = DenseArrayBase[I64]
"""The type of the `strides`, `padding`, `kernel` and `filter_order` properties."""

_F32_TENSOR = TensorType.constr(f32)


@dataclass(frozen=True)
class NamedConstraint(AttrConstraint[AttributeCovT]):
    """An xDSL constraint whose failure names the operand or property it constrains
    (`input must be a tensor of f32, got tensor<4xf16>`): the declarative format
    reports a failed operand constraint without the op's location or the field."""

    what: str
    expected: str
    constraint: AttrConstraint[AttributeCovT]

    def verify(self, attr: Attribute, constraint_context: VerificationContext) -> None:
        try:
            self.constraint.verify(attr, constraint_context)
        except VerifyException:
            raise VerifyException(f"{self.what} must be {self.expected}, got {attr}") from None

    def get_bases(self) -> set[type[Attribute]] | None:
        return self.constraint.get_bases()

    def mapping_type_vars(
        self, type_var_mapping: Mapping[TypeVar, AttrConstraint | IntConstraint]
    ) -> NamedConstraint[AttributeCovT]:
        return NamedConstraint(
            self.what, self.expected, self.constraint.mapping_type_vars(type_var_mapping)
        )


def _f32_tensor(what: str) -> NamedConstraint[F32Tensor]:
    return NamedConstraint(what, "a tensor of f32", _F32_TENSOR)


def _i64_array(what: str, length: str = "") -> NamedConstraint[I64Array]:
    return NamedConstraint(what, f"an array<i64>{length}", DenseArrayBase.constr(i64))


def _i64_pair_prop(what: str) -> I64Array:
    return prop_def(_i64_array(what, " of 2 values"))


def _f32_operand(what: str) -> SSAValue[F32Tensor]:
    # operand_def is untyped in xDSL 0.74; the constraint makes this cast true.
    return cast(SSAValue[F32Tensor], operand_def(_f32_tensor(what)))


def _opt_f32_operand(what: str) -> SSAValue[F32Tensor] | None:
    return cast(SSAValue[F32Tensor] | None, opt_operand_def(_f32_tensor(what)))


def _tensor_operand() -> SSAValue[IntTensor]:
    return cast(SSAValue[IntTensor], operand_def(TensorType))


def activation_attr(activation: str | Activation) -> ActivationAttr:
    """The attribute of an activation given by name; a ValueError names the choices."""
    try:
        return ActivationAttr(Activation(activation))
    except ValueError:
        choices = ", ".join(a.value for a in Activation)
        raise ValueError(f"activation must be one of {choices}, got '{activation}'") from None


def _verify_library(patterns: tuple[Pattern, ...]) -> None:
    try:
        check_library(patterns)
    except LibraryError as e:
        raise VerifyException(str(e)) from None


@irdl_attr_definition
class PatternLibraryAttr(Data[tuple[Pattern, ...]]):
    """
    A pattern library: K patterns, each the set of (row, col) taps a kernel keeps.

    PatDNN Section 3: every pruned 3x3 kernel keeps the taps of one library pattern
    (4 taps in the paper, the centre always among them).

    ```
    #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(0,0),(1,1),(1,2),(2,2)]]>
    ```
    """

    name = "patdnn.patterns"

    @staticmethod
    def from_patterns(patterns: Iterable[Iterable[Sequence[int]]]) -> PatternLibraryAttr:
        return PatternLibraryAttr(tuple(tuple((int(r), int(c)) for r, c in p) for p in patterns))

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> tuple[Pattern, ...]:
        def parse_tap() -> Tap:
            parser.parse_punctuation("(")
            row = parser.parse_integer(allow_boolean=False)
            parser.parse_punctuation(",")
            col = parser.parse_integer(allow_boolean=False)
            parser.parse_punctuation(")")
            return (row, col)

        def parse_pattern() -> Pattern:
            return tuple(parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parse_tap))

        with parser.in_angle_brackets():
            start = parser.pos
            patterns = tuple(
                parser.parse_comma_separated_list(parser.Delimiter.SQUARE, parse_pattern)
            )
            end = parser.pos
        try:
            _verify_library(patterns)
        except VerifyException as e:
            parser.raise_error(str(e), start, end)
        return patterns

    def print_parameter(self, printer: Printer) -> None:
        printer.print_string(f"<{format_library(self.data)}>")

    def verify(self) -> None:
        _verify_library(self.data)

    @property
    def patterns(self) -> tuple[Pattern, ...]:
        return self.data

    def tap_counts(self) -> set[int]:
        return {len(p) for p in self.data}

    def verify_for_kernel(self, kh: int, kw: int, *, equal_tap_counts: bool) -> None:
        """Checks the library against a KhxKw kernel; raises VerifyException."""
        try:
            check_for_kernel(self.data, kh, kw, equal_tap_counts=equal_tap_counts)
        except LibraryError as e:
            raise VerifyException(str(e)) from None


def _i64_pair(values: Sequence[int]) -> I64Array:
    return DenseArrayBase.from_list(i64, list(values))


def _verify_i32_tensor(value: SSAValue[IntTensor], what: str, shape: tuple[int, ...]) -> None:
    """Checks that `value` is an i32 tensor of exactly `shape` (the index arrays of the FKW
    and block-sparse layers); the message names the array."""
    ty = value.type
    if ty.element_type != i32 or tuple(ty.get_shape()) != shape:
        dims = "x".join(str(d) for d in shape)
        raise VerifyException(f"{what} must be tensor<{dims}xi32>, got {ty}")


def _verify_f32_tensor(value: SSAValue[F32Tensor], what: str, rank: int) -> tuple[int, ...]:
    ty = value.type
    shape = tuple(ty.get_shape())
    if len(shape) != rank:
        raise VerifyException(f"{what} must have rank {rank}, got {ty}")
    if any(d < 0 for d in shape):
        raise VerifyException(f"{what} must have a static shape, got {ty}")
    return shape


def _pair_values(prop: I64Array, what: str) -> tuple[int, int]:
    values = prop.get_values()
    if len(values) != 2:
        raise VerifyException(f"{what} must be an array<i64> of 2 values, got {prop}")
    return (int(values[0]), int(values[1]))


def _verify_window(strides: I64Array, padding: I64Array) -> tuple[tuple[int, int], tuple[int, int]]:
    """Checks the strides and padding shared by the layer ops."""
    sh, sw = _pair_values(strides, "strides")
    if sh < 1 or sw < 1:
        raise VerifyException(f"strides must be positive, got ({sh}, {sw})")
    ph, pw = _pair_values(padding, "padding")
    if ph < 0 or pw < 0:
        raise VerifyException(f"padding must be non-negative, got ({ph}, {pw})")
    return (sh, sw), (ph, pw)


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output extent of a convolution along one spatial axis."""
    return (size + 2 * pad - kernel) // stride + 1


_OpT = TypeVar("_OpT", bound=IRDLOperation)


def patdnn_op_definition(cls: type[_OpT]) -> type[_OpT]:
    """`irdl_op_definition`, and a constraint that fails while the op's custom form is
    parsed (xDSL checks operand and result types there) is reported as a parse error at
    the op, with its location, like any other."""
    op = irdl_op_definition(cls)
    parse_format = op.parse

    def parse(op_type: type[_OpT], parser: Parser) -> _OpT:
        start = parser.pos
        try:
            return cast(_OpT, parse_format(parser))
        except VerifyException as e:
            parser.raise_error(str(e), start, start)

    # Replaces the classmethod the format generated, which pyright types as its bound call.
    op.parse = classmethod(parse)  # pyright: ignore[reportAttributeAccessIssue]  # see above
    return op


class LayerWindowAccessors(IRDLOperation):
    """The `strides`, `padding` and `layer` properties of a windowed layer op, and their
    typed views."""

    strides = _i64_pair_prop("strides")
    padding = _i64_pair_prop("padding")
    layer = opt_prop_def(StringAttr)

    @property
    def stride_values(self) -> tuple[int, int]:
        return _pair_values(self.strides, "strides")

    @property
    def padding_values(self) -> tuple[int, int]:
        return _pair_values(self.padding, "padding")

    @property
    def layer_name(self) -> str:
        return self.layer.data if self.layer is not None else "?"


class ConvolutionOp(LayerWindowAccessors):
    """Operands, properties and shape checks shared by the convolution layer ops
    (dense, pattern and FKW): `act(conv(input, weight) + bias + residual)`."""

    input = _f32_operand("input")
    weight = _f32_operand("weight")
    bias = _opt_f32_operand("bias")
    residual = _opt_f32_operand("residual")
    result = result_def(_f32_tensor("result"))

    groups = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    activation = prop_def(ActivationAttr, default_value=ActivationAttr(Activation.NONE))
    tuning = opt_prop_def(DictionaryAttr)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())

    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `)`)? (`residual` `(` $residual^ `)`)? "
        "attr-dict `:` type($input) `,` type($weight) (`bias` type($bias)^)? "
        "(`residual` type($residual)^)? `->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        result_type: Attribute,
        *,
        bias: SSAValue | Operation | None = None,
        residual: SSAValue | Operation | None = None,
        strides: Sequence[int] = (1, 1),
        padding: Sequence[int] = (0, 0),
        groups: int = 1,
        activation: str | Activation = Activation.NONE,
        layer: str | None = None,
        extra_properties: dict[str, Attribute] | None = None,
    ):
        properties: dict[str, Attribute] = {
            "strides": _i64_pair(strides),
            "padding": _i64_pair(padding),
            "groups": IntegerAttr(groups, i64),
            "activation": activation_attr(activation),
        }
        if layer is not None:
            properties["layer"] = StringAttr(layer)
        properties.update(extra_properties or {})
        super().__init__(
            operands=[input, weight, bias, residual],
            result_types=[result_type],
            properties=properties,
        )

    @property
    def group_count(self) -> int:
        return self.groups.value.data

    @property
    def activation_kind(self) -> Activation:
        return self.activation.data

    def _verify_output(self, kernel: tuple[int, int], cout: int | None) -> tuple[int, ...]:
        """Checks the window against the input and the result shape (with `cout` output
        channels when given); returns the result shape."""
        (sh, sw), (ph, pw) = _verify_window(self.strides, self.padding)
        kh, kw = kernel
        n, _, h, w = _verify_f32_tensor(self.input, "input", 4)
        out = _verify_f32_tensor(self.result, "result", 4)
        if ph >= kh or pw >= kw:
            raise VerifyException(f"padding ({ph}, {pw}) must be smaller than the {kh}x{kw} kernel")
        ho = conv_output_size(h, kh, sh, ph)
        wo = conv_output_size(w, kw, sw, pw)
        if ho < 1 or wo < 1:
            raise VerifyException(
                f"the {kh}x{kw} kernel does not fit the {h}x{w} input with padding ({ph}, {pw})"
            )
        expected = (n, out[1] if cout is None else cout, ho, wo)
        if out != expected:
            raise VerifyException(
                f"result shape {list(out)} does not match the convolution's "
                f"output shape {list(expected)}"
            )
        return out

    def _verify_epilogue(self, out: tuple[int, ...]) -> None:
        """Checks the bias and the residual against the output shape `out`."""
        cout = out[1]
        if self.bias is not None:
            (bias_len,) = _verify_f32_tensor(self.bias, "bias", 1)
            if bias_len != cout:
                raise VerifyException(
                    f"bias has {bias_len} values, the layer has {cout} output channels"
                )
        if self.residual is not None:
            res = _verify_f32_tensor(self.residual, "residual", 4)
            if res != out:
                raise VerifyException(
                    f"residual shape {list(res)} does not match the output shape {list(out)}"
                )

    def verify_(self) -> None:
        _verify_window(self.strides, self.padding)
        _, cin, _, _ = _verify_f32_tensor(self.input, "input", 4)
        cout, cin_g, kh, kw = _verify_f32_tensor(self.weight, "weight", 4)
        groups = self.group_count
        if groups < 1 or cin % groups or cout % groups:
            raise VerifyException(
                f"groups ({groups}) must divide the input channels ({cin}) "
                f"and the output channels ({cout})"
            )
        if cin_g * groups != cin:
            per_group = f" ({cin_g} per group, {groups} groups)" if groups > 1 else ""
            raise VerifyException(
                f"weight expects {cin_g * groups} input channels{per_group}, input has {cin}"
            )
        self._verify_epilogue(self._verify_output((kh, kw), cout))


@patdnn_op_definition
class Conv2dOp(ConvolutionOp):
    """
    A dense 2-D convolution layer (NCHW), with optional bias, fused residual add and
    fused activation: `act(conv(input, weight) + bias + residual)`.

    ```
    %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 2, 2>,
        padding = array<i64: 3, 3>, activation = #patdnn.activation<relu>}
        : tensor<1x3x224x224xf32>, tensor<64x3x7x7xf32> bias tensor<64xf32>
        -> tensor<1x64x112x112xf32>
    ```
    """

    name = "patdnn.conv2d"


@patdnn_op_definition
class PatternConv2dOp(ConvolutionOp):
    """
    A pattern-pruned 2-D convolution layer (PatDNN Section 3): every kernel of the
    weight is all zero or keeps exactly the taps of one pattern of `patterns`.

    `filter_order`, set by `filter-kernel-reorder`, says that row `j` of the weight
    is the original filter `filter_order[j]`: the result is still in the original
    channel order.

    ```
    %y = patdnn.pattern_conv2d %x, %w {strides = array<i64: 1, 1>,
        padding = array<i64: 1, 1>,
        patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>}
        : tensor<1x4x6x6xf32>, tensor<8x4x3x3xf32> -> tensor<1x8x6x6xf32>
    ```
    """

    name = "patdnn.pattern_conv2d"

    patterns = prop_def(PatternLibraryAttr)
    filter_order = opt_prop_def(_i64_array("filter_order"))

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        result_type: Attribute,
        patterns: PatternLibraryAttr,
        *,
        filter_order: Sequence[int] | None = None,
        bias: SSAValue | Operation | None = None,
        residual: SSAValue | Operation | None = None,
        strides: Sequence[int] = (1, 1),
        padding: Sequence[int] = (0, 0),
        activation: str | Activation = Activation.NONE,
        layer: str | None = None,
    ):
        extra: dict[str, Attribute] = {"patterns": patterns}
        if filter_order is not None:
            extra["filter_order"] = DenseArrayBase.from_list(i64, list(filter_order))
        super().__init__(
            input,
            weight,
            result_type,
            bias=bias,
            residual=residual,
            strides=strides,
            padding=padding,
            activation=activation,
            layer=layer,
            extra_properties=extra,
        )

    @property
    def filter_order_values(self) -> tuple[int, ...] | None:
        if self.filter_order is None:
            return None
        return tuple(int(v) for v in self.filter_order.get_values())

    def verify_(self) -> None:
        super().verify_()
        cout, _, kh, kw = _verify_f32_tensor(self.weight, "weight", 4)
        if self.group_count != 1:
            raise VerifyException(
                f"pattern_conv2d supports groups = 1 only, got {self.group_count}"
            )
        self.patterns.verify_for_kernel(kh, kw, equal_tap_counts=True)
        order = self.filter_order_values
        if order is not None and sorted(order) != list(range(cout)):
            raise VerifyException(
                f"filter_order must be a permutation of 0..{cout - 1}, got {list(order)}"
            )


@patdnn_op_definition
class FKWConv2dOp(ConvolutionOp):
    """
    A pattern convolution whose weights are in FKW compressed storage (PatDNN
    Section 5.3), made by `fkw-layout`:

    - `reorder[Cout]`: the original filter id of each stored filter;
    - `offset[Cout+1]`: stored filter `j` owns kernels `offset[j] .. offset[j+1]`;
    - `index[nnz]`: the input channel of each kernel;
    - `pattern_bounds[Cout][K+1]`: inside filter `j`, the kernels of pattern `p` are
      `offset[j] + pattern_bounds[j][p] .. offset[j] + pattern_bounds[j][p+1]`
      (no per-kernel pattern id);
    - `weight[nnz][T]`: the T kept values of each kernel, in the pattern's tap order.

    With `filter_group = G` (filters `G*g .. G*g+G-1` share their kernels), `offset`,
    `pattern_bounds` and `index` describe the kernels of each group of G stored filters
    (`offset[groups+1]`, `pattern_bounds[groups][K+1]`, `groups = ceil(Cout / G)`) and
    `weight[nnz][G*T]` holds, per kernel, the T values of each of the group's filters.

    The generic form lists the four index arrays first, then the convolution's operands.

    ```
    %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %bounds, %weight
        {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>,
         patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>}
        : tensor<1x4x6x6xf32>, tensor<8xi32>, tensor<9xi32>, tensor<10xi32>,
          tensor<8x2xi32>, tensor<10x4xf32> -> tensor<1x8x6x6xf32>
    ```
    """

    name = "patdnn.fkw_conv2d"

    reorder = _tensor_operand()
    offset = _tensor_operand()
    index = _tensor_operand()
    pattern_bounds = _tensor_operand()

    kernel = _i64_pair_prop("kernel")
    patterns = prop_def(PatternLibraryAttr)
    filter_group = opt_prop_def(IntegerAttr)

    assembly_format = (
        "$input `,` $reorder `,` $offset `,` $index `,` $pattern_bounds `,` $weight "
        "(`bias` `(` $bias^ `)`)? (`residual` `(` $residual^ `)`)? attr-dict `:` type($input) "
        "`,` type($reorder) `,` type($offset) `,` type($index) `,` type($pattern_bounds) `,` "
        "type($weight) (`bias` type($bias)^)? (`residual` type($residual)^)? "
        "`->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        arrays: Sequence[SSAValue | Operation],
        result_type: Attribute,
        *,
        kernel: Sequence[int],
        strides: Sequence[int],
        padding: Sequence[int],
        patterns: PatternLibraryAttr,
        activation: str | Activation = Activation.NONE,
        bias: SSAValue | Operation | None = None,
        residual: SSAValue | Operation | None = None,
        layer: StringAttr | None = None,
        tuning: DictionaryAttr | None = None,
        filter_group: int = 1,
    ):
        reorder, offset, index, pattern_bounds, weight = arrays
        properties: dict[str, Attribute] = {
            "kernel": _i64_pair(kernel),
            "strides": _i64_pair(strides),
            "padding": _i64_pair(padding),
            "patterns": patterns,
            "activation": activation_attr(activation),
        }
        if layer is not None:
            properties["layer"] = layer
        if tuning is not None:
            properties["tuning"] = tuning
        if filter_group != 1:
            properties["filter_group"] = IntegerAttr(filter_group, i64)
        IRDLOperation.__init__(
            self,
            operands=[reorder, offset, index, pattern_bounds, input, weight, bias, residual],
            result_types=[result_type],
            properties=properties,
        )

    @property
    def kernel_values(self) -> tuple[int, int]:
        return _pair_values(self.kernel, "kernel")

    @property
    def filter_group_value(self) -> int:
        """G: the stored filters sharing each kernel (1 without `filter_group`)."""
        return 1 if self.filter_group is None else self.filter_group.value.data

    def verify_(self) -> None:
        kh, kw = self.kernel_values
        if kh < 1 or kw < 1:
            raise VerifyException(f"kernel must be positive, got ({kh}, {kw})")
        _verify_window(self.strides, self.padding)
        if self.group_count != 1:
            raise VerifyException(f"fkw_conv2d supports groups = 1 only, got {self.group_count}")
        group = self.filter_group_value
        if group < 1:
            raise VerifyException(f"filter_group must be positive, got {group}")
        self.patterns.verify_for_kernel(kh, kw, equal_tap_counts=True)
        k = len(self.patterns.patterns)
        taps = len(self.patterns.patterns[0])
        out = self._verify_output((kh, kw), None)
        cout = out[1]

        units = -(-cout // group)
        unit = "filter" if group == 1 else "filter group"
        _verify_i32_tensor(self.reorder, "reorder (the original id of each filter)", (cout,))
        _verify_i32_tensor(self.offset, f"offset (the kernel range of each {unit})", (units + 1,))
        index_shape = self.index.type.get_shape()
        if len(index_shape) != 1:
            raise VerifyException(
                "index (the input channel of each kernel) must be a 1-D tensor, "
                f"got {self.index.type}"
            )
        (nnz,) = index_shape
        _verify_i32_tensor(self.index, "index (the input channel of each kernel)", (nnz,))
        bounds_what = f"pattern_bounds (the kernel range of each pattern in each {unit})"
        _verify_i32_tensor(self.pattern_bounds, bounds_what, (units, k + 1))
        wshape = _verify_f32_tensor(self.weight, "weight", 2)
        if wshape != (nnz, group * taps):
            of = f"{taps} taps" if group == 1 else f"{group} filters x {taps} taps"
            raise VerifyException(
                f"weight must be tensor<{nnz}x{group * taps}xf32> ({nnz} kernels of {of}), "
                f"got {self.weight.type}"
            )
        self._verify_epilogue(out)


@patdnn_op_definition
class Pool2dOp(LayerWindowAccessors):
    """
    Max or average pooling over KhxKw windows (NCHW). Average pooling divides by the
    window size, padding included (PyTorch's default `count_include_pad=True`).

    ```
    %y = patdnn.pool2d %x {kind = #patdnn.pool_kind<max>, kernel = array<i64: 3, 3>,
        strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
        : tensor<1x64x112x112xf32> -> tensor<1x64x56x56xf32>
    ```
    """

    name = "patdnn.pool2d"

    input = _f32_operand("input")
    result = result_def(_f32_tensor("result"))
    kind = prop_def(PoolKindAttr)
    kernel = _i64_pair_prop("kernel")

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        input: SSAValue | Operation,
        result_type: Attribute,
        *,
        kind: str | PoolKind,
        kernel: Sequence[int],
        strides: Sequence[int],
        padding: Sequence[int],
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {
            "kind": PoolKindAttr(PoolKind(kind)),
            "kernel": _i64_pair(kernel),
            "strides": _i64_pair(strides),
            "padding": _i64_pair(padding),
        }
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(operands=[input], result_types=[result_type], properties=properties)

    @property
    def kernel_values(self) -> tuple[int, int]:
        return _pair_values(self.kernel, "kernel")

    def verify_(self) -> None:
        kh, kw = self.kernel_values
        if kh < 1 or kw < 1:
            raise VerifyException(f"kernel must be positive, got ({kh}, {kw})")
        sh, sw = self.stride_values
        if sh < 1 or sw < 1:
            raise VerifyException(f"strides must be positive, got ({sh}, {sw})")
        ph, pw = self.padding_values
        if ph < 0 or pw < 0 or 2 * ph > kh or 2 * pw > kw:
            raise VerifyException(f"padding ({ph}, {pw}) must be at most half the {kh}x{kw} window")
        n, c, h, w = _verify_f32_tensor(self.input, "input", 4)
        expected = (n, c, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))
        out = _verify_f32_tensor(self.result, "result", 4)
        if out != expected:
            raise VerifyException(
                f"result shape {list(out)} does not match the pooling's output shape "
                f"{list(expected)}"
            )


@patdnn_op_definition
class GlobalAvgPoolOp(IRDLOperation):
    """
    The mean of each channel over its whole plane: NxCxHxW -> NxCx1x1.

    ```
    %y = patdnn.global_avg_pool %x : tensor<1x512x7x7xf32> -> tensor<1x512x1x1xf32>
    ```
    """

    name = "patdnn.global_avg_pool"

    input = _f32_operand("input")
    result = result_def(_f32_tensor("result"))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        n, c, _, _ = _verify_f32_tensor(self.input, "input", 4)
        out = _verify_f32_tensor(self.result, "result", 4)
        if out != (n, c, 1, 1):
            raise VerifyException(f"result shape {list(out)} must be {[n, c, 1, 1]}")


@patdnn_op_definition
class LinearOp(IRDLOperation):
    """
    A fully connected layer: `act(input x weight^T + bias)`, input NxK, weight MxK.

    ```
    %y = patdnn.linear %x, %w bias(%b) {activation = #patdnn.activation<relu>}
        : tensor<1x512xf32>, tensor<10x512xf32> bias tensor<10xf32> -> tensor<1x10xf32>
    ```
    """

    name = "patdnn.linear"

    input = _f32_operand("input")
    weight = _f32_operand("weight")
    bias = _opt_f32_operand("bias")
    result = result_def(_f32_tensor("result"))
    activation = prop_def(ActivationAttr, default_value=ActivationAttr(Activation.NONE))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $weight (`bias` `(` $bias^ `)`)? attr-dict `:` type($input) `,` "
        "type($weight) (`bias` type($bias)^)? `->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        result_type: Attribute,
        *,
        bias: SSAValue | Operation | None = None,
        activation: str | Activation = Activation.NONE,
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {"activation": activation_attr(activation)}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(
            operands=[input, weight, bias], result_types=[result_type], properties=properties
        )

    @property
    def layer_name(self) -> str:
        return self.layer.data if self.layer is not None else "?"

    @property
    def activation_kind(self) -> Activation:
        return self.activation.data

    def verify_(self) -> None:
        n, k = _verify_f32_tensor(self.input, "input", 2)
        m, k2 = _verify_f32_tensor(self.weight, "weight", 2)
        if k2 != k:
            raise VerifyException(f"weight takes {k2} input features, input has {k}")
        if self.bias is not None and _verify_f32_tensor(self.bias, "bias", 1) != (m,):
            raise VerifyException(f"bias must have {m} values, got {self.bias.type}")
        if _verify_f32_tensor(self.result, "result", 2) != (n, m):
            raise VerifyException(f"result must be tensor<{n}x{m}xf32>, got {self.result.type}")


@patdnn_op_definition
class AddOp(IRDLOperation):
    """
    Elementwise sum of two tensors of the same shape, with a fused activation
    (a residual connection that could not be fused into a convolution).

    ```
    %y = patdnn.add %a, %b {activation = #patdnn.activation<relu>} : tensor<1x64x56x56xf32>
    ```
    """

    name = "patdnn.add"

    T: ClassVar = VarConstraint("T", _F32_TENSOR)
    lhs = cast(SSAValue[F32Tensor], operand_def(T))
    rhs = cast(SSAValue[F32Tensor], operand_def(T))
    result = result_def(T)
    activation = prop_def(ActivationAttr, default_value=ActivationAttr(Activation.NONE))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(
        self,
        lhs: SSAValue | Operation,
        rhs: SSAValue | Operation,
        activation: str | Activation = Activation.NONE,
    ):
        super().__init__(
            operands=[lhs, rhs],
            result_types=[SSAValue.get(lhs).type],
            properties={"activation": activation_attr(activation)},
        )

    @property
    def activation_kind(self) -> Activation:
        return self.activation.data

    def verify_(self) -> None:
        if not (self.lhs.type == self.rhs.type == self.result.type):
            raise VerifyException(
                f"operands and result must have the same type, got {self.lhs.type}, "
                f"{self.rhs.type} and {self.result.type}"
            )


@patdnn_op_definition
class ActivateOp(IRDLOperation):
    """
    An activation on its own, elementwise, when no layer before it can take it into its
    epilogue (its input has other users, or comes from a pooling or a concat).

    ```
    %y = patdnn.activate %x {activation = #patdnn.activation<hardsigmoid>}
        : tensor<1x16x1x1xf32>
    ```
    """

    name = "patdnn.activate"

    T: ClassVar = VarConstraint("T", _f32_tensor("input"))
    input = cast(SSAValue[F32Tensor], operand_def(T))
    result = result_def(T)
    activation = prop_def(ActivationAttr)
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(
        self, input: SSAValue | Operation, activation: str | Activation, layer: str | None = None
    ):
        properties: dict[str, Attribute] = {"activation": activation_attr(activation)}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(
            operands=[input], result_types=[SSAValue.get(input).type], properties=properties
        )

    @property
    def activation_kind(self) -> Activation:
        return self.activation.data

    def verify_(self) -> None:
        if self.activation_kind == Activation.NONE:
            raise VerifyException("activation none does nothing: use the input itself")
        if any(d < 0 for d in self.input.type.get_shape()):
            raise VerifyException(f"input must have a static shape, got {self.input.type}")


@patdnn_op_definition
class MulOp(IRDLOperation):
    """
    Elementwise product of an NxCxHxW tensor with a tensor of the same shape or with a
    per-channel scale NxCx1x1, broadcast over the plane (the last step of a
    squeeze-and-excitation block).

    ```
    %y = patdnn.mul %x, %scale : tensor<1x16x8x8xf32>, tensor<1x16x1x1xf32>
        -> tensor<1x16x8x8xf32>
    ```
    """

    name = "patdnn.mul"

    lhs = _f32_operand("lhs")
    rhs = _f32_operand("rhs (the scale)")
    result = result_def(_f32_tensor("result"))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)"

    def __init__(
        self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, layer: str | None = None
    ):
        properties: dict[str, Attribute] = {}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(
            operands=[lhs, rhs], result_types=[SSAValue.get(lhs).type], properties=properties
        )

    @property
    def is_channel_scale(self) -> bool:
        """Whether `rhs` is one value per channel (NxCx1x1) broadcast over each plane."""
        shape = self.rhs.type.get_shape()
        return tuple(shape[2:]) == (1, 1) and shape != self.lhs.type.get_shape()

    def verify_(self) -> None:
        n, c, h, w = _verify_f32_tensor(self.lhs, "lhs", 4)
        rhs = _verify_f32_tensor(self.rhs, "rhs (the scale)", 4)
        if rhs not in ((n, c, h, w), (n, c, 1, 1)):
            raise VerifyException(
                f"rhs (the scale) must have the shape of lhs {[n, c, h, w]} or one value per "
                f"channel {[n, c, 1, 1]}, got {list(rhs)}"
            )
        if self.result.type != self.lhs.type:
            raise VerifyException(
                f"result must have the type of lhs {self.lhs.type}, got {self.result.type}"
            )


@patdnn_op_definition
class ConcatOp(IRDLOperation):
    """
    The inputs joined along the channel axis (NCHW, `torch.cat(..., dim=1)`): the
    channels of input 0, then of input 1, ...

    ```
    %y = patdnn.concat %a, %b : tensor<1x3x5x5xf32>, tensor<1x4x5x5xf32>
        -> tensor<1x7x5x5xf32>
    ```
    """

    name = "patdnn.concat"

    inputs = cast(tuple[SSAValue[F32Tensor], ...], var_operand_def(_f32_tensor("every input")))
    result = result_def(_f32_tensor("result"))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$inputs attr-dict `:` type($inputs) `->` type($result)"

    def __init__(
        self,
        inputs: Sequence[SSAValue | Operation],
        result_type: Attribute,
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(operands=[list(inputs)], result_types=[result_type], properties=properties)

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("concat needs at least one input")
        n, _, h, w = _verify_f32_tensor(self.result, "result", 4)
        channels = 0
        for i, value in enumerate(self.inputs):
            shape = _verify_f32_tensor(value, f"input {i}", 4)
            if (shape[0], shape[2], shape[3]) != (n, h, w):
                raise VerifyException(
                    f"input {i} has shape {list(shape)}: every input must have the result's "
                    f"batch and plane {n}x?x{h}x{w}"
                )
            channels += shape[1]
        out = self.result.type.get_shape()
        if out[1] != channels:
            raise VerifyException(
                f"result has {out[1]} channels, the inputs have {channels} together"
            )


@patdnn_op_definition
class UpsampleOp(IRDLOperation):
    """
    Nearest-neighbour upsampling by integer factors (NCHW):
    `result[n][c][y][x] = input[n][c][y / sh][x / sw]`, as `nn.Upsample(scale_factor=2,
    mode="nearest")` computes it.

    ```
    %y = patdnn.upsample %x {scale = array<i64: 2, 2>} : tensor<1x4x5x7xf32>
        -> tensor<1x4x10x14xf32>
    ```
    """

    name = "patdnn.upsample"

    input = _f32_operand("input")
    result = result_def(_f32_tensor("result"))
    scale = _i64_pair_prop("scale")
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        input: SSAValue | Operation,
        result_type: Attribute,
        scale: Sequence[int],
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {"scale": _i64_pair(scale)}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(operands=[input], result_types=[result_type], properties=properties)

    @property
    def scale_values(self) -> tuple[int, int]:
        return _pair_values(self.scale, "scale")

    def verify_(self) -> None:
        sh, sw = self.scale_values
        if sh < 1 or sw < 1:
            raise VerifyException(f"scale must be positive, got ({sh}, {sw})")
        n, c, h, w = _verify_f32_tensor(self.input, "input", 4)
        out = _verify_f32_tensor(self.result, "result", 4)
        if out != (n, c, h * sh, w * sw):
            raise VerifyException(
                f"result shape {list(out)} does not match the input {[n, c, h, w]} upsampled "
                f"by ({sh}, {sw}): {[n, c, h * sh, w * sw]}"
            )


@patdnn_op_definition
class ReshapeOp(IRDLOperation):
    """
    The same elements in a new shape (flatten, view): no data moves.

    ```
    %y = patdnn.reshape %x : tensor<1x512x1x1xf32> -> tensor<1x512xf32>
    ```
    """

    name = "patdnn.reshape"

    input = cast(SSAValue[IntTensor], operand_def(TensorType))
    result = result_def(TensorType[Attribute])

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        a, b = self.input.type, self.result.type
        if a.element_type != b.element_type:
            raise VerifyException(f"input {a} and result {b} have different element types")
        na = 1
        for d in a.get_shape():
            na *= d
        nb = 1
        for d in b.get_shape():
            nb *= d
        if na != nb:
            raise VerifyException(f"input {a} has {na} elements, result {b} has {nb}")


def _known_values(value: SSAValue) -> np.ndarray | None:
    """The numbers of a constant operand when this IR holds them (inline, or in its
    weight store); None for a value computed at run time or a handle without data."""
    from patdnn.dialect.weights import WeightError, constant_array

    owner = value.owner
    if not isinstance(owner, Operation) or "value" not in owner.properties:
        return None
    try:
        return constant_array(value)
    except WeightError:
        return None


def verify_sparse_arrays(
    offset: np.ndarray, index: np.ndarray, rows: int, columns: int
) -> str | None:
    """What is wrong with the block-sparse arrays `offset` (the value range of each block
    of rows) and `index` (the column of each stored value block) of a layer of `rows`
    blocks and `columns` input columns; None if they describe one."""
    offset = offset.astype(np.int64)
    index = index.astype(np.int64)
    if offset[0] != 0:
        return f"offset[0] must be 0, got {offset[0]}"
    steps = np.diff(offset)
    if np.any(steps < 0):
        b = int(np.argmax(steps < 0))
        return (
            f"offsets must not decrease: offset[{b}] = {offset[b]} > "
            f"offset[{b + 1}] = {offset[b + 1]}"
        )
    if offset[-1] != index.shape[0]:
        return f"offset[{rows}] must be the {index.shape[0]} stored blocks, got {offset[-1]}"
    bad = np.nonzero((index < 0) | (index >= columns))[0]
    if bad.size:
        j = int(bad[0])
        return f"index[{j}] = {index[j]} is outside the {columns} input columns 0..{columns - 1}"
    return None


class SparseMatmulOp:
    """Accessors and checks shared by the block-sparse layer ops.

    The weight W[out][in] (a 1x1 convolution's [Cout][Cin], a linear layer's [M][K]) is
    stored by blocks of `bo` consecutive output rows (the last one partial when `bo` does
    not divide the rows), each block keeping the input columns where any of its rows is
    non-zero:

    - `offset[ceil(out/bo) + 1]` (i32): block `b` owns the stored columns
      `offset[b] .. offset[b+1]` (an empty block: `offset[b] == offset[b+1]`);
    - `index[nnz]` (i32): the input column of each stored column block;
    - `values[nnz][bo]` (f32): its `bo` weights, zeros included (rows past the last
      output row of a partial block are zero).
    """

    if TYPE_CHECKING:  # the fields each op declares, read by the accessors below
        layer: StringAttr | None
        activation: ActivationAttr
        offset: SSAValue[IntTensor]
        index: SSAValue[IntTensor]
        values: SSAValue[F32Tensor]
        bias: SSAValue[F32Tensor] | None

    @property
    def layer_name(self) -> str:
        return self.layer.data if self.layer is not None else "?"

    @property
    def block_rows(self) -> int:
        """`bo`: the output rows of a stored block."""
        return self.values.type.get_shape()[1]

    @property
    def activation_kind(self) -> Activation:
        return self.activation.data

    def verify_arrays(self, rows: int, columns: int) -> None:
        """Checks the sparse arrays against a weight of `rows` x `columns`."""
        shape = _verify_f32_tensor(self.values, "values", 2)
        nnz, bo = shape
        if bo < 1:
            raise VerifyException(f"values must hold blocks of at least 1 row, got {bo}")
        blocks = -(-rows // bo)
        _verify_i32_tensor(
            self.offset, f"offset (the stored range of each of the {blocks} blocks)", (blocks + 1,)
        )
        _verify_i32_tensor(self.index, "index (the input column of each stored block)", (nnz,))
        if self.bias is not None and _verify_f32_tensor(self.bias, "bias", 1) != (rows,):
            raise VerifyException(f"bias must have {rows} values, got {self.bias.type}")
        offset, index = _known_values(self.offset), _known_values(self.index)
        if offset is not None and index is not None:
            problem = verify_sparse_arrays(offset, index, blocks, columns)
            if problem is not None:
                raise VerifyException(problem)


@patdnn_op_definition
class SparseConv1x1Op(SparseMatmulOp, IRDLOperation):
    """
    A block-sparse 1x1 convolution (stride 1, no padding, NCHW) with optional bias,
    fused residual add and activation: `act(W x + bias + residual)`, W[Cout][Cin] stored
    by blocks of `bo` output channels (see `SparseMatmulOp`), made by `sparsify`.

    ```
    %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values bias(%b) {activation = #patdnn.activation<relu>}
        : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<5xi32>, tensor<5x4xf32>
        bias tensor<6xf32> -> tensor<1x6x7x7xf32>
    ```
    """

    name = "patdnn.sparse_conv1x1"

    input = _f32_operand("input")
    offset = _tensor_operand()
    index = _tensor_operand()
    values = _f32_operand("values")
    bias = _opt_f32_operand("bias")
    residual = _opt_f32_operand("residual")
    result = result_def(_f32_tensor("result"))
    activation = prop_def(ActivationAttr, default_value=ActivationAttr(Activation.NONE))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())

    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())
    assembly_format = (
        "$input `,` $offset `,` $index `,` $values (`bias` `(` $bias^ `)`)? "
        "(`residual` `(` $residual^ `)`)? attr-dict `:` type($input) `,` type($offset) `,` "
        "type($index) `,` type($values) (`bias` type($bias)^)? (`residual` type($residual)^)? "
        "`->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        arrays: Sequence[SSAValue | Operation],
        result_type: Attribute,
        *,
        bias: SSAValue | Operation | None = None,
        residual: SSAValue | Operation | None = None,
        activation: str | Activation = Activation.NONE,
        layer: StringAttr | None = None,
    ):
        offset, index, values = arrays
        properties: dict[str, Attribute] = {"activation": activation_attr(activation)}
        if layer is not None:
            properties["layer"] = layer
        super().__init__(
            operands=[input, offset, index, values, bias, residual],
            result_types=[result_type],
            properties=properties,
        )

    def verify_(self) -> None:
        n, cin, h, w = _verify_f32_tensor(self.input, "input", 4)
        out = _verify_f32_tensor(self.result, "result", 4)
        if (out[0], out[2], out[3]) != (n, h, w):
            raise VerifyException(
                f"result shape {list(out)} must be [{n}, Cout, {h}, {w}]: a 1x1 convolution "
                "keeps the batch and the plane"
            )
        self.verify_arrays(out[1], cin)
        if self.residual is not None:
            res = _verify_f32_tensor(self.residual, "residual", 4)
            if res != out:
                raise VerifyException(
                    f"residual shape {list(res)} does not match the output shape {list(out)}"
                )


@patdnn_op_definition
class SparseLinearOp(SparseMatmulOp, IRDLOperation):
    """
    A block-sparse fully connected layer: `act(input x W^T + bias)`, input NxK, W[M][K]
    stored by blocks of `bo` output features (see `SparseMatmulOp`), made by `sparsify`.

    ```
    %y = patdnn.sparse_linear %x, %offset, %index, %values bias(%b) {activation = #patdnn.activation<relu>}
        : tensor<1x512xf32>, tensor<3xi32>, tensor<40xi32>, tensor<40x8xf32>
        bias tensor<10xf32> -> tensor<1x10xf32>
    ```
    """

    name = "patdnn.sparse_linear"

    input = _f32_operand("input")
    offset = _tensor_operand()
    index = _tensor_operand()
    values = _f32_operand("values")
    bias = _opt_f32_operand("bias")
    result = result_def(_f32_tensor("result"))
    activation = prop_def(ActivationAttr, default_value=ActivationAttr(Activation.NONE))
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = (
        "$input `,` $offset `,` $index `,` $values (`bias` `(` $bias^ `)`)? attr-dict `:` "
        "type($input) `,` type($offset) `,` type($index) `,` type($values) "
        "(`bias` type($bias)^)? `->` type($result)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        arrays: Sequence[SSAValue | Operation],
        result_type: Attribute,
        *,
        bias: SSAValue | Operation | None = None,
        activation: str | Activation = Activation.NONE,
        layer: StringAttr | None = None,
    ):
        offset, index, values = arrays
        properties: dict[str, Attribute] = {"activation": activation_attr(activation)}
        if layer is not None:
            properties["layer"] = layer
        super().__init__(
            operands=[input, offset, index, values, bias],
            result_types=[result_type],
            properties=properties,
        )

    def verify_(self) -> None:
        n, k = _verify_f32_tensor(self.input, "input", 2)
        out = _verify_f32_tensor(self.result, "result", 2)
        if out[0] != n:
            raise VerifyException(f"result must have {n} rows like the input, got {list(out)}")
        self.verify_arrays(out[1], k)


Patdnn = Dialect(
    "patdnn",
    [
        Conv2dOp,
        PatternConv2dOp,
        FKWConv2dOp,
        Pool2dOp,
        GlobalAvgPoolOp,
        LinearOp,
        AddOp,
        ActivateOp,
        MulOp,
        ConcatOp,
        UpsampleOp,
        ReshapeOp,
        SparseConv1x1Op,
        SparseLinearOp,
    ],
    [PatternLibraryAttr, ActivationAttr, PoolKindAttr],
)
