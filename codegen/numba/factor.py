"""Lowering of the matrix factor ops of symgraph/ops/factor.py (numba backend)."""
from __future__ import annotations
