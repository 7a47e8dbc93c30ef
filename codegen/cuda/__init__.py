"""The CUDA backend: a function's optimized graph lowered to numba.cuda kernels (see lower.py).

Needs numba-cuda (the optional extra ``cuda``) and an NVIDIA GPU, or Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported) for testing.
Shared variables stay on the device between calls (``get_value()`` copies them back);
inputs may be device arrays (numba, or anything with ``__cuda_array_interface__``),
and ``sg.function(..., backend="cuda", return_device_arrays=True)`` returns device
arrays. Device buffers are kept for reuse (``runtime.DeviceMemoryPool``, like PyTorch's
caching allocator) and a call reuses its previous call's intermediates; ``empty_cache()``
gives the cached memory back to the driver.
"""
from __future__ import annotations

from .lower import CudaExecutor, DeviceCopy, compile  # noqa: F401,A004
from .runtime import empty_cache  # noqa: F401
