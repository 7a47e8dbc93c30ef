"""Lowering of the convolution ops of symgraph/ops/conv.py (numba backend): conv2d, max_pool2d, avg_pool2d and
their gradient ops.

Each node is one call of a cached helper of conv_runtime.py that computes the whole batch (im2col and BLAS
products for the convolutions, direct loops for pooling). The kernel first checks what the helpers rely on,
in the order of the ops' ``perform``: channels divisible by ``groups``, the weight's channels per group,
output lengths of at least 1 (a kernel no larger than the padded input), the gradients' shapes; a failure
raises ValueError with the python backend's leading text, the op and the user's line. The messages are
constant (kernel.check), so a length the graph does not know is described rather than printed (the failing
call's operand shapes follow the message). The convolutions' operands
are cast to the output dtype first (integers compute in float64, float32 stays float32); max pooling keeps
its input's dtype. Arrays reach the helpers as layout ``A`` views (``x[::1]``, see factor.py's
``_any_layout``): one compiled helper per dtype.

Fusion (``find_epilogues``): a convolution whose value only one elementwise node reads, a bias add with an
optional ReLU (``conv + b``, ``relu(conv + b)``, ``b`` of shape (1, C, 1, 1) and the convolution's dtype),
runs as one helper call, ``conv2d_epilogue``, that adds the bias and clamps where its loops write the output:
no pass over the output, no second array. The elementwise node may have other outputs (the pre-activation
sum ``sg.grad`` keeps) when only their shapes are read (``Op.shape_only_inputs``: ``sum_to_shape``'s
``like``, ``shape_of``); the convolution's own value likewise. The pair is lowered where the elementwise
node stands, so its bias is computed by then.
"""
from __future__ import annotations

from dataclasses import dataclass

from symgraph.graph import Constant
from symgraph.ops.conv import (AvgPool2d, AvgPool2dGrad, Conv2d, Conv2dGradInput, Conv2dGradWeight, MaxPool2d,
                               MaxPool2dGather, MaxPool2dGrad)
from symgraph.ops.elemwise import Add, Elemwise, Relu
from symgraph.ops.fused import Fused

from .kernel import literal, register

class _Length:
    """A length: the code the kernel reads it from, and its value when the graph knows it."""

    def __init__(self, code, value=None):
        self.code, self.value = str(code), value

    @classmethod
    def of(cls, kernel, var, axis):
        static = var.type.shape[axis]
        return cls(str(static), static) if static is not None else cls(kernel.dims(var)[axis])

    @classmethod
    def scalar(cls, kernel, var):
        """An integer scalar input (a height, a kernel size) as an int64 length."""
        if isinstance(var, Constant) and var.ndim == 0:
            return cls(str(int(var.value)), int(var.value))
        return cls(kernel.int64_code(var, "n"))


def _any_layout(code):
    return f"{code}[::1]"


def _operand(kernel, var, dtype):
    """``var`` as a layout-A view in ``dtype`` (a C-contiguous cast copy when its dtype differs)."""
    code = kernel.code(var)
    if var.dtype != dtype:
        code = kernel.let(f"{kernel.runtime()}.conv_cast({_any_layout(code)}, {literal(0, dtype)})", "v")
    return _any_layout(code)


def _check_divisible(node, kernel, length, what):
    """``length`` divisible by the op's groups (checked where the graph does not know it: make_node did)."""
    g = node.op.groups
    if g > 1 and length.value is None:
        kernel.check(f"{length.code} % {g} != 0", f"{node.op}: {what} are not divisible by groups={g}")


