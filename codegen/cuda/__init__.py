"""The CUDA backend: a function's optimized graph lowered to numba.cuda kernels (see lower.py).

Needs numba-cuda (the optional extra ``cuda``) and an NVIDIA GPU, or Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported) for testing.
"""
from __future__ import annotations

from .lower import CudaExecutor, DeviceCopy, compile  # noqa: F401,A004
