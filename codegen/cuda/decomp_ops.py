"""Lowering of the matrix decompositions of symgraph/ops/svd.py: one thread per matrix of the stack, each
running the one-sided Jacobi SVD (Hestenes; Demmel and Veselić 1992) in float64 on a scratch copy.

The matrix (or its transpose, when it is wide) is the p x q working matrix ``W`` (p >= q); plane rotations
of column pairs, accumulated into ``V``, make its columns orthogonal (until no pair has a cosine above
1e-15). The column norms are the singular values (sorted descending, with their columns), the normalised
columns the left singular vectors. Columns for zero singular values, and the extra columns of
``full_matrices=True``, complete the basis by Gram-Schmidt from the coordinate vector farthest from the
columns so far. The singular values are accurate to float64 rounding relative to the largest (as LAPACK's);
the signs of the vectors may differ from LAPACK's. A matrix holding inf or NaN is a LinAlgError.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.svd import SVD

from .runtime import as_contiguous, reshape_view, sizes, to_host
from .table import device, register

_SVD = """
def svd_kernel(a, u, s, vh, work, vw, sig, bad, batch, m, n, ucols, vhrows, want_uv):
    p = max(m, n)
    q = min(m, n)
    for b in range(cuda.grid(1), batch, cuda.gridsize(1)):
        abase = b * m * n
        wbase = b * p * p
        vbase = b * q * q
        sbase = b * q
        finite = True
        for r in range(p):
            for c in range(q):
                if m >= n:
                    x = T_float64(a[abase + r * n + c])
                else:
                    x = T_float64(a[abase + c * n + r])
                if not (x - x == 0.0):
                    finite = False
                work[wbase + r * p + c] = x
        if not finite:
            bad[0] = 1
            continue
        for r in range(q):
            for c in range(q):
                vw[vbase + r * q + c] = 1.0 if r == c else 0.0
        for sweep in range(100):
            rotated = False
            for i in range(q - 1):
                for j in range(i + 1, q):
                    alpha = 0.0
                    beta = 0.0
                    gamma = 0.0
                    for r in range(p):
                        wi = work[wbase + r * p + i]
                        wj = work[wbase + r * p + j]
                        alpha += wi * wi
                        beta += wj * wj
                        gamma += wi * wj
                    if gamma != 0.0 and abs(gamma) > 1e-15 * M.sqrt(alpha * beta):
                        rotated = True
                        zeta = (beta - alpha) / (2.0 * gamma)
                        if abs(zeta) > 1e150:
                            t = 0.5 / abs(zeta)
                        else:
                            t = 1.0 / (abs(zeta) + M.sqrt(1.0 + zeta * zeta))
                        if zeta < 0.0:
                            t = -t
                        cs = 1.0 / M.sqrt(1.0 + t * t)
                        sn = cs * t
                        for r in range(p):
                            wi = work[wbase + r * p + i]
                            wj = work[wbase + r * p + j]
                            work[wbase + r * p + i] = cs * wi - sn * wj
                            work[wbase + r * p + j] = sn * wi + cs * wj
                        for r in range(q):
                            vi = vw[vbase + r * q + i]
                            vj = vw[vbase + r * q + j]
                            vw[vbase + r * q + i] = cs * vi - sn * vj
                            vw[vbase + r * q + j] = sn * vi + cs * vj
            if not rotated:
                break
        for c in range(q):
            total = 0.0
            for r in range(p):
                total += work[wbase + r * p + c] * work[wbase + r * p + c]
            sig[sbase + c] = M.sqrt(total)
        for i in range(q):
            best = i
            for j in range(i + 1, q):
                if sig[sbase + j] > sig[sbase + best]:
                    best = j
            if best != i:
                keep = sig[sbase + i]
                sig[sbase + i] = sig[sbase + best]
                sig[sbase + best] = keep
                for r in range(p):
                    keep = work[wbase + r * p + i]
                    work[wbase + r * p + i] = work[wbase + r * p + best]
                    work[wbase + r * p + best] = keep
                for r in range(q):
                    keep = vw[vbase + r * q + i]
                    vw[vbase + r * q + i] = vw[vbase + r * q + best]
                    vw[vbase + r * q + best] = keep
        for c in range(q):
            s[sbase + c] = {cast_sig}
        if not want_uv:
            continue
        tiny = 0.0
        if q > 0:
            tiny = sig[sbase] * p * 2.3e-16
        need = q
        if (m >= n and ucols > q) or (m < n and vhrows > q):
            need = p
        for c in range(need):
            if c < q and sig[sbase + c] > tiny:
                for r in range(p):
                    work[wbase + r * p + c] = work[wbase + r * p + c] / sig[sbase + c]
                continue
            # the coordinate vector with the largest part outside the columns kept so far, made orthonormal
            pick = 0
            most = -1.0
            for e in range(p):
                outside = 1.0
                for j in range(need):
                    if j < c or (j < q and sig[sbase + j] > tiny):
                        outside -= work[wbase + e * p + j] * work[wbase + e * p + j]
                if outside > most:
                    most = outside
                    pick = e
            for r in range(p):
                work[wbase + r * p + c] = 1.0 if r == pick else 0.0
            for again in range(2):
                for j in range(need):
                    if j < c or (j < q and sig[sbase + j] > tiny):
                        dot = 0.0
                        for r in range(p):
                            dot += work[wbase + r * p + j] * work[wbase + r * p + c]
                        for r in range(p):
                            work[wbase + r * p + c] -= dot * work[wbase + r * p + j]
            total = 0.0
            for r in range(p):
                total += work[wbase + r * p + c] * work[wbase + r * p + c]
            total = M.sqrt(total)
            for r in range(p):
                work[wbase + r * p + c] = work[wbase + r * p + c] / total
        ubase = b * m * ucols
        hbase = b * vhrows * n
        if m >= n:
            for r in range(m):
                for c in range(ucols):
                    u[ubase + r * ucols + c] = {cast_w_rc}
            for c in range(vhrows):
                for col in range(n):
                    vh[hbase + c * n + col] = {cast_v_colc}
        else:
            for r in range(m):
                for c in range(ucols):
                    u[ubase + r * ucols + c] = {cast_v_rc}
            for c in range(vhrows):
                for col in range(n):
                    vh[hbase + c * n + col] = {cast_w_colc}