def _check_channels(node, kernel, channels, out_channels, weight_channels):
    """The checks of ``_ConvOp._check_channels`` for what the graph does not know (it checked the rest)."""
    g = node.op.groups
    if channels is not None:
        _check_divisible(node, kernel, channels, "the input's channels")
    if out_channels is not None:
        _check_divisible(node, kernel, out_channels, "the weight's output channels")
    if channels is None or weight_channels is None or (channels.value is not None
                                                       and weight_channels.value is not None):
        return

    def message(per_group):
        has = (f"{channels.value} channels" if channels.value is not None
               else f"other than {per_group * g} channels")
        return (f"{node.op}: the weight reads {per_group} channels per group, the input has {has} in {g} "
                f"group(s) (weight axis 1 must be channels // groups)")

    failing = f"{weight_channels.code} * {g} != {channels.code}"
    if weight_channels.value is not None:
        kernel.check(failing, message(weight_channels.value))
        return
    # a constant message (kernel.check): the call's operand shapes, appended to it, show the lengths
    kernel.check(failing, f"{node.op}: the weight's channels per group (axis 1) times groups={g} differ from "
                          f"the input's channels (weight axis 1 must be channels // groups)")


def _output_lengths(node, kernel, sizes, kernel_sizes):
    """The output lengths (``_Length``) along the two spatial axes, each checked >= 1 as ``_check_lengths``."""
    op = node.op
    lengths = []
    for axis in range(2):
        (before, after), d, s = op.padding[axis], op.dilation[axis], op.stride[axis]
        n, k = sizes[axis], kernel_sizes[axis]
        if n.value is not None and k.value is not None:
            value = (n.value + before + after - d * (k.value - 1) - 1) // s + 1
            if value >= 1:
                lengths.append(_Length(str(value), value))
                continue
        length = kernel.let(f"({n.code} + {before + after} - {d} * ({k.code} - 1) - 1) // {s} + 1", "n")
        wide = f"{d * (k.value - 1) + 1} wide with dilation" if k.value is not None else f"dilation {d}"
        padded = (f"{n.value + before + after}" if n.value is not None
                  else f"its length + {before + after}" if before + after else "its length")
        kernel.check(f"{length} < 1", f"{op}: the kernel ({wide}) is larger than the padded input ({padded}) "
                                      f"along axis {axis + 2}")
        lengths.append(_Length(length))
    return lengths


def _check_shape(node, kernel, var, expected, what):
    """``var``'s lengths equal ``expected`` (``_Length`` or None to skip an axis), else ``what``."""
    for axis, want in enumerate(expected):
        if want is None:
            continue
        have = _Length.of(kernel, var, axis)
        if have.value is not None and want.value is not None:
            continue              # the graph was built with both: make_node compared them
        kernel.check(f"{have.code} != {want.code}", f"{node.op}: {what}")


def _conv_params(kernel, op):
    (sh, sw), ((top, _), (left, _)), (dh, dw) = op.stride, op.padding, op.dilation
    return kernel.int_tuple([sh, sw, top, left, dh, dw, op.groups])


def _pool_params(kernel, op):
    (kh, kw), (sh, sw), (ph, pw) = op.kernel, op.stride, op.pads
    return kernel.int_tuple([kh, kw, sh, sw, ph, pw])


def _bind(kernel, out, name, lengths):
    kernel.bind(out, name, [length.code for length in lengths], contiguous=True, owned=True)


def _pooled_type_of(node, kernel, x):
    """The output lengths of a pooling op over ``x`` (N, C, H, W), checked as ``_PoolOp._lengths``."""
    sizes = [_Length.of(kernel, x, 2), _Length.of(kernel, x, 3)]
    lengths = _output_lengths(node, kernel, sizes, [_Length(str(k), k) for k in node.op.kernel])
    if any(size.value in (None, 0) for size in sizes):
        # every window lies in the padding (possible with padding only)
        batch, channels = _Length.of(kernel, x, 0), _Length.of(kernel, x, 1)
        kernel.check(f"({sizes[0].code} == 0 or {sizes[1].code} == 0) and {batch.code} * {channels.code} != 0",
                     f"{node.op}: cannot pool an input of this shape (no element to pool)")
    return lengths


# ---------------------------------------------------------------- convolution

