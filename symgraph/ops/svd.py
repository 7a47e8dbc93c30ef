"""The singular value decomposition: ``SVD`` (``np.linalg.svd`` of a matrix or a stack of matrices), its
symbolic derivative, and ``svd`` and ``svdvals``, the functions users call (also as ``sg.linalg.svd``).

The derivative is the standard one for distinct non-zero singular values (Townsend 2016; the formula
PyTorch and JAX use), written with symgraph's own ops, so it can be differentiated again. With only the
singular values used it is ``U diag(gS) Vᵀ``, defined for any matrix (repeated or zero values included).
"""
from __future__ import annotations

import numpy as np

from ..graph import Node
from ..types import TensorType
from .base import Op, as_variable


class SVD(Op):
    """``np.linalg.svd(a, full_matrices, compute_uv)`` over the last two axes of ``a`` (real, at least 2-d).

    Outputs ``(u, s, vh)`` when ``compute_uv``, else ``s``; singular values in descending order. Integer
    and boolean inputs are decomposed as float64; float32 stays float32. A decomposition that does not
    converge (NaN or inf in the input) is a ``numpy.linalg.LinAlgError`` naming the op.
    """

    __props__ = ("full_matrices", "compute_uv")
    name = "svd"

    def __init__(self, full_matrices=False, compute_uv=True):
        self.full_matrices = bool(full_matrices)
        self.compute_uv = bool(compute_uv)

    def make_node(self, a):
        a = as_variable(a)
        if a.ndim < 2 or np.dtype(a.dtype).kind not in "biuf":
            raise TypeError(f"svd: expected a real array with at least 2 axes, got {a.describe()}")
        dtype = a.dtype if a.type.is_float else "float64"
        *batch, m, n = a.type.shape
        batch = tuple(batch)
        k = None if m is None or n is None else min(m, n)
        s = TensorType(dtype, batch + (k,))
        if not self.compute_uv:
            return Node(self, [a], [s])
        u_cols, vh_rows = (m, n) if self.full_matrices else (k, k)
        return Node(self, [a], [TensorType(dtype, batch + (m, u_cols)), s, TensorType(dtype, batch + (vh_rows, n))])

    def perform(self, node, inputs):
        a = np.asarray(inputs[0], dtype=node.outputs[0].dtype)
        if not np.isfinite(a).all():
            raise np.linalg.LinAlgError(f"{self}: SVD did not converge: the matrix holds inf or NaN{node.where()}")
        try:
            result = np.linalg.svd(a, full_matrices=self.full_matrices, compute_uv=self.compute_uv)
        except np.linalg.LinAlgError as exc:
            raise np.linalg.LinAlgError(f"{self}: {exc}{node.where()}") from None
        results = list(result) if self.compute_uv else [result]
        return [np.asarray(r, dtype=out.dtype) for r, out in zip(results, node.outputs)]

    def grad(self, inputs, outputs, output_grads):
        from .elemwise import cast
        (a,) = inputs
        if not a.type.is_float:
            return [None]
        if not self.compute_uv:
            return [_values_grad(a, output_grads[0])]
        gu, gs, gvh = output_grads
        from .shape import is_zeros_like
        if is_zeros_like(gu) and is_zeros_like(gvh):
            return [_values_grad(a, gs)]
        u, s, vh = outputs
        return [cast(_vectors_grad(u, s, vh, gu, gs, gvh), a.dtype)]


def _mT(x):
    from .linalg import _swap
    return _swap(x)


def _values_grad(a, gs):
    """``U diag(gS) Vᵀ``: the derivative of the singular values alone (any matrix)."""
    from . import elemwise as ew
    from .linalg import matmul
    from .shape import expand_dims
    u, _, vh = SVD(full_matrices=False, compute_uv=True)(a)
    return ew.cast(matmul(ew.mul(u, expand_dims(gs, -2)), vh), a.dtype)


