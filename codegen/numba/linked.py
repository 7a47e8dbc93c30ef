"""The helpers generated kernels call, each as a ``link.linked`` stand-in: ``import symgraph.codegen.numba.linked as rt``.

Every public jitted function of runtime.py, tape.py and blas.py is here under its own
name; ``gemm`` and ``overlaps`` are jitted wrappers of blas.py's intrinsics, so a call
site costs a call instead of the inline layout analysis (~40 ms of compile each). The
BLAS helpers read their operands' strides at run time, so they take any layout
(``any_layout``: one compiled signature for C, F and strided operands).
"""
from __future__ import annotations

from numba.core.registry import CPUDispatcher

from . import blas, conv_runtime, lapack_factor, lapack_spectral, pcg64, runtime, tape
from .link import linked

# Helpers that read their operands' strides at run time: one signature for C, F and strided operands.
_ANY_LAYOUT = {"gemm_copying", "accumulated_copy", "gemm_call", "overlaps_call"}

NAMES = []
for _module in (runtime, tape, blas, pcg64, lapack_factor, lapack_spectral, conv_runtime):
    for _name, _helper in sorted(vars(_module).items()):
        if isinstance(_helper, CPUDispatcher) and not _name.startswith("_") and _name not in NAMES:
            _public = _name.removesuffix("_call")       # gemm_call -> gemm, overlaps_call -> overlaps
            globals()[_public] = linked(_helper, any_layout=_name in _ANY_LAYOUT)
            NAMES.append(_public)
