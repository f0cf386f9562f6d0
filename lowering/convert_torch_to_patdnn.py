"""`convert-torch-to-patdnn`: torch dialect -> the patdnn layerwise representation.

PatDNN Section 5.1. One rewrite pattern per ATen op family (`conversion_patterns`):
`aten.conv2d` / `aten.convolution` become `patdnn.conv2d`, pools, means, linear layers,
adds and reshapes their patdnn ops; a batch norm is folded into the convolution before
it and a relu / relu6 fused into the layer before it, each by a pattern of its own. Then
a residual add is fused into the convolution producing one side (`fusion_patterns`).
Last, every 3x3 layer whose weights are pattern-sparse is checked against the pattern
library (given, or extracted from the weights: the most frequent kernel supports): when
every non-empty kernel fits a pattern, the layer becomes `patdnn.pattern_conv2d`; when
one does not, the layer stays dense and carries a `patdnn.remark` saying which kernel
broke its pattern (an error with `strict=true`).

MobileNet-V3's hardswish and hardsigmoid are activations like relu (an activation whose
input has other users, or comes from a layer without an epilogue, is a `patdnn.activate`
of its own); a squeeze-and-excitation `scale * x` is a `patdnn.mul` by the per-channel
scale; an encoder-decoder's `torch.cat` along the channels and nearest upsampling by
integer factors are `patdnn.concat` and `patdnn.upsample`.

A new op family is one more pattern, listed in `conversion_patterns` before
`UnsupportedOpPattern`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    DenseResourceAttr,
    FunctionType,
    ModuleOp,
    StringAttr,
    TensorType,
    f32,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.parser import Parser
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import Rewriter
from xdsl.transforms.dead_code_elimination import dce
from xdsl.utils.exceptions import VerifyException

from patdnn.dialect import torch as tdl
from patdnn.dialect.library import (
    MAX_PATTERNS,
    LibraryError,
    kernel_pattern_ids,
    library_of_supports,
    misfit_message,
)
from patdnn.dialect.patdnn import (
    LAYER_ATTR,
    ActivateOp,
    Activation,
    ActivationAttr,
    AddOp,
    ConcatOp,
    Conv2dOp,
    GlobalAvgPoolOp,
    LinearOp,
    MulOp,
    PatternConv2dOp,
    PatternLibraryAttr,
    Pool2dOp,
    PoolKind,
    ReshapeOp,
    UpsampleOp,
)
from patdnn.dialect.weights import constant_array, is_inline_constant, make_constant, weights_of
from patdnn.errors import PatdnnError

REMARK_ATTR = "patdnn.remark"


class ConversionError(PatdnnError):
    """The torch-dialect input cannot be converted; the message names op and layer."""


class PatternRemark(UserWarning):
    """A layer that looked pattern-pruned but broke its pattern library."""


def layer_of(op: Operation) -> str:
    attr = op.attributes.get(LAYER_ATTR)
    return attr.data if isinstance(attr, StringAttr) else ""


def describe(op: Operation) -> str:
    layer = layer_of(op)
    return f"{op.name} (layer '{layer}')" if layer else op.name


# ---------------------------------------------------------------------------
# Reading constant operands
# ---------------------------------------------------------------------------


def _const_int(value: SSAValue, user: Operation) -> int:
    owner = value.owner
    if isinstance(owner, tdl.ConstantIntOp):
        return owner.int_value
    raise ConversionError(f"{describe(user)}: expected a constant int operand")


def _const_bool(value: SSAValue, user: Operation) -> bool:
    owner = value.owner
    if isinstance(owner, tdl.ConstantBoolOp):
        return bool(owner.value.value.data)
    raise ConversionError(f"{describe(user)}: expected a constant bool operand")


def _const_float(value: SSAValue, user: Operation) -> float:
    owner = value.owner
    if isinstance(owner, tdl.ConstantFloatOp):
        return owner.value.value.data
    if isinstance(owner, tdl.ConstantIntOp):
        return float(owner.int_value)
    raise ConversionError(f"{describe(user)}: expected a constant number operand")


def _int_list(value: SSAValue, user: Operation) -> list[int]:
    owner = value.owner
    if isinstance(owner, tdl.ListConstructOp):
        return [_const_int(v, user) for v in owner.elements]
    raise ConversionError(f"{describe(user)}: expected a constant list of ints")


def _pair(values: list[int], what: str, user: Operation) -> tuple[int, int]:
    if len(values) == 1:
        return (values[0], values[0])
    if len(values) == 2:
        return (values[0], values[1])
    raise ConversionError(f"{describe(user)}: {what} must have 1 or 2 values, got {values}")


def builtin_tensor_type(ty: Attribute, where: str) -> TensorType[Attribute]:
    if not isinstance(ty, tdl.ValueTensorType):
        raise ConversionError(f"{where}: expected a !torch.vtensor, got {ty}")
    if ty.dtype != f32:
        raise ConversionError(f"{where}: only f32 tensors are supported, got {ty}")
    shape = ty.get_shape()
    if any(d < 0 for d in shape):
        raise ConversionError(f"{where}: dynamic shapes are not supported, got {ty}")
    return TensorType(f32, shape)


def _resource_name(value: SSAValue, fallback: str) -> str:
    owner = value.owner
    if isinstance(owner, arith.ConstantOp) and isinstance(owner.value, DenseResourceAttr):
        return owner.value.resource_handle.data
    return fallback


# ---------------------------------------------------------------------------
# Patterns
# ---------------------------------------------------------------------------


def is_pattern_sparse(weight: np.ndarray) -> bool:
    """A 3x3 layer counts as pattern-pruned when at least half its weights are zero."""
    return weight.ndim == 4 and weight.shape[2:] == (3, 3) and (weight == 0).mean() >= 0.5


def parse_library(text: str) -> PatternLibraryAttr:
    from patdnn.dialect.context import make_context

    source = text if text.startswith("#") else f"#patdnn.patterns<{text}>"
    attr = Parser(make_context(), source, "library option").parse_attribute()
    if not isinstance(attr, PatternLibraryAttr):
        raise ConversionError(f"not a pattern library: {text}")
    try:
        attr.verify_for_kernel(3, 3, equal_tap_counts=True)
    except VerifyException as e:
        raise ConversionError(f"library option: {e}") from e
    return attr


# ---------------------------------------------------------------------------
# The conversion: one pattern per ATen op family
# ---------------------------------------------------------------------------
#
# The walk goes forward once, so the producers of an op are converted before it is
# visited: a pattern sees builtin-typed operands (function arguments are retyped first)
# and torch-typed results. Fusions into a patdnn producer are patterns of their own.


def _result_type(op: Operation) -> TensorType[Attribute]:
    return builtin_tensor_type(op.results[0].type, describe(op))


def _operand_type(value: SSAValue, op: Operation) -> TensorType[Attribute]:
    """The type of an operand of `op`: a builtin tensor once its producer is converted."""
    ty = value.type
    return ty if isinstance(ty, TensorType) else builtin_tensor_type(ty, describe(op))


def _layer_name(op: Operation) -> str | None:
    return layer_of(op) or None


def _fusable_producer(op: Operation) -> Conv2dOp | LinearOp | AddOp | None:
    """The layer producing `op`'s input whose epilogue can take `op` (its only user)."""
    source = op.operands[0]
    produced = source.owner
    if (
        isinstance(produced, Conv2dOp | LinearOp | AddOp)
        and source.has_one_use()
        and produced.activation_kind == Activation.NONE
    ):
        return produced
    return None


