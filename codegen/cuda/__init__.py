"""The CUDA backend: a function's optimized graph lowered to numba.cuda kernels (see lower.py).

Needs numba-cuda (the optional extra ``cuda``) and an NVIDIA GPU, or Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported) for testing.
Shared variables stay on the device between calls (``get_value()`` copies them back);
inputs may be device arrays (numba, or anything with ``__cuda_array_interface__``),
and ``sg.function(..., backend="cuda", return_device_arrays=True)`` returns device
arrays. Device memory comes from Numba's allocator; a pooling allocator (for example
RMM's Numba plugin, set with ``numba.cuda.set_memory_manager``) removes the cost of
allocating every intermediate on every call.
"""
from __future__ import annotations

from .lower import CudaExecutor, DeviceCopy, compile  # noqa: F401,A004
