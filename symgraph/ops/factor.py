"""The solve family of ``sg.linalg`` (SciPy's names): ``inv``, ``solve``, ``solve_triangular``, ``cholesky``,
``cho_solve``, ``det`` and ``slogdet``, one op class per operation, each over a matrix or a stack of matrices
``(..., n, n)`` as NumPy does.

Values: integer and boolean inputs are computed in float64, float32 stays float32 (the result dtype of
two operands is NumPy's promotion of theirs). Errors are NumPy's and SciPy's: a singular matrix (``inv``,
``solve``), a matrix that is not positive definite (``cholesky``, ``solve(..., assume_a="pos")``), a zero
on the diagonal of a triangular solve and a matrix holding inf or NaN are ``numpy.linalg.LinAlgError``
naming the op and the user's line, on every backend; a non-square matrix or a right-hand side of the wrong
length is a ``ValueError`` when the graph is built if the lengths are known then, else when it runs.

Derivatives are the standard matrix-calculus rules, written with symgraph's own ops (these ops,
``matmul``, ``tril``/``triu``...), so they can be differentiated again:

- ``inv``: ``gA = -A⁻ᵀ g A⁻ᵀ``;
- ``solve``: ``gb = solve(Aᵀ, g)``, ``gA = -gb xᵀ`` (``sym``/``pos`` read one triangle of ``A``, as SciPy:
  the gradient is that of the triangle, ``gA + gAᵀ`` off the diagonal folded into it);
- ``solve_triangular``: ``gb`` by the triangular solve with the other ``trans``, ``gA = -gb xᵀ`` (``-x gbᵀ``
  for ``trans=1``) kept on the triangle read (strictly, with ``unit_diagonal``);
- ``cholesky`` (Murray 2016, as PyTorch): ``S = L⁻ᵀ Φ(Lᵀ gL) L⁻¹`` with ``Φ`` the lower triangle with a
  halved diagonal, ``gA = (S + Sᵀ)/2``: the symmetric gradient, right for perturbations that keep ``A``
  symmetric (the factor reads one triangle only);
- ``det``: ``g det(A) A⁻ᵀ``; ``slogdet``: ``g_logabsdet A⁻ᵀ``, none through the sign.

Stacks broadcast as ``np.linalg.solve`` (NumPy 2): ``b`` is a (stack of) vector(s) only when ``b.ndim ==
1``, otherwise a stack of matrices ``(..., n, k)``; the batch axes of ``a`` and ``b`` broadcast together.
"""
from __future__ import annotations

import numpy as np

from ..graph import Node
from ..types import TensorType, broadcast_shapes, promote_dtypes
from .base import Op, as_variable

_KINDS = {"gen": "gen", "general": "gen", "sym": "sym", "symmetric": "sym", "her": "sym", "hermitian": "sym",
          "pos": "pos", "positive definite": "pos"}
_TRANS = {0: 0, 1: 1, 2: 1, "N": 0, "T": 1, "C": 1, "n": 0, "t": 1, "c": 1}


# ---------------------------------------------------------------- shared checks and helpers

def float_dtype(what, *variables):
    """The dtype the op computes in: NumPy's promotion of the operands', float64 for integers/booleans."""
    for v in variables:
        if v.type.kind not in "biuf" or v.dtype == "float16":
            raise TypeError(f"{what}: expected real float (not float16), integer or boolean operands, got "
                            f"{v.describe()}")
    dtype = promote_dtypes(*[v.dtype for v in variables])
    return dtype if np.dtype(dtype).kind == "f" else "float64"


def _square(what, a):
    """Check that ``a`` is a (stack of) square matrices as far as its static shape tells; returns n."""
    if a.ndim < 2:
        raise ValueError(f"{what}: expected a square matrix or a stack of them (..., n, n), got {a.describe()}")
    m, n = a.type.shape[-2:]
    if m is not None and n is not None and m != n:
        raise ValueError(f"{what}: expected square matrices, got {a.describe()} (last two lengths {m} != {n})")
    return n if n is not None else m


