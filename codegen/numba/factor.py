"""Lowering of the matrix factor ops of symgraph/ops/factor.py (numba backend).

As the SVD's (decomp.py): a loop over the (broadcast) batch axes, one call per matrix to a cached helper of
lapack_factor.py, which returns a status; a failing status raises ``numpy.linalg.LinAlgError`` naming the op
and the user's line, with the message the python backend gives. Shapes the loops rely on (square matrices,
``b``'s rows, batch axes that broadcast) are checked first and raise ValueError.
"""
from __future__ import annotations

from symgraph.ops.factor import Cholesky, Det, MatrixInverse, SlogDet, Solve, SolveTriangular

from .kernel import literal, register
from .linalg import broadcast_batch
from .lapack_factor import NOT_FINITE, NOT_POSITIVE_DEFINITE, SINGULAR, SOLVE_KINDS, ZERO_DIAGONAL

_MESSAGES = {NOT_FINITE: "the matrix holds inf or NaN", SINGULAR: "singular matrix",
             NOT_POSITIVE_DEFINITE: "the matrix is not positive definite",
             ZERO_DIAGONAL: "singular matrix: a zero on the diagonal"}


def _check_square(node, kernel, dims):
    kernel.check(f"{dims[-1]} != {dims[-2]}", f"{node.op}: expected square matrices (..., n, n)")


def _check_status(node, kernel, status, codes):
    for code in codes:
        kernel.check(f"{status} == {code}", f"{node.op}: {_MESSAGES[code]}", exception="np.linalg.LinAlgError")


def _open_loops(kernel, batch_dims):
    for axis, length in enumerate(batch_dims):
        kernel.emit(kernel.loop(f"i{axis}", length))
        kernel.depth += 1
    return "".join(f"i{axis}, " for axis in range(len(batch_dims)))


def _entry(code, index):
    """The matrix (or vector) of the current batch entry of an array whose batch axes are the loops'."""
    return f"{code}[{index}...]" if index else code


def _any_layout(code):
    """``code`` typed as an array of layout ``A`` (a view, no copy): the helpers then compile once per dtype
    whatever the layout of the operand (C, a transpose, a strided view), ~0.5-1 s each saved; they copy or
    use the data in place after checking its strides at run time."""
    return f"{code}[::1]"


def _one_matrix(node, kernel):
    """(source, batch dims, n) of the single square operand, its squareness checked."""
    (a,) = node.inputs
    dims = kernel.dims(a)
    _check_square(node, kernel, dims)
    return kernel.code(a), dims[:-2], dims[-1]


@register(MatrixInverse, Cholesky)
def lower_square_to_square(node, kernel):
    source, batch, n = _one_matrix(node, kernel)
    out = node.outputs[0]
    shape = batch + [n, n]
    name = kernel.let(kernel.new_array(shape, out.dtype), "v")
    index = _open_loops(kernel, batch)
    matrix, target = _any_layout(_entry(source, index)), _entry(name, index)
    if isinstance(node.op, MatrixInverse):
        status = kernel.let(f"{kernel.runtime()}.factor_inv({matrix}, {target})", "status")
        codes = (NOT_FINITE, SINGULAR)
    else:
        status = kernel.let(f"{kernel.runtime()}.factor_cholesky({matrix}, {target}, {node.op.lower})", "status")
        codes = (NOT_FINITE, NOT_POSITIVE_DEFINITE)
    _check_status(node, kernel, status, codes)
    kernel.depth -= len(batch)
    kernel.bind(out, name, shape, contiguous=True, owned=True)


@register(Det, SlogDet)
def lower_determinant(node, kernel):
    source, batch, _ = _one_matrix(node, kernel)
    outputs = node.outputs
    like = literal(0, outputs[0].dtype)
    names = [kernel.let(kernel.new_array(batch, out.dtype), "v") for out in outputs] if batch else []
    index = _open_loops(kernel, batch)
    helper = "factor_det" if isinstance(node.op, Det) else "factor_slogdet"
    result = kernel.let(f"{kernel.runtime()}.{helper}({_any_layout(_entry(source, index))}, {like})", "r")
    _check_status(node, kernel, f"{result}[0]", (NOT_FINITE,))
    values = [f"{result}[{k + 1}]" for k in range(len(outputs))]
    if batch:
        for name, value in zip(names, values):
            kernel.emit(f"{name}[{index.rstrip(', ')}] = {value}")
    else:
        names = [kernel.let(value, "v") for value in values]
    kernel.depth -= len(batch)
    for name, out in zip(names, outputs):
        if batch:
            kernel.bind(out, name, batch, contiguous=True, owned=True)
        else:
            kernel.bind(out, name)


@register(Solve, SolveTriangular)
def lower_system(node, kernel):
    a, b = node.inputs
    out = node.outputs[0]
    a_dims, b_dims = kernel.dims(a), kernel.dims(b)
    _check_square(node, kernel, a_dims)
    vector = b.ndim == 1
    core = 1 if vector else 2
    kernel.check(f"{b_dims[0] if vector else b_dims[-2]} != {a_dims[-1]}",
                 f"{node.op}: b does not fit a (b's rows differ from a's n)")
    batch = out.ndim - core
    operands = [(a, a_dims, a.ndim - 2), (b, b_dims, b.ndim - core)]
    batch_dims, steps = broadcast_batch(node, kernel, operands, batch)
    out_dims = batch_dims + ([a_dims[-1]] if vector else [a_dims[-1], b_dims[-1]])
    name = kernel.let(kernel.new_array(out_dims, out.dtype), "v")
    index = _open_loops(kernel, batch_dims)

    def entry(var, own):
        """The matrix (vector) of ``var`` for the current batch entry (broadcast axes read entry 0)."""
        if own == 0:
            return kernel.code(var)
        lead = batch - own
        return f"{kernel.code(var)}[{', '.join(f'i{lead + k} * {steps[(id(var), k)]}' for k in range(own))}]"

    matrix, rhs = _any_layout(entry(a, a.ndim - 2)), _any_layout(entry(b, b.ndim - core))
    target = _entry(name, index)
    if isinstance(node.op, Solve):
        kind = SOLVE_KINDS[node.op.assume_a]
        call = f"factor_solve({matrix}, {rhs}, {target}, {kind}, {node.op.lower})"
        codes = (NOT_FINITE, NOT_POSITIVE_DEFINITE if node.op.assume_a == "pos" else SINGULAR)
    else:
        op = node.op
        call = f"factor_solve_triangular({matrix}, {rhs}, {target}, {op.lower}, {bool(op.trans)}, {op.unit_diagonal})"
        codes = (NOT_FINITE, ZERO_DIAGONAL)
    status = kernel.let(f"{kernel.runtime()}.{call}", "status")
    _check_status(node, kernel, status, codes)
    kernel.depth -= batch
    kernel.bind(out, name, out_dims, contiguous=True, owned=True)
