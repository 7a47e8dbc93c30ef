"""The matrix factor ops of symgraph/ops/factor.py on the cuda backend."""
from __future__ import annotations
