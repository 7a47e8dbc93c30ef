"""The matrix spectral ops of symgraph/ops/spectral.py on the cuda backend: not lowered yet, so
``sg.function(..., backend="cuda")`` on a graph holding one fails when it is built, naming the op and the
user's line (codegen/cuda/lower.py), with the reason below."""
from __future__ import annotations

from symgraph.ops.spectral import QR, Eigh, Eigvalsh, Pinv

from .table import LOWERINGS

for _op_class, _what in ((Eigh, "eigh"), (Eigvalsh, "eigvalsh"), (QR, "qr"), (Pinv, "pinv")):
    LOWERINGS.unsupported(_op_class, f"no cuda kernel for {_what} yet: compile this function with "
                                     f"backend=\"numba\" (LAPACK on the CPU) or \"python\"")