def _check_square_value(op, node, a):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{op}: expected square matrices (..., n, n), got shape {a.shape}{node.where()}")


def linalg_error(op, node, text):
    """The ``numpy.linalg.LinAlgError`` every backend raises for a bad matrix: the op, ``text``, the user's line."""
    return np.linalg.LinAlgError(f"{op}: {text}{node.where()}")


def _finite_or_raise(op, node, a):
    if not np.isfinite(a).all():
        raise linalg_error(op, node, "the matrix holds inf or NaN")


def _system_node(op, what, a, b):
    """The node of ``op`` solving ``a x = b`` (a (..., n, n); b (n,) or (..., n, k)), with its static checks."""
    a, b = as_variable(a), as_variable(b)
    dtype = float_dtype(what, a, b)
    n = _square(what, a)
    if b.ndim == 0:
        raise ValueError(f"{what}: b must be a vector (n,) or a stack of matrices (..., n, k), got {b.describe()}")
    vector = b.ndim == 1
    rows = b.type.shape[0] if vector else b.type.shape[-2]
    if n is not None and rows is not None and n != rows:
        kind = "its length" if vector else "its rows (axis -2)"
        raise ValueError(f"{what}: b does not fit a: a is {a.describe()} with n = {n}, b is {b.describe()} with "
                         f"{kind} {rows} (b is a stack of matrices unless it is 1-d, as np.linalg.solve)")
    batch = broadcast_shapes(a.type.shape[:-2], () if vector else b.type.shape[:-2],
                             op_name=f"{what} (batch axes)", describe=lambda: f"{a.describe()} and {b.describe()}")
    n = n if n is not None else rows
    shape = batch + ((n,) if vector else (n, b.type.shape[-1]))
    return Node(op, [a, b], [TensorType(dtype, shape)])


def _system_values(op, node, a, b):
    """(a broadcast to the batch, b as matrices broadcast to the batch, whether b is a vector) at call time."""
    _check_square_value(op, node, a)
    n = a.shape[-1]
    vector = b.ndim == 1
    rows = b.shape[0] if vector else b.shape[-2]
    if rows != n:
        raise ValueError(f"{op}: b of shape {b.shape} does not fit a of shape {a.shape} (b's rows {rows} != "
                         f"{n}){node.where()}")
    b2 = b[:, None] if vector else b
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch axes of a {a.shape} and b {b.shape} cannot be broadcast"
                         f"{node.where()}") from None
    dtype = node.outputs[0].dtype
    a = np.broadcast_to(np.asarray(a, dtype=dtype), batch + a.shape[-2:])
    b2 = np.broadcast_to(np.asarray(b2, dtype=dtype), batch + b2.shape[-2:])
    return a, b2, vector


def _symmetric_from(a, lower):
    """The symmetric matrix whose lower (or upper) triangle is that of ``a`` (what SciPy reads)."""
    if lower:
        return np.tril(a) + np.swapaxes(np.tril(a, -1), -1, -2)
    return np.triu(a) + np.swapaxes(np.triu(a, 1), -1, -2)


def _mT(x):
    from .linalg import _swap
    return _swap(x)


def _columns(v, vector):
    from .shape import expand_dims
    return expand_dims(v, -1) if vector else v


def _uncolumns(v, vector):
    from .shape import dimshuffle
    return dimshuffle(v, tuple(range(v.ndim - 1))) if vector else v


def _fold(g, lower):
    """The gradient of a function of the symmetric matrix built from one triangle of ``a``: ``g`` off the
    diagonal plus its transpose, on that triangle."""
    from .arrays import tril, triu
    from .elemwise import add
    if lower:
        return add(tril(g), tril(_mT(g), -1))
    return add(triu(g), triu(_mT(g), 1))


def _grad_of(value, like):
    from .elemwise import cast
    from .reduce import sum_to
    return cast(sum_to(value, like), like.dtype) if like.type.is_float else None


