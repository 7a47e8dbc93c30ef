"""The Numba compiler pipeline for generated kernels: Numba's own nopython pipeline, without SSA.

Numba rebuilds SSA form for every function (``ReconstructSSA``, then
``PreLowerStripPhis`` undoes it before lowering), which costs ~15% of a kernel's
compile time. SSA exists so that a variable may hold values of different
types; a generated kernel never does that (each local is assigned values of one
type, branches included), and Numba's type inference without SSA, which it
still uses when inlining, unifies those assignments. Kernels with ``prange``
loops keep the whole default pipeline: the parfor passes expect SSA form.
"""
from __future__ import annotations

from numba.core.compiler import CompilerBase, DefaultPassBuilder


class KernelCompiler(CompilerBase):
    def define_pipelines(self):
        if not self.state.flags.auto_parallel.enabled:
            self.state.flags.enable_ssa = False
        return [DefaultPassBuilder.define_nopython_pipeline(self.state)]
