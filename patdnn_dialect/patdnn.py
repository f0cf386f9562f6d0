"""The `patdnn` dialect: the layerwise representation (LR) of PatDNN, Section 5.1.

One op per layer, carrying its shape, its weights (as SSA operands produced by
`arith.constant`, whose values stay outside the IR text as `dense_resource` handles),
the pattern library, the fused activation and room for tuning parameters.

```
%y = patdnn.pattern_conv2d %x, %w bias(%b) {
        strides = array<i64: 1, 1>, padding = array<i64: 1, 1>,
        patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)], [(1,0),(1,1),(1,2),(2,1)]]>,
        activation = "relu"}
    : tensor<1x16x8x8xf32>, tensor<32x16x3x3xf32> bias tensor<32xf32> -> tensor<1x32x8x8xf32>
```
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    DenseArrayBase,
    DictionaryAttr,
    Float32Type,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    i32,
    i64,
)
from xdsl.ir import Attribute, Data, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    BaseAttr,
    IRDLOperation,
    ParsePropInAttrDict,
    VarConstraint,
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
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

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

ACTIVATIONS = ("none", "relu", "relu6", "hardswish", "hardsigmoid")
"""Activations a layer op can fuse into its epilogue (hardswish `x * relu6(x + 3) / 6`
and hardsigmoid `relu6(x + 3) / 6` as MobileNet-V3 uses them)."""


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


def _i64_pair(values: Sequence[int]) -> DenseArrayBase[IntegerType]:
    return DenseArrayBase.from_list(i64, list(values))


def _verify_f32_tensor(value: SSAValue, what: str, rank: int) -> tuple[int, ...]:
    ty = value.type
    if not isinstance(ty, TensorType) or not isinstance(ty.element_type, Float32Type):
        raise VerifyException(f"{what} must be a tensor of f32, got {ty}")
    shape = tuple(ty.get_shape())
    if len(shape) != rank:
        raise VerifyException(f"{what} must have rank {rank}, got {ty}")
    if any(d < 0 for d in shape):
        raise VerifyException(f"{what} must have a static shape, got {ty}")
    return shape


def _pair_values(prop: DenseArrayBase, what: str) -> tuple[int, int]:
    values = prop.get_values()
    if len(values) != 2 or prop.elt_type != i64:
        raise VerifyException(f"{what} must be an array<i64> of 2 values, got {prop}")
    return (int(values[0]), int(values[1]))


def _verify_activation(activation: StringAttr) -> None:
    if activation.data not in ACTIVATIONS:
        raise VerifyException(
            f"activation must be one of {', '.join(ACTIVATIONS)}, got '{activation.data}'"
        )


def _verify_window(
    strides: DenseArrayBase, padding: DenseArrayBase, activation: StringAttr
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Checks strides, padding and the fused activation shared by the layer ops."""
    sh, sw = _pair_values(strides, "strides")
    if sh < 1 or sw < 1:
        raise VerifyException(f"strides must be positive, got ({sh}, {sw})")
    ph, pw = _pair_values(padding, "padding")
    if ph < 0 or pw < 0:
        raise VerifyException(f"padding must be non-negative, got ({ph}, {pw})")
    _verify_activation(activation)
    return (sh, sw), (ph, pw)


def conv_output_size(size: int, kernel: int, stride: int, pad: int) -> int:
    """Output extent of a convolution along one spatial axis."""
    return (size + 2 * pad - kernel) // stride + 1


class LayerWindowAccessors:
    """Typed views of the `strides`, `padding` and `layer` properties of a layer op
    (a plain mixin: the IRDL op classes define the properties themselves)."""

    @property
    def stride_values(self) -> tuple[int, int]:
        return _pair_values(self.strides, "strides")

    @property
    def padding_values(self) -> tuple[int, int]:
        return _pair_values(self.padding, "padding")

    @property
    def layer_name(self) -> str:
        layer: StringAttr | None = self.layer
        return layer.data if layer is not None else "?"


