"""Linear-algebra rewrites: solve instead of inverting, log-determinants without the determinant, and one
Cholesky factor per matrix.

* ``inv(A) @ b -> solve(A, b)`` (``inv_product_to_solve``): half the work, and the residual of a backward
  stable solve instead of the error of an explicit inverse.
* ``log(det(A)) -> slogdet`` and ``log(abs(det(A))) -> slogdet(A)[1]`` (``log_det_to_slogdet``): the
  determinant of a 500x500 matrix over- or underflows long before its logarithm does.
* ``solve(A, b, assume_a="pos") -> cho_solve((cholesky(A), True), b)`` and ``solve(L @ L.T, b) ->
  cho_solve((L, True), b)`` for a Cholesky factor ``L`` (``solve_through_cholesky``): the factor becomes a
  node of its own, which merging then shares with every other solve and log-determinant of ``A``.
* ``inv(A) -> cho_solve((L, True), I)`` when the graph computes a Cholesky factor ``L`` of ``A`` (or ``A``
  is ``L @ L.T``) (``inverse_through_cholesky``): the inverse the gradient of a log-determinant asks for,
  from the factor a solve or the log-determinant made, without an LU factorisation of its own.
* ``det``/``slogdet`` of a matrix whose Cholesky factor the graph computes anyway, or of a triangular
  factor, read the factor's diagonal (``determinant_from_cholesky``): no second factorisation. Computing
  a Cholesky factor of ``A`` (or of ``A.T``, or solving with ``assume_a="pos"``) is taken as the user's
  declaration that ``A`` is symmetric positive definite, as SciPy takes it: only one triangle is read.

Like the rewrites of stability.py, these change bits on purpose (the same mathematical value, computed
another way) and are on by default under the ``stability`` tag; ``optimizer={"exclude": ["linalg"]}``
switches off these alone. An error the original would raise is still raised (a singular matrix in a solve,
an indefinite one in a Cholesky factorisation), possibly naming the op the rewrite made.
"""
from __future__ import annotations

import numpy as np

from ..ops import elemwise as ew
from ..ops.base import op_name
from .engine import register
from .patterns import as_replacement, operands
from .shapes import dims


def _classes():
    from ..ops import factor
    return factor


def _owner_is(var, name):
    return var is not None and var.owner is not None and type(var.owner.op).__name__ == name


def _cholesky_factor_of(a, graph):
    """A lower Cholesky factor of ``a`` the graph already computes, or None: a node ``cholesky(a)`` or
    ``cholesky(a.T)``. Factorising ``a`` (or solving with ``assume_a="pos"``, which becomes such a node)
    declares it symmetric positive definite, so either factor is the factor of ``a``."""
    candidates = [a]
    for consumer, _ in graph.clients.get(a, ()):
        if consumer != "output" and op_name(consumer.op) == "dimshuffle" and \
                tuple(consumer.op.new_order) == (1, 0):
            candidates.append(consumer.outputs[0])
    for matrix in candidates:
        for consumer, _ in graph.clients.get(matrix, ()):
            if consumer != "output" and type(consumer.op).__name__ == "Cholesky" and consumer.op.lower:
                return consumer.outputs[0]
    return None


def _replace_all(node, expressions, graph):
    """The replacements of the node's outputs: each expression has its output's value and shape by
    construction (the identities above), so only the dtype may need a cast; None when the static types
    disagree (a rewrite that cannot prove its shape is not made)."""
    result = []
    for expression, out in zip(expressions, node.outputs):
        if expression.dtype != out.dtype:
            expression = ew.cast(expression, out.dtype)
        if expression.ndim != out.ndim:
            expression = as_replacement(expression, out, graph)
        if expression is None or not out.type.is_compatible(expression.type):
            return None
        result.append(expression)
    return result


