"""The matrix spectral ops of symgraph/ops/spectral.py on the cuda backend."""
from __future__ import annotations