"""


def _source(dtype):
    cast = f"T_{dtype}"
    return _SVD.format(cast_sig=f"{cast}(sig[sbase + c])",
                       cast_w_rc=f"{cast}(work[wbase + r * p + c])", cast_v_colc=f"{cast}(vw[vbase + col * q + c])",
                       cast_v_rc=f"{cast}(vw[vbase + r * q + c])", cast_w_colc=f"{cast}(work[wbase + col * p + c])")


@register(SVD)
def lower_svd(node, host):
    op, dtype = node.op, node.outputs[0].dtype
    source = _source(dtype)

    def step(args, call):
        a = as_contiguous(call, device(args[0]))
        shape = tuple(a.shape)
        batch_shape, (m, n) = shape[:-2], shape[-2:]
        batch, p, q = math.prod(batch_shape), max(m, n), min(m, n)
        ucols, vhrows = (m, n) if op.full_matrices else (q, q)
        u = call.empty((batch * m * ucols if op.compute_uv else 0,), dtype)
        s = call.empty((batch * q,), dtype)
        vh = call.empty((batch * vhrows * n if op.compute_uv else 0,), dtype)
        if batch:
            work = call.empty((max(batch * p * p, 1),), "float64")
            vw = call.empty((max(batch * q * q, 1),), "float64")
            sig = call.empty((max(batch * q, 1),), "float64")
            bad = call.empty((1,), "int32")
            bad.copy_to_device(np.zeros(1, "int32"))
            kernel = call.kernel(("svd", a.dtype.name, dtype), "svd_kernel", source)
            blocks, threads = sizes().elementwise_grid(batch)
            kernel[blocks, threads](reshape_view(a, (a.size,)), u, s, vh, work, vw, sig, bad, batch, m, n,
                                    ucols, vhrows, op.compute_uv)
            if to_host(bad)[0]:
                raise np.linalg.LinAlgError(f"{node.op}: SVD did not converge: the matrix holds inf or NaN"
                                            f"{node.where()}")
        s = reshape_view(s, batch_shape + (q,))
        if not op.compute_uv:
            return [s]
        return [reshape_view(u, batch_shape + (m, ucols)), s, reshape_view(vh, batch_shape + (vhrows, n))]
    return step