def _convolution(node, kernel):
    """The checks of a conv2d node and what its helper call reads: (the output lengths, as ``_Length``, and
    the call's leading arguments: both operands in the output dtype, the parameters, ho, wo)."""
    x, w = node.inputs
    dtype = node.outputs[0].dtype
    lengths = [_Length.of(kernel, x, axis) for axis in range(4)]
    weight = [_Length.of(kernel, w, axis) for axis in range(4)]
    _check_channels(node, kernel, lengths[1], weight[0], weight[1])
    ho, wo = _output_lengths(node, kernel, lengths[2:], weight[2:])
    arguments = (f"{_operand(kernel, x, dtype)}, {_operand(kernel, w, dtype)}, {_conv_params(kernel, node.op)}, "
                 f"{ho.code}, {wo.code}")
    return [lengths[0], weight[0], ho, wo], arguments


@register(Conv2d)
def lower_conv2d(node, kernel):
    dims, arguments = _convolution(node, kernel)
    _bind(kernel, node.outputs[0], kernel.let(f"{kernel.runtime()}.conv2d({arguments})", "v"), dims)


@register(Conv2dGradInput)
def lower_conv2d_grad_input(node, kernel):
    gy, w, height, width = node.inputs
    out = node.outputs[0]
    op = node.op
    weight = [_Length.of(kernel, w, axis) for axis in range(4)]
    h, wd = _Length.scalar(kernel, height), _Length.scalar(kernel, width)
    _check_channels(node, kernel, None, weight[0], None)
    ho, wo = _output_lengths(node, kernel, [h, wd], weight[2:])
    _check_shape(node, kernel, gy, [None, weight[0], ho, wo],
                 "the output gradient's shape is not the convolution's output (batch, out_channels, ho, wo)")
    call = (f"{kernel.runtime()}.conv2d_grad_input({_operand(kernel, gy, out.dtype)}, "
            f"{_operand(kernel, w, out.dtype)}, {h.code}, {wd.code}, {_conv_params(kernel, op)})")
    channels = (_Length(str(out.type.shape[1]), out.type.shape[1]) if out.type.shape[1] is not None
                else _Length(f"{weight[1].code} * {op.groups}"))
    _bind(kernel, out, kernel.let(call, "v"), [_Length.of(kernel, gy, 0), channels, h, wd])


@register(Conv2dGradWeight)
def lower_conv2d_grad_weight(node, kernel):
    x, gy, kh, kw = node.inputs
    out = node.outputs[0]
    op = node.op
    lengths = [_Length.of(kernel, x, axis) for axis in range(4)]
    out_channels = _Length.of(kernel, gy, 1)
    taps = [_Length.scalar(kernel, kh), _Length.scalar(kernel, kw)]
    _check_channels(node, kernel, lengths[1], out_channels, None)
    ho, wo = _output_lengths(node, kernel, lengths[2:], taps)
    _check_shape(node, kernel, gy, [lengths[0], None, ho, wo],
                 "the output gradient's shape is not the convolution's output (batch, out_channels, ho, wo)")
    call = (f"{kernel.runtime()}.conv2d_grad_weight({_operand(kernel, x, out.dtype)}, "
            f"{_operand(kernel, gy, out.dtype)}, {taps[0].code}, {taps[1].code}, {_conv_params(kernel, op)})")
    channels = (_Length(str(out.type.shape[1]), out.type.shape[1]) if out.type.shape[1] is not None
                else _Length(f"{lengths[1].code} // {op.groups}"))
    _bind(kernel, out, kernel.let(call, "v"), [out_channels, channels, *taps])


# ---------------------------------------------------------------- pooling

def _pooled_dims(kernel, x, ho, wo):
    """The lengths of a pooled output: x's batch and channels, then ``ho`` and ``wo``."""
    return [_Length.of(kernel, x, 0), _Length.of(kernel, x, 1), ho, wo]


@register(MaxPool2d)
def lower_max_pool2d(node, kernel):
    (x,), out = node.inputs, node.outputs[0]
    ho, wo = _pooled_type_of(node, kernel, x)
    call = (f"{kernel.runtime()}.max_pool2d({_any_layout(kernel.code(x))}, {_pool_params(kernel, node.op)}, "
            f"{ho.code}, {wo.code})")
    _bind(kernel, out, kernel.let(call, "v"), _pooled_dims(kernel, x, ho, wo))