class LiteralPattern(RewritePattern):
    """`torch.vtensor.literal` -> `arith.constant` (the same value: a weight handle)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.ValueTensorLiteralOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, arith.ConstantOp(op.value))


class IdentityPattern(RewritePattern):
    """`aten.dropout` (inference): its input."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.DropoutOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, [], [op.operands[0]])


class ConvPattern(RewritePattern):
    """`aten.conv2d` / `aten.convolution` -> `patdnn.conv2d`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.Conv2dOp | tdl.ConvolutionOp, rewriter: PatternRewriter, /):
        stride = _pair(_int_list(op.stride, op), "stride", op)
        padding = _pair(_int_list(op.padding, op), "padding", op)
        dilation = _pair(_int_list(op.dilation, op), "dilation", op)
        groups = _const_int(op.groups, op)
        if isinstance(op, tdl.ConvolutionOp):
            if _const_bool(op.transposed, op):
                raise ConversionError(f"{describe(op)}: transposed convolution is not supported")
        if dilation != (1, 1):
            raise ConversionError(f"{describe(op)}: dilation {dilation} is not supported")
        bias = op.bias if isinstance(op.bias.type, TensorType) else None
        source = op.input
        if isinstance(source.type, TensorType) and source.type.get_num_dims() != 4:
            raise ConversionError(
                f"{describe(op)}: the input must be 4-D (N, C, H, W), got "
                f"{'x'.join(map(str, source.type.get_shape()))}; add the batch dimension"
            )
        conv = Conv2dOp(
            source,
            op.weight,
            _result_type(op),
            bias=bias,
            strides=stride,
            padding=padding,
            groups=groups,
            layer=_layer_name(op),
        )
        rewriter.replace(op, conv)


def _pool(
    op: Operation,
    kind: PoolKind,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
) -> Pool2dOp:
    return Pool2dOp(
        op.operands[0],
        _result_type(op),
        kind=kind,
        kernel=kernel,
        strides=stride,
        padding=padding,
        layer=_layer_name(op),
    )


def _global_avg_pool(op: Operation) -> list[Operation]:
    """`patdnn.global_avg_pool` of `op`'s input, reshaped to `op`'s result type."""
    result_type = _result_type(op)
    n, c = result_type.get_shape()[:2]
    pooled = GlobalAvgPoolOp(op.operands[0], TensorType(f32, [n, c, 1, 1]))
    if tuple(result_type.get_shape()) == (n, c, 1, 1):
        return [pooled]
    return [pooled, ReshapeOp(pooled.result, result_type)]


class PoolPattern(RewritePattern):
    """`aten.max_pool2d` / `aten.avg_pool2d` -> `patdnn.pool2d`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self, op: tdl.MaxPool2dOp | tdl.AvgPool2dOp, rewriter: PatternRewriter, /
    ):
        kernel = _pair(_int_list(op.kernel_size, op), "kernel_size", op)
        strides = _int_list(op.stride, op)
        stride = _pair(strides, "stride", op) if strides else kernel
        padding = _pair(_int_list(op.padding, op), "padding", op)
        if _const_bool(op.ceil_mode, op):
            raise ConversionError(f"{describe(op)}: ceil_mode=True is not supported")
        if isinstance(op, tdl.MaxPool2dOp):
            kind = PoolKind.MAX
            if _pair(_int_list(op.dilation, op), "dilation", op) != (1, 1):
                raise ConversionError(f"{describe(op)}: dilated pooling is not supported")
        else:
            kind = PoolKind.AVG
            if padding != (0, 0) and not _const_bool(op.count_include_pad, op):
                raise ConversionError(
                    f"{describe(op)}: count_include_pad=False with padding is not supported"
                )
            if not isinstance(op.divisor_override.type, tdl.NoneType):
                raise ConversionError(f"{describe(op)}: divisor_override is not supported")
        rewriter.replace(op, _pool(op, kind, kernel, stride, padding))


