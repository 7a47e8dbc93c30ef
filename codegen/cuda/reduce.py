"""Row reductions as shared-memory tree reductions: sum/prod/max/min/any/all and the softmax family.

The input's axes split into *kept* axes (the rows) and *reduced* axes (the columns of
a row), in any combination and any strides: one thread block takes a row (grid-stride
over rows), its threads stride over the columns accumulating privately, then combine
their partials in shared memory in a fixed tree. The combination order depends only
on the block size, so results are deterministic (no atomics). Partials accumulate in the
reduction op's ``accumulator_dtype`` (float32 sums in float64), as on every backend. softmax, log_softmax
and logsumexp use the same skeleton with three passes over a row: the maximum, the
sum of ``exp(x - max)``, and the write.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.reduce import accumulator_dtype as op_accumulator_dtype, identity

from .elemwise import INT_POWER_SOURCE, uses_int_power
from .fusion import PendingElementwise, realized
from .runtime import cast_expr, literal, reshape_view, sizes

# kind -> combine(a, b) source (the initial value is the op's identity)
_COMBINE = {
    "sum": lambda a, b: f"{a} + {b}",
    "prod": lambda a, b: f"{a} * {b}",
    "max": lambda a, b: f"({a} if ({a} >= {b} or {a} != {a}) else {b})",
    "min": lambda a, b: f"({a} if ({a} <= {b} or {a} != {a}) else {b})",
    "any": lambda a, b: f"({a} if {a} > {b} else {b})",
    "all": lambda a, b: f"({a} if {a} < {b} else {b})",
}


def _initial(kind, dtype):
    """The reduction's identity (the op's, see ``symgraph.ops.reduce.identity``) as a typed literal."""
    return literal(identity(kind, dtype), dtype)


def accumulator_dtype(kind, out_dtype):
    """The reduction op's accumulator dtype (``symgraph.ops.reduce.accumulator_dtype``: float32 sums and
    products in float64); booleans as int8 (shared memory holds no bool arrays)."""
    if kind in ("any", "all") or out_dtype == "bool":
        return "int8"
    return op_accumulator_dtype(kind, out_dtype)


def _unravel(lines, axes, counter, indent):
    """Source lines setting ``i<axis>`` for ``axes`` from the flat ``counter`` (last axis fastest)."""
    pad = " " * indent
    if not axes:
        return
    lines.append(f"{pad}r = {counter}")
    for axis in reversed(axes[1:]):
        lines += [f"{pad}i{axis} = r % d{axis}", f"{pad}r = r // d{axis}"]
    lines.append(f"{pad}i{axes[0]} = r")


def _tree(lines, kind, pad):
    """Combine the block's partials in shared memory; afterwards ``buf[0]`` holds the row's result."""
    lines += [f"{pad}buf[tid] = acc",
              f"{pad}cuda.syncthreads()",
              f"{pad}s = THREADS // 2",
              f"{pad}while s > 0:",
              f"{pad}    if tid < s:",
              f"{pad}        buf[tid] = {_COMBINE[kind]('buf[tid]', 'buf[tid + s]')}",
              f"{pad}    cuda.syncthreads()",
              f"{pad}    s = s // 2"]


def _header(name, ndim, threads, acc_dtype, out_param="out"):
    dims = ", ".join(f"d{a}" for a in range(ndim))
    return [f"def {name}({out_param}, x, rows, cols, {dims}):",
            f"    THREADS = {threads}",
            # Dynamic shared memory (size given at launch): the simulator allocates static shared
            # arrays lazily without a lock, so two threads may get different ones.
            f"    buf = cuda.shared.array(0, T_{acc_dtype})",
            "    tid = cuda.threadIdx.x",
            "    for row in range(cuda.blockIdx.x, rows, cuda.gridDim.x):"]


def reduce_source(name, kind, ndim, reduced, in_dtype, out_dtype, threads, epilogue=None, prologue=None,
                  row_epilogue=False):
    """A row reduction whose rows may be split into ``parts`` chunks of ``chunk`` columns: block job
    ``row * parts + part`` writes ``out[job]`` (a partial result when ``parts > 1``). With ``epilogue``
    (fusion.py; ``parts`` is 1) a row's result goes to the reader's scalar program at the row's index in
    the result's shape (``e0, e1, ...``), which stores the reader's outputs; with ``row_epilogue`` too, the
    reader has the shape of ``x`` (it broadcasts a keepdims result over the row, as a softmax gradient
    does) and the block's threads run its program for every element of the row. With ``prologue``
    (fusion.py) there is no ``x``: each element is computed by the producer's scalar program where it is
    read."""
    acc = accumulator_dtype(kind, out_dtype)
    kept = [a for a in range(ndim) if a not in reduced]
    index = ", ".join(f"i{a}" for a in range(ndim))
    element, element_lines = f"x[{index}]", []
    if prologue is not None:
        element_lines, element = prologue.body()
    if kind in ("any", "all"):
        value = f"({literal(1, acc)} if {element} != 0 else {literal(0, acc)})"
    else:
        value = cast_expr(element, acc)
    params = ["out"] if epilogue is None else [f"out{j}" for j in range(len(epilogue.out_dtypes))]
    params += ([] if prologue is not None else ["x"]) + ["rows", "cols", "parts", "chunk"]
    params += [f"d{a}" for a in range(ndim)]
    if epilogue is not None:
        params += ([] if row_epilogue else [f"e{a}" for a in range(epilogue.ndim)]) + epilogue.parameters()
    if prologue is not None:
        params += prologue.parameters()
    programs = [p.kernel.instructions for p in (epilogue, prologue) if p is not None]
    lines = ([INT_POWER_SOURCE] if any(uses_int_power(i) for i in programs) else []) + [
             f"def {name}({', '.join(params)}):",
             f"    THREADS = {threads}",
             # Dynamic shared memory (size given at launch): the simulator allocates static shared
             # arrays lazily without a lock, so two threads may get different ones.
             f"    buf = cuda.shared.array(0, T_{acc})",
             "    tid = cuda.threadIdx.x",
             "    for job in range(cuda.blockIdx.x, rows * parts, cuda.gridDim.x):",
             "        row = job // parts",
             "        first = (job % parts) * chunk",
             "        last = min(first + chunk, cols)"]
    _unravel(lines, kept, "row", 8)
    lines += [f"        acc = {_initial(kind, acc)}",
              "        for col in range(first + tid, last, THREADS):"]
    _unravel(lines, list(reduced), "col", 12)
    lines += ["            " + line for line in element_lines]
    lines += [f"            v = {value}",
              f"            acc = {_COMBINE[kind]('acc', 'v')}"]
    _tree(lines, kind, " " * 8)
    final = "(buf[0] != 0)" if out_dtype == "bool" else cast_expr("buf[0]", out_dtype)
    if row_epilogue:
        lines += [f"        total = {final}",
                  "        for col in range(tid, cols, THREADS):"]
        _unravel(lines, list(reduced), "col", 12)
        lines += ["            " + line for line in epilogue.body("total")]
        lines.append("        cuda.syncthreads()")
        return "\n".join(lines) + "\n"
    lines.append("        if tid == 0:")
    if epilogue is None:
        lines.append(f"            out[job] = {final}")
    else:
        lines.append("            r = row")
        for a in reversed(range(1, epilogue.ndim)):
            lines += [f"            i{a} = r % e{a}", f"            r = r // e{a}"]
        if epilogue.ndim:
            lines.append("            i0 = r")
        lines += ["            " + line for line in epilogue.body(final)]
    lines.append("        cuda.syncthreads()")
    return "\n".join(lines) + "\n"


def softmax_source(name, kind, ndim, reduced, dtype, threads):
    """kind: softmax / log_softmax (``out`` has x's shape) or logsumexp (``out`` is one value per row)."""
    kept = [a for a in range(ndim) if a not in reduced]
    index = ", ".join(f"i{a}" for a in range(ndim))
    zero = literal(0, dtype)
    lines = _header(name, ndim, threads, dtype)
    _unravel(lines, kept, "row", 8)
    lines += [f"        acc = {literal(-np.inf, dtype)}",
              "        for col in range(tid, cols, THREADS):"]
    _unravel(lines, list(reduced), "col", 12)
    lines += [f"            v = x[{index}]", f"            acc = {_COMBINE['max']('acc', 'v')}"]
    _tree(lines, "max", " " * 8)
    # A row whose maximum is not finite is shifted by 0, as the reference does (no inf - inf = NaN).
    lines += ["        m = buf[0]",
              "        cuda.syncthreads()",
              "        if m != m or m == INF or m == -INF:",
              f"            m = {zero}",
              f"        acc = {zero}",
              "        for col in range(tid, cols, THREADS):"]
    _unravel(lines, list(reduced), "col", 12)
    lines += [f"            acc = acc + {cast_expr(f'M.exp(x[{index}] - m)', dtype)}"]
    _tree(lines, "sum", " " * 8)
    lines += ["        total = buf[0]", "        cuda.syncthreads()"]
    if kind == "logsumexp":
        lines += ["        if tid == 0:",
                  f"            out[row] = {cast_expr('M.log(total) + m', dtype)}"]
    else:
        lines += [f"        log_total = {cast_expr('M.log(total)', dtype)}",
                  "        for col in range(tid, cols, THREADS):"]
        _unravel(lines, list(reduced), "col", 12)
        if kind == "softmax":
            lines.append(f"            out[{index}] = {cast_expr(f'M.exp(x[{index}] - m) / total', dtype)}")
        else:
            lines.append(f"            out[{index}] = {cast_expr(f'(x[{index}] - m) - log_total', dtype)}")
    lines.append("        cuda.syncthreads()")
    return "\n".join(lines) + "\n"


def _prepared(x, axes):
    """0-d inputs as 1-element views (a kernel needs an index); returns x, axes, rows, cols."""
    if x.ndim == 0:
        x = reshape_view(realized(x), (1,))
        axes = tuple(axes) and (0,)
    cols = math.prod([x.shape[a] for a in axes])
    rows = math.prod([n for a, n in enumerate(x.shape) if a not in axes])
    return x, tuple(axes), rows, cols


def _launch(call, kind, x, axes, rows, cols, parts, out_dtype, epilogue=None, shape=None, epilogue_args=(),
            row_epilogue=False):
    """One reduction kernel over ``x`` (a device array, or a ``PendingElementwise`` whose program the kernel
    runs as its prologue): the flat results (``parts`` per row), or the epilogue's outputs of ``shape`` (with
    ``row_epilogue``, ``x``'s shape)."""
    threads = sizes().reduce_threads
    prologue = x.prologue if isinstance(x, PendingElementwise) else None
    key = ("reduce", kind, len(x.shape), axes, x.dtype.name, out_dtype, threads,
           prologue and prologue.key(), epilogue and epilogue.key(), row_epilogue)
    kernel = call.kernel(key, "reduce_kernel", lambda: reduce_source("reduce_kernel", kind, len(x.shape), axes,
                                                                     x.dtype.name, out_dtype, threads, epilogue,
                                                                     prologue, row_epilogue))
    if epilogue is None:
        outs = [call.empty((rows * parts,), out_dtype)]
        views = outs
    else:
        outs = [call.empty(shape, d) for d in epilogue.out_dtypes]
        views = [o if shape else reshape_view(o, (1,)) for o in outs]     # 0-d outputs as 1-element views
    if rows:
        chunk = -(-cols // parts) if cols else 0
        shared_bytes = threads * np.dtype(accumulator_dtype(kind, out_dtype)).itemsize
        blocks = max(1, min(rows * parts, sizes().reduce_max_blocks))
        args = [*views] + ([] if prologue else [x]) + [rows, cols, parts, chunk, *[int(n) for n in x.shape]]
        if epilogue is not None:
            args += ([] if row_epilogue else [int(n) for n in shape]) + list(epilogue_args)
        if prologue is not None:
            args += prologue.arguments(x.args, tuple(x.shape))
        kernel[blocks, threads, 0, shared_bytes](*args)
    return outs if epilogue is not None else outs[0]


def _parts(rows, cols):
    """How many blocks share a row: few long rows are split (a deterministic choice, by the sizes only)."""
    s = sizes()
    return min(-(-cols // (s.reduce_threads * 4)), max(1, s.reduce_target_blocks // max(rows, 1)))


def reduce_rows(call, kind, x, axes, out_dtype, shape):
    """``kind`` over ``axes`` of ``x`` (a device array or a ``PendingElementwise``), as a contiguous array of
    ``shape`` (the kept axes' lengths in order, with length-1 axes where the caller keeps them). Few long
    rows are split over several blocks, then the partials reduced again (the split depends only on the
    sizes, so results stay deterministic)."""
    x, axes, rows, cols = _prepared(x, axes)
    parts = _parts(rows, cols)
    if parts <= 1:
        return reshape_view(_launch(call, kind, x, axes, rows, cols, 1, out_dtype), shape)
    partials = _launch(call, kind, x, axes, rows, cols, parts, accumulator_dtype(kind, out_dtype))
    out = _launch(call, kind, reshape_view(partials, (rows, parts)), (1,), rows, parts, 1, out_dtype)
    return reshape_view(out, shape)


def reduce_rows_over(call, kind, x, axes, out_dtype, epilogue, inputs, masks):
    """``reduce_rows`` with keepdims, whose result the reader (``epilogue``, as for ``reduce_rows_into``)
    broadcasts back over ``x``'s shape, in one kernel; None where a row is too long for one block (the
    caller runs the two kernels apart)."""
    x, axes, rows, cols = _prepared(x, axes)
    if _parts(rows, cols) > 1:
        return None
    return _launch(call, kind, x, axes, rows, cols, 1, out_dtype, epilogue, tuple(x.shape), [*inputs, *masks],
                   row_epilogue=True)


def reduce_rows_into(call, kind, x, axes, out_dtype, epilogue, shape, inputs, masks):
    """``reduce_rows`` whose result (of ``shape``) goes through ``epilogue`` (fusion.py: the reader's scalar
    program, with its other inputs' kernel arguments ``inputs`` and ``masks``) in the same kernel; returns
    the reader's outputs. The same bits as the two kernels apart."""
    x, axes, rows, cols = _prepared(x, axes)
    parts = _parts(rows, cols)
    if parts > 1:     # the partial results, then the partials reduced with the epilogue
        partials = _launch(call, kind, x, axes, rows, cols, parts, accumulator_dtype(kind, out_dtype))
        x, axes, cols = reshape_view(partials, (rows, parts)), (1,), parts
    return _launch(call, kind, x, axes, rows, cols, 1, out_dtype, epilogue, shape, [*inputs, *masks])


def softmax_rows(call, kind, x, axes):
    """softmax / log_softmax (x's shape) or logsumexp (a flat array, one value per row) over ``axes``."""
    x, axes, rows, cols = _prepared(x, axes)
    threads = sizes().reduce_threads
    dtype = x.dtype.name
    key = ("softmax", kind, x.ndim, axes, dtype, threads)
    kernel = call.kernel(key, "softmax_kernel",
                         lambda: softmax_source("softmax_kernel", kind, x.ndim, axes, dtype, threads))
    out = call.empty((rows,) if kind == "logsumexp" else x.shape, dtype)
    if rows and (cols or kind == "logsumexp"):
        s = sizes()
        kernel[max(1, min(rows, s.reduce_max_blocks)), threads, 0, threads * x.dtype.itemsize](
            out, x, rows, cols, *[int(n) for n in x.shape])
    return out
