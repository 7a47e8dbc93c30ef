"""The spectral part of ``sg.linalg``: ``Eigh`` and ``Eigvalsh`` (``np.linalg.eigh`` / ``eigvalsh`` of symmetric
matrices), ``QR`` (``np.linalg.qr``, reduced), ``Pinv`` (``np.linalg.pinv``), their symbolic derivatives, and the
functions users call: ``eigh``, ``eigvalsh``, ``qr``, ``pinv`` and ``matrix_power`` (a graph of matrix
products, no op of its own).

Every op works on the last two axes of its input (leading axes are a stack of matrices, as NumPy's), decomposes
integer and boolean input as float64 and float32 as float32, and raises ``numpy.linalg.LinAlgError`` naming the
op and the user's line for a matrix holding inf or NaN (NumPy itself returns NaNs from ``eigh`` and ``qr``
there; Numba's LAPACK wrappers refuse such input, and every backend does the same here).

The derivatives are written with symgraph's own ops, so they can be differentiated again:

- eigenvalues alone (``eigvalsh``, or ``eigh`` with only ``w`` used): ``gA = V diag(gw) Vᵀ``, defined for
  repeated eigenvalues too;
- ``eigh`` (distinct eigenvalues): ``gA = V (diag(gw) + F ∘ (Vᵀ gV)) Vᵀ`` with ``F_ij = 1 / (w_j - w_i)`` off
  the diagonal and 0 on it, symmetrised ``(gA + gAᵀ) / 2`` (PyTorch's and JAX's convention: the derivative
  along symmetric perturbations, although only the lower triangle is read);
- ``qr`` (full-rank leading ``k x k`` block, ``k = min(m, n)``; PyTorch's ``linalg_qr_backward``): with
  ``A = [X | Y]``, ``X`` the first ``k`` columns, ``R = [R1 | R2]``: ``gQ' = gQ + Y gR2ᵀ``,
  ``M = R1 gR1ᵀ - gQ'ᵀ Q``, ``gX = (gQ' + Q copyltu(M)) R1⁻ᵀ`` (``copyltu(M) = tril(M, -1) + tril(M, -1)ᵀ +
  diag(M)``), ``gY = Q gR2``; for ``m >= n`` ``Y`` is empty and this is the usual formula. ``R1⁻ᵀ`` is a
  triangular solve (``solve_triangular`` of symgraph/ops/factor.py);
- ``pinv`` (Golub and Pereyra 1973, where the rank is locally constant), ``P = pinv(A)``:
  ``gA = -Pᵀ g Pᵀ + Pᵀ P gᵀ (I - P A) + (I - A P) gᵀ P Pᵀ``.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..graph import Node
from ..types import TensorType
from .base import Op, as_variable


# ---------------------------------------------------------------- helpers

def _float_dtype(a):
    """The dtype the decompositions compute in: float32 and float64 stay, everything else is float64."""
    return a.dtype if a.type.is_float else "float64"


def _check_matrix(name, a):
    """``a`` as a Variable: a real array with at least two axes (TypeError naming the op otherwise)."""
    a = as_variable(a)
    if a.ndim < 2 or np.dtype(a.dtype).kind not in "biuf":
        raise TypeError(f"{name}: expected a real array with at least 2 axes, got {a.describe()}")
    return a


def _square_length(name, a):
    """The static side of the square matrices ``a`` (None when unknown); a ValueError when the last two
    lengths are both known and differ."""
    m, n = a.type.shape[-2:]
    if m is not None and n is not None and m != n:
        raise ValueError(f"{name}: expected square matrices (last two axes of equal length), got {a.describe()}")
    return m if m is not None else n


def _finite_input(op, node, a):
    """``a`` converted to the op's float dtype; LinAlgError naming the op and the user's line when it holds inf
    or NaN."""
    a = np.asarray(a, dtype=node.outputs[0].dtype)
    if not np.isfinite(a).all():
        raise np.linalg.LinAlgError(f"{op}: the matrix holds inf or NaN{node.where()}")
    return a


def _check_square_value(op, node, a):
    """LinAlgError naming the op when the matrices ``a`` are not square (lengths known only at call time)."""
    if a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError(f"{op}: last 2 dimensions of the array must be square, got shape "
                                    f"{a.shape}{node.where()}")


def _mT(x):
    from .linalg import _swap
    return _swap(x)


# ---------------------------------------------------------------- symmetric eigendecomposition

class Eigh(Op):
    """``np.linalg.eigh(a)`` over the last two axes of ``a``: outputs ``(w, v)``, eigenvalues ascending, the
    eigenvectors the columns of ``v``. Only the lower triangle is read. Integer and boolean inputs are
    decomposed as float64; float32 stays float32. A matrix holding inf or NaN is a LinAlgError naming the op.
    """

    name = "eigh"

    def make_node(self, a):
        a = _check_matrix("eigh", a)
        n = _square_length("eigh", a)
        dtype, batch = _float_dtype(a), tuple(a.type.shape[:-2])
        return Node(self, [a], [TensorType(dtype, batch + (n,)), TensorType(dtype, batch + (n, n))])

    def perform(self, node, inputs):
        a = _finite_input(self, node, inputs[0])
        _check_square_value(self, node, a)
        try:
            w, v = np.linalg.eigh(a)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"{self}: {exc}{node.where()}") from None
        return [np.asarray(w, dtype=node.outputs[0].dtype), np.asarray(v, dtype=node.outputs[1].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast
        from .shape import is_zeros_like
        (a,), (w, v), (gw, gv) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        if is_zeros_like(gv):
            return [cast(_eigenvalues_grad(v, gw), a.dtype)]
        return [cast(_eigenvectors_grad(w, v, gw, gv), a.dtype)]


class Eigvalsh(Op):
    """``np.linalg.eigvalsh(a)`` over the last two axes of ``a``: the eigenvalues, ascending (lower triangle
    read). Dtypes and errors as ``Eigh``; the derivative builds an ``Eigh`` node for the eigenvectors."""

    name = "eigvalsh"

    def make_node(self, a):
        a = _check_matrix("eigvalsh", a)
        n = _square_length("eigvalsh", a)
        return Node(self, [a], [TensorType(_float_dtype(a), tuple(a.type.shape[:-2]) + (n,))])

    def perform(self, node, inputs):
        a = _finite_input(self, node, inputs[0])
        _check_square_value(self, node, a)
        try:
            w = np.linalg.eigvalsh(a)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"{self}: {exc}{node.where()}") from None
        return [np.asarray(w, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast
        (a,), (gw,) = inputs, output_grads
        if not a.type.is_float:
            return [None]
        _, v = Eigh()(a)
        return [cast(_eigenvalues_grad(v, gw), a.dtype)]


def _eigenvalues_grad(v, gw):
    """``V diag(gw) Vᵀ``: the derivative of the eigenvalues alone (symmetric; repeated eigenvalues too)."""
    from . import elemwise as ew
    from .linalg import matmul
    from .shape import expand_dims
    return matmul(ew.mul(v, expand_dims(gw, -2)), _mT(v))


def _eigenvectors_grad(w, v, gw, gv):
    """``V (diag(gw) + F ∘ (Vᵀ gV)) Vᵀ``, ``F_ij = 1 / (w_j - w_i)`` off the diagonal and 0 on it, symmetrised."""
    from . import elemwise as ew
    from .arrays import eye
    from .linalg import matmul
    from .shape import expand_dims, shape_tuple
    n = shape_tuple(w)[-1]
    diagonal = eye(n, dtype="bool")
    gap = ew.sub(expand_dims(w, -2), expand_dims(w, -1))          # [i, j] = w_j - w_i
    f = ew.where(diagonal, 0, ew.true_div(1, ew.where(diagonal, 1, gap)))
    middle = ew.add(ew.mul(f, matmul(_mT(v), gv)), ew.mul(diagonal, expand_dims(gw, -2)))
    ga = matmul(matmul(v, middle), _mT(v))
    return ew.mul(ew.add(ga, _mT(ga)), 0.5)


# ---------------------------------------------------------------- QR

class QR(Op):
    """``np.linalg.qr(a, mode="reduced")`` over the last two axes of ``a`` (``(..., m, n)``): outputs ``q``
    ``(..., m, k)`` with orthonormal columns and ``r`` ``(..., k, n)`` upper triangular, ``k = min(m, n)``
    (LAPACK's geqrf and orgqr, as NumPy). Dtypes and errors as ``Eigh``."""

    name = "qr"

    def make_node(self, a):
        a = _check_matrix("qr", a)
        dtype, batch = _float_dtype(a), tuple(a.type.shape[:-2])
        m, n = a.type.shape[-2:]
        k = None if m is None or n is None else min(m, n)
        return Node(self, [a], [TensorType(dtype, batch + (m, k)), TensorType(dtype, batch + (k, n))])

    def perform(self, node, inputs):
        a = _finite_input(self, node, inputs[0])
        q, r = np.linalg.qr(a, mode="reduced")
        return [np.asarray(q, dtype=node.outputs[0].dtype), np.asarray(r, dtype=node.outputs[1].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast
        (a,), (q, r), (gq, gr) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        return [cast(_qr_grad(a, q, r, gq, gr), a.dtype)]


def _solve_triangular():
    """``solve_triangular`` of symgraph/ops/factor.py (written separately), imported when a QR is differentiated."""
    try:
        from .factor import solve_triangular
    except ImportError as exc:
        raise NotImplementedError("the derivative of qr needs solve_triangular from symgraph/ops/factor.py, "
                                  f"which is not available ({exc})") from None
    return solve_triangular


def _qr_grad(a, q, r, gq, gr):
    """PyTorch's ``linalg_qr_backward``, wide matrices included (see the module docstring)."""
    from . import elemwise as ew
    from .arrays import tril
    from .join import concatenate
    from .linalg import matmul
    from .shape import shape_tuple
    solve_triangular = _solve_triangular()
    m, n = a.type.shape[-2:]
    tall = m is not None and n is not None and m >= n
    if tall:
        r1, gr1 = r, gr
    else:                               # A = [X | Y], R = [R1 | R2]: R2 = Qᵀ Y
        k = shape_tuple(r)[-2]
        r1, gr1, gr2 = r[..., :k], gr[..., :k], gr[..., k:]
        y = ew.cast(a[..., k:], q.dtype)
        gq = ew.add(gq, matmul(y, _mT(gr2)))
    product = ew.sub(matmul(r1, _mT(gr1)), matmul(_mT(gq), q))                 # M = R gRᵀ - gQᵀ Q
    mirrored = ew.add(tril(product), _mT(tril(product, -1)))                 # copyltu(M)
    b = ew.add(gq, matmul(q, mirrored))
    gx = _mT(solve_triangular(r1, _mT(b), lower=False))                       # B R⁻ᵀ = (R⁻¹ Bᵀ)ᵀ
    if tall:
        return gx
    return concatenate([gx, matmul(q, gr2)], axis=-1)


# ---------------------------------------------------------------- pseudo-inverse

class Pinv(Op):
    """``np.linalg.pinv(a)`` (its default ``rcond=1e-15``: singular values at most ``1e-15`` times the largest
    count as zero) over the last two axes of ``a`` (``(..., m, n)`` -> ``(..., n, m)``). Dtypes and errors as
    ``Eigh`` (NumPy returns NaNs for an inf, here it is a LinAlgError as for NaN)."""

    name = "pinv"

    def make_node(self, a):
        a = _check_matrix("pinv", a)
        m, n = a.type.shape[-2:]
        return Node(self, [a], [TensorType(_float_dtype(a), tuple(a.type.shape[:-2]) + (n, m))])

    def perform(self, node, inputs):
        a = _finite_input(self, node, inputs[0])
        try:
            p = np.linalg.pinv(a)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"{self}: {exc}{node.where()}") from None
        return [np.asarray(p, dtype=node.outputs[0].dtype)]

    def grad(self, inputs, outputs, output_grads):
        from . import elemwise as ew
        from .linalg import matmul
        (a,), (p,), (g,) = inputs, outputs, output_grads
        if not a.type.is_float:
            return [None]
        pt, gt = _mT(p), _mT(g)
        first = matmul(matmul(pt, g), pt)                                   # Pᵀ g Pᵀ
        x = matmul(matmul(pt, p), gt)                                       # Pᵀ P gᵀ (I - P A)
        second = ew.sub(x, matmul(matmul(x, p), a))
        y = matmul(gt, matmul(p, pt))                                       # (I - A P) gᵀ P Pᵀ
        third = ew.sub(y, matmul(a, matmul(p, y)))
        return [ew.cast(ew.add(ew.sub(second, first), third), a.dtype)]


# ---------------------------------------------------------------- the functions users call

def eigh(a):
    """The eigenvalues and eigenvectors of the real symmetric matrices ``a``, as ``np.linalg.eigh``.

    Parameters
    ----------
    a : Variable or array_like
        A real square matrix ``(n, n)`` or a stack of them ``(..., n, n)``; only the lower triangle is read.

    Returns
    -------
    (Variable, Variable)
        ``w`` ``(..., n)``, the eigenvalues in ascending order, and ``v`` ``(..., n, n)``, the normalised
        eigenvectors as columns (``a @ v[..., :, i] == w[..., i] * v[..., :, i]``); float32 for float32 input,
        else float64. The signs of the eigenvectors are LAPACK's: compare through invariant quantities.
        Differentiable: with only ``w`` used, ``V diag(gw) Vᵀ`` (repeated eigenvalues too); with ``v``, for
        distinct eigenvalues, the symmetrised ``V (diag(gw) + F ∘ (Vᵀ gV)) Vᵀ``, ``F_ij = 1 / (w_j - w_i)``.
        Matrices whose last two lengths are known and differ are a ValueError when the graph is built; a
        matrix holding inf or NaN (or not square when called) is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> w, v = sg.linalg.eigh(A)
    >>> f = sg.function([A], [w, sg.matmul(v * w, v.T)], backend="python")
    >>> values, rebuilt = f([[2.0, 1.0], [1.0, 2.0]])
    >>> values
    array([1., 3.])
    >>> np.round(rebuilt, 12)
    array([[2., 1.],
           [1., 2.]])
    """
    return tuple(Eigh()(a))


def eigvalsh(a):
    """The eigenvalues of the real symmetric matrices ``a``, ascending, as ``np.linalg.eigvalsh``.

    Parameters
    ----------
    a : Variable or array_like
        A real square matrix ``(n, n)`` or a stack of them ``(..., n, n)``; only the lower triangle is read.

    Returns
    -------
    Variable
        ``(..., n)`` eigenvalues (float32 for float32 input, else float64); differentiable for any symmetric
        matrix (``V diag(gw) Vᵀ``). Errors as ``eigh``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.eigvalsh(A), backend="python")([[2.0, 0.0], [3.0, -1.0]])
    array([-2.85410197,  3.85410197])
    """
    return Eigvalsh()(a)


def qr(a):
    """The reduced QR decomposition ``a = q @ r``, as ``np.linalg.qr(a, mode="reduced")``.

    Parameters
    ----------
    a : Variable or array_like
        A real matrix ``(m, n)`` or a stack of them ``(..., m, n)``.

    Returns
    -------
    (Variable, Variable)
        ``q`` ``(..., m, k)`` with orthonormal columns and ``r`` ``(..., k, n)`` upper triangular,
        ``k = min(m, n)``; float32 for float32 input, else float64. The signs (of the columns of ``q`` and the
        rows of ``r``) are LAPACK's. Differentiable where the leading ``k x k`` block of ``a`` has full rank
        (PyTorch's formula, wide matrices included; it needs ``solve_triangular``). A matrix holding inf or
        NaN is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> q, r = sg.linalg.qr(A)
    >>> f = sg.function([A], [sg.abs(r), sg.matmul(q, r)], backend="python")
    >>> size, rebuilt = f([[3.0, 1.0], [4.0, 2.0], [0.0, 0.0]])
    >>> np.round(size, 12)
    array([[5. , 2.2],
           [0. , 0.4]])
    >>> np.round(rebuilt, 12)
    array([[3., 1.],
           [4., 2.],
           [0., 0.]])
    """
    return tuple(QR()(a))


def pinv(a):
    """The Moore-Penrose pseudo-inverse of the matrices ``a``, as ``np.linalg.pinv`` with its default
    ``rcond=1e-15`` (singular values up to ``1e-15`` times the largest count as zero).

    Parameters
    ----------
    a : Variable or array_like
        A real matrix ``(m, n)`` or a stack of them ``(..., m, n)``.

    Returns
    -------
    Variable
        ``(..., n, m)``, float32 for float32 input, else float64. Differentiable where the rank is locally
        constant (Golub and Pereyra: ``-Pᵀ g Pᵀ + Pᵀ P gᵀ (I - P A) + (I - A P) gᵀ P Pᵀ``). A matrix holding
        inf or NaN is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.pinv(A), backend="python")([[2.0, 0.0], [0.0, 4.0], [0.0, 0.0]])
    array([[0.5 , 0.  , 0.  ],
           [0.  , 0.25, 0.  ]])
    """
    return Pinv()(a)


def matrix_power(a, n):
    """The square matrices ``a`` raised to the integer power ``n``, as ``np.linalg.matrix_power``.

    Built from matrix products (the same binary decomposition as NumPy's, so the same products in the same
    order), so it is differentiable to any order through them; ``n < 0`` inverts ``a`` first (``inv`` of
    symgraph/ops/factor.py).

    Parameters
    ----------
    a : Variable or array_like
        A square matrix ``(m, m)`` or a stack of them ``(..., m, m)``.
    n : int
        The exponent: 0 gives identity matrices (of ``a``'s shape and dtype), negative powers the inverse's.

    Returns
    -------
    Variable
        ``a @ a @ ... @ a`` (``n`` factors), of ``a``'s dtype (for ``n >= 0``; the inverse's for ``n < 0``).
        Matrices whose last two lengths are known and differ are a ValueError when the graph is built.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.matrix_power(A, 3), backend="python")([[1.0, 1.0], [0.0, 1.0]])
    array([[1., 3.],
           [0., 1.]])
    """
    from . import elemwise as ew
    from .arrays import eye
    from .base import pointing_at_user_line
    from .linalg import matmul
    from .shape import broadcast_to, shape_tuple
    with pointing_at_user_line():
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral):
            raise TypeError(f"matrix_power: the exponent must be an integer, got {type(n).__name__} {n!r}")
        n = int(n)
        a = as_variable(a)
        if a.ndim < 2 or np.dtype(a.dtype).kind not in "biuf":
            raise TypeError(f"matrix_power: expected a real array with at least 2 axes, got {a.describe()}")
        _square_length("matrix_power", a)
    if n == 0:
        side = shape_tuple(a)[-1]
        return broadcast_to(ew.cast(eye(side), a.dtype), shape_tuple(a))
    if n < 0:
        from .factor import inv
        a, n = inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return matmul(a, a)
    if n == 3:
        return matmul(matmul(a, a), a)
    z = result = None
    while n > 0:
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result
