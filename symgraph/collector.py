"""Python's cyclic garbage collector paused while symgraph builds something large and short-lived.

The optimizer's pipeline and Numba's compile of a kernel each allocate hundreds of thousands of
short-lived objects (graph nodes; Numba's IR, type constraints and llvmlite's instruction objects), which
trigger full collections that walk every object the process holds (Numba, llvmlite, NumPy, SciPy, the
user's data): W7's cold compile spent 0.33-0.40 s of its ~2.8 s in them. The garbage a pause leaves is
collected by the next automatic collection, once (W7: ~0.1 s, 14 MB more at the peak).
"""
from __future__ import annotations

import contextlib
import gc
import threading

_pause_lock = threading.Lock()
_pause = {"depth": 0, "was_enabled": False}   # the pauses of all threads (the collector is per process)


@contextlib.contextmanager
def collector_paused():
    """The cyclic garbage collector paused while the block runs, then restored as it was found.

    Pauses nest, also across threads: the collector comes back (if it was on when the first pause began)
    when the last pause ends, also when its block raises. ``gc.collect()`` still works inside.

    Example::

        with collector_paused():
            ...   # no automatic collection here
    """
    with _pause_lock:
        if _pause["depth"] == 0:
            _pause["was_enabled"] = gc.isenabled()
            gc.disable()
        _pause["depth"] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause["depth"] -= 1
            if _pause["depth"] == 0 and _pause["was_enabled"]:
                gc.enable()