@register(MaxPool2dGrad)
def lower_max_pool2d_grad(node, kernel):
    (x, gy), out = node.inputs, node.outputs[0]
    ho, wo = _pooled_type_of(node, kernel, x)
    batch, channels = _Length.of(kernel, x, 0), _Length.of(kernel, x, 1)
    _check_shape(node, kernel, gy, [batch, channels, ho, wo],
                 "the output gradient's shape is not the pooled output's")
    call = (f"{kernel.runtime()}.max_pool2d_grad({_any_layout(kernel.code(x))}, {_any_layout(kernel.code(gy))}, "
            f"{_pool_params(kernel, node.op)})")
    _bind(kernel, out, kernel.let(call, "v"), [_Length.of(kernel, x, axis) for axis in range(4)])


@register(MaxPool2dGather)
def lower_max_pool2d_gather(node, kernel):
    (x, g), out = node.inputs, node.outputs[0]
    _check_shape(node, kernel, g, [_Length.of(kernel, x, axis) for axis in range(4)],
                 "the array gathered from does not have the pooled input's shape")
    ho, wo = _pooled_type_of(node, kernel, x)
    call = (f"{kernel.runtime()}.max_pool2d_gather({_any_layout(kernel.code(x))}, {_any_layout(kernel.code(g))}, "
            f"{_pool_params(kernel, node.op)}, {ho.code}, {wo.code})")
    _bind(kernel, out, kernel.let(call, "v"), _pooled_dims(kernel, x, ho, wo))


@register(AvgPool2d)
def lower_avg_pool2d(node, kernel):
    (x,), out = node.inputs, node.outputs[0]
    ho, wo = _pooled_type_of(node, kernel, x)
    call = (f"{kernel.runtime()}.avg_pool2d({_operand(kernel, x, out.dtype)}, {_pool_params(kernel, node.op)}, "
            f"{ho.code}, {wo.code}, {node.op.count_include_pad})")
    _bind(kernel, out, kernel.let(call, "v"), _pooled_dims(kernel, x, ho, wo))


@register(AvgPool2dGrad)
def lower_avg_pool2d_grad(node, kernel):
    (gy, height, width), out = node.inputs, node.outputs[0]
    h, w = _Length.scalar(kernel, height), _Length.scalar(kernel, width)
    ho, wo = _output_lengths(node, kernel, [h, w], [_Length(str(k), k) for k in node.op.kernel])
    _check_shape(node, kernel, gy, [None, None, ho, wo], "the output gradient's shape is not the pooled output's")
    call = (f"{kernel.runtime()}.avg_pool2d_grad({_any_layout(kernel.code(gy))}, {h.code}, {w.code}, "
            f"{_pool_params(kernel, node.op)}, {node.op.count_include_pad})")
    _bind(kernel, out, kernel.let(call, "v"), [_Length.of(kernel, gy, 0), _Length.of(kernel, gy, 1), h, w])


# ---------------------------------------------------------------- fusion of a bias add and a ReLU

@dataclass
class Epilogue:
    """A convolution and the elementwise node fused into its output loops (``find_epilogues``)."""
    conv: object           # the Conv2d node
    node: object           # the elementwise node reading its value
    bias: object           # the (1, C, 1, 1) variable added
    relu: bool             # whether the sum goes through a ReLU
    result: object         # the elementwise node's output the helper computes


def _readers(nodes):
    """id(variable) -> [(node, input position)] over ``nodes``."""
    readers = {}
    for node in nodes:
        for position, var in enumerate(node.inputs):
            readers.setdefault(id(var), []).append((node, position))
    return readers


def _value_readers(var, readers):
    """The nodes that read ``var``'s value (not only its shape)."""
    return [node for node, position in readers.get(id(var), ())
            if position not in getattr(node.op, "shape_only_inputs", ())]


