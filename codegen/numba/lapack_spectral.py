"""Runtime library of the matrix spectral ops (symgraph/ops/spectral.py): cached ``@njit`` helpers the generated
kernels call through linked.py (see runtime.py's docstring for the conventions).

Each helper decomposes one matrix (any layout and real dtype) into output buffers the kernel allocated, with
Numba's ``np.linalg`` overloads, which call the LAPACK routines NumPy calls (syevd for ``eigh``/``eigvalsh``,
geqrf and orgqr for ``qr``, gesdd for ``pinv``) through SciPy's LAPACK. The helpers return False, instead of
raising, when the matrix holds inf or NaN: the kernel raises the op's LinAlgError with the user's line.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .runtime import _as_float_matrix as _float_copy  # a C-contiguous float copy of one matrix

_jit = nb.njit(cache=True, error_model="numpy")


@_jit
def _finite(w):
    """Whether every element of the matrix ``w`` is finite."""
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            if not np.isfinite(w[i, j]):
                return False
    return True


@_jit
def eigh_matrix(a, w, v):
    """``w, v = np.linalg.eigh(a)`` of one square matrix written into ``w`` and ``v``; False when ``a`` holds
    inf or NaN."""
    x = _float_copy(a, w)
    if not _finite(x):
        return False
    if x.shape[0] == 0:
        return True
    ww, vv = np.linalg.eigh(x)
    w[:] = ww
    v[:, :] = vv
    return True


@_jit
def eigvalsh_matrix(a, w):
    """``w = np.linalg.eigvalsh(a)`` of one square matrix; False when ``a`` holds inf or NaN."""
    x = _float_copy(a, w)
    if not _finite(x):
        return False
    if x.shape[0] == 0:
        return True
    w[:] = np.linalg.eigvalsh(x)
    return True


@_jit
def qr_matrix(a, q, r):
    """``q, r = np.linalg.qr(a)`` (reduced) of one matrix written into ``q`` and ``r``; False when ``a`` holds
    inf or NaN. An empty matrix has empty factors (Numba's ``qr`` refuses it, NumPy's does not)."""
    x = _float_copy(a, r)
    if not _finite(x):
        return False
    if x.shape[0] == 0 or x.shape[1] == 0:
        return True
    qq, rr = np.linalg.qr(x)
    q[:, :] = qq
    r[:, :] = rr
    return True


@_jit
def pinv_matrix(a, p):
    """``p = np.linalg.pinv(a)`` of one matrix, computed as NumPy does: the reduced SVD (gesdd), singular values
    at most ``1e-15`` times the largest (compared in float64) replaced by 0 and the others inverted, then
    ``vhᵀ @ (s⁺[:, None] * uᵀ)``; False when ``a`` holds inf or NaN."""
    x = _float_copy(a, p)
    if not _finite(x):
        return False
    if x.shape[0] == 0 or x.shape[1] == 0:
        return True
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    cutoff = 1e-15 * np.float64(s.max())
    k, m = s.shape[0], u.shape[0]
    scaled = np.empty((k, m), p.dtype)
    for i in range(k):
        inverse = 1 / s[i] if np.float64(s[i]) > cutoff else s[i] - s[i]
        for j in range(m):
            scaled[i, j] = inverse * u[j, i]
    p[:, :] = np.dot(vh.T, scaled)
    return True