class AdaptiveAvgPoolPattern(RewritePattern):
    """`aten.adaptive_avg_pool2d` -> a global average pool, its input (same size) or an
    average pool of equal windows."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.AdaptiveAvgPool2dOp, rewriter: PatternRewriter, /):
        size = _pair(_int_list(op.output_size, op), "output_size", op)
        _, _, h, w = _operand_type(op.self_, op).get_shape()
        if size == (1, 1):
            rewriter.replace(op, _global_avg_pool(op))
        elif (h, w) == size:
            rewriter.replace(op, [], [op.self_])
        elif h % size[0] == 0 and w % size[1] == 0:
            window = (h // size[0], w // size[1])
            rewriter.replace(op, _pool(op, PoolKind.AVG, window, window, (0, 0)))
        else:
            raise ConversionError(
                f"{describe(op)}: adaptive pooling of {h}x{w} to {size[0]}x{size[1]} "
                "needs windows of different sizes, which is not supported"
            )


class MeanPattern(RewritePattern):
    """`aten.mean.dim` over the spatial dims -> a global average pool."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.MeanDimOp, rewriter: PatternRewriter, /):
        rank = len(_operand_type(op.self_, op).get_shape())
        dims = sorted(d % rank for d in _int_list(op.dim, op)) if rank == 4 else []
        if dims != [2, 3] or not isinstance(op.dtype.type, tdl.NoneType):
            raise ConversionError(
                f"{describe(op)}: only the mean over the spatial dims (2, 3) is supported"
            )
        rewriter.replace(op, _global_avg_pool(op))


