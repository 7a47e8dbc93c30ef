"""``sg.linalg``: linear algebra under SciPy's names, each op differentiable to any order.

Solving and factorising (symgraph/ops/factor.py): ``inv``, ``solve``, ``solve_triangular``, ``cholesky``,
``cho_solve``, ``det``, ``slogdet``; spectral and other decompositions (symgraph/ops/spectral.py, svd.py):
``eigh``, ``eigvalsh``, ``svd``, ``svdvals``, ``qr``, ``pinv``, ``matrix_power``; and ``norm`` (the same
function as ``sg.norm``, whose matrix orders 2, -2 and 'nuc' use the singular values). Square inputs may
carry leading batch axes ``(..., n, n)``, as in NumPy.

Backends: python (NumPy/SciPy) and numba (LAPACK) run every op; cuda runs the solving and factorising ops
as kernels with one thread block per matrix (codegen/cuda/factor_ops.py: meant for the sizes models use,
n up to a few hundred), while a graph holding a spectral op (eigh, eigvalsh, qr, pinv) is refused when the
function is built, with a message naming the op and suggesting ``backend="numba"``.
"""
from .ops.contract import norm
from .ops.factor import cho_solve, cholesky, det, inv, slogdet, solve, solve_triangular
from .ops.spectral import eigh, eigvalsh, matrix_power, pinv, qr
from .ops.svd import svd, svdvals

__all__ = ["inv", "solve", "solve_triangular", "cholesky", "cho_solve", "det", "slogdet", "eigh", "eigvalsh",
           "svd", "svdvals", "qr", "pinv", "matrix_power", "norm"]
