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

import numpy as np
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

ACTIVATIONS = ("none", "relu", "relu6")
"""Activations a layer op can fuse into its epilogue."""


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


def _verify_i32_vector(value: SSAValue, what: str, length: int | None = None) -> int:
    """Checks a 1-D i32 tensor (of `length` elements, when given); returns its length."""
    ty = value.type
    if (
        not isinstance(ty, TensorType)
        or ty.element_type != i32
        or len(ty.get_shape()) != 1
        or (length is not None and ty.get_shape()[0] != length)
    ):
        dims = "?" if length is None else str(length)
        raise VerifyException(f"{what} must be tensor<{dims}xi32>, got {ty}")
    return ty.get_shape()[0]


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

    @property
    def layer_name(self) -> str:
        return self.layer.data if self.layer is not None else "?"

    @property
    def block_rows(self) -> int:
        """`bo`: the output rows of a stored block."""
        return self.values.type.get_shape()[1]  # type: ignore[union-attr]

    def verify_arrays(self, rows: int, columns: int) -> None:
        """Checks the sparse arrays against a weight of `rows` x `columns`."""
        shape = _verify_f32_tensor(self.values, "values", 2)
        nnz, bo = shape
        if bo < 1:
            raise VerifyException(f"values must hold blocks of at least 1 row, got {bo}")
        blocks = -(-rows // bo)
        _verify_i32_vector(
            self.offset, f"offset (the stored range of each of the {blocks} blocks)", blocks + 1
        )
        _verify_i32_vector(self.index, "index (the input column of each stored block)", nnz)
        if self.bias is not None and _verify_f32_tensor(self.bias, "bias", 1) != (rows,):
            raise VerifyException(f"bias must have {rows} values, got {self.bias.type}")
        offset, index = _known_values(self.offset), _known_values(self.index)
        if offset is not None and index is not None:
            problem = verify_sparse_arrays(offset, index, blocks, columns)
            if problem is not None:
                raise VerifyException(problem)


@irdl_op_definition
class SparseConv1x1Op(SparseMatmulOp, IRDLOperation):
    """
    A block-sparse 1x1 convolution (stride 1, no padding, NCHW) with optional bias,
    fused residual add and activation: `act(W x + bias + residual)`, W[Cout][Cin] stored
    by blocks of `bo` output channels (see `SparseMatmulOp`), made by `sparsify`.

    ```
    %y = patdnn.sparse_conv1x1 %x, %offset, %index, %values bias(%b) {activation = "relu"}
        : tensor<1x16x7x7xf32>, tensor<3xi32>, tensor<5xi32>, tensor<5x4xf32>
        bias tensor<6xf32> -> tensor<1x6x7x7xf32>
    ```
    """

    name = "patdnn.sparse_conv1x1"

    input = operand_def(TensorType)
    offset = operand_def(TensorType)
    index = operand_def(TensorType)
    values = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    residual = opt_operand_def(TensorType)
    result = result_def(TensorType)
    activation = prop_def(StringAttr, default_value=StringAttr("none"))
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
        activation: str = "none",
        layer: StringAttr | None = None,
    ):
        offset, index, values = arrays
        properties: dict[str, Attribute] = {"activation": StringAttr(activation)}
        if layer is not None:
            properties["layer"] = layer
        super().__init__(
            operands=[input, offset, index, values, bias, residual],
            result_types=[result_type],
            properties=properties,
        )

    def verify_(self) -> None:
        _verify_activation(self.activation)
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


@irdl_op_definition
class SparseLinearOp(SparseMatmulOp, IRDLOperation):
    """
    A block-sparse fully connected layer: `act(input x W^T + bias)`, input NxK, W[M][K]
    stored by blocks of `bo` output features (see `SparseMatmulOp`), made by `sparsify`.

    ```
    %y = patdnn.sparse_linear %x, %offset, %index, %values bias(%b) {activation = "relu"}
        : tensor<1x512xf32>, tensor<3xi32>, tensor<40xi32>, tensor<40x8xf32>
        bias tensor<10xf32> -> tensor<1x10xf32>
    ```
    """

    name = "patdnn.sparse_linear"

    input = operand_def(TensorType)
    offset = operand_def(TensorType)
    index = operand_def(TensorType)
    values = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    result = result_def(TensorType)
    activation = prop_def(StringAttr, default_value=StringAttr("none"))
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
        activation: str = "none",
        layer: StringAttr | None = None,
    ):
        offset, index, values = arrays
        properties: dict[str, Attribute] = {"activation": StringAttr(activation)}
        if layer is not None:
            properties["layer"] = layer
        super().__init__(
            operands=[input, offset, index, values, bias],
            result_types=[result_type],
            properties=properties,
        )

    def verify_(self) -> None:
        _verify_activation(self.activation)
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
        ReshapeOp,
        SparseConv1x1Op,
        SparseLinearOp,
    ],
    [PatternLibraryAttr],
)