def _jacobian_seed_length(var, graph):
    """The length description ``n`` when ``var`` is ``sg.jacobian``'s identity seed ``one_hot(arange(0, n, 1),
    n, identity_seed)`` (an n x n identity matrix), else None."""
    owner = var.owner
    if owner is None or op_name(owner.op) != "one_hot" or not getattr(owner.op, "identity_seed", False):
        return None
    rows, columns = dims(var, graph)
    return columns if rows == columns else None


@register("canonicalize", "linalg", ops="dot")
def dot_jacobian_seed(node, graph):
    """I @ M -> M and M @ I -> M for the identity ``sg.jacobian`` batches its rows over (``OneHot`` with
    ``identity_seed``; a user's ``one_hot`` or ``eye`` is never matched), when ``M``'s length along the
    product provably equals ``I``'s.

    This is how the Jacobian is defined, not a change of the user's arithmetic: its row ``i`` is ``e_i``
    applied to the linear map, row ``i`` of ``M``; the product would add ``n - 1`` products with zero (the
    same value for finite ``M``, -0.0 made +0.0, and an inf or NaN anywhere in a column spread over it).
    A Hessian of ``tanh(A @ w)`` no longer multiplies ``A.T`` by the identity (W5: one n^3 product less).
    """
    a, b = node.inputs
    out = node.outputs[0]
    if a.ndim == 2 and b.ndim in (1, 2):
        length = _jacobian_seed_length(a, graph)
        if length is not None and dims(b, graph)[0] == length:
            return _replace_all(node, [b], graph)
    if b.ndim == 2 and a.ndim in (1, 2):
        length = _jacobian_seed_length(b, graph)
        if length is not None and dims(a, graph)[-1] == length:
            return _replace_all(node, [a], graph)
    del out
    return None


@register("stability", "linalg", ops=("dot", "matmul"))
def inv_product_to_solve(node, graph):
    """inv(A) @ b -> solve(A, b), for a matrix or a stack of them and ``b`` a vector, a matrix or a stack of
    matrices of the same batch axes.

    Changes bits on purpose: a backward-stable solve instead of a product with a rounded inverse.
    """
    a, b = node.inputs
    if not _owner_is(a, "MatrixInverse") or a.ndim < 2:
        return None
    matrix = a.owner.inputs[0]
    if b.ndim == 1 and matrix.ndim == 2 or b.ndim == matrix.ndim and b.type.shape[:-2] == matrix.type.shape[:-2] \
            and None not in matrix.type.shape[:-2]:
        return _replace_all(node, [_classes().solve(matrix, b)], graph)
    return None


@register("stability", "linalg", "before_grad", ops="log")
def log_det_to_slogdet(node, graph):
    """log(abs(det(A))) -> slogdet(A)[1]; log(det(A)) -> slogdet(A)[1] where the sign is positive, -inf where
    the determinant is 0, NaN where it is negative (log's own values there).

    Changes bits on purpose: finite where det(A) over- or underflows, and no rounding of the determinant.
    """
    x = node.inputs[0]
    absolute = operands(x, "abs")
    inner = absolute[0] if absolute is not None else x
    if not _owner_is(inner, "Det"):
        return None
    sign, logabsdet = _classes().slogdet(inner.owner.inputs[0])
    if absolute is not None:
        return _replace_all(node, [logabsdet], graph)
    value = ew.where(ew.gt(sign, 0), logabsdet, ew.where(ew.eq(sign, 0), -np.inf, np.nan))
    return _replace_all(node, [value], graph)


def _factor_of_product(a):
    """``L`` when ``a`` is ``L @ L.T`` with ``L`` the output of a lower Cholesky factorisation, else None."""
    if a.owner is None or op_name(a.owner.op) not in ("dot", "matmul") or a.ndim != 2:
        return None
    left, right = a.owner.inputs
    if not _owner_is(left, "Cholesky") or not left.owner.op.lower:
        return None
    if right.owner is None or op_name(right.owner.op) != "dimshuffle" or right.owner.inputs[0] is not left \
            or tuple(right.owner.op.new_order) != (1, 0):
        return None
    return left