class ConvolutionOp(LayerWindowAccessors, IRDLOperation):
    """Operands, properties and shape checks shared by the convolution layer ops."""

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    residual = opt_operand_def(TensorType)
    result = result_def(TensorType)

    strides = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    groups = prop_def(IntegerAttr, default_value=IntegerAttr(1, i64))
    activation = prop_def(StringAttr, default_value=StringAttr("none"))
    layer = opt_prop_def(StringAttr)
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
        activation: str = "none",
        layer: str | None = None,
        extra_properties: dict[str, Attribute] | None = None,
    ):
        properties: dict[str, Attribute] = {
            "strides": _i64_pair(strides),
            "padding": _i64_pair(padding),
            "groups": IntegerAttr(groups, i64),
            "activation": StringAttr(activation),
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

    def verify_(self) -> None:
        (sh, sw), (ph, pw) = _verify_window(self.strides, self.padding, self.activation)
        n, cin, h, w = _verify_f32_tensor(self.input, "input", 4)
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
        if ph >= kh or pw >= kw:
            raise VerifyException(f"padding ({ph}, {pw}) must be smaller than the {kh}x{kw} kernel")
        ho = conv_output_size(h, kh, sh, ph)
        wo = conv_output_size(w, kw, sw, pw)
        if ho < 1 or wo < 1:
            raise VerifyException(
                f"the {kh}x{kw} kernel does not fit the {h}x{w} input with padding ({ph}, {pw})"
            )
        if self.bias is not None:
            (bias_len,) = _verify_f32_tensor(self.bias, "bias", 1)
            if bias_len != cout:
                raise VerifyException(
                    f"bias has {bias_len} values, the layer has {cout} output channels"
                )
        expected = (n, cout, ho, wo)
        out = _verify_f32_tensor(self.result, "result", 4)
        if out != expected:
            raise VerifyException(
                f"result shape {list(out)} does not match the convolution's "
                f"output shape {list(expected)}"
            )
        if self.residual is not None:
            res = _verify_f32_tensor(self.residual, "residual", 4)
            if res != expected:
                raise VerifyException(
                    f"residual shape {list(res)} does not match the output shape {list(expected)}"
                )


@irdl_op_definition
class Conv2dOp(ConvolutionOp):
    """
    A dense 2-D convolution layer (NCHW), with optional bias, fused residual add and
    fused activation: `act(conv(input, weight) + bias + residual)`.

    ```
    %y = patdnn.conv2d %x, %w bias(%b) {strides = array<i64: 2, 2>,
        padding = array<i64: 3, 3>, activation = "relu"}
        : tensor<1x3x224x224xf32>, tensor<64x3x7x7xf32> bias tensor<64xf32>
        -> tensor<1x64x112x112xf32>
    ```
    """

    name = "patdnn.conv2d"


@irdl_op_definition
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
    filter_order = opt_prop_def(DenseArrayBase)

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        result_type: Attribute,
        patterns: PatternLibraryAttr,
        *,
        filter_order: Sequence[int] | None = None,
        **kwargs: object,
    ):
        extra: dict[str, Attribute] = {"patterns": patterns}
        if filter_order is not None:
            extra["filter_order"] = DenseArrayBase.from_list(i64, list(filter_order))
        super().__init__(input, weight, result_type, extra_properties=extra, **kwargs)  # type: ignore[arg-type]

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