# ---------------------------------------------------------------- ops

class MatrixInverse(Op):
    """``np.linalg.inv(a)`` of a square matrix or a stack of them ``(..., n, n)``.

    A singular matrix, or one holding inf or NaN, is a ``numpy.linalg.LinAlgError`` naming the op.
    """

    name = "inv"

    def make_node(self, a):
        a = as_variable(a)
        dtype = float_dtype("inv", a)
        n = _square("inv", a)
        return Node(self, [a], [TensorType(dtype, a.type.shape[:-2] + (n, n))])

    def perform(self, node, inputs):
        a = inputs[0]
        _check_square_value(self, node, a)
        a = np.asarray(a, dtype=node.outputs[0].dtype)
        _finite_or_raise(self, node, a)
        try:
            return [np.linalg.inv(a)]
        except np.linalg.LinAlgError:
            raise linalg_error(self, node, "singular matrix") from None

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import neg
        from .linalg import matmul
        (a,), (x,), (g,) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        xt = _mT(x)
        return [_grad_of(neg(matmul(matmul(xt, g), xt)), a)]


class Solve(Op):
    """``x`` with ``a x = b`` (``scipy.linalg.solve``; batches as ``np.linalg.solve``).

    ``assume_a`` "gen" (LU with partial pivoting), "sym" (LU of the symmetric matrix built from one triangle
    of ``a``: the upper one unless ``lower``), "pos" (Cholesky of that symmetric matrix, two triangular
    solves). Singular: LinAlgError; "pos" and not positive definite: LinAlgError.
    """

    __props__ = ("assume_a", "lower")
    name = "solve"

    def __init__(self, assume_a="gen", lower=False):
        self.assume_a = assume_a
        self.lower = bool(lower)

    def make_node(self, a, b):
        return _system_node(self, "solve", a, b)

    def perform(self, node, inputs):
        a, b, vector = _system_values(self, node, *inputs)
        if self.assume_a != "gen":
            a = _symmetric_from(a, self.lower)
        _finite_or_raise(self, node, a)
        if self.assume_a == "pos":
            try:
                factor = np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                raise linalg_error(self, node, "the matrix is not positive definite") from None
            out = _triangular(_triangular(b, factor, True, 0, False), factor, True, 1, False)
        else:
            try:
                out = np.linalg.solve(a, b)
            except np.linalg.LinAlgError:
                raise linalg_error(self, node, "singular matrix") from None
        out = np.asarray(out, dtype=node.outputs[0].dtype)
        return [out[..., 0] if vector else out]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import neg
        from .linalg import matmul
        (a, b), (x,), (g,) = inputs, outputs, output_grads
        vector = b.ndim == 1
        gm, xm = _columns(g, vector), _columns(x, vector)
        if self.assume_a == "gen":
            gbm = Solve("gen")(_mT(a), gm)
        else:        # the matrix solved is symmetric: its transpose is itself
            gbm = Solve(self.assume_a, self.lower)(a, gm)
        ga = None
        if a.type.is_float:
            full = neg(matmul(gbm, _mT(xm)))
            ga = _grad_of(full if self.assume_a == "gen" else _fold(full, self.lower), a)
        return [ga, _grad_of(_uncolumns(gbm, vector), b)]


def _triangular(b, a, lower, trans, unit):
    """``op(a)⁻¹ b`` for (stacks of) triangular matrices ``a``, only the triangle read, and matrices ``b`` (no
    checks). NumPy's LU of the triangle: the python backend's reference stays within NumPy's BLAS (SciPy's
    solve_triangular calls SciPy's own OpenBLAS, whose threads then contend with NumPy's: milliseconds per
    call on a machine with few cores)."""
    triangle = np.tril(a, -int(unit)) if lower else np.triu(a, int(unit))
    if unit:
        triangle = triangle + np.eye(a.shape[-1], dtype=a.dtype)
    return np.linalg.solve(np.swapaxes(triangle, -1, -2) if trans else triangle, b)


