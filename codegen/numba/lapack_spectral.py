"""Runtime library of the matrix spectral ops (symgraph/ops/spectral.py): cached ``@njit`` helpers the generated
kernels call through linked.py (see runtime.py's docstring for the conventions)."""
from __future__ import annotations
