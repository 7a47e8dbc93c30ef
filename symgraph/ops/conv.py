"""Convolutional-network ops: ``conv2d``, ``max_pool2d`` and ``avg_pool2d`` (PyTorch's layouts and conventions:
NCHW inputs, OIHW weights, cross-correlation), each differentiable to any order.

A convolution's two gradients are ops of their own (``Conv2dGradInput``: the transposed convolution;
``Conv2dGradWeight``: the correlation of the input with the output gradient). The three are linear in each
operand and their gradients are one another, so a second derivative (a gradient penalty, a Hessian-vector
product of a CNN loss) is again made of these three ops. Max pooling routes the gradient to the first
maximum of each window in row-major order (a NaN wins, the last one; PyTorch's rule): ``MaxPool2dGrad``
scatters the output gradient there, ``MaxPool2dGather`` (its own gradient) gathers from there. Average
pooling and ``AvgPool2dGrad`` are each other's gradients.

Shapes: for a spatial length ``n``, padding ``(before, after)``, kernel ``k``, dilation ``d`` and stride ``s``
the output has ``(n + before + after - d (k - 1) - 1) // s + 1`` positions; a kernel larger than the padded
input, channels not divisible by ``groups`` and weights whose channels do not match are errors naming the op
and the user's line, when the graph is built if the shapes are static, else when the function is called.
"""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Node
from ..types import TensorType
from .base import Op, as_variable, pointing_at_user_line
from .factor import float_dtype


# ---------------------------------------------------------------- arguments and shapes

def _pair(value, what, minimum):
    """``value`` (an int or a pair of ints) as a pair, each at least ``minimum``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{what} must be at least {minimum}, got {value!r}")
    return pair


def output_length(n, before, after, kernel, dilation, stride):
    """Output positions along one spatial axis (may be < 1: the caller reports it)."""
    return (n + before + after - dilation * (kernel - 1) - 1) // stride + 1


def _rank(what, v, ndim, layout):
    if v.ndim != ndim:
        raise ValueError(f"{what}: expected a {ndim}-d {layout} array, got {v.describe()}")


def _static_int(v):
    """The value of a constant integer scalar, else None."""
    if isinstance(v, Constant) and v.ndim == 0:
        return int(v.value)
    return None


def _spatial(what, op, lengths, kernel):
    """The static output lengths (None where unknown); raise when a known kernel exceeds a known padded input."""
    out = []
    for axis in range(2):
        n, k = lengths[axis], kernel[axis]
        if n is None or k is None:
            out.append(None)
            continue
        before, after = op.padding[axis]
        length = output_length(n, before, after, k, op.dilation[axis], op.stride[axis])
        if length < 1:
            raise ValueError(f"{what}: the kernel ({op.dilation[axis] * (k - 1) + 1} wide with dilation) is larger "
                             f"than the padded input ({n + before + after}) along axis {axis + 2}")
        out.append(length)
    return out


def _check_lengths(op, node, lengths, kernel):
    """The output lengths at call time, or a ValueError naming the op and the user's line."""
    out = []
    for axis in range(2):
        before, after = op.padding[axis]
        length = output_length(lengths[axis], before, after, kernel[axis], op.dilation[axis], op.stride[axis])
        if length < 1:
            raise ValueError(f"{op}: the kernel ({op.dilation[axis] * (kernel[axis] - 1) + 1} wide with dilation) "
                             f"is larger than the padded input ({lengths[axis] + before + after}) along axis "
                             f"{axis + 2}{node.where()}")
        out.append(length)
    return out


def _windows(x, op, kernel, lengths, fill=0.0):
    """``x`` (N, C, H, W) padded with ``fill``, as windows (N, C, Ho, Wo, kh, kw) (a strided view)."""
    (top, bottom), (left, right) = op.padding
    if top or bottom or left or right:
        x = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)
    (dh, dw), (sh, sw), (kh, kw) = op.dilation, op.stride, kernel
    view = np.lib.stride_tricks.sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :lengths[0], :lengths[1]]


def _scatter_windows(grad_windows, op, shape, kernel, lengths):
    """The adjoint of ``_windows``: window values (N, C, Ho, Wo, kh, kw) summed into an (N, C, H, W) array."""
    (top, bottom), (left, right) = op.padding
    (dh, dw), (sh, sw), (kh, kw) = op.dilation, op.stride, kernel
    n, c, h, w = shape
    padded = np.zeros((n, c, h + top + bottom, w + left + right), grad_windows.dtype)
    ho, wo = lengths
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw] += \
                grad_windows[..., i, j]
    return padded[:, :, top:top + h, left:left + w]