class ReshapePattern(RewritePattern):
    """`aten.flatten` / `aten.view` -> `patdnn.reshape`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.FlattenOp | tdl.ViewOp, rewriter: PatternRewriter, /):
        rewriter.replace(op, ReshapeOp(op.operands[0], _result_type(op)))


class LinearPattern(RewritePattern):
    """`aten.linear` -> `patdnn.linear`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.LinearOp, rewriter: PatternRewriter, /):
        bias = op.bias if isinstance(op.bias.type, TensorType) else None
        input_type = op.input.type
        if not isinstance(input_type, TensorType) or input_type.get_num_dims() != 2:
            raise ConversionError(
                f"{describe(op)}: only 2-D inputs (batch, features) are supported"
            )
        linear = LinearOp(op.input, op.weight, _result_type(op), bias=bias, layer=_layer_name(op))
        rewriter.replace(op, linear)


class AddPattern(RewritePattern):
    """`aten.add.Tensor` -> `patdnn.add` (`FuseResidualPattern` then moves it into the
    convolution producing one side, when it can)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.AddTensorOp, rewriter: PatternRewriter, /):
        if _const_float(op.alpha, op) != 1.0:
            raise ConversionError(f"{describe(op)}: add with alpha != 1 is not supported")
        lhs, rhs = op.self_, op.other
        if lhs.type != rhs.type:
            raise ConversionError(
                f"{describe(op)}: broadcasting add ({lhs.type} + {rhs.type}) is not supported"
            )
        rewriter.replace(op, AddOp(lhs, rhs))


class FuseActivationPattern(RewritePattern):
    """relu / relu6 (`aten.hardtanh(0, 6)`) / hardswish / hardsigmoid: fused into the
    epilogue of the layer op that produces its input when that op is its only user, else
    a `patdnn.activate` of its own."""

    @op_type_rewrite_pattern
    def match_and_rewrite(
        self,
        op: tdl.ReluOp | tdl.Relu6Op | tdl.HardtanhOp | tdl.HardswishOp | tdl.HardsigmoidOp,
        rewriter: PatternRewriter,
        /,
    ):
        if isinstance(op, tdl.ReluOp):
            kind = Activation.RELU
        elif isinstance(op, tdl.Relu6Op):
            kind = Activation.RELU6
        elif isinstance(op, tdl.HardswishOp):
            kind = Activation.HARDSWISH
        elif isinstance(op, tdl.HardsigmoidOp):
            kind = Activation.HARDSIGMOID
        else:
            bounds = (_const_float(op.min_val, op), _const_float(op.max_val, op))
            if bounds != (0.0, 6.0):
                raise ConversionError(
                    f"{describe(op)}: hardtanh{bounds} is not supported (only relu6 = (0, 6))"
                )
            kind = Activation.RELU6
        producer = _fusable_producer(op)
        if producer is None:
            _result_type(op)  # a static f32 tensor, or the error says where
            rewriter.replace(op, ActivateOp(op.operands[0], kind, _layer_name(op)))
            return
        producer.activation = ActivationAttr(kind)
        rewriter.notify_op_modified(producer)
        rewriter.replace(op, [], [producer.result])


def _shape_of(value: SSAValue) -> tuple[int, ...]:
    """The shape of a converted operand (a builtin tensor)."""
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


class MulPattern(RewritePattern):
    """`aten.mul.Tensor` of two tensors of one shape, or of a tensor with a per-channel
    scale NxCx1x1 on either side (`scale * x` in a squeeze-and-excitation block) ->
    `patdnn.mul`, the scale second."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.MulTensorOp, rewriter: PatternRewriter, /):
        lhs, rhs = op.self_, op.other
        shapes = [_shape_of(lhs), _shape_of(rhs)]
        out = _result_type(op).get_shape()
        if len(out) == 4 and shapes[0] != out and shapes[1] == out:
            lhs, rhs = rhs, lhs
            shapes.reverse()
        n, c = out[:2] if len(out) == 4 else (0, 0)
        if len(out) != 4 or shapes[0] != out or shapes[1] not in (out, (n, c, 1, 1)):
            raise ConversionError(
                f"{describe(op)}: mul of {'x'.join(map(str, shapes[0]))} by "
                f"{'x'.join(map(str, shapes[1]))} is not supported (only the same NCHW shape, "
                "or one value per channel NxCx1x1)"
            )
        rewriter.replace(op, MulOp(lhs, rhs, _layer_name(op)))


