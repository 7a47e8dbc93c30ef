"""The convolution-network ops of symgraph/ops/conv.py on the cuda backend: direct kernels, no atomics.

* ``conv_forward_kernel`` (``Conv2d``): one thread per output element, looping over the input channels of
  its group and the kernel taps (padding read as zeros).
* ``conv_input_kernel`` (``Conv2dGradInput``, the transposed convolution) as a gather: one thread per input
  element, looping over the taps and the output positions that read it (a tap reads it when the position's
  offset is a multiple of the stride) and the output channels of its group.
* ``conv_weight_kernel`` (``Conv2dGradWeight``): one block per weight element, its threads striding over
  the batch and the output positions, their partial sums combined in a fixed shared-memory tree.
* ``max_pool_kernel`` / ``max_gather_kernel`` (``MaxPool2d`` / ``MaxPool2dGather``): one thread per output,
  scanning its window in row-major order for the first maximum (a NaN wins, the last one; padding is never
  chosen), then writing the maximum or the gathered value there.
* ``max_grad_kernel`` (``MaxPool2dGrad``) as a gather: one thread per input element, recomputing the first
  maximum of every window that covers it and summing the output gradient of those that chose it.
* ``avg_pool_kernel`` / ``avg_grad_kernel`` (``AvgPool2d`` / ``AvgPool2dGrad``, a gather): one thread per
  output / input element, the divisor counting the padding or not (``count_include_pad``).

A convolution, a pooling or one of their input gradients that only one elementwise node reads runs that node's
scalar program where it stores its result (fusion.py: conv + bias + relu, a pooling gradient and the relu mask
before it): the kernel's source with its store line replaced (``_launcher``).

Every kernel uses grid-stride loops, accumulates in the output dtype (integer inputs of a convolution or an
average compute in float64, as ``perform``) and sums in a fixed order: results are deterministic. Operands
may be strided views (they are indexed in four dimensions); outputs are fresh C-contiguous arrays. Shapes
are checked on the host before any launch, with the op's own checks, so a bad shape raises the ValueError
the python backend raises, naming the op and the user's line.
"""
from __future__ import annotations

from symgraph.ops.conv import (AvgPool2d, AvgPool2dGrad, Conv2d, Conv2dGradInput, Conv2dGradWeight,
                               MaxPool2d, MaxPool2dGather, MaxPool2dGrad, _check_lengths)

from .fusion import Epilogue, Pending, with_epilogue
from .runtime import cast_expr, host_int, literal, sizes
from .table import device, register

# ---------------------------------------------------------------- kernel sources
# {T}: the output (accumulator) dtype's constructor, {zero}: its zero; ``X(...)``/``W(...)``: operand casts.

_CONV_FORWARD = """
def conv_forward_kernel(out, x, w, total, cout, ho, wo, h, wd, cg, og, kh, kw, sh, sw, top, left, dh, dw):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):
        q = flat % wo
        rest = flat // wo
        r = rest % ho
        rest = rest // ho
        oc = rest % cout
        b = rest // cout
        first = (oc // og) * cg
        r0 = r * sh - top
        q0 = q * sw - left
        acc = {zero}
        for ic in range(cg):
            for i in range(kh):
                yy = r0 + i * dh
                if yy >= 0 and yy < h:
                    for j in range(kw):
                        xx = q0 + j * dw
                        if xx >= 0 and xx < wd:
                            acc += {x_value} * {w_value}
        out[b, oc, r, q] = acc
"""

_CONV_INPUT = """
def conv_input_kernel(out, gy, w, total, c, h, wd, ho, wo, cg, og, kh, kw, sh, sw, top, left, dh, dw):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):
        xx = flat % wd
        rest = flat // wd
        yy = rest % h
        rest = rest // h
        ch = rest % c
        b = rest // c
        group = ch // cg
        ic = ch - group * cg
        first = group * og
        acc = {zero}
        for i in range(kh):
            ry = yy + top - i * dh
            if ry >= 0 and ry % sh == 0 and ry // sh < ho:
                r = ry // sh
                for j in range(kw):
                    qx = xx + left - j * dw
                    if qx >= 0 and qx % sw == 0 and qx // sw < wo:
                        q = qx // sw
                        for k in range(og):
                            oc = first + k
                            acc += {gy_value} * {w_value}
        out[b, ch, yy, xx] = acc
"""

