"""Lowering of softmax, log_softmax, logsumexp (one three-pass row kernel each) and one_hot."""
from __future__ import annotations

from symgraph.ops.shape import check_size
from symgraph.ops.nnet import LogSoftmax, LogSumExp, OneHot, Softmax

from .reduce import softmax_rows
from .runtime import ErrorFlag, as_contiguous, cast_expr, host_int, reshape_view, sizes
from .table import device, label, register


@register(Softmax, LogSoftmax)
def lower_softmax(node, host):
    kind = "softmax" if type(node.op).__name__ == "Softmax" else "log_softmax"
    axis = node.op.axis

    def step(args, call):
        return [softmax_rows(call, kind, device(args[0]), (axis,))]
    return step


@register(LogSumExp)
def lower_logsumexp(node, host):
    op = node.op

    def step(args, call):
        x = device(args[0])
        out = softmax_rows(call, "logsumexp", x, op.axis)
        if op.keepdims:
            shape = tuple(1 if a in op.axis else n for a, n in enumerate(x.shape))
        else:
            shape = tuple(n for a, n in enumerate(x.shape) if a not in op.axis)
        return [reshape_view(out, shape)]
    return step


_ONE_HOT = """
def one_hot_kernel(out, indices, n, total, bad):
    for flat in range(cuda.grid(1), total, cuda.gridsize(1)):
        j = flat % n
        k = indices[flat // n]
        if k < 0 or k >= n:
            bad[0] = 1
        out[flat] = {one} if k == j else {zero}
"""


_index_error = ErrorFlag()


@register(OneHot)
def lower_one_hot(node, host):
    dtype = node.outputs[0].dtype
    source = _ONE_HOT.format(one=cast_expr(1, dtype), zero=cast_expr(0, dtype))

    def step(args, call):
        indices = as_contiguous(call, device(args[0]))
        n = host_int(args[1], f"{label(node)} (n)")
        if n < 0:
            raise ValueError(f"{label(node)}: n must be non-negative, got {n}")
        shape = tuple(indices.shape) + (n,)
        total = check_size(shape, dtype, label(node))
        out = call.empty((total,), dtype)
        if total:
            kernel = call.kernel(("one_hot", dtype, indices.dtype.name), "one_hot_kernel", source)
            blocks, threads = sizes().elementwise_grid(total)
            kernel[blocks, threads](out, reshape_view(indices, (indices.size,)), n, total, _index_error.array())
            if _index_error.raised():   # an out-of-range index is an error, never a silent zero row
                from symgraph.ops.index import IndexOutOfRange
                raise IndexOutOfRange(f"{label(node)}: an index is out of range [0, {n})")
        return [reshape_view(out, shape)]
    return step