class SolveTriangular(Op):
    """``scipy.linalg.solve_triangular(a, b, trans, lower, unit_diagonal)``: ``x`` with ``op(a) x = b``,
    ``op(a)`` being ``a`` (``trans=0``) or ``aᵀ`` (1; 2 is the same for real matrices), of which only the
    lower (``lower``) or upper triangle is read, and not the diagonal with ``unit_diagonal`` (taken as 1).
    A zero on the diagonal, or inf or NaN in the triangle read, is a LinAlgError."""

    __props__ = ("lower", "trans", "unit_diagonal")
    name = "solve_triangular"

    def __init__(self, lower=False, trans=0, unit_diagonal=False):
        self.lower = bool(lower)
        self.trans = _TRANS[trans]
        self.unit_diagonal = bool(unit_diagonal)

    def make_node(self, a, b):
        return _system_node(self, "solve_triangular", a, b)

    def perform(self, node, inputs):
        a, b, vector = _system_values(self, node, *inputs)
        read = np.tril(a, -int(self.unit_diagonal)) if self.lower else np.triu(a, int(self.unit_diagonal))
        _finite_or_raise(self, node, read)
        if not self.unit_diagonal and (np.diagonal(a, axis1=-2, axis2=-1) == 0).any():
            raise linalg_error(self, node, "singular matrix: a zero on the diagonal")
        try:
            out = _triangular(b, a, self.lower, self.trans, self.unit_diagonal)
        except np.linalg.LinAlgError:     # an exactly zero pivot of the LU of the triangle (not seen)
            raise linalg_error(self, node, "singular matrix") from None
        out = np.asarray(out, dtype=node.outputs[0].dtype)
        return [out[..., 0] if vector else out]

    def grad(self, inputs, outputs, output_grads):
        from .arrays import tril, triu
        from .elemwise import neg
        from .linalg import matmul
        (a, b), (x,), (g,) = inputs, outputs, output_grads
        vector = b.ndim == 1
        gm, xm = _columns(g, vector), _columns(x, vector)
        gbm = SolveTriangular(self.lower, 1 - self.trans, self.unit_diagonal)(a, gm)
        ga = None
        if a.type.is_float:
            full = neg(matmul(gbm, _mT(xm)) if self.trans == 0 else matmul(xm, _mT(gbm)))
            unit = int(self.unit_diagonal)
            ga = _grad_of(tril(full, -unit) if self.lower else triu(full, unit), a)
        return [ga, _grad_of(_uncolumns(gbm, vector), b)]


class Cholesky(Op):
    """``np.linalg.cholesky(a, upper=not lower)``: the lower factor ``L`` with ``a = L Lᵀ`` (reading the
    lower triangle of ``a``), or with ``lower=False`` the upper factor ``U = Lᵀ`` (reading the upper triangle).
    Not positive definite, or inf or NaN: LinAlgError."""

    __props__ = ("lower",)
    name = "cholesky"

    def __init__(self, lower=True):
        self.lower = bool(lower)

    def make_node(self, a):
        a = as_variable(a)
        dtype = float_dtype("cholesky", a)
        n = _square("cholesky", a)
        return Node(self, [a], [TensorType(dtype, a.type.shape[:-2] + (n, n))])

    def perform(self, node, inputs):
        a = inputs[0]
        _check_square_value(self, node, a)
        a = np.asarray(a, dtype=node.outputs[0].dtype)
        _finite_or_raise(self, node, np.tril(a) if self.lower else np.triu(a))
        try:
            return [np.linalg.cholesky(a, upper=not self.lower)]
        except np.linalg.LinAlgError:
            raise linalg_error(self, node, "the matrix is not positive definite") from None

    def grad(self, inputs, outputs, output_grads):
        from .arrays import tril
        from .elemwise import add, mul
        from .linalg import matmul
        (a,), (factor,), (g,) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        lower, g_lower = (factor, g) if self.lower else (_mT(factor), _mT(g))
        product = matmul(_mT(lower), g_lower)
        phi = mul(add(tril(product), tril(product, -1)), 0.5)         # lower triangle, diagonal halved
        left = SolveTriangular(lower=True, trans=1)(lower, phi)          # L⁻ᵀ Φ
        s = _mT(SolveTriangular(lower=True, trans=1)(lower, _mT(left)))  # L⁻ᵀ Φ L⁻¹
        return [_grad_of(mul(add(s, _mT(s)), 0.5), a)]


