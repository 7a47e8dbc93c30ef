"""The Numba backend: the optimized graph becomes one generated module whose one ``@njit`` kernel runs the call.

``compile(program)`` generates the module (``lower.generate``), loads the kernel
through the on-disk cache (``cache.load_kernel``) and returns an executor. The
executor runs as the generic backend interface (``executor(input_arrays,
shared_arrays)``) and also offers ``make_entry(function)``, the specialised
checked wrapper ``sg.function`` calls directly (``entry.build_entry``).
Options (``sg.function(..., parallel=False, cache=False, tape=False, inplace=False, vector_math=False)``;
``profile=True``
adds per-node cycle counters to the generated kernel, see ``profile.py``):
``parallel`` allows ``prange`` loops, ``cache`` uses the disk cache, ``tape`` lets long
all-scalar programs run on the shared jitted interpreter of ``tape.py`` (Numba needs
milliseconds per scalar operation to compile straight-line code) and very long fused
elementwise nodes run on its vector form, ``wait`` (default True) compiles the kernel before
``sg.function`` returns (``wait=False`` runs the first calls on the python backend while a background
process compiles it, tiered.py), ``inplace`` lets updates
``S -/+ c * dot(a, b)`` accumulate into the shared variable's array (``linalg.py``), ``vector_math`` (on by
default) writes the functions of ``scalar.VECTOR_FUNCTIONS`` and float ``**`` in the kernel's loops as vmath.py's
vectorisable ones (within 1-4 ulp; several times faster on large arrays; ``False``: libm's scalar calls).

The kernel holds only what is particular to the graph (its checks and fused loops): reductions,
softmax, allocation, BLAS calls, copies and the tape interpreters are precompiled, disk-cached
helpers (``runtime.py``, ``blas.py``, ``tape.py`` and the interpreters interpreter.py writes) that it
calls by address (``link.py``).
"""
from __future__ import annotations

import time

import numpy as np

from . import locator  # noqa: F401 - first: Numba picks a function's cache locator when it is decorated
from .cache import CacheInfo, load_kernel
from .entry import build_entry, explain_error, unpacker
from . import tape
from .lower import LOWERINGS, KernelModule, generate, lowering_for  # noqa: F401 - the dispatch table, for tests
from .memory import keep_freed_memory
from .tiered import TieredExecutor, kernel_ready

__all__ = ["compile", "NumbaExecutor", "CacheInfo", "LOWERINGS", "lowering_for"]


class NumbaExecutor:
    """Runs a compiled program; ``source`` is the generated module, ``cache_info`` how it was obtained."""

    def __init__(self, program, module=None):
        start = time.perf_counter()
        self.program = program
        options = program.options
        keep_freed_memory()     # once per process: kernels' temporaries reuse freed memory (memory.py)
        if module is None and _uses_tape(program):
            self._use_tape(program, start)
            return
        if module is None:
            module = generate(program, parallel=bool(options.get("parallel", True)))
        self.module = module
        self._profile_counters, self._profile_labels = None, []
        if options.get("profile"):      # sg.function(..., profile=True): per-node cycle counters
            from .profile import instrument
            self.module, self._profile_counters, self._profile_labels = instrument(self.module)
        self.generate_seconds = time.perf_counter() - start
        # (a kernel that calls back into Python stays out of the disk cache: Numba cannot cache it)
        self.kernel, self.cache_info = load_kernel(self.module, use_disk=bool(options.get("cache", True))
                                                   and not self.module.callbacks)
        self._constants = [argument[1] for argument in self.module.arguments if argument[0] == "constant"]

    def _use_tape(self, program, start):
        """Long all-scalar programs: a tape for the shared jitted interpreter (see tape.py)."""
        self.kernel = tape.Tape(program)
        arguments = [("input", i) for i in range(len(program.inputs))]
        arguments += [("shared", i) for i in range(len(program.shared))]
        self.module = KernelModule("", "run_tape", arguments, [], [True] * len(program.outputs), [], False)
        self._constants = []
        self.generate_seconds = time.perf_counter() - start
        self.cache_info = CacheInfo("compiled", self.generate_seconds,
                                    "tape program (no machine code per function)", "", None)

    @property
    def source(self) -> str:
        """The generated module, or the tape's text (built on demand) for a tape program."""
        return self.module.source or self.kernel.source

    def enable_profile(self, profile):
        """Report the kernel's per-node counters into ``profile``, or time the whole kernel call."""
        from symgraph.profiling import timed
        from .profile import counter_rows, cycles_per_second
        counters, labels = getattr(self, "_profile_counters", None), getattr(self, "_profile_labels", [])
        if counters is not None and cycles_per_second():
            profile.kind = "numba backend, per node (cycle counters in the generated kernel)"
            profile.add_source(lambda: counter_rows(counters, labels, profile.calls),
                               lambda: counters.fill(0))
        else:
            profile.kind = "numba backend, per generated kernel"
            self.kernel = timed(self.kernel, profile, "the whole generated kernel (one function for the graph)")

    def make_entry(self, function):
        return build_entry(self, function)

    def __call__(self, input_values, shared_values):
        program = self.program
        arguments = []
        for var, value in list(zip(program.inputs, input_values)) + list(zip(program.shared, shared_values)):
            value = np.asarray(value, dtype=var.dtype)
            arguments.append(value[()] if var.ndim == 0 else np.ascontiguousarray(value))
        try:
            results = self.kernel(*arguments, *self._constants)
        except (ValueError, IndexError) as exc:
            raise explain_error(exc, self.module.checks, program.inputs, input_values) from None
        if self.module.packs:
            results = unpacker(self.module, len(program.outputs))(results)
        elif len(program.outputs) == 1:
            results = (results,)
        return [np.array(r, dtype=var.dtype) if scalar else r
                for r, var, scalar in zip(results, program.outputs, self.module.output_scalar)]


def _uses_tape(program) -> bool:
    return bool(program.options.get("tape", True)) and tape.applicable(program)


def compile(program):  # noqa: A001 - the backend interface
    """The executor of ``program``: the kernel's, or with ``wait=False`` and a kernel that must be compiled,
    the python tier's until a background process has compiled it (tiered.py)."""
    options = program.options
    if options.get("wait", True) or options.get("profile") or not options.get("cache", True) or _uses_tape(program):
        return NumbaExecutor(program)
    module = generate(program, parallel=bool(options.get("parallel", True)))
    if module.callbacks or kernel_ready(module):    # (a kernel calling back into Python is never disk-cached)
        return NumbaExecutor(program, module)
    return TieredExecutor(program, module, lambda: NumbaExecutor(program, module))
