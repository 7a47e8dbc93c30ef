"""Keeping freed memory for the next call: glibc's heap grown once to the size of its adaptive limits.

A generated kernel allocates its temporaries on every call (a scan's stacked states, a gradient's
intermediates: megabytes) and frees them when it returns. With glibc's malloc, a fresh process serves
arrays above 128 KiB by ``mmap`` and returns freed heap memory above 256 KiB to the system, so every call
faults all those pages in again, zero-filled by the kernel: measured on the W7 RNN step, 1.6 of 9 ms
(``perf``: page faults and ``clear_page``). glibc adapts by itself: once the process frees a mapped array of
up to 32 MiB, it raises the mmap limit to that array's size and the trimming limit to twice it. NumPy
programs reach that state as soon as they free one such array; ``keep_freed_memory`` brings it about at
once, by allocating and freeing one 32 MiB block (not touched, so no memory is used), when the first numba
kernel is loaded. The process may then keep up to 64 MiB of freed memory for reuse instead of returning it
at once, which is what glibc would do after the first large array anyway. Nothing happens on other C
libraries, and nothing when the user configured malloc (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or a ``glibc.malloc`` tunable: glibc then keeps its limits fixed); the
environment variable ``SYMGRAPH_KEEP_FREED_MEMORY=0`` turns it off.
"""
from __future__ import annotations

import functools
import os
import platform

#: glibc's largest adaptive mmap threshold on 64-bit machines (DEFAULT_MMAP_THRESHOLD_MAX), less a page
#: for the block's header: the freed block must not exceed it for glibc to adopt its size
_BLOCK = (32 << 20) - (64 << 10)


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's adaptive mmap and trim thresholds to their maxima (see the module's docstring), once
    per process; returns whether it did."""
    if os.environ.get("SYMGRAPH_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")) or \
            "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        malloc, free = libc.malloc, libc.free
    except (OSError, AttributeError):
        return False
    malloc.restype, malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    free.restype, free.argtypes = None, [ctypes.c_void_p]
    block = malloc(_BLOCK)
    if not block:
        return False
    free(block)
    return True