def _shape_input(v, what):
    v = as_variable(v, like="int64")
    if v.ndim != 0 or v.type.kind not in "iu":
        raise TypeError(f"{what}: expected an integer scalar, got {v.describe()}")
    return v


def _grad_as(value, like):
    from .elemwise import cast
    return cast(value, like.dtype) if like.type.is_float else None


def _length(x, axis):
    from .shape import ShapeOf
    n = x.type.shape[axis]
    return Constant(np.int64(n)) if n is not None else ShapeOf(axis)(x)


# ---------------------------------------------------------------- convolution

class _ConvOp(Op):
    abstract = True
    __props__ = ("stride", "padding", "dilation", "groups")

    def __init__(self, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
        self.stride = tuple(int(s) for s in stride)
        self.padding = tuple(tuple(int(p) for p in pair) for pair in padding)
        self.dilation = tuple(int(d) for d in dilation)
        self.groups = int(groups)

    def _same(self, op_class):
        return op_class(self.stride, self.padding, self.dilation, self.groups)

    def _check_channels(self, what, channels, out_channels, weight_channels):
        g = self.groups
        if channels is not None and channels % g:
            raise ValueError(f"{what}: the input's {channels} channels are not divisible by groups={g}")
        if out_channels is not None and out_channels % g:
            raise ValueError(f"{what}: the weight's {out_channels} output channels are not divisible by groups={g}")
        if channels is not None and weight_channels is not None and weight_channels * g != channels:
            raise ValueError(f"{what}: the weight reads {weight_channels} channels per group, the input has "
                             f"{channels} channels in {g} group(s) (weight axis 1 must be channels // groups)")

    def _check_channel_values(self, node, channels, out_channels, weight_channels):
        try:
            self._check_channels(str(self), channels, out_channels, weight_channels)
        except ValueError as exc:
            raise ValueError(f"{exc}{node.where()}") from None

    def _grouped_weight(self, w):
        o, cg, kh, kw = w.shape
        return w.reshape(self.groups, o // self.groups, cg, kh, kw)


class Conv2d(_ConvOp):
    """``torch.nn.functional.conv2d(x, w, stride, padding, dilation, groups)`` (no bias): ``x`` (N, C, H, W),
    ``w`` (O, C // groups, kh, kw) -> (N, O, Ho, Wo), cross-correlation. ``padding`` is ((top, bottom),
    (left, right)) here; ``sg.conv2d`` accepts PyTorch's forms."""

    name = "conv2d"

    def make_node(self, x, w):
        x, w = as_variable(x), as_variable(w)
        dtype = float_dtype("conv2d", x, w)
        _rank("conv2d", x, 4, "(batch, channels, height, width) input")
        _rank("conv2d", w, 4, "(out_channels, channels // groups, kh, kw) weight")
        n, c, h, wd = x.type.shape
        o, cg, kh, kw = w.type.shape
        self._check_channels("conv2d", c, o, cg)
        ho, wo = _spatial("conv2d", self, (h, wd), (kh, kw))
        return Node(self, [x, w], [TensorType(dtype, (n, o, ho, wo))])

    def perform(self, node, inputs):
        x, w = inputs
        dtype = node.outputs[0].dtype
        n, c, h, wd = x.shape
        o, cg, kh, kw = w.shape
        self._check_channel_values(node, c, o, cg)
        ho, wo = _check_lengths(self, node, (h, wd), (kh, kw))
        g = self.groups
        windows = _windows(np.asarray(x, dtype), self, (kh, kw), (ho, wo)).reshape(n, g, c // g, ho, wo, kh, kw)
        out = np.einsum("ngchwij,gocij->ngohw", windows, self._grouped_weight(np.asarray(w, dtype)), optimize=True)
        return [np.ascontiguousarray(out.reshape(n, o, ho, wo), dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        (x, w), (g,) = inputs, output_grads
        gx = self._same(Conv2dGradInput)(g, w, _length(x, 2), _length(x, 3))
        gw = self._same(Conv2dGradWeight)(x, g, _length(w, 2), _length(w, 3))
        return [_grad_as(gx, x), _grad_as(gw, w)]


class Conv2dGradInput(_ConvOp):
    """The gradient of ``conv2d`` with respect to its input (the transposed convolution): ``gy`` (N, O, Ho,
    Wo) and ``w`` (O, C // groups, kh, kw) -> (N, C, height, width), ``height`` and ``width`` being the
    input's (integer scalars: a strided convolution's output does not determine them)."""

    name = "conv2d_grad_input"

    def make_node(self, gy, w, height, width):
        gy, w = as_variable(gy), as_variable(w)
        height, width = _shape_input(height, "conv2d_grad_input"), _shape_input(width, "conv2d_grad_input")
        dtype = float_dtype("conv2d_grad_input", gy, w)
        _rank("conv2d_grad_input", gy, 4, "(batch, out_channels, height, width) gradient")
        _rank("conv2d_grad_input", w, 4, "(out_channels, channels // groups, kh, kw) weight")
        o, cg = w.type.shape[:2]
        if o is not None and o % self.groups:
            raise ValueError(f"conv2d_grad_input: the weight's {o} output channels are not divisible by "
                             f"groups={self.groups}")
        c = cg * self.groups if cg is not None else None
        return Node(self, [gy, w, height, width],
                    [TensorType(dtype, (gy.type.shape[0], c, _static_int(height), _static_int(width)))])

    def perform(self, node, inputs):
        gy, w, height, width = inputs
        dtype = node.outputs[0].dtype
        h, wd = int(height), int(width)
        o, cg, kh, kw = w.shape
        n = gy.shape[0]
        g = self.groups
        self._check_channel_values(node, cg * g, o, cg)
        ho, wo = _check_lengths(self, node, (h, wd), (kh, kw))
        if gy.shape[1:] != (o, ho, wo):
            raise ValueError(f"{self}: the output gradient has shape {gy.shape}, the convolution's output is "
                             f"{(n, o, ho, wo)}{node.where()}")
        grouped = np.asarray(gy, dtype).reshape(n, g, o // g, ho, wo)
        windows = np.einsum("ngohw,gocij->ngchwij", grouped, self._grouped_weight(np.asarray(w, dtype)),
                            optimize=True).reshape(n, g * cg, ho, wo, kh, kw)
        return [np.ascontiguousarray(_scatter_windows(windows, self, (n, g * cg, h, wd), (kh, kw), (ho, wo)),
                                     dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        (gy, w, _, _), (g,) = inputs, output_grads
        ggy = self._same(Conv2d)(g, w)
        gw = self._same(Conv2dGradWeight)(g, gy, _length(w, 2), _length(w, 3))
        return [_grad_as(ggy, gy), _grad_as(gw, w), None, None]

    def connection_pattern(self, node):
        return [True, True, False, False]


class Conv2dGradWeight(_ConvOp):
    """The gradient of ``conv2d`` with respect to its weight: ``x`` (N, C, H, W) and ``gy`` (N, O, Ho, Wo) ->
    (O, C // groups, kh, kw), ``kh`` and ``kw`` being the kernel's size (integer scalars)."""

    name = "conv2d_grad_weight"

    def make_node(self, x, gy, kh, kw):
        x, gy = as_variable(x), as_variable(gy)
        kh, kw = _shape_input(kh, "conv2d_grad_weight"), _shape_input(kw, "conv2d_grad_weight")
        dtype = float_dtype("conv2d_grad_weight", x, gy)
        _rank("conv2d_grad_weight", x, 4, "(batch, channels, height, width) input")
        _rank("conv2d_grad_weight", gy, 4, "(batch, out_channels, height, width) gradient")
        c, o = x.type.shape[1], gy.type.shape[1]
        self._check_channels("conv2d_grad_weight", c, o, None)
        cg = c // self.groups if c is not None else None
        return Node(self, [x, gy, kh, kw], [TensorType(dtype, (o, cg, _static_int(kh), _static_int(kw)))])

    def perform(self, node, inputs):
        x, gy, kh, kw = inputs
        dtype = node.outputs[0].dtype
        kh, kw = int(kh), int(kw)
        n, c, h, wd = x.shape
        o = gy.shape[1]
        g = self.groups
        self._check_channel_values(node, c, o, c // g)
        ho, wo = _check_lengths(self, node, (h, wd), (kh, kw))
        if gy.shape != (n, o, ho, wo):
            raise ValueError(f"{self}: the output gradient has shape {gy.shape}, the convolution's output is "
                             f"{(n, o, ho, wo)}{node.where()}")
        windows = _windows(np.asarray(x, dtype), self, (kh, kw), (ho, wo)).reshape(n, g, c // g, ho, wo, kh, kw)
        grouped = np.asarray(gy, dtype).reshape(n, g, o // g, ho, wo)
        out = np.einsum("ngchwij,ngohw->gocij", windows, grouped, optimize=True)
        return [np.ascontiguousarray(out.reshape(o, c // g, kh, kw), dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        (x, gy, _, _), (g,) = inputs, output_grads
        gx = self._same(Conv2dGradInput)(gy, g, _length(x, 2), _length(x, 3))
        ggy = self._same(Conv2d)(x, g)
        return [_grad_as(gx, x), _grad_as(ggy, gy), None, None]

    def connection_pattern(self, node):
        return [True, True, False, False]


# ---------------------------------------------------------------- pooling

class _PoolOp(Op):
    abstract = True
    __props__ = ("kernel", "stride", "padding")
    dilation = (1, 1)

    def __init__(self, kernel, stride, padding):
        """``kernel``, ``stride``, ``padding``: pairs of ints (the padding on both sides of each axis)."""
        self.kernel = tuple(int(k) for k in kernel)
        self.stride = tuple(int(s) for s in stride)
        p = tuple(int(v) for v in padding)
        self.padding = ((p[0], p[0]), (p[1], p[1]))

    @property
    def pads(self):
        """The padding as PyTorch gives it: one int per spatial axis."""
        return tuple(pair[0] for pair in self.padding)

    def _same(self, op_class):
        return op_class(self.kernel, self.stride, self.pads)

    def _pooled_type(self, what, x, dtype=None):
        if x.ndim != 4:
            raise ValueError(f"{what}: expected a 4-d (batch, channels, height, width) input, got {x.describe()}")
        n, c, h, w = x.type.shape
        ho, wo = _spatial(what, self, (h, w), self.kernel)
        return TensorType(dtype or x.dtype, (n, c, ho, wo))

    def _lengths(self, node, x):
        lengths = _check_lengths(self, node, x.shape[2:], self.kernel)
        if 0 in x.shape[2:] and x.shape[0] * x.shape[1]:
            # every window lies in the padding (possible with padding only)
            raise ValueError(f"{self}: cannot pool an input of shape {x.shape} (no element to pool){node.where()}")
        return lengths


def _first_maxima(x, op, lengths):
    """For each window of ``x`` (N, C, H, W): the flat index (into H * W) of its first maximum in row-major
    order, a NaN replacing it (the last NaN), padding never chosen; shape (N, C, Ho, Wo)."""
    n, c, h, w = x.shape
    (top, _), (left, _) = op.padding
    (sh, sw), (kh, kw) = op.stride, op.kernel
    ho, wo = lengths
    rows = np.arange(ho)[:, None] * sh - top          # window origins in the unpadded input
    cols = np.arange(wo)[None, :] * sw - left
    best = np.zeros((n, c, ho, wo), dtype=x.dtype)     # replaced by each window's first real element
    index = np.zeros((n, c, ho, wo), dtype=np.int64)
    chosen = np.zeros((n, c, ho, wo), dtype=bool)     # whether a real (unpadded) element was met yet
    for i in range(kh):
        for j in range(kw):
            r, q = rows + i, cols + j                   # (ho, 1), (1, wo)
            inside = (r >= 0) & (r < h) & (q >= 0) & (q < w)
            value = x[:, :, np.clip(r, 0, h - 1), np.clip(q, 0, w - 1)]
            flat = np.broadcast_to(np.clip(r, 0, h - 1) * w + np.clip(q, 0, w - 1), (ho, wo))
            take = inside & ((value > best) | np.isnan(value) | ~chosen)
            best = np.where(take, value, best)
            index = np.where(take, flat, index)
            chosen |= inside
    return index


class MaxPool2d(_PoolOp):
    """``torch.nn.functional.max_pool2d(x, kernel, stride, padding)`` of an (N, C, H, W) input (padding
    never chosen; a window holding NaN gives NaN)."""

    name = "max_pool2d"

    def make_node(self, x):
        x = as_variable(x)
        if x.type.kind not in "iuf":
            raise TypeError(f"max_pool2d: expected a real input, got {x.describe()}")
        return Node(self, [x], [self._pooled_type("max_pool2d", x)])

    def perform(self, node, inputs):
        (x,) = inputs
        lengths = self._lengths(node, x)
        index = _first_maxima(x, self, lengths)
        n, c, h, w = x.shape
        flat = index.reshape(n, c, lengths[0] * lengths[1])
        return [np.take_along_axis(x.reshape(n, c, h * w), flat, axis=2).reshape(index.shape)]

    def grad(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        if not x.type.is_float:
            return [None]
        return [self._same(MaxPool2dGrad)(x, g)]


class MaxPool2dGrad(_PoolOp):
    """The gradient of ``max_pool2d``: ``gy`` (N, C, Ho, Wo) added at the first maximum of each window of
    ``x`` -> an array of ``x``'s shape."""

    name = "max_pool2d_grad"

    def make_node(self, x, gy):
        x, gy = as_variable(x), as_variable(gy)
        expected = self._pooled_type("max_pool2d_grad", x)
        if gy.ndim != 4 or not gy.type.is_float:
            raise ValueError(f"max_pool2d_grad: expected a 4-d float output gradient, got {gy.describe()}")
        if not expected.is_compatible(TensorType(expected.dtype, gy.type.shape)):
            raise ValueError(f"max_pool2d_grad: the output gradient {gy.describe()} does not match the pooled "
                             f"shape {expected.shape}")
        return Node(self, [x, gy], [TensorType(gy.dtype, x.type.shape)])

    def perform(self, node, inputs):
        x, gy = inputs
        lengths = self._lengths(node, x)
        index = _first_maxima(x, self, lengths)
        n, c, h, w = x.shape
        if gy.shape != index.shape:
            raise ValueError(f"{self}: the output gradient has shape {gy.shape}, the pooled output is "
                             f"{index.shape}{node.where()}")
        out = np.zeros((n * c, h * w), dtype=node.outputs[0].dtype)
        rows = np.repeat(np.arange(n * c), lengths[0] * lengths[1])
        np.add.at(out, (rows, index.reshape(-1)), gy.reshape(-1))
        return [out.reshape(n, c, h, w)]

    def grad(self, inputs, outputs, output_grads):
        from .shape import zeros_like
        (x, gy), (g,) = inputs, output_grads
        return [zeros_like(x) if x.type.is_float else None, self._same(MaxPool2dGather)(x, g)]


class MaxPool2dGather(_PoolOp):
    """``g`` (of ``x``'s shape) read at the first maximum of each window of ``x`` -> (N, C, Ho, Wo): the
    gradient of ``max_pool2d_grad`` with respect to its output gradient."""

    name = "max_pool2d_gather"

    def make_node(self, x, g):
        x, g = as_variable(x), as_variable(g)
        if g.ndim != 4 or not g.type.is_float:
            raise ValueError(f"max_pool2d_gather: expected a 4-d float array, got {g.describe()}")
        return Node(self, [x, g], [self._pooled_type("max_pool2d_gather", x, g.dtype)])

    def perform(self, node, inputs):
        x, g = inputs
        if g.shape != x.shape:
            raise ValueError(f"{self}: the array gathered from has shape {g.shape}, the pooled input "
                             f"{x.shape}{node.where()}")
        lengths = self._lengths(node, x)
        index = _first_maxima(x, self, lengths)
        n, c, h, w = x.shape
        gathered = np.take_along_axis(g.reshape(n, c, h * w), index.reshape(n, c, lengths[0] * lengths[1]), axis=2)
        return [gathered.reshape(index.shape).astype(node.outputs[0].dtype, copy=False)]

    def grad(self, inputs, outputs, output_grads):
        from .shape import zeros_like
        (x, g), (gy,) = inputs, output_grads
        return [zeros_like(x) if x.type.is_float else None, self._same(MaxPool2dGrad)(x, gy)]


class _AvgPoolOp(_PoolOp):
    abstract = True
    __props__ = ("kernel", "stride", "padding", "count_include_pad")

    def __init__(self, kernel, stride, padding, count_include_pad=True):
        super().__init__(kernel, stride, padding)
        self.count_include_pad = bool(count_include_pad)

    def _same(self, op_class):
        return op_class(self.kernel, self.stride, self.pads, self.count_include_pad)

    def divisors(self, shape, lengths, dtype):
        """The count each window's sum is divided by, shape (Ho, Wo)."""
        kh, kw = self.kernel
        if self.count_include_pad:
            return np.full(lengths, kh * kw, dtype=dtype)
        h, w = shape
        (top, _), (left, _) = self.padding
        rows = np.arange(lengths[0]) * self.stride[0] - top
        cols = np.arange(lengths[1]) * self.stride[1] - left
        count_r = np.minimum(rows + kh, h) - np.maximum(rows, 0)
        count_c = np.minimum(cols + kw, w) - np.maximum(cols, 0)
        return (count_r[:, None] * count_c[None, :]).astype(dtype)


class AvgPool2d(_AvgPoolOp):
    """``torch.nn.functional.avg_pool2d(x, kernel, stride, padding, count_include_pad)``: the mean of each
    window, the zeros of the padding counted (``count_include_pad=True``, PyTorch's default) or not."""

    name = "avg_pool2d"

    def make_node(self, x):
        x = as_variable(x)
        dtype = float_dtype("avg_pool2d", x)
        return Node(self, [x], [self._pooled_type("avg_pool2d", x, dtype)])

    def perform(self, node, inputs):
        (x,) = inputs
        dtype = node.outputs[0].dtype
        lengths = self._lengths(node, x)
        total = _windows(np.asarray(x, dtype), self, self.kernel, lengths).sum(axis=(4, 5), dtype=dtype)
        return [np.ascontiguousarray(total / self.divisors(x.shape[2:], lengths, dtype), dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        return [_grad_as(self._same(AvgPool2dGrad)(g, _length(x, 2), _length(x, 3)), x)]


class AvgPool2dGrad(_AvgPoolOp):
    """The gradient of ``avg_pool2d``: ``gy`` (N, C, Ho, Wo) spread evenly over each window -> (N, C,
    height, width)."""

    name = "avg_pool2d_grad"

    def make_node(self, gy, height, width):
        gy = as_variable(gy)
        height, width = _shape_input(height, "avg_pool2d_grad"), _shape_input(width, "avg_pool2d_grad")
        if gy.ndim != 4 or not gy.type.is_float:
            raise ValueError(f"avg_pool2d_grad: expected a 4-d float output gradient, got {gy.describe()}")
        n, c = gy.type.shape[:2]
        return Node(self, [gy, height, width],
                    [TensorType(gy.dtype, (n, c, _static_int(height), _static_int(width)))])

    def perform(self, node, inputs):
        gy, height, width = inputs
        dtype = node.outputs[0].dtype
        h, w = int(height), int(width)
        lengths = _check_lengths(self, node, (h, w), self.kernel)
        n, c = gy.shape[:2]
        if gy.shape[2:] != tuple(lengths):
            raise ValueError(f"{self}: the output gradient has shape {gy.shape}, the pooled output is "
                             f"{(n, c, *lengths)}{node.where()}")
        share = (gy / self.divisors((h, w), lengths, dtype)).astype(dtype, copy=False)
        kh, kw = self.kernel
        windows = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
        return [np.ascontiguousarray(_scatter_windows(windows, self, (n, c, h, w), self.kernel, lengths), dtype=dtype)]

    def grad(self, inputs, outputs, output_grads):
        (gy, _, _), (g,) = inputs, output_grads
        return [_grad_as(self._same(AvgPool2d)(g), gy), None, None]

    def connection_pattern(self, node):
        return [True, False, False]


# ---------------------------------------------------------------- the functions users call

def _conv_padding(padding, w, dilation, stride):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
        if stride != (1, 1):
            raise ValueError(f"conv2d: padding='same' needs stride 1 (as PyTorch), got stride={stride}")
        kernel = w.type.shape[2:] if w.ndim == 4 else (None, None)
        if None in kernel:
            raise ValueError(f"conv2d: padding='same' needs the kernel size when the graph is built; "
                             f"{w.describe()} does not tell it (give the weight a static shape)")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))    # the extra row/column after, as PyTorch
        return tuple(pads)
    p = _pair(padding, "conv2d: padding", 0)
    return ((p[0], p[0]), (p[1], p[1]))


def conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """The 2-d convolution (cross-correlation) of a batch of images, as ``torch.nn.functional.conv2d``.

    On the numba backend a bias added right after it (an array of shape ``(1, out_channels, 1, 1)``) and a
    ReLU of that sum are computed in the loops that write the convolution's output (``relu(conv2d(x, w) +
    b)``: one pass, one array), with the bits of the separate operations.

    Parameters
    ----------
    x : Variable or array_like
        Images ``(batch, channels, height, width)`` (NCHW).
    w : Variable or array_like
        Filters ``(out_channels, channels // groups, kh, kw)`` (OIHW).
    stride, dilation : int or (int, int), optional
        Step between windows, spacing between kernel taps (default 1).
    padding : int, (int, int), "valid" or "same", optional
        Zeros added on both sides of each spatial axis; "same" (stride 1 only) keeps height and width,
        an odd total padding putting the extra row/column after, as PyTorch.
    groups : int, optional
        Channel groups: each group of ``channels // groups`` input channels feeds ``out_channels // groups``
        outputs (``groups=channels``: a depthwise convolution).

    Returns
    -------
    Variable
        ``(batch, out_channels, ho, wo)`` with ``ho = (height + 2 ph - dilation (kh - 1) - 1) // stride + 1``;
        float32 when both operands are float32, else float64. Differentiable in ``x`` and ``w`` to any order.

    Examples
    --------
    >>> x = sg.tensor("x", shape=(None, 1, 5, 5))
    >>> w = sg.constant(np.ones((2, 1, 3, 3)))
    >>> f = sg.function([x], sg.conv2d(x, w, padding="same"))
    >>> f(np.ones((1, 1, 5, 5)))[0, 0, :2]
    array([[4., 6., 6., 6., 4.],
           [6., 9., 9., 9., 6.]])
    """
    with pointing_at_user_line():
        x, w = as_variable(x), as_variable(w)
        stride = _pair(stride, "conv2d: stride", 1)
        dilation = _pair(dilation, "conv2d: dilation", 1)
        if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
        pads = _conv_padding(padding, w, dilation, stride)
    return Conv2d(stride, pads, dilation, int(groups))(x, w)


def _pool_arguments(what, kernel_size, stride, padding):
    kernel = _pair(kernel_size, f"{what}: kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, f"{what}: stride", 1)
    pads = _pair(padding, f"{what}: padding", 0)
    if any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(f"{what}: padding {padding!r} must be at most half the kernel size {kernel} (as PyTorch)")
    return kernel, stride, pads


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum of each window of a batch of images, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : Variable or array_like
        ``(batch, channels, height, width)``.
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        Step between windows; default the kernel size (non-overlapping windows).
    padding : int or (int, int), optional
        Implicit -inf padding on both sides (at most half the kernel), never chosen.

    Returns
    -------
    Variable
        ``(batch, channels, ho, wo)`` of ``x``'s dtype, ``ho = (height + 2 padding - kernel) // stride + 1``.
        The gradient goes to the first maximum of each window (row-major), as PyTorch's; a window holding NaN
        gives NaN. Differentiable to any order (piecewise linear).

    Examples
    --------
    >>> x = sg.tensor("x", shape=(None, None, None, None))
    >>> f = sg.function([x], sg.max_pool2d(x, 2))
    >>> f(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    with pointing_at_user_line():
        x = as_variable(x)
        kernel, stride, pads = _pool_arguments("max_pool2d", kernel_size, stride, padding)
    return MaxPool2d(kernel, stride, pads)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """The mean of each window of a batch of images, as ``torch.nn.functional.avg_pool2d``.

    Parameters
    ----------
    x : Variable or array_like
        ``(batch, channels, height, width)``.
    kernel_size : int or (int, int)
        The window.
    stride : int or (int, int), optional
        Step between windows; default the kernel size.
    padding : int or (int, int), optional
        Implicit zero padding on both sides (at most half the kernel).
    count_include_pad : bool, optional
        Whether the padding's zeros count in a window's mean (default True, as PyTorch).

    Returns
    -------
    Variable
        ``(batch, channels, ho, wo)``; float32 for float32 input, else float64. Differentiable to any order
        (linear).

    Examples
    --------
    >>> x = sg.tensor("x", shape=(None, None, None, None))
    >>> f = sg.function([x], sg.avg_pool2d(x, 2))
    >>> f(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """
    with pointing_at_user_line():
        x = as_variable(x)
        kernel, stride, pads = _pool_arguments("avg_pool2d", kernel_size, stride, padding)
        if not isinstance(count_include_pad, (bool, np.bool_)):
            raise TypeError(f"avg_pool2d: count_include_pad must be a bool, got {count_include_pad!r}")
    return AvgPool2d(kernel, stride, pads, bool(count_include_pad))(x)
