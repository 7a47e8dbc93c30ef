"""The Numba compiler pipeline for generated kernels: Numba's own nopython pipeline, without SSA, two
passes generated code does not need, and one of Numba's two rounds of LLVM optimization.

Numba rebuilds SSA form for every function (``ReconstructSSA``, then
``PreLowerStripPhis`` undoes it before lowering), which costs ~15% of a kernel's
compile time. SSA exists so that a variable may hold values of different
types; a generated kernel never does that (each local is assigned values of one
type, branches included), and Numba's type inference without SSA, which it
still uses when inlining, unifies those assignments. Two more passes are left out (``SKIPPED_PASSES``):
one inlines closures, the other runs rewrites of constructs generated code never has, and each walks the
whole function (W7: ~0.13 s of ~2.5 s together). Kernels with ``prange`` loops keep the whole default
pipeline: the parfor passes expect SSA form and closures inlined.

Numba optimizes each function's LLVM IR twice at the full level (``NUMBA_OPT``, 3 by default): each
function alone as it is lowered, then the whole module once the functions it calls are linked in. A
kernel's library (``KernelLibrary``) skips the first round: the second one, unchanged, runs the same
function passes (reference-count pruning included) after inlining. W1's kernel comes out byte for byte
the same (but for addresses); others may differ in a few instructions outside their loops, with the same
vector code and reference counting (tested); W1, W3 and W7 run as fast. W7's cold compile: ~0.13 s less.
"""
from __future__ import annotations

import inspect

from numba.core.codegen import CPUCodegen, JITCodeLibrary
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import PassManager
from numba.core.typed_passes import NopythonRewrites
from numba.core.untyped_passes import InlineClosureLikes

#: Numba passes a serial kernel does without (module docstring): generated code defines no closure and
#: calls no ``functools.reduce`` (what ``InlineClosureLikes`` inlines), and has no array expression,
#: array of constants or string-keyed item (what ``NopythonRewrites``' rewrites handle).
SKIPPED_PASSES = (InlineClosureLikes, NopythonRewrites)

# Numba releases before the new LLVM pass managers (0.60, 0.61) optimize functions differently: kernels
# there keep Numba's own first round.
_NEW_PASS_MANAGERS = "llvm_module" not in inspect.signature(CPUCodegen._function_pass_manager).parameters


class KernelLibrary(JITCodeLibrary):
    """Numba's JIT code library without the first, per-function optimization round (module docstring).
    Loaded from Numba's cache, a kernel's machine code comes back in a plain ``JITCodeLibrary``: only
    compiling differs."""

    def _optimize_functions(self, ll_module):
        if not _NEW_PASS_MANAGERS:
            return super()._optimize_functions(ll_module)
        ll_module.data_layout = self._codegen._data_layout   # what the round set besides optimizing
        return None


class KernelCompiler(CompilerBase):
    """The ``pipeline_class`` of every generated kernel and step (module docstring): serial kernels without
    SSA and ``SKIPPED_PASSES``, compiled into a ``KernelLibrary``; ``prange`` kernels with Numba's default
    pipeline (still into a ``KernelLibrary``).

    Example::

        @nb.njit(pipeline_class=KernelCompiler, error_model="numpy")
        def kernel(x):
            ...
    """

    def define_pipelines(self):
        if not self.state.flags.auto_parallel.enabled:
            self.state.flags.enable_ssa = False
        codegen = self.state.targetctx.codegen()
        # (a library handed in by Numba, a lifted loop's, is kept; so is another target's)
        if self.state.library is None and type(codegen)._library_class is JITCodeLibrary:
            self.state.library = KernelLibrary(codegen, self.state.func_id.func_qualname)
            self.state.library.enable_object_caching()
        if self.state.flags.auto_parallel.enabled:
            return [DefaultPassBuilder.define_nopython_pipeline(self.state)]
        manager = PassManager("nopython")
        for part in (DefaultPassBuilder.define_untyped_pipeline(self.state),
                     DefaultPassBuilder.define_typed_pipeline(self.state),
                     DefaultPassBuilder.define_nopython_lowering_pipeline(self.state)):
            manager.passes.extend(entry for entry in part.passes if entry[0] not in SKIPPED_PASSES)
        manager.finalize()
        return [manager]