class CatPattern(RewritePattern):
    """`aten.cat` of NCHW tensors along the channels -> `patdnn.concat` (a cat of one
    tensor: that tensor)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.CatOp, rewriter: PatternRewriter, /):
        listed = op.tensors.owner
        if not isinstance(listed, tdl.ListConstructOp):
            raise ConversionError(f"{describe(op)}: expected a list of tensors built in place")
        result_type = _result_type(op)
        rank = len(result_type.get_shape())
        dim = _const_int(op.dim, op)
        if rank != 4 or dim % 4 != 1:
            raise ConversionError(
                f"{describe(op)}: cat along dim {dim} of a rank-{rank} tensor is not supported "
                "(only along the channels, dim 1, of NCHW tensors)"
            )
        inputs = list(listed.elements)
        if len(inputs) == 1:
            rewriter.replace(op, [], [inputs[0]])
            return
        rewriter.replace(op, ConcatOp(inputs, result_type, _layer_name(op)))


class UpsamplePattern(RewritePattern):
    """`aten.upsample_nearest2d.vec` by integer factors, from `scale_factors` or from an
    `output_size` that is an integer multiple of the input's -> `patdnn.upsample`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.UpsampleNearest2dVecOp, rewriter: PatternRewriter, /):
        _, _, h, w = _shape_of(op.input)
        result_type = _result_type(op)
        _, _, ho, wo = result_type.get_shape()
        scales: tuple[float, float] | None = None
        owner = op.scale_factors.owner
        if isinstance(owner, tdl.ListConstructOp):
            values = [_const_float(v, op) for v in owner.elements]
            if len(values) == 1:
                values *= 2
            if len(values) != 2:
                raise ConversionError(f"{describe(op)}: scale_factors must have 1 or 2 values")
            scales = (values[0], values[1])
        if (
            ho % h
            or wo % w
            or (scales is not None and (scales[0] != ho // h or scales[1] != wo // w))
        ):
            given = f"scale {scales[0]:g}x{scales[1]:g}" if scales else f"size {ho}x{wo}"
            raise ConversionError(
                f"{describe(op)}: nearest upsampling of {h}x{w} by {given} is not supported "
                "(only integer scale factors)"
            )
        upsample = UpsampleOp(op.input, result_type, (ho // h, wo // w), _layer_name(op))
        rewriter.replace(op, upsample)


class FoldBatchNormPattern(RewritePattern):
    """An inference `aten.batch_norm` folded into the weights and bias of the
    `patdnn.conv2d` before it."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: tdl.BatchNormOp, rewriter: PatternRewriter, /):
        if _const_bool(op.training, op):
            raise ConversionError(f"{describe(op)}: batch norm in training mode")
        conv = _fusable_producer(op)
        if not isinstance(conv, Conv2dOp):
            raise ConversionError(
                f"{describe(op)}: batch norm is only supported right after a convolution"
            )
        eps = _const_float(op.eps, op)
        cout = conv.result.type.get_shape()[1]

        def vec(value: SSAValue, default: float) -> np.ndarray:
            if isinstance(value.type, tdl.NoneType):
                return np.full(cout, default, dtype=np.float64)
            return constant_array(value).astype(np.float64)

        gamma, beta = vec(op.weight, 1.0), vec(op.bias, 0.0)
        mean, var = vec(op.running_mean, 0.0), vec(op.running_var, 1.0)
        scale = gamma / np.sqrt(var + eps)
        weight = constant_array(conv.weight).astype(np.float64)
        bias = (
            constant_array(conv.bias).astype(np.float64)
            if conv.bias is not None
            else np.zeros(cout)
        )
        name = _resource_name(conv.weight, layer_of(op) or "conv").removesuffix(".weight")
        # Folded weights written out inline stay inline (small hand-written inputs).
        inline = is_inline_constant(conv.weight)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = ((bias - mean) * scale + beta).astype(np.float32)
        store = weights_of(conv)
        new_w = make_constant(folded_w, f"{name}.bn_weight", store=store, inline=inline)
        new_b = make_constant(folded_b, f"{name}.bn_bias", store=store, inline=inline)
        # A new op: the optional operand segments (the bias) are fixed at creation.
        folded = Conv2dOp(
            conv.input,
            new_w.result,
            conv.result.type,
            bias=new_b.result,
            residual=conv.residual,
            strides=conv.stride_values,
            padding=conv.padding_values,
            groups=conv.group_count,
            activation=conv.activation_kind,
            layer=conv.layer.data if conv.layer is not None else None,
        )
        rewriter.replace(conv, [new_w, new_b, folded])
        rewriter.replace(op, [], [folded.result])


class FuseResidualPattern(RewritePattern):
    """`patdnn.add` of a `patdnn.conv2d` (its only use, no activation, no residual yet)
    and another value: the convolution with that residual and the add's activation."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: AddOp, rewriter: PatternRewriter, /):
        for conv_value, other in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
            conv = conv_value.owner
            if (
                isinstance(conv, Conv2dOp)
                and conv_value.has_one_use()
                and conv.activation_kind == Activation.NONE
                and conv.residual is None
                and other is not conv_value
            ):
                # The other side may be computed after the conv: the fused conv takes
                # the add's place, where both exist.
                fused = Conv2dOp(
                    conv.input,
                    conv.weight,
                    conv.result.type,
                    bias=conv.bias,
                    residual=other,
                    strides=conv.stride_values,
                    padding=conv.padding_values,
                    groups=conv.group_count,
                    activation=op.activation_kind,
                    layer=conv.layer.data if conv.layer is not None else None,
                )
                rewriter.replace(op, fused)
                rewriter.erase(conv)
                return


_TORCH_CONSTANTS = (
    tdl.ConstantIntOp,
    tdl.ConstantFloatOp,
    tdl.ConstantBoolOp,
    tdl.ConstantNoneOp,
    tdl.ListConstructOp,
)


class UnsupportedOpPattern(RewritePattern):
    """Last of the conversion patterns: a torch op none of the others converted is an
    error (the constants stay until their users are converted, then go)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter, /):
        if op.name.startswith("torch.") and not isinstance(op, _TORCH_CONSTANTS):
            raise ConversionError(f"{describe(op)} cannot be converted to patdnn yet")


def conversion_patterns() -> list[RewritePattern]:
    """The torch -> patdnn patterns, one per ATen op family, `UnsupportedOpPattern` last."""
    return [
        LiteralPattern(),
        IdentityPattern(),
        ConvPattern(),
        PoolPattern(),
        AdaptiveAvgPoolPattern(),
        MeanPattern(),
        ReshapePattern(),
        LinearPattern(),
        AddPattern(),
        MulPattern(),
        CatPattern(),
        UpsamplePattern(),
        FuseActivationPattern(),
        FoldBatchNormPattern(),
        UnsupportedOpPattern(),
    ]


def fusion_patterns() -> list[RewritePattern]:
    """The patterns on patdnn ops that run once every torch op is converted."""
    return [FuseResidualPattern()]


def _convert_signature(fn: func.FuncOp) -> None:
    block = fn.body.block
    where = f"function @{fn.sym_name.data}"
    for arg in block.args:
        Rewriter.replace_value_with_new_type(arg, builtin_tensor_type(arg.type, where))
    outputs = [builtin_tensor_type(t, where) for t in fn.function_type.outputs.data]
    fn.function_type = FunctionType.from_lists([a.type for a in block.args], outputs)


def _check_converted(module: ModuleOp) -> None:
    for op in module.walk():
        if op.name.startswith("torch."):
            raise ConversionError(f"{describe(op)} still has uses after conversion")


def select_pattern_layers(
    module: ModuleOp, library: PatternLibraryAttr | None, num_patterns: int | None, strict: bool
) -> None:
    """Turns each pattern-sparse 3x3 `patdnn.conv2d` whose kernels fit into a pattern conv.

    Without `library`, the library is read from the weights: every kernel support they use
    (up to `MAX_PATTERNS`), or the `num_patterns` most frequent when that cap is given; a
    layer the cap leaves dense says so in its remark, with how to lift it."""
    candidates: list[tuple[Conv2dOp, np.ndarray]] = []
    for op in module.walk():
        if isinstance(op, Conv2dOp) and op.group_count == 1:
            weight = constant_array(op.weight)
            if is_pattern_sparse(weight):
                candidates.append((op, weight))
    if not candidates:
        return
    used: PatternLibraryAttr | None = None
    if library is None:
        try:
            supports = library_of_supports([w for _, w in candidates])
        except LibraryError as e:
            raise ConversionError(str(e)) from None
        used = PatternLibraryAttr.from_patterns(supports)
        cap = num_patterns or MAX_PATTERNS
        library = used if len(supports) <= cap else PatternLibraryAttr.from_patterns(supports[:cap])
    for op, weight in candidates:
        detail = misfit_message(weight, kernel_pattern_ids(weight, library.patterns))
        if detail is not None:
            if used is not None and used is not library:
                if misfit_message(weight, kernel_pattern_ids(weight, used.patterns)) is None:
                    detail += (
                        f" (the weights use {len(used.patterns)} patterns, num_patterns="
                        f"{num_patterns} keeps the {num_patterns} most frequent: raise "
                        f"num_patterns to {len(used.patterns)} or leave it unset)"
                    )
            if strict:
                raise ConversionError(
                    f"layer '{op.layer_name}' breaks the pattern library: {detail}"
                )
            message = f"layer '{op.layer_name}' stays dense: {detail}"
            op.attributes[REMARK_ATTR] = StringAttr(message)
            warnings.warn(message, PatternRemark, stacklevel=2)
            continue
        new = PatternConv2dOp(
            op.input,
            op.weight,
            op.result.type,
            library,
            bias=op.bias,
            residual=op.residual,
            strides=op.stride_values,
            padding=op.padding_values,
            activation=op.activation.data,
            layer=op.layer.data if op.layer is not None else None,
        )
        Rewriter.replace_op(op, new)


@dataclass(frozen=True)
class ConvertTorchToPatdnnPass(ModulePass):
    """
    Converts the torch dialect to patdnn layer ops (PatDNN Section 5.1).

    Options: `library` (a pattern library, `[[(0,1),(1,0),(1,1),(1,2)], ...]`; default:
    read from the weights: every pattern they use, up to 56), `num_patterns` (an optional
    cap on the size of the library read from the weights: the most frequent are kept),
    `strict` (a layer that breaks its pattern is an error, not a remark).
    """

    name = "convert-torch-to-patdnn"

    library: str = ""
    num_patterns: int | None = None
    strict: bool = False

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        library = parse_library(self.library) if self.library else None
        if self.num_patterns is not None and not 1 <= self.num_patterns <= MAX_PATTERNS:
            raise ConversionError(
                f"num_patterns must be in 1..{MAX_PATTERNS} (a 3x3 kernel keeping 4 taps "
                f"with the centre has {MAX_PATTERNS} candidate patterns), got {self.num_patterns}"
            )
        for fn in list(op.walk()):
            if isinstance(fn, func.FuncOp) and not fn.is_declaration:
                _convert_signature(fn)
        for patterns in (conversion_patterns(), fusion_patterns()):
            PatternRewriteWalker(
                GreedyRewritePatternApplier(patterns), apply_recursively=False
            ).rewrite_module(op)
        dce(op)
        _check_converted(op)
        select_pattern_layers(op, library, self.num_patterns, self.strict)