_CONV_WEIGHT = """
def conv_weight_kernel(out, x, gy, total, cg, kh, kw, n, ho, wo, h, wd, og, sh, sw, top, left, dh, dw):
    THREADS = {threads}
    buf = cuda.shared.array(0, {T})
    tid = cuda.threadIdx.x
    count = n * ho * wo
    for job in range(cuda.blockIdx.x, total, cuda.gridDim.x):
        j = job % kw
        rest = job // kw
        i = rest % kh
        rest = rest // kh
        ic = rest % cg
        oc = rest // cg
        ch = (oc // og) * cg + ic
        acc = {zero}
        for e in range(tid, count, THREADS):
            q = e % wo
            part = e // wo
            r = part % ho
            b = part // ho
            yy = r * sh - top + i * dh
            xx = q * sw - left + j * dw
            if yy >= 0 and yy < h and xx >= 0 and xx < wd:
                acc += {x_value} * {gy_value}
        buf[tid] = acc
        cuda.syncthreads()
        s = THREADS // 2
        while s > 0:
            if tid < s:
                buf[tid] = buf[tid] + buf[tid + s]
            cuda.syncthreads()
            s = s // 2
        if tid == 0:
            out[oc, ic, i, j] = buf[0]
        cuda.syncthreads()
"""

# The first maximum of the window (r, q) of image (b, ch) of x: its row and column (by, bx). Mirrors
# symgraph/ops/conv.py's _first_maxima: row-major order, a later element replaces the best one when it is
# larger or NaN (so the last NaN wins), padding is skipped; a window with no real element gives (0, 0).
_FIRST_MAXIMUM = """
{pad}r0 = r * sh - top
{pad}q0 = q * sw - left
{pad}best = x[b, ch, 0, 0]
{pad}by = 0
{pad}bx = 0
{pad}chosen = False
{pad}for i in range(kh):
{pad}    yy = r0 + i
{pad}    if yy >= 0 and yy < h:
{pad}        for j in range(kw):
{pad}            xx = q0 + j
{pad}            if xx >= 0 and xx < wd:
{pad}                v = x[b, ch, yy, xx]
{pad}                if (not chosen) or v > best or v != v:
{pad}                    best = v
{pad}                    by = yy
{pad}                    bx = xx
{pad}                    chosen = True
"""

_UNRAVEL_OUTPUT = """
        q = flat % wo
        rest = flat // wo
        r = rest % ho
        rest = rest // ho
        ch = rest % c
        b = rest // c"""

_MAX_POOL = """
def max_pool_kernel(out, x, total, c, h, wd, ho, wo, kh, kw, sh, sw, top, left):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):""" + _UNRAVEL_OUTPUT + "{scan}" + """
        out[b, ch, r, q] = best
"""

_MAX_GATHER = """
def max_gather_kernel(out, x, g, total, c, h, wd, ho, wo, kh, kw, sh, sw, top, left):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):""" + _UNRAVEL_OUTPUT + "{scan}" + """
        out[b, ch, r, q] = {g_value}
"""

# The windows that cover input row y0 (column x0): r from rlo to rhi (q from qlo to qhi), clipped to the output.
_COVERING = """
        t = y0 + top - kh + 1
        rlo = 0
        if t > 0:
            rlo = (t + sh - 1) // sh
        rhi = min(ho - 1, (y0 + top) // sh)
        t = x0 + left - kw + 1
        qlo = 0
        if t > 0:
            qlo = (t + sw - 1) // sw
        qhi = min(wo - 1, (x0 + left) // sw)"""

_UNRAVEL_INPUT = """
        x0 = flat % wd
        rest = flat // wd
        y0 = rest % h
        rest = rest // h
        ch = rest % c
        b = rest // c"""

_MAX_GRAD = """
def max_grad_kernel(out, x, gy, total, c, h, wd, ho, wo, kh, kw, sh, sw, top, left):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):""" + _UNRAVEL_INPUT + _COVERING + """
        acc = {zero}
        for r in range(rlo, rhi + 1):
            for q in range(qlo, qhi + 1):{scan}
                if by == y0 and bx == x0:
                    acc += {gy_value}
        out[b, ch, y0, x0] = acc
"""