@irdl_op_definition
class FKWConv2dOp(LayerWindowAccessors, IRDLOperation):
    """
    A pattern convolution whose weights are in FKW compressed storage (PatDNN
    Section 5.3), made by `fkw-layout`:

    - `reorder[Cout]`: the original filter id of each stored filter;
    - `offset[Cout+1]`: stored filter `j` owns kernels `offset[j] .. offset[j+1]`;
    - `index[nnz]`: the input channel of each kernel;
    - `stride[Cout][K+1]`: inside filter `j`, the kernels of pattern `p` are
      `offset[j] + stride[j][p] .. offset[j] + stride[j][p+1]` (no per-kernel pattern id);
    - `weight[nnz][T]`: the T kept values of each kernel, in the pattern's tap order.

    ```
    %y = patdnn.fkw_conv2d %x, %reorder, %offset, %index, %stride, %weight
        {kernel = array<i64: 3, 3>, strides = array<i64: 1, 1>, padding = array<i64: 1, 1>,
         patterns = #patdnn.patterns<[[(0,1),(1,0),(1,1),(1,2)]]>}
        : tensor<1x4x6x6xf32>, tensor<8xi32>, tensor<9xi32>, tensor<10xi32>,
          tensor<8x2xi32>, tensor<10x4xf32> -> tensor<1x8x6x6xf32>
    ```
    """

    name = "patdnn.fkw_conv2d"

    input = operand_def(TensorType)
    reorder = operand_def(TensorType)
    offset = operand_def(TensorType)
    index = operand_def(TensorType)
    stride = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    residual = opt_operand_def(TensorType)
    result = result_def(TensorType)

    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    patterns = prop_def(PatternLibraryAttr)
    activation = prop_def(StringAttr, default_value=StringAttr("none"))
    layer = opt_prop_def(StringAttr)
    tuning = opt_prop_def(DictionaryAttr)

    traits = traits_def(Pure())
    irdl_options = (AttrSizedOperandSegments(as_property=True), ParsePropInAttrDict())

    assembly_format = (
        "$input `,` $reorder `,` $offset `,` $index `,` $stride `,` $weight "
        "(`bias` `(` $bias^ `)`)? (`residual` `(` $residual^ `)`)? attr-dict `:` type($input) "
        "`,` type($reorder) `,` type($offset) `,` type($index) `,` type($stride) `,` "
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
        activation: str = "none",
        bias: SSAValue | Operation | None = None,
        residual: SSAValue | Operation | None = None,
        layer: StringAttr | None = None,
        tuning: DictionaryAttr | None = None,
    ):
        reorder, offset, index, stride, weight = arrays
        properties: dict[str, Attribute] = {
            "kernel": _i64_pair(kernel),
            "strides": _i64_pair(strides),
            "padding": _i64_pair(padding),
            "patterns": patterns,
            "activation": StringAttr(activation),
        }
        if layer is not None:
            properties["layer"] = layer
        if tuning is not None:
            properties["tuning"] = tuning
        super().__init__(
            operands=[input, reorder, offset, index, stride, weight, bias, residual],
            result_types=[result_type],
            properties=properties,
        )

    @property
    def kernel_values(self) -> tuple[int, int]:
        k = self.kernel.get_values()
        return (int(k[0]), int(k[1]))

    def verify_(self) -> None:
        kh, kw = _pair_values(self.kernel, "kernel")
        if kh < 1 or kw < 1:
            raise VerifyException(f"kernel must be positive, got ({kh}, {kw})")
        (sh, sw), (ph, pw) = _verify_window(self.strides, self.padding, self.activation)
        self.patterns.verify_for_kernel(kh, kw, equal_tap_counts=True)
        k = len(self.patterns.patterns)
        taps = len(self.patterns.patterns[0])
        n, cin, h, w = _verify_f32_tensor(self.input, "input", 4)
        out = _verify_f32_tensor(self.result, "result", 4)
        cout = out[1]
        expected = (n, cout, conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw))
        if out != expected:
            raise VerifyException(
                f"result shape {list(out)} does not match the convolution's "
                f"output shape {list(expected)}"
            )

        def int_array(value: SSAValue, what: str, shape: tuple[int, ...]) -> None:
            ty = value.type
            if (
                not isinstance(ty, TensorType)
                or ty.element_type != i32
                or tuple(ty.get_shape()) != shape
            ):
                dims = "x".join(str(d) for d in shape)
                raise VerifyException(f"{what} must be tensor<{dims}xi32>, got {ty}")

        int_array(self.reorder, "reorder (the original id of each filter)", (cout,))
        int_array(self.offset, "offset (the kernel range of each filter)", (cout + 1,))
        (nnz,) = _verify_f32_or_int_len(self.index)
        int_array(self.index, "index (the input channel of each kernel)", (nnz,))
        stride_what = "stride (the kernel range of each pattern in each filter)"
        int_array(self.stride, stride_what, (cout, k + 1))
        wshape = _verify_f32_tensor(self.weight, "weight", 2)
        if wshape != (nnz, taps):
            raise VerifyException(
                f"weight must be tensor<{nnz}x{taps}xf32> ({nnz} kernels of {taps} taps), "
                f"got {self.weight.type}"
            )
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
        del cin


