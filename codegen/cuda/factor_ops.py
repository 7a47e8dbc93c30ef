"""The matrix factor ops of symgraph/ops/factor.py on the cuda backend: not lowered yet.

Each class is recorded as unsupported with the reason, so ``sg.function(..., backend="cuda")`` on a graph
holding one fails when the function is built (codegen/cuda/lower.py lists the nodes and suggests
``backend='numba'``) rather than running the op on the host unannounced.
"""
from __future__ import annotations

from symgraph.ops.factor import Cholesky, Det, MatrixInverse, SlogDet, Solve, SolveTriangular

from .table import LOWERINGS

_REASON = ("no cuda kernel for the matrix factorisations (LU, Cholesky, triangular solves) yet; "
           "compile this function with backend='numba' (or 'python')")

for _op_class in (MatrixInverse, Solve, SolveTriangular, Cholesky, Det, SlogDet):
    LOWERINGS.unsupported(_op_class, _REASON)
