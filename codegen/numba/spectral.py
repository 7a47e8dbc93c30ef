"""Lowering of the matrix spectral ops of symgraph/ops/spectral.py (numba backend)."""
from __future__ import annotations