POOL_KINDS = ("max", "avg")


@irdl_op_definition
class Pool2dOp(LayerWindowAccessors, IRDLOperation):
    """
    Max or average pooling over KhxKw windows (NCHW). Average pooling divides by the
    window size, padding included (PyTorch's default `count_include_pad=True`).

    ```
    %y = patdnn.pool2d %x {kind = "max", kernel = array<i64: 3, 3>,
        strides = array<i64: 2, 2>, padding = array<i64: 1, 1>}
        : tensor<1x64x112x112xf32> -> tensor<1x64x56x56xf32>
    ```
    """

    name = "patdnn.pool2d"

    input = operand_def(TensorType)
    result = result_def(TensorType)
    kind = prop_def(StringAttr)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    padding = prop_def(DenseArrayBase)
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(
        self,
        input: SSAValue | Operation,
        result_type: Attribute,
        *,
        kind: str,
        kernel: Sequence[int],
        strides: Sequence[int],
        padding: Sequence[int],
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {
            "kind": StringAttr(kind),
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
        if self.kind.data not in POOL_KINDS:
            raise VerifyException(f"kind must be one of max, avg, got '{self.kind.data}'")
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


@irdl_op_definition
class GlobalAvgPoolOp(IRDLOperation):
    """
    The mean of each channel over its whole plane: NxCxHxW -> NxCx1x1.

    ```
    %y = patdnn.global_avg_pool %x : tensor<1x512x7x7xf32> -> tensor<1x512x1x1xf32>
    ```
    """

    name = "patdnn.global_avg_pool"

    input = operand_def(TensorType)
    result = result_def(TensorType)
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


@irdl_op_definition
class LinearOp(IRDLOperation):
    """
    A fully connected layer: `act(input x weight^T + bias)`, input NxK, weight MxK.

    ```
    %y = patdnn.linear %x, %w bias(%b) {activation = "relu"}
        : tensor<1x512xf32>, tensor<10x512xf32> bias tensor<10xf32> -> tensor<1x10xf32>
    ```
    """

    name = "patdnn.linear"

    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    activation = prop_def(StringAttr, default_value=StringAttr("none"))
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
        activation: str = "none",
        layer: str | None = None,
    ):
        properties: dict[str, Attribute] = {"activation": StringAttr(activation)}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(
            operands=[input, weight, bias], result_types=[result_type], properties=properties
        )

    @property
    def layer_name(self) -> str:
        return self.layer.data if self.layer is not None else "?"

    def verify_(self) -> None:
        _verify_activation(self.activation)
        n, k = _verify_f32_tensor(self.input, "input", 2)
        m, k2 = _verify_f32_tensor(self.weight, "weight", 2)
        if k2 != k:
            raise VerifyException(f"weight takes {k2} input features, input has {k}")
        if self.bias is not None and _verify_f32_tensor(self.bias, "bias", 1) != (m,):
            raise VerifyException(f"bias must have {m} values, got {self.bias.type}")
        if _verify_f32_tensor(self.result, "result", 2) != (n, m):
            raise VerifyException(f"result must be tensor<{n}x{m}xf32>, got {self.result.type}")


@irdl_op_definition
class AddOp(IRDLOperation):
    """
    Elementwise sum of two tensors of the same shape, with a fused activation
    (a residual connection that could not be fused into a convolution).

    ```
    %y = patdnn.add %a, %b {activation = "relu"} : tensor<1x64x56x56xf32>
    ```
    """

    name = "patdnn.add"

    T: ClassVar = VarConstraint("T", BaseAttr(TensorType))
    lhs = operand_def(T)
    rhs = operand_def(T)
    result = result_def(T)
    activation = prop_def(StringAttr, default_value=StringAttr("none"))

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$lhs `,` $rhs attr-dict `:` type($result)"

    def __init__(
        self, lhs: SSAValue | Operation, rhs: SSAValue | Operation, activation: str = "none"
    ):
        super().__init__(
            operands=[lhs, rhs],
            result_types=[SSAValue.get(lhs).type],
            properties={"activation": StringAttr(activation)},
        )

    def verify_(self) -> None:
        _verify_activation(self.activation)
        if not (self.lhs.type == self.rhs.type == self.result.type):
            raise VerifyException(
                f"operands and result must have the same type, got {self.lhs.type}, "
                f"{self.rhs.type} and {self.result.type}"
            )


@irdl_op_definition
class ActivationOp(IRDLOperation):
    """
    An activation on its own, elementwise, when no layer before it can take it into its
    epilogue (its input has other users, or comes from a pooling or a concat).

    ```
    %y = patdnn.activation %x {activation = "hardsigmoid"} : tensor<1x16x1x1xf32>
    ```
    """

    name = "patdnn.activation"

    T: ClassVar = VarConstraint("T", BaseAttr(TensorType))
    input = operand_def(T)
    result = result_def(T)
    activation = prop_def(StringAttr)
    layer = opt_prop_def(StringAttr)

    traits = traits_def(Pure())
    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "$input attr-dict `:` type($result)"

    def __init__(self, input: SSAValue | Operation, activation: str, layer: str | None = None):
        properties: dict[str, Attribute] = {"activation": StringAttr(activation)}
        if layer:
            properties["layer"] = StringAttr(layer)
        super().__init__(
            operands=[input], result_types=[SSAValue.get(input).type], properties=properties
        )

    def verify_(self) -> None:
        _verify_activation(self.activation)
        if self.activation.data == "none":
            raise VerifyException("activation 'none' does nothing: use the input itself")
        ty = self.input.type
        if not isinstance(ty, TensorType) or not isinstance(ty.element_type, Float32Type):
            raise VerifyException(f"input must be a tensor of f32, got {ty}")
        if any(d < 0 for d in ty.get_shape()):
            raise VerifyException(f"input must have a static shape, got {ty}")


@irdl_op_definition
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

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    result = result_def(TensorType)
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
        shape = self.rhs.type.get_shape()  # type: ignore[union-attr]
        return tuple(shape[2:]) == (1, 1) and shape != self.lhs.type.get_shape()  # type: ignore[union-attr]

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


@irdl_op_definition
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

    inputs = var_operand_def(TensorType)
    result = result_def(TensorType)
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
        out = self.result.type.get_shape()  # type: ignore[union-attr]
        if out[1] != channels:
            raise VerifyException(
                f"result has {out[1]} channels, the inputs have {channels} together"
            )


@irdl_op_definition
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

    input = operand_def(TensorType)
    result = result_def(TensorType)
    scale = prop_def(DenseArrayBase)
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


@irdl_op_definition
class ReshapeOp(IRDLOperation):
    """
    The same elements in a new shape (flatten, view): no data moves.

    ```
    %y = patdnn.reshape %x : tensor<1x512x1x1xf32> -> tensor<1x512xf32>
    ```
    """

    name = "patdnn.reshape"

    input = operand_def(TensorType)
    result = result_def(TensorType)

    traits = traits_def(Pure())
    assembly_format = "$input attr-dict `:` type($input) `->` type($result)"

    def __init__(self, input: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[input], result_types=[result_type])

    def verify_(self) -> None:
        a, b = self.input.type, self.result.type
        if not isinstance(a, TensorType) or not isinstance(b, TensorType):
            raise VerifyException("reshape takes and gives tensors")
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


def _verify_f32_or_int_len(value: SSAValue) -> tuple[int]:
    ty = value.type
    if not isinstance(ty, TensorType) or len(ty.get_shape()) != 1:
        raise VerifyException(
            f"index (the input channel of each kernel) must be a 1-D tensor, got {ty}"
        )
    return (ty.get_shape()[0],)


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
        ActivationOp,
        MulOp,
        ConcatOp,
        UpsampleOp,
        ReshapeOp,
    ],
    [PatternLibraryAttr],
)
