"""The helpers generated kernels call, each as a ``link.linked`` stand-in: ``import symgraph.codegen.numba.linked as rt``.

Every public jitted function of runtime.py, tape.py, blas.py, pcg64.py, the LAPACK modules and
conv_runtime.py is here under its own name; ``gemm_checked`` and ``overlaps`` are jitted wrappers of blas.py's
intrinsics, so a call site costs a call instead of the inline layout analysis (~40 ms of compile each).
The BLAS helpers read their operands' strides at run time, so they take any layout (``any_layout``: one
compiled signature for C, F and strided operands).

The stand-ins are made on first use (``rt.name`` as Numba types a kernel, PEP 562's module
``__getattr__``), importing the helper modules in ``MODULES`` order only as far as the name's own: a
kernel that needs no convolution, LAPACK or random-number helper never imports those modules (their ~100
jitted functions cost ~30 ms of every new process that loads a kernel, W4's warm start included).
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import re

from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher, cpu_target

from .link import linked

#: the helper modules, in the order a name is looked up (no name is public in two of them: tested)
MODULES = ("runtime", "tape", "blas", "pcg64", "lapack_factor", "lapack_spectral", "conv_runtime")

# Helpers that read their operands' strides at run time: one signature for C, F and strided operands.
_ANY_LAYOUT = {"gemm_copying", "accumulated_copy", "overlaps_call", "gemm_checked", "gemm_copying_checked"}

def helpers(module) -> dict:
    """{public name: (global name, jitted helper)} of one helper module: its public ``CPUDispatcher``
    globals, a ``_call`` suffix dropped (``overlaps_call`` is called as ``rt.overlaps``)."""
    return {name.removesuffix("_call"): (name, helper) for name, helper in sorted(vars(module).items())
            if isinstance(helper, CPUDispatcher) and not name.startswith("_")}


@functools.cache
def _defined_names(module_name) -> frozenset:
    """The names a helper module defines at top level (``def f`` or ``f = ...``), read from its source
    without importing it: where a name may be, so a probe such as Numba's ``hasattr(rt, "name")`` imports
    nothing."""
    spec = importlib.util.find_spec(f"{__package__}.{module_name}")
    with open(spec.origin, encoding="utf-8") as stream:
        text = stream.read()
    found = set(re.findall(r"^def (\w+)", text, re.M))
    for targets in re.findall(r"^(\w+(?:\s*,\s*\w+)*)\s*=[^=]", text, re.M):   # f = ..., or a, b = ...
        found.update(name.strip() for name in targets.split(","))
    return frozenset(found)


def __getattr__(name):
    if name.startswith("_"):         # helpers are public; Numba probes modules for ``_numba_type_`` and such
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Numba's (reentrant) compiler lock: the kernel being typed holds it when it reads ``rt.name``
    with global_compiler_lock:
        made = globals().get(name)
        if made is not None:
            return made
        for module_name in MODULES:
            if not {name, f"{name}_call"} & _defined_names(module_name):
                continue
            module = importlib.import_module(f"{__package__}.{module_name}")
            found = helpers(module).get(name)
            if found is not None:
                raw, helper = found
                made = globals()[name] = linked(helper, any_layout=raw in _ANY_LAYOUT)
                # the typing context knows a new intrinsic once refreshed (Numba refreshes it when a compile
                # starts; this one is created while a kernel is being typed)
                cpu_target.typing_context.refresh()
                return made
    raise AttributeError(f"module {__name__!r} has no helper {name!r}")


def names() -> list:
    """Every helper name a kernel may call (imports all the helper modules)."""
    found = []
    for module_name in MODULES:
        found += [name for name in helpers(importlib.import_module(f"{__package__}.{module_name}"))
                  if name not in found]
    return found
