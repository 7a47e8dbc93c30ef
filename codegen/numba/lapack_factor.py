"""Runtime library of the matrix factor ops (symgraph/ops/factor.py): cached ``@njit`` helpers the generated
kernels call through linked.py (see runtime.py's docstring for the conventions)."""
from __future__ import annotations