# The divisor of window (r, q): kh * kw with count_include_pad, else the number of its real elements.
_DIVISOR = """
{pad}if include:
{pad}    div = kh * kw
{pad}else:
{pad}    r0 = r * sh - top
{pad}    q0 = q * sw - left
{pad}    div = (min(r0 + kh, h) - max(r0, 0)) * (min(q0 + kw, wd) - max(q0, 0))"""

_AVG_POOL = """
def avg_pool_kernel(out, x, total, c, h, wd, ho, wo, kh, kw, sh, sw, top, left, include):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):""" + _UNRAVEL_OUTPUT + """
        r0 = r * sh - top
        q0 = q * sw - left
        acc = {zero}
        for i in range(kh):
            yy = r0 + i
            if yy >= 0 and yy < h:
                for j in range(kw):
                    xx = q0 + j
                    if xx >= 0 and xx < wd:
                        acc += {x_value}""" + _DIVISOR.replace("{pad}", " " * 8) + """
        out[b, ch, r, q] = acc / {T}(div)
"""

_AVG_GRAD = """
def avg_grad_kernel(out, gy, total, c, h, wd, ho, wo, kh, kw, sh, sw, top, left, include):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):""" + _UNRAVEL_INPUT + _COVERING + """
        acc = {zero}
        for r in range(rlo, rhi + 1):
            for q in range(qlo, qhi + 1):""" + _DIVISOR.replace("{pad}", " " * 16) + """
                acc += {T}({gy_value} / {T}(div))
        out[b, ch, y0, x0] = acc
"""


def _source(template, dtype, **values):
    """``template`` for accumulation in ``dtype``; ``values``: the operand reads (source text) and sizes."""
    scan = _FIRST_MAXIMUM.rstrip("\n")
    values.setdefault("scan", scan.replace("{pad}", " " * 8))
    return template.format(T=f"T_{dtype}", zero=literal(0, dtype), **values)


# ---------------------------------------------------------------- host side

def _shape(array):
    """The shape as Python ints (messages print it as NumPy's tuple would)."""
    return tuple(int(n) for n in array.shape)


def _launch(kernel, total, *args):
    blocks, threads = sizes().elementwise_grid(total)
    kernel[blocks, threads](*args)


def _geometry(op):
    """(sh, sw, top, left, dh, dw) of a convolution or pooling op."""
    (sh, sw), ((top, _), (left, _)), (dh, dw) = op.stride, op.padding, op.dilation
    return sh, sw, top, left, dh, dw


def _check_grad_shape(node, gy_shape, expected, what):
    if gy_shape != expected:
        raise ValueError(f"{node.op}: the output gradient has shape {gy_shape}, the {what} is "
                         f"{expected}{node.where()}")