@register("stability", "linalg", ops="solve")
def solve_through_cholesky(node, graph):
    """solve(A, b, assume_a="pos") -> cho_solve((cholesky(A), True), b); solve(L @ L.T, b) -> cho_solve((L,
    True), b) when ``L`` is a lower Cholesky factor the graph computes.

    Changes bits on purpose: the factor is its own node, computed once for every solve and log-determinant
    of the same matrix (merge), instead of once inside each solve.
    """
    factor = _classes()
    a, b = node.inputs
    op = node.op
    known = _factor_of_product(a)
    if known is not None:
        return _replace_all(node, [factor.cho_solve((known, True), b)], graph)
    if op.assume_a != "pos":
        return None
    if a.ndim == 2:
        shared = _cholesky_factor_of(a, graph)     # a factor of the (declared symmetric) matrix exists
        if shared is not None:
            return _replace_all(node, [factor.cho_solve((shared, True), b)], graph)
    symmetric = a                         # cholesky reads the lower triangle; solve(pos) the chosen one
    if not op.lower:
        from ..ops.arrays import swapaxes
        symmetric = swapaxes(a, -1, -2)   # the upper triangle of a, as the lower triangle of a.T
    return _replace_all(node, [factor.cho_solve((factor.cholesky(symmetric), True), b)], graph)


@register("stability", "linalg", ops="inv")
def inverse_through_cholesky(node, graph):
    """inv(A) -> cho_solve((L, True), eye(n)) when the graph computes the lower Cholesky factor ``L`` of ``A``
    anyway (or ``A`` is ``L @ L.T``): the gradient of ``slogdet(A)`` next to a positive definite solve.

    Changes bits on purpose: two triangular solves with the shared factor instead of an LU factorisation.
    """
    from ..ops.arrays import eye
    from ..ops.shape import ShapeOf
    a = node.inputs[0]
    if a.ndim != 2:
        return None
    L = _factor_of_product(a)
    if L is None:
        L = _cholesky_factor_of(a, graph)
    if L is None:
        return None
    identity = eye(ShapeOf(0)(a), dtype=node.outputs[0].dtype)
    return _replace_all(node, [_classes().cho_solve((L, True), identity)], graph)


def _diagonal(L):
    from ..ops.arrays import diag
    return diag(L)


@register("stability", "linalg", ops=("det", "slogdet"))
def determinant_from_cholesky(node, graph):
    """det(A) -> prod(diag(L))**2 and slogdet(A) -> (1, 2 sum(log diag(L))) when the graph computes the
    lower Cholesky factor ``L`` of ``A`` anyway (or ``A`` is ``L @ L.T``); det/slogdet of a Cholesky factor
    itself -> the product / log-sum of its diagonal.

    Changes bits on purpose: no second (LU) factorisation, and the log-determinant summed from the factor.
    """
    from ..ops.shape import ones_like
    a = node.inputs[0]
    kind = op_name(node.op)
    if a.ndim != 2:
        return None
    if _owner_is(a, "Cholesky"):               # a triangular factor: its diagonal (positive)
        diagonal = _diagonal(a)
        if kind == "det":
            return _replace_all(node, [diagonal.prod(axis=-1)], graph)
        return _replace_all(node, [ew.sign(diagonal).prod(axis=-1), ew.log(diagonal).sum(axis=-1)], graph)
    L = _factor_of_product(a)
    if L is None:
        L = _cholesky_factor_of(a, graph)
    if L is None:
        return None
    diagonal = _diagonal(L)
    if kind == "det":
        product = diagonal.prod(axis=-1)
        return _replace_all(node, [ew.mul(product, product)], graph)
    logdet = ew.mul(2.0, ew.log(diagonal).sum(axis=-1))
    return _replace_all(node, [ones_like(logdet), logdet], graph)
