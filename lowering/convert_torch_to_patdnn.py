"""`convert-torch-to-patdnn`: torch dialect -> the patdnn layerwise representation.

PatDNN Section 5.1. `aten.conv2d` / `aten.convolution` become `patdnn.conv2d`, with a
following batch norm folded into the weights and bias, and a following relu / relu6
fused into the op. Then every 3x3 layer whose weights are pattern-sparse is checked
against the pattern library (given, or extracted from the weights: the most frequent
kernel supports): when every non-empty kernel fits a pattern, the layer becomes
`patdnn.pattern_conv2d`; when one does not, the layer stays dense and carries a
`patdnn.remark` saying which kernel broke its pattern (an error with `strict=true`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

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
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.parser import Parser
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter
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
    AddOp,
    ConcatOp,
    Conv2dOp,
    GlobalAvgPoolOp,
    LinearOp,
    MulOp,
    PatternConv2dOp,
    PatternLibraryAttr,
    Pool2dOp,
    ReshapeOp,
    UpsampleOp,
    activation_attr,
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
# The conversion
# ---------------------------------------------------------------------------


@dataclass
class _FunctionConverter:
    """Converts one function's body, op by op, from torch values to builtin tensors."""

    block: Block
    values: dict[SSAValue, SSAValue] = field(default_factory=dict[SSAValue, SSAValue])
    erase: list[Operation] = field(default_factory=list[Operation])

    def mapped(self, value: SSAValue) -> SSAValue:
        # Block arguments are retyped in place by `_convert_signature`.
        return value if isinstance(value, BlockArgument) else self.values[value]

    def insert(self, new: Operation, before: Operation) -> Operation:
        Rewriter.insert_op(new, InsertPoint.before(before))
        return new

    def run(self) -> None:
        handlers: dict[type[Operation], Callable[[Operation], None]] = {
            tdl.ValueTensorLiteralOp: self.literal,
            tdl.Conv2dOp: self.conv,
            tdl.ConvolutionOp: self.conv,
            tdl.ReluOp: self.activation,
            tdl.Relu6Op: self.activation,
            tdl.HardtanhOp: self.activation,
            tdl.HardswishOp: self.activation,
            tdl.HardsigmoidOp: self.activation,
            tdl.BatchNormOp: self.batch_norm,
            tdl.DropoutOp: self.identity,
            tdl.MaxPool2dOp: self.pool,
            tdl.AvgPool2dOp: self.pool,
            tdl.AdaptiveAvgPool2dOp: self.adaptive_avg_pool,
            tdl.MeanDimOp: self.mean,
            tdl.FlattenOp: self.reshape,
            tdl.ViewOp: self.reshape,
            tdl.LinearOp: self.linear,
            tdl.AddTensorOp: self.add,
            tdl.MulTensorOp: self.mul,
            tdl.CatOp: self.cat,
            tdl.UpsampleNearest2dVecOp: self.upsample,
        }
        for op in list(self.block.ops):
            if isinstance(
                op,
                tdl.ConstantIntOp
                | tdl.ConstantFloatOp
                | tdl.ConstantBoolOp
                | tdl.ConstantNoneOp
                | tdl.ListConstructOp,
            ):
                self.erase.append(op)
                continue
            if isinstance(op, func.ReturnOp):
                new_ret = func.ReturnOp(*(self.mapped(v) for v in op.arguments))
                self.insert(new_ret, op)
                self.erase.append(op)
                continue
            handler = handlers.get(type(op))
            if handler is None:
                if op.name.startswith("torch."):
                    raise ConversionError(f"{describe(op)} cannot be converted to patdnn yet")
                continue
            handler(op)
            self.erase.append(op)
        for op in reversed(self.erase):
            for result in op.results:
                if result.uses:
                    raise ConversionError(f"{describe(op)} still has uses after conversion")
            Rewriter.erase_op(op)

    def literal(self, op: Operation) -> None:
        assert isinstance(op, tdl.ValueTensorLiteralOp)
        new = arith.ConstantOp(op.value)
        self.insert(new, op)
        self.values[op.result] = new.result

    def identity(self, op: Operation) -> None:
        self.values[op.results[0]] = self.mapped(op.operands[0])

    def conv(self, op: Operation) -> None:
        assert isinstance(op, tdl.Conv2dOp | tdl.ConvolutionOp)
        stride = _pair(_int_list(op.stride, op), "stride", op)
        padding = _pair(_int_list(op.padding, op), "padding", op)
        dilation = _pair(_int_list(op.dilation, op), "dilation", op)
        groups = _const_int(op.groups, op)
        if isinstance(op, tdl.ConvolutionOp):
            if _const_bool(op.transposed, op):
                raise ConversionError(f"{describe(op)}: transposed convolution is not supported")
        if dilation != (1, 1):
            raise ConversionError(f"{describe(op)}: dilation {dilation} is not supported")
        bias = None
        if isinstance(op.bias.type, tdl.ValueTensorType):
            bias = self.mapped(op.bias)
        source = self.mapped(op.input)
        if isinstance(source.type, TensorType) and source.type.get_num_dims() != 4:
            raise ConversionError(
                f"{describe(op)}: the input must be 4-D (N, C, H, W), got "
                f"{'x'.join(map(str, source.type.get_shape()))}; add the batch dimension"
            )
        result_type = builtin_tensor_type(op.result.type, describe(op))
        new = Conv2dOp(
            source,
            self.mapped(op.weight),
            result_type,
            bias=bias,
            strides=stride,
            padding=padding,
            groups=groups,
            layer=layer_of(op) or None,
        )
        self.insert(new, op)
        self.values[op.result] = new.result

    def _fusable_conv(self, op: Operation) -> Conv2dOp | None:
        """The conv producing `op`'s input, when `op` is its only user."""
        producer = self._fusable_producer(op)
        return producer if isinstance(producer, Conv2dOp) else None

    def _fusable_producer(self, op: Operation) -> Conv2dOp | LinearOp | AddOp | None:
        """The layer producing `op`'s input whose epilogue can take `op` (its only user)."""
        source = op.operands[0]
        produced = self.mapped(source).owner
        if (
            isinstance(produced, Conv2dOp | LinearOp | AddOp)
            and source.has_one_use()
            and produced.activation.data == "none"
        ):
            return produced
        return None

    def _result_type(self, op: Operation) -> TensorType[Attribute]:
        return builtin_tensor_type(op.results[0].type, describe(op))

    def pool(self, op: Operation) -> None:
        assert isinstance(op, tdl.MaxPool2dOp | tdl.AvgPool2dOp)
        kernel = _pair(_int_list(op.kernel_size, op), "kernel_size", op)
        strides = _int_list(op.stride, op)
        stride = _pair(strides, "stride", op) if strides else kernel
        padding = _pair(_int_list(op.padding, op), "padding", op)
        if _const_bool(op.ceil_mode, op):
            raise ConversionError(f"{describe(op)}: ceil_mode=True is not supported")
        if isinstance(op, tdl.MaxPool2dOp):
            kind = "max"
            if _pair(_int_list(op.dilation, op), "dilation", op) != (1, 1):
                raise ConversionError(f"{describe(op)}: dilated pooling is not supported")
        else:
            kind = "avg"
            if padding != (0, 0) and not _const_bool(op.count_include_pad, op):
                raise ConversionError(
                    f"{describe(op)}: count_include_pad=False with padding is not supported"
                )
            if not isinstance(op.divisor_override.type, tdl.NoneType):
                raise ConversionError(f"{describe(op)}: divisor_override is not supported")
        self._emit_pool(op, kind, kernel, stride, padding)

    def _emit_pool(
        self,
        op: Operation,
        kind: str,
        kernel: tuple[int, int],
        stride: tuple[int, int],
        padding: tuple[int, int],
    ) -> None:
        new = Pool2dOp(
            self.mapped(op.operands[0]),
            self._result_type(op),
            kind=kind,
            kernel=kernel,
            strides=stride,
            padding=padding,
            layer=layer_of(op) or None,
        )
        self.insert(new, op)
        self.values[op.results[0]] = new.result

    def adaptive_avg_pool(self, op: Operation) -> None:
        assert isinstance(op, tdl.AdaptiveAvgPool2dOp)
        size = _pair(_int_list(op.output_size, op), "output_size", op)
        _, _, h, w = builtin_tensor_type(op.self_.type, describe(op)).get_shape()
        if size == (1, 1):
            self._global_avg_pool(op, self._result_type(op))
        elif (h, w) == size:
            self.values[op.results[0]] = self.mapped(op.self_)
        elif h % size[0] == 0 and w % size[1] == 0:
            window = (h // size[0], w // size[1])
            self._emit_pool(op, "avg", window, window, (0, 0))
        else:
            raise ConversionError(
                f"{describe(op)}: adaptive pooling of {h}x{w} to {size[0]}x{size[1]} "
                "needs windows of different sizes, which is not supported"
            )

    def _global_avg_pool(self, op: Operation, result_type: TensorType[Attribute]) -> None:
        source = self.mapped(op.operands[0])
        n, c = result_type.get_shape()[:2]
        pooled = GlobalAvgPoolOp(source, TensorType(f32, [n, c, 1, 1]))
        self.insert(pooled, op)
        result: Operation = pooled
        if tuple(result_type.get_shape()) != (n, c, 1, 1):
            result = ReshapeOp(pooled.result, result_type)
            self.insert(result, op)
        self.values[op.results[0]] = result.results[0]

    def mean(self, op: Operation) -> None:
        assert isinstance(op, tdl.MeanDimOp)
        rank = len(builtin_tensor_type(op.self_.type, describe(op)).get_shape())
        dims = sorted(d % rank for d in _int_list(op.dim, op)) if rank == 4 else []
        if dims != [2, 3] or not isinstance(op.dtype.type, tdl.NoneType):
            raise ConversionError(
                f"{describe(op)}: only the mean over the spatial dims (2, 3) is supported"
            )
        self._global_avg_pool(op, self._result_type(op))

    def reshape(self, op: Operation) -> None:
        new = ReshapeOp(self.mapped(op.operands[0]), self._result_type(op))
        self.insert(new, op)
        self.values[op.results[0]] = new.result

    def linear(self, op: Operation) -> None:
        assert isinstance(op, tdl.LinearOp)
        bias = self.mapped(op.bias) if isinstance(op.bias.type, tdl.ValueTensorType) else None
        new = LinearOp(
            self.mapped(op.input),
            self.mapped(op.weight),
            self._result_type(op),
            bias=bias,
            layer=layer_of(op) or None,
        )
        if len(new.input.type.get_shape()) != 2:
            raise ConversionError(
                f"{describe(op)}: only 2-D inputs (batch, features) are supported"
            )
        self.insert(new, op)
        self.values[op.result] = new.result

    def add(self, op: Operation) -> None:
        """A residual add: fused into the convolution producing one side when it can be."""
        assert isinstance(op, tdl.AddTensorOp)
        if _const_float(op.alpha, op) != 1.0:
            raise ConversionError(f"{describe(op)}: add with alpha != 1 is not supported")
        lhs, rhs = self.mapped(op.self_), self.mapped(op.other)
        if lhs.type != rhs.type:
            raise ConversionError(
                f"{describe(op)}: broadcasting add ({lhs.type} + {rhs.type}) is not supported"
            )
        for source, conv_value, other in ((op.self_, lhs, rhs), (op.other, rhs, lhs)):
            conv = conv_value.owner
            if (
                isinstance(conv, Conv2dOp)
                and source.has_one_use()
                and conv.activation.data == "none"
                and conv.residual is None
                and other is not conv_value
            ):
                # The other side may be computed after the conv: the fused conv
                # takes the add's place, where both exist.
                fused = _rebuild_conv(conv, residual=other, before=op)
                self.values[source] = fused.result
                self.values[op.result] = fused.result
                return
        new = AddOp(lhs, rhs)
        self.insert(new, op)
        self.values[op.result] = new.result

    def activation(self, op: Operation) -> None:
        """An activation: fused into the layer before it when that layer is its input's
        only user, else a `patdnn.activation` of its own."""
        if isinstance(op, tdl.ReluOp):
            kind = "relu"
        elif isinstance(op, tdl.Relu6Op):
            kind = "relu6"
        elif isinstance(op, tdl.HardswishOp):
            kind = "hardswish"
        elif isinstance(op, tdl.HardsigmoidOp):
            kind = "hardsigmoid"
        else:
            assert isinstance(op, tdl.HardtanhOp)
            bounds = (_const_float(op.min_val, op), _const_float(op.max_val, op))
            if bounds != (0.0, 6.0):
                raise ConversionError(
                    f"{describe(op)}: hardtanh{bounds} is not supported (only relu6 = (0, 6))"
                )
            kind = "relu6"
        producer = self._fusable_producer(op)
        if producer is None:
            self._result_type(op)  # a static f32 tensor, or the error says where
            new = ActivateOp(self.mapped(op.operands[0]), kind, layer_of(op) or None)
            self.insert(new, op)
            self.values[op.results[0]] = new.result
            return
        producer.activation = activation_attr(kind)
        self.values[op.results[0]] = producer.result

    def mul(self, op: Operation) -> None:
        """A product of two tensors of one shape, or of a tensor with a per-channel scale
        NxCx1x1 on either side (`scale * x` in a squeeze-and-excitation block)."""
        assert isinstance(op, tdl.MulTensorOp)
        lhs, rhs = self.mapped(op.self_), self.mapped(op.other)
        shapes = [_shape_of(lhs), _shape_of(rhs)]
        out = self._result_type(op).get_shape()
        if len(out) == 4 and shapes[0] != out and shapes[1] == out:
            lhs, rhs = rhs, lhs  # the tensor first, the scale second
            shapes.reverse()
        n, c = out[:2] if len(out) == 4 else (0, 0)
        if len(out) != 4 or shapes[0] != out or shapes[1] not in (out, (n, c, 1, 1)):
            raise ConversionError(
                f"{describe(op)}: mul of {'x'.join(map(str, shapes[0]))} by "
                f"{'x'.join(map(str, shapes[1]))} is not supported (only the same NCHW shape, "
                "or one value per channel NxCx1x1)"
            )
        new = MulOp(lhs, rhs, layer_of(op) or None)
        self.insert(new, op)
        self.values[op.result] = new.result

    def cat(self, op: Operation) -> None:
        """`torch.cat` of NCHW tensors along the channels."""
        assert isinstance(op, tdl.CatOp)
        listed = op.tensors.owner
        if not isinstance(listed, tdl.ListConstructOp):
            raise ConversionError(f"{describe(op)}: expected a list of tensors built in place")
        result_type = self._result_type(op)
        rank = len(result_type.get_shape())
        dim = _const_int(op.dim, op)
        if rank != 4 or dim % 4 != 1:
            raise ConversionError(
                f"{describe(op)}: cat along dim {dim} of a rank-{rank} tensor is not supported "
                "(only along the channels, dim 1, of NCHW tensors)"
            )
        inputs = [self.mapped(v) for v in listed.elements]
        if len(inputs) == 1:
            self.values[op.result] = inputs[0]
            return
        new = ConcatOp(inputs, result_type, layer_of(op) or None)
        self.insert(new, op)
        self.values[op.result] = new.result

    def upsample(self, op: Operation) -> None:
        """Nearest-neighbour upsampling by integer factors, from `scale_factors` or from
        an `output_size` that is an integer multiple of the input's."""
        assert isinstance(op, tdl.UpsampleNearest2dVecOp)
        _, _, h, w = _shape_of(self.mapped(op.input))
        result_type = self._result_type(op)
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
        new = UpsampleOp(
            self.mapped(op.input), result_type, (ho // h, wo // w), layer_of(op) or None
        )
        self.insert(new, op)
        self.values[op.result] = new.result

    def batch_norm(self, op: Operation) -> None:
        """Folds an inference batch norm into the convolution before it."""
        assert isinstance(op, tdl.BatchNormOp)
        if _const_bool(op.training, op):
            raise ConversionError(f"{describe(op)}: batch norm in training mode")
        conv = self._fusable_conv(op)
        if conv is None:
            raise ConversionError(
                f"{describe(op)}: batch norm is only supported right after a convolution"
            )
        eps = _const_float(op.eps, op)
        cout = conv.result.type.get_shape()[1]

        def vec(value: SSAValue, default: float) -> np.ndarray:
            if isinstance(value.type, tdl.NoneType):
                return np.full(cout, default, dtype=np.float64)
            return constant_array(self.mapped(value)).astype(np.float64)

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
        self.insert(new_w, conv)
        self.insert(new_b, conv)
        conv.operands[1] = new_w.result
        if conv.bias is not None:
            conv.operands[2] = new_b.result
        else:
            # Rebuild with a bias operand: optional operand segments are fixed at creation.
            rebuilt = _rebuild_conv(conv, bias=new_b.result)
            self.values[op.operands[0]] = rebuilt.result
            conv = rebuilt
        self.values[op.results[0]] = conv.result


def _shape_of(value: SSAValue) -> tuple[int, ...]:
    """The shape of a converted value (a builtin tensor: a retyped argument or a layer's
    result)."""
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


def _rebuild_conv(
    conv: Conv2dOp,
    *,
    bias: SSAValue | None = None,
    residual: SSAValue | None = None,
    before: Operation | None = None,
) -> Conv2dOp:
    """`conv` again with a bias or residual operand (operand segments are fixed at
    creation), placed where `conv` was or just before `before`."""
    new = Conv2dOp(
        conv.input,
        conv.weight,
        conv.result.type,
        bias=bias if bias is not None else conv.bias,
        residual=residual if residual is not None else conv.residual,
        strides=conv.stride_values,
        padding=conv.padding_values,
        groups=conv.group_count,
        activation=conv.activation.data,
        layer=conv.layer.data if conv.layer is not None else None,
    )
    if before is None:
        Rewriter.replace_op(conv, new)
    else:
        Rewriter.insert_op(new, InsertPoint.before(before))
        conv.result.replace_all_uses_with(new.result)
        Rewriter.erase_op(conv)
    return new


def _convert_signature(fn: func.FuncOp) -> None:
    block = fn.body.block
    where = f"function @{fn.sym_name.data}"
    for arg in block.args:
        Rewriter.replace_value_with_new_type(arg, builtin_tensor_type(arg.type, where))
    outputs = [builtin_tensor_type(t, where) for t in fn.function_type.outputs.data]
    fn.function_type = FunctionType.from_lists([a.type for a in block.args], outputs)


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
                _FunctionConverter(fn.body.block).run()
        select_pattern_layers(op, library, self.num_patterns, self.strict)
        dce(op)
