"""The helpers generated kernels call, each as a ``link.linked`` stand-in: ``import codegen.numba.linked as rt``.

Every public jitted function of runtime.py, tape.py and blas.py is here under its own
name; ``gemm`` and ``overlaps`` are jitted wrappers of blas.py's intrinsics, so a call
site costs a call instead of the inline layout analysis (~40 ms of compile each). The
BLAS helpers read their operands' strides at run time, so they take any layout
(``any_layout``: one compiled signature for C, F and strided operands).
"""
from __future__ import annotations

from numba.core.registry import CPUDispatcher

from . import blas, runtime, tape
from .link import linked

NAMES = []
for _module in (runtime, tape, blas):
    for _name, _helper in sorted(vars(_module).items()):
        if isinstance(_helper, CPUDispatcher) and not _name.startswith("_") and not _name.endswith("_call") \
                and _name not in NAMES:
            globals()[_name] = linked(_helper)
            NAMES.append(_name)
gemm = linked(blas.gemm_call, any_layout=True)
overlaps = linked(blas.overlaps_call, any_layout=True)
gemm_copying = linked(blas.gemm_copying, any_layout=True)
accumulated_copy = linked(blas.accumulated_copy, any_layout=True)
NAMES += ["gemm", "overlaps"]      # (gemm_copying and accumulated_copy are listed already)