def _vectors_grad(u, s, vh, gu, gs, gvh):
    """``gA = U [(F ∘ (UᵀgU - gUᵀU)) S + S (F ∘ (VᵀgV - gVᵀV)) + diag(gS)] Vᵀ
    + (I - UUᵀ) gU S⁻¹ Vᵀ + U S⁻¹ gVᵀ (I - VVᵀ)``, with ``F_ij = 1 / (s_j² - s_i²)`` off the diagonal and
    0 on it (distinct non-zero singular values); the last two terms vanish for square matrices. Of
    ``full_matrices=True`` outputs only the first ``k`` columns of ``u`` and rows of ``vh`` count: the others
    are any basis of the complement, and their gradient is ignored (as PyTorch's)."""
    from . import elemwise as ew
    from .arrays import eye
    from .linalg import matmul
    from .shape import expand_dims, shape_tuple
    k = shape_tuple(s)[-1]
    if u.type.shape[-1] != s.type.shape[-1] or u.type.shape[-1] is None:
        u, gu = u[..., :k], gu[..., :k]
        vh, gvh = vh[..., :k, :], gvh[..., :k, :]
    v, gv = _mT(vh), _mT(gvh)
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)            # s_j along columns, s_i along rows
    squares = ew.mul(s, s)
    gap = ew.sub(expand_dims(squares, -2), expand_dims(squares, -1))  # s_j² - s_i²
    diagonal = eye(k, dtype="bool")
    f = ew.where(diagonal, 0, ew.true_div(1, ew.where(diagonal, 1, gap)))
    utgu = matmul(_mT(u), gu)
    vtgv = matmul(_mT(v), gv)
    j = ew.mul(f, ew.sub(utgu, _mT(utgu)))
    kk = ew.mul(f, ew.sub(vtgv, _mT(vtgv)))
    middle = ew.add(ew.add(ew.mul(j, s_row), ew.mul(s_col, kk)), ew.mul(diagonal, expand_dims(gs, -2)))
    ga = matmul(matmul(u, middle), vh)
    m, n = u.type.shape[-2], v.type.shape[-2]
    inv_s = ew.true_div(1, s)
    if m is None or m != k:      # (I - UUᵀ) gU S⁻¹ Vᵀ
        projected = ew.sub(gu, matmul(u, utgu))
        ga = ew.add(ga, matmul(ew.mul(projected, expand_dims(inv_s, -2)), vh))
    if n is None or n != k:      # U S⁻¹ gVᵀ (I - VVᵀ)
        projected = ew.sub(gv, matmul(v, vtgv))
        ga = ew.add(ga, matmul(ew.mul(u, expand_dims(inv_s, -2)), _mT(projected)))
    return ga


def svd(a, full_matrices=False, compute_uv=True):
    """The singular value decomposition ``a = u @ diag(s) @ vh``, as ``np.linalg.svd`` (SciPy's defaults
    differ: here ``full_matrices`` is False unless asked).

    Parameters
    ----------
    a : Variable or array_like
        A real matrix ``(m, n)`` or a stack of them ``(..., m, n)``.
    full_matrices : bool, default False
        ``u`` is ``(..., m, m)`` and ``vh`` ``(..., n, n)`` when True; ``(..., m, k)`` and ``(..., k, n)``
        with ``k = min(m, n)`` when False.
    compute_uv : bool, default True
        Return ``(u, s, vh)``; when False, only ``s``.

    Returns
    -------
    (Variable, Variable, Variable) or Variable
        ``u, s, vh`` (or ``s``), singular values in descending order, float32 for float32 input, else
        float64. The signs of the singular vectors are those LAPACK (or the cuda kernel) gives: compare
        through invariant quantities. Differentiable: the singular values for any matrix (``U diag(gS)
        Vᵀ``); the vectors for distinct non-zero singular values. With ``full_matrices=True`` the columns
        of ``u`` and rows of ``vh`` past ``min(m, n)`` (any basis of the complement) get no gradient, as
        in PyTorch. A matrix holding inf or NaN is a ``numpy.linalg.LinAlgError``.

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> u, s, vh = sg.linalg.svd(A)
    >>> sg.function([A], s, backend="python")([[3.0, 0.0], [0.0, -4.0]])
    array([4., 3.])
    """
    out = SVD(full_matrices, compute_uv)(a)
    return tuple(out) if compute_uv else out


def svdvals(a):
    """The singular values of ``a`` (``(..., m, n)``), descending, as ``scipy.linalg.svdvals``.

    Parameters
    ----------
    a : Variable or array_like
        A real matrix or a stack of them.

    Returns
    -------
    Variable
        ``(..., min(m, n))`` singular values; differentiable for any matrix (``U diag(gS) Vᵀ``).

    Examples
    --------
    >>> A = sg.matrix("A")
    >>> sg.function([A], sg.linalg.svdvals(A), backend="python")([[0.0, 2.0], [1.0, 0.0]])
    array([2., 1.])
    """
    return SVD(False, False)(a)