def _epilogue_program(node, conv_value):
    """(bias, {output index in the program: relu?}) when ``node`` computes ``conv_value + bias`` and/or its
    ReLU and nothing else, else None."""
    if not isinstance(node.op, (Elemwise, Fused)) or len(node.inputs) != 2:
        return None
    nin, instructions, outputs = node.op.scalar_program(node)
    k = [i for i, var in enumerate(node.inputs) if var is conv_value]
    if len(k) != 1 or not 1 <= len(instructions) <= 2:
        return None
    bias = node.inputs[1 - k[0]]
    dtype = conv_value.dtype
    if (bias.ndim != 4 or bias.dtype != dtype or any(bias.type.shape[a] != 1 for a in (0, 2, 3))
            or any(d != dtype for _, _, d in instructions)):
        return None
    (first, operands, _), rest = instructions[0], instructions[1:]
    if type(first) is not Add or sorted(operands) != [0, 1]:
        return None
    if rest and (type(rest[0][0]) is not Relu or list(rest[0][1]) != [nin]):
        return None
    return bias, {index: index == nin + 1 for index in outputs}


def find_epilogues(nodes, program_outputs, excluded=()) -> dict:
    """id(elementwise node) -> ``Epilogue`` for each conv2d of ``nodes`` (in the order they run) fused with the
    elementwise node that reads it (see the module's docstring); ``excluded``: ids of nodes lowered elsewhere
    (in-place updates, ifelse branches)."""
    readers = _readers(nodes)
    returned = {id(v) for v in program_outputs}
    position = {id(node): i for i, node in enumerate(nodes)}
    epilogues = {}
    for node in nodes:
        if type(node.op) is not Conv2d or id(node) in excluded:
            continue
        value = node.outputs[0]
        users = _value_readers(value, readers)
        if id(value) in returned or value.dtype not in ("float32", "float64") or len(users) != 1:
            continue
        fused = users[0]
        found = _epilogue_program(fused, value) if id(fused) not in excluded else None
        if found is None:
            continue
        bias, relu_of = found
        _, _, outputs = fused.op.scalar_program(fused)
        needed = [out for out, index in zip(fused.outputs, outputs)
                  if id(out) in returned or _value_readers(out, readers)]
        if len(needed) != 1:
            continue
        # every shape reader of the convolution runs after the pair (it is lowered where ``fused`` stands)
        if any(position[id(reader)] < position[id(fused)] for reader, _ in readers.get(id(value), ())
               if reader is not fused):
            continue
        result = needed[0]
        epilogues[id(fused)] = Epilogue(node, fused, bias, relu_of[outputs[fused.outputs.index(result)]], result)
    return epilogues


def lower_epilogue(epilogue, kernel):
    """The convolution and its fused elementwise node as one ``conv2d_epilogue`` call (at the elementwise
    node's place): the convolution's checks, the bias's broadcast check, then every output of both nodes
    bound to the result (the others are read only for their shapes)."""
    conv, fused, bias = epilogue.conv, epilogue.node, epilogue.bias
    kernel.node = conv
    kernel.comment(f"{conv.op} with {fused.op} in the loops that write its output")
    value = conv.outputs[0]
    (batch, out_channels, ho, wo), arguments = _convolution(conv, kernel)
    kernel.node = fused
    biases = _Length.of(kernel, bias, 1)
    if (out_channels.value is not None and out_channels.value == biases.value or biases.value == 1
            or out_channels.code == biases.code):
        channels = out_channels.code
    else:
        channels = kernel.broadcast_length(
            [out_channels.code, biases.code],
            f"{fused.op}: the input lengths on axis 1 cannot be broadcast together (they must be equal or 1)")
    lower = literal(0 if epilogue.relu else float("-inf"), value.dtype)
    call = (f"{kernel.runtime()}.conv2d_epilogue({arguments}, {kernel.code(bias)}[0, :, 0, 0][::1], "
            f"{lower})")
    result = kernel.let(call, "v")
    kernel.bind(value, result, [batch.code, out_channels.code, ho.code, wo.code], contiguous=True)
    for out in fused.outputs:
        kernel.bind(out, result, [batch.code, channels, ho.code, wo.code], contiguous=True,
                    owned=out is epilogue.result)