class Det(Op):
    """``np.linalg.det(a)`` of a square matrix or a stack of them: shape ``a.shape[:-2]``. A singular
    matrix gives 0 (as NumPy); inf or NaN is a LinAlgError."""

    name = "det"

    def make_node(self, a):
        a = as_variable(a)
        dtype = float_dtype("det", a)
        _square("det", a)
        return Node(self, [a], [TensorType(dtype, a.type.shape[:-2])])

    def perform(self, node, inputs):
        a = inputs[0]
        _check_square_value(self, node, a)
        a = np.asarray(a, dtype=node.outputs[0].dtype)
        _finite_or_raise(self, node, a)
        return [np.asarray(np.linalg.det(a), dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import mul
        from .shape import expand_dims
        (a,), (d,), (g,) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        scale = expand_dims(mul(g, d), (-2, -1))
        return [_grad_of(mul(scale, _mT(MatrixInverse()(a))), a)]


class SlogDet(Op):
    """``np.linalg.slogdet(a)``: ``(sign, logabsdet)``, each of shape ``a.shape[:-2]``. A singular matrix
    gives ``(0, -inf)`` (as NumPy); inf or NaN is a LinAlgError."""

    name = "slogdet"

    def make_node(self, a):
        a = as_variable(a)
        dtype = float_dtype("slogdet", a)
        _square("slogdet", a)
        batch = a.type.shape[:-2]
        return Node(self, [a], [TensorType(dtype, batch), TensorType(dtype, batch)])

    def perform(self, node, inputs):
        a = inputs[0]
        _check_square_value(self, node, a)
        a = np.asarray(a, dtype=node.outputs[0].dtype)
        _finite_or_raise(self, node, a)
        sign, logabsdet = np.linalg.slogdet(a)
        return [np.asarray(sign, dtype=node.outputs[0].dtype), np.asarray(logabsdet, dtype=node.outputs[1].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import mul
        from .shape import expand_dims, is_zeros_like, zeros_like
        (a,), (_, g) = inputs, output_grads
        if not a.type.is_float:
            return [None]
        if is_zeros_like(g):      # only the sign is used: piecewise constant
            return [zeros_like(a)]
        return [_grad_of(mul(expand_dims(g, (-2, -1)), _mT(MatrixInverse()(a))), a)]


# ---------------------------------------------------------------- the functions users call (sg.linalg)

def inv(a):
    """The inverse of a square matrix, or of each matrix of a stack, as ``scipy.linalg.inv`` /
    ``np.linalg.inv``.

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(n, n)`` or a stack of them ``(..., n, n)``.

    Returns
    -------
    Variable
        ``(..., n, n)``: float32 for float32 input, else float64. Differentiable (``-A⁻ᵀ g A⁻ᵀ``). A singular
        matrix, or one holding inf or NaN, is a ``numpy.linalg.LinAlgError`` when the function runs.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.inv(A), backend="python")([[2.0, 0.0], [0.0, 4.0]])
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    return MatrixInverse()(a)


def solve(a, b, assume_a="gen", lower=False):
    """The solution ``x`` of ``a @ x = b``, as ``scipy.linalg.solve`` (stacks as ``np.linalg.solve``).

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(n, n)`` or a stack of them ``(..., n, n)``.
    b : Variable or array_like
        A vector ``(n,)``, or a matrix ``(n, k)`` or a stack of them ``(..., n, k)``: as in NumPy 2, ``b`` is
        a vector only when it is 1-d. The batch axes of ``a`` and ``b`` broadcast.
    assume_a : {"gen", "sym", "pos"}, default "gen"
        A general matrix (LU), a symmetric one, or a symmetric positive definite one (Cholesky). With
        "sym" and "pos" only one triangle of ``a`` is read, as SciPy ("general", "symmetric", "hermitian",
        "her" and "positive definite" are accepted too).
    lower : bool, default False
        With "sym" or "pos": read the lower triangle of ``a`` (else the upper one).

    Returns
    -------
    Variable
        ``x``, of ``b``'s shape (with the broadcast batch axes); float32 when both operands are float32,
        else float64. Differentiable in ``a`` and ``b`` (``gb = solve(aᵀ, g)``, ``ga = -gb xᵀ``). A singular
        matrix, a matrix that is not positive definite (with "pos") or one holding inf or NaN is a
        ``numpy.linalg.LinAlgError`` when the function runs.

    Examples
    --------
    >>> A, b = sg.matrix("A"), sg.vector("b")
    >>> f = sg.function([A, b], sg.linalg.solve(A, b), backend="python")
    >>> f([[3.0, 1.0], [1.0, 2.0]], [9.0, 8.0])
    array([2., 3.])
    >>> K = sg.matrix("K")
    >>> g = sg.function([K, b], sg.linalg.solve(K, b, assume_a="pos"), backend="python")
    >>> g([[4.0, 2.0], [2.0, 3.0]], [8.0, 7.0])
    array([1.25, 1.5 ])
    """
    key = assume_a.lower() if isinstance(assume_a, str) else assume_a
    if key not in _KINDS:
        raise ValueError(f"solve: assume_a must be one of 'gen', 'sym' or 'pos', got {assume_a!r}")
    return Solve(_KINDS[key], lower)(a, b)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False):
    """The solution ``x`` of ``op(a) @ x = b`` for a triangular ``a``, as ``scipy.linalg.solve_triangular``.

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(n, n)`` or a stack of them; only the triangle named by ``lower`` is read.
    b : Variable or array_like
        A vector ``(n,)``, or a matrix ``(n, k)`` or a stack of them (a vector only when 1-d, as
        ``np.linalg.solve``); batch axes broadcast with ``a``'s.
    trans : {0, 1, 2, "N", "T", "C"}, default 0
        Solve ``a x = b`` (0, "N") or ``aᵀ x = b`` (1, "T"; 2, "C" is the same for real matrices).
    lower : bool, default False
        ``a`` is lower triangular (else upper).
    unit_diagonal : bool, default False
        Take the diagonal of ``a`` as ones (it is not read).

    Returns
    -------
    Variable
        ``x``, of ``b``'s shape (with the broadcast batch axes). Differentiable in ``a`` (on the triangle
        read) and ``b``. A zero on the diagonal, or inf or NaN in the triangle read, is a
        ``numpy.linalg.LinAlgError`` when the function runs.

    Examples
    --------
    >>> L, b = sg.matrix("L"), sg.vector("b")
    >>> f = sg.function([L, b], sg.linalg.solve_triangular(L, b, lower=True), backend="python")
    >>> f([[2.0, 0.0], [1.0, 4.0]], [2.0, 9.0])
    array([1., 2.])
    """
    if trans not in _TRANS:
        raise ValueError(f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}")
    return SolveTriangular(lower, trans, unit_diagonal)(a, b)


def cholesky(a, lower=True):
    """The Cholesky factor of a symmetric positive definite matrix (or of each of a stack).

    The default is NumPy's (``np.linalg.cholesky``): the lower factor ``L`` with ``a = L @ L.T``; SciPy's
    ``scipy.linalg.cholesky`` defaults to the upper one, which ``lower=False`` gives (``U = L.T``).

    Parameters
    ----------
    a : Variable or array_like
        A symmetric positive definite matrix ``(n, n)`` or a stack of them; only the lower (``lower``) or
        upper triangle is read.
    lower : bool, default True
        Return ``L`` (else ``U = L.T``, with ``a = U.T @ U``).

    Returns
    -------
    Variable
        The triangular factor, ``(..., n, n)``, zero on the other side of the diagonal. Differentiable: the
        symmetric gradient (Murray 2016, as PyTorch), right for graphs in which ``a`` is symmetric. A
        matrix that is not positive definite, or holding inf or NaN, is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.cholesky(A), backend="python")([[4.0, 2.0], [2.0, 2.0]])
    array([[2., 0.],
           [1., 1.]])
    """
    return Cholesky(lower)(a)


def cho_solve(c_and_lower, b):
    """The solution ``x`` of ``a @ x = b`` given the Cholesky factor of ``a``, as ``scipy.linalg.cho_solve``:
    two triangular solves.

    Parameters
    ----------
    c_and_lower : tuple (Variable or array_like, bool)
        The factor ``c`` (``(n, n)`` or a stack) and whether it is the lower one (``a = c @ c.T``) or the
        upper one (``a = c.T @ c``); only that triangle of ``c`` is read.
    b : Variable or array_like
        A vector ``(n,)``, or a matrix ``(n, k)`` or a stack of them (a vector only when 1-d).

    Returns
    -------
    Variable
        ``x``, of ``b``'s shape (with the broadcast batch axes). Differentiable in ``c`` and ``b``. A zero on
        the diagonal of ``c`` is a ``numpy.linalg.LinAlgError`` naming ``solve_triangular``.

    Examples
    --------
    >>> A, b = sg.matrix("A"), sg.vector("b")
    >>> x = sg.linalg.cho_solve((sg.linalg.cholesky(A), True), b)
    >>> sg.function([A, b], x, backend="python")([[4.0, 2.0], [2.0, 3.0]], [8.0, 7.0])
    array([1.25, 1.5 ])
    """
    try:
        c, lower = c_and_lower
    except (TypeError, ValueError):
        raise TypeError("cho_solve: expected (c, lower) as its first argument, as scipy.linalg.cho_solve "
                        f"(got {type(c_and_lower).__name__})") from None
    lower = bool(lower)
    b = as_variable(b)
    vector = b.ndim == 1     # as a column: the first solve of a stack of factors would make it a stack of vectors
    first = SolveTriangular(lower, 0 if lower else 1)(c, _columns(b, vector))   # L y = b, or Uᵀ y = b
    return _uncolumns(SolveTriangular(lower, 1 if lower else 0)(c, first), vector)  # Lᵀ x = y, or U x = y


def det(a):
    """The determinant of a square matrix, or of each of a stack, as ``np.linalg.det``.

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(n, n)`` or a stack of them ``(..., n, n)``.

    Returns
    -------
    Variable
        ``a.shape[:-2]`` determinants (0 for a singular matrix). Differentiable: ``g det(a) a⁻ᵀ``, which needs
        a non-singular ``a`` (else the inverse raises a ``numpy.linalg.LinAlgError``). inf or NaN in ``a``
        is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.det(A), backend="python")([[1.0, 2.0], [3.0, 4.0]])
    array(-2.)
    """
    return Det()(a)


def slogdet(a):
    """The sign and the natural logarithm of the absolute value of the determinant, as ``np.linalg.slogdet``.

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(n, n)`` or a stack of them ``(..., n, n)``.

    Returns
    -------
    (Variable, Variable)
        ``sign`` (1, -1, or 0 for a singular matrix) and ``logabsdet`` (``-inf`` for a singular matrix),
        each of shape ``a.shape[:-2]``. ``logabsdet`` is differentiable (``g a⁻ᵀ``), the sign has no
        gradient. inf or NaN in ``a`` is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sign, logdet = sg.linalg.slogdet(A)
    >>> sg.function([A], [sign, sg.exp(logdet)], backend="python")([[1.0, 2.0], [3.0, 4.0]])
    [array(-1.), array(2.)]
    """
    sign, logabsdet = SlogDet()(a)
    return sign, logabsdet