def _conv_forward(node, args):
    """(launch, shape) of a ``Conv2d`` node's kernel for these arguments (the op's own checks first):
    ``launch(call, outs, epilogue=None, extra=())`` writes ``outs`` (with ``epilogue``, fusion.py, the reader's
    outputs, ``extra`` its kernel arguments)."""
    op, dtype = node.op, node.outputs[0].dtype
    x, w = device(args[0]), device(args[1])
    n, c, h, wd = _shape(x)
    o, cg, kh, kw = _shape(w)
    op._check_channel_values(node, c, o, cg)
    ho, wo = _check_lengths(op, node, (h, wd), (kh, kw))
    total = n * o * ho * wo
    def source():
        return _source(_CONV_FORWARD, dtype, x_value=cast_expr("x[b, first + ic, yy, xx]", dtype),
                       w_value=cast_expr("w[oc, ic, i, j]", dtype))
    launch = _launcher("conv_forward_kernel", ("conv2d", x.dtype.name, w.dtype.name, dtype), source,
                       ("out[b, oc, r, q] = acc", ("b", "oc", "r", "q"), "acc"), total,
                       (x, w, total, o, ho, wo, h, wd, cg, o // op.groups, kh, kw, *_geometry(op)))
    return launch, (n, o, ho, wo)


def _launcher(name, key, source, store, total, args):
    """``launch(call, outs, epilogue=None, extra=())`` of the kernel ``name`` (``source()`` its text, written
    only when the kernel is not built yet; cached by ``key``) on ``args``: with an ``epilogue`` (fusion.py),
    the kernel's ``store`` (its line, the index it writes and the value, as the output's dtype) runs the
    reader's program instead, into the reader's ``outs``, with the reader's other inputs ``extra``."""
    def launch(call, outs, epilogue=None, extra=()):
        if not total:
            return outs
        if epilogue is None:
            kernel = call.kernel(key, name, source)
        else:
            line, indices, value = store
            kernel = call.kernel(key + epilogue.key(), name,
                                 lambda: with_epilogue(source(), name, line, indices, epilogue, value))
        _launch(kernel, total, *outs, *args, *extra)
        return outs
    return launch


def _lowering(node, plan):
    """The step of a node whose kernel ``plan(node, args)`` gives (``_conv_forward``'s form)."""
    dtype = node.outputs[0].dtype

    def step(args, call):
        launch, shape = plan(node, args)
        return launch(call, [call.empty(shape, dtype)])
    return step


@register(Conv2d)
def lower_conv2d(node, host):
    return _lowering(node, _conv_forward)


def _conv_grad_input(node, args):
    """(launch, shape) of a ``Conv2dGradInput`` node's kernel, as ``_conv_forward``."""
    op, dtype = node.op, node.outputs[0].dtype
    gy, w = device(args[0]), device(args[1])
    h = host_int(args[2], f"{op} (height)")
    wd = host_int(args[3], f"{op} (width)")
    o, cg, kh, kw = _shape(w)
    gy_shape = _shape(gy)
    n, g = gy_shape[0], op.groups
    op._check_channel_values(node, cg * g, o, cg)
    ho, wo = _check_lengths(op, node, (h, wd), (kh, kw))
    _check_grad_shape(node, gy_shape, (n, o, ho, wo), "convolution's output")    # n is gy's own batch
    c = g * cg
    total = n * c * h * wd
    def source():
        return _source(_CONV_INPUT, dtype, gy_value=cast_expr("gy[b, oc, r, q]", dtype),
                       w_value=cast_expr("w[oc, ic, i, j]", dtype))
    launch = _launcher("conv_input_kernel", ("conv2d_grad_input", gy.dtype.name, w.dtype.name, dtype), source,
                       ("out[b, ch, yy, xx] = acc", ("b", "ch", "yy", "xx"), "acc"), total,
                       (gy, w, total, c, h, wd, ho, wo, cg, o // g, kh, kw, *_geometry(op)))
    return launch, (n, c, h, wd)


@register(Conv2dGradInput)
def lower_conv2d_grad_input(node, host):
    return _lowering(node, _conv_grad_input)


@register(Conv2dGradWeight)
def lower_conv2d_grad_weight(node, host):
    op, dtype = node.op, node.outputs[0].dtype

    def step(args, call):
        x, gy = device(args[0]), device(args[1])
        kh = host_int(args[2], f"{op} (kh)")
        kw = host_int(args[3], f"{op} (kw)")
        n, c, h, wd = _shape(x)
        gy_shape = _shape(gy)
        o, g = gy_shape[1], op.groups
        op._check_channel_values(node, c, o, c // g)
        ho, wo = _check_lengths(op, node, (h, wd), (kh, kw))
        _check_grad_shape(node, gy_shape, (n, o, ho, wo), "convolution's output")
        cg = c // g
        out = call.empty((o, cg, kh, kw), dtype)
        total = o * cg * kh * kw
        if total:
            s = sizes()
            threads = s.reduce_threads
            kernel = call.kernel(("conv2d_grad_weight", x.dtype.name, gy.dtype.name, dtype, threads),
                                 "conv_weight_kernel",
                                 lambda: _source(_CONV_WEIGHT, dtype, threads=threads,
                                                 x_value=cast_expr("x[b, ch, yy, xx]", dtype),
                                                 gy_value=cast_expr("gy[b, oc, r, q]", dtype)))
            sh, sw, top, left, dh, dw = _geometry(op)
            blocks = max(1, min(total, s.reduce_max_blocks))
            shared_bytes = threads * out.dtype.itemsize
            kernel[blocks, threads, 0, shared_bytes](out, x, gy, total, cg, kh, kw, n, ho, wo, h, wd, o // g,
                                                     sh, sw, top, left, dh, dw)
        return [out]
    return step


def _pool_lengths(node, shape):
    """(Ho, Wo) of pooling an (N, C, H, W) input, checked as ``perform`` checks it."""
    op = node.op
    ho, wo = _check_lengths(op, node, shape[2:], op.kernel)
    if 0 in shape[2:] and shape[0] * shape[1]:
        # every window lies in the padding: perform indexes an empty axis (IndexError); never read past x
        raise ValueError(f"{op}: cannot pool an input of shape {shape} (no element to pool){node.where()}")
    return ho, wo


def _pool_arguments(op, shape, lengths):
    """The size and geometry arguments every pooling kernel takes after its arrays and total."""
    (sh, sw), ((top, _), (left, _)), (kh, kw) = op.stride, op.padding, op.kernel
    return (shape[1], shape[2], shape[3], lengths[0], lengths[1], kh, kw, sh, sw, top, left)


def _max_pool(node, args):
    """(launch, shape) of a ``MaxPool2d`` node's kernel, as ``_conv_forward``."""
    op, dtype = node.op, node.outputs[0].dtype
    x = device(args[0])
    shape = _shape(x)
    ho, wo = _pool_lengths(node, shape)
    total = shape[0] * shape[1] * ho * wo
    launch = _launcher("max_pool_kernel", ("max_pool2d", x.dtype.name, dtype), lambda: _source(_MAX_POOL, dtype),
                       ("out[b, ch, r, q] = best", ("b", "ch", "r", "q"), cast_expr("best", dtype)), total,
                       (x, total, *_pool_arguments(op, shape, (ho, wo))))
    return launch, shape[:2] + (ho, wo)


@register(MaxPool2d)
def lower_max_pool2d(node, host):
    return _lowering(node, _max_pool)


@register(MaxPool2dGather)
def lower_max_pool2d_gather(node, host):
    op, dtype = node.op, node.outputs[0].dtype

    def step(args, call):
        x, g = device(args[0]), device(args[1])
        shape = _shape(x)
        if _shape(g) != shape:
            raise ValueError(f"{op}: the array gathered from has shape {_shape(g)}, the pooled input "
                             f"{shape}{node.where()}")
        ho, wo = _pool_lengths(node, shape)
        out = call.empty(shape[:2] + (ho, wo), dtype)
        total = shape[0] * shape[1] * ho * wo
        if total:
            kernel = call.kernel(("max_pool2d_gather", x.dtype.name, g.dtype.name, dtype), "max_gather_kernel",
                                 lambda: _source(_MAX_GATHER, dtype, g_value=cast_expr("g[b, ch, by, bx]", dtype)))
            _launch(kernel, total, out, x, g, total, *_pool_arguments(op, shape, (ho, wo)))
        return [out]
    return step


def _max_pool_grad(node, args):
    """(launch, shape) of a ``MaxPool2dGrad`` node's kernel, as ``_conv_forward``."""
    op, dtype = node.op, node.outputs[0].dtype
    x, gy = device(args[0]), device(args[1])
    shape = _shape(x)
    ho, wo = _pool_lengths(node, shape)
    pooled = shape[:2] + (ho, wo)
    if _shape(gy) != pooled:
        raise ValueError(f"{op}: the output gradient has shape {_shape(gy)}, the pooled output is "
                         f"{pooled}{node.where()}")
    total = shape[0] * shape[1] * shape[2] * shape[3]
    def source():
        scan = _FIRST_MAXIMUM.rstrip("\n").replace("{pad}", " " * 16)
        return _source(_MAX_GRAD, dtype, scan=scan, gy_value=cast_expr("gy[b, ch, r, q]", dtype))
    launch = _launcher("max_grad_kernel", ("max_pool2d_grad", x.dtype.name, gy.dtype.name, dtype), source,
                       ("out[b, ch, y0, x0] = acc", ("b", "ch", "y0", "x0"), "acc"), total,
                       (x, gy, total, *_pool_arguments(op, shape, (ho, wo))))
    return launch, shape


@register(MaxPool2dGrad)
def lower_max_pool2d_grad(node, host):
    return _lowering(node, _max_pool_grad)


def _avg_pool(node, args):
    """(launch, shape) of an ``AvgPool2d`` node's kernel, as ``_conv_forward``."""
    op, dtype = node.op, node.outputs[0].dtype
    x = device(args[0])
    shape = _shape(x)
    ho, wo = _check_lengths(op, node, shape[2:], op.kernel)
    total = shape[0] * shape[1] * ho * wo
    mean = f"acc / T_{dtype}(div)"
    launch = _launcher("avg_pool_kernel", ("avg_pool2d", x.dtype.name, dtype),
                       lambda: _source(_AVG_POOL, dtype, x_value=cast_expr("x[b, ch, yy, xx]", dtype)),
                       (f"out[b, ch, r, q] = {mean}", ("b", "ch", "r", "q"), cast_expr(mean, dtype)), total,
                       (x, total, *_pool_arguments(op, shape, (ho, wo)), op.count_include_pad))
    return launch, shape[:2] + (ho, wo)


@register(AvgPool2d)
def lower_avg_pool2d(node, host):
    return _lowering(node, _avg_pool)


def _avg_pool_grad(node, args):
    """(launch, shape) of an ``AvgPool2dGrad`` node's kernel, as ``_conv_forward``."""
    op, dtype = node.op, node.outputs[0].dtype
    gy = device(args[0])
    h = host_int(args[1], f"{op} (height)")
    wd = host_int(args[2], f"{op} (width)")
    ho, wo = _check_lengths(op, node, (h, wd), op.kernel)
    gy_shape = _shape(gy)
    n, c = gy_shape[:2]
    if gy_shape[2:] != (ho, wo):
        raise ValueError(f"{op}: the output gradient has shape {gy_shape}, the pooled output is "
                         f"{(n, c, ho, wo)}{node.where()}")
    shape = (n, c, h, wd)
    total = n * c * h * wd
    launch = _launcher("avg_grad_kernel", ("avg_pool2d_grad", gy.dtype.name, dtype),
                       lambda: _source(_AVG_GRAD, dtype, gy_value=cast_expr("gy[b, ch, r, q]", dtype)),
                       ("out[b, ch, y0, x0] = acc", ("b", "ch", "y0", "x0"), "acc"), total,
                       (gy, total, *_pool_arguments(op, shape, (ho, wo)), op.count_include_pad))
    return launch, shape


@register(AvgPool2dGrad)
def lower_avg_pool2d_grad(node, host):
    return _lowering(node, _avg_pool_grad)


# ---------------------------------------------------------------- a convolution or pooling and its elementwise reader

_PLANS = {Conv2d: _conv_forward, Conv2dGradInput: _conv_grad_input, MaxPool2d: _max_pool,
          MaxPool2dGrad: _max_pool_grad, AvgPool2d: _avg_pool, AvgPool2dGrad: _avg_pool_grad}


class PendingConvolution(Pending):
    """A convolution, a pooling or one of their input gradients not computed yet (see fusion.py)."""

    __slots__ = ("node",)
    ndim = 4

    def __init__(self, args, compute, call, node):
        super().__init__(args, compute, call)
        self.node = node

    @property
    def shape(self):
        return _PLANS[type(self.node.op)](self.node, self.args)[1]


def fuses_into_reader(node) -> bool:
    """Whether ``node`` is a convolution, a pooling or one of their input gradients, which its elementwise
    reader may compute."""
    return type(node.op) in _PLANS


def pending_value_step(node, compute):
    """The step of a convolution or pooling its reader computes (fusion.py)."""
    def step(args, call):
        return [PendingConvolution(args, compute, call, node)]
    return step


def lower_with_reader(reader, node, host, unfused):
    """The step of ``reader`` computing the convolution or pooling ``node`` in the same kernel (fusion.py);
    ``unfused`` is the reader's own step."""
    epilogue = Epilogue(reader, node.outputs[0], host)
    plan = _PLANS[type(node.op)]

    def step(args, call):
        launch, shape = plan(node, epilogue.pending(args).args)        # (the node's own checks)
        if not epilogue.fits(args, shape):
            return epilogue.unfused(unfused, args, call)
        outs = [call.empty(shape, d) for d in epilogue.out_dtypes]
        inputs, masks = epilogue.arguments(args, shape)
        return launch(call, outs, epilogue, (*inputs, *masks))
    return step
