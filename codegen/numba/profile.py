"""Per-node timings inside the numba kernel, for ``sg.function(..., profile=True)``.

The numba backend compiles the whole optimized graph into one generated function, so a Python
timer sees one row. ``instrument`` rewrites the generated module of a profiled function: each
node's block (it starts with the ``# op -> type`` comment at the kernel's top level) is
bracketed by reads of the CPU's cycle counter (LLVM's ``readcyclecounter``, a few nanoseconds),
accumulated into an array the entry passes in as one more constant argument. ``cycles_per_second``
calibrates the counter against ``time.perf_counter`` once per process. Only profiled functions
carry the instrumentation (a different source, so a different cache entry); blocks that the
generator moved into helper functions (very long kernels) count towards the node before them.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_NODE_COMMENT = re.compile(r"^    # (.+)$")


@intrinsic
def cycle_counter(typingctx):
    """The CPU's cycle counter (``llvm.readcyclecounter``) as uint64; 0 where the target has none."""
    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                                  "llvm.readcyclecounter")
        return builder.call(function, [])
    return types.uint64(), codegen


@njit(cache=False)
def _read_counter():
    return cycle_counter()


@functools.lru_cache(maxsize=None)
def cycles_per_second() -> float:
    """Counter ticks per second of ``time.perf_counter`` (0.0 when the counter does not move)."""
    _read_counter()                                   # compile first
    start_seconds, start_cycles = time.perf_counter(), _read_counter()
    while time.perf_counter() - start_seconds < 0.02:
        pass
    seconds, cycles = time.perf_counter() - start_seconds, _read_counter() - start_cycles
    return float(cycles) / seconds if cycles > 0 else 0.0


def instrument(module):
    """(instrumented copy of ``module``, counters array, row labels), or (module, None, []) if none.

    ``counters[k]`` accumulates the cycles spent in the k-th node block (``labels[k]``); the last
    block runs to the kernel's return (so it includes the output copies).
    """
    lines = module.source.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"def {module.function_name}("))
    except StopIteration:
        return module, None, []
    labels, out = [], lines[:start - 1]
    for line in lines[start + 1:]:
        match = _NODE_COMMENT.match(line)
        if match:
            if labels:
                out.append(f"    _profile_counters[{len(labels) - 1}] += cycle_counter() - _profile_start")
            out.append("    _profile_start = cycle_counter()")
            labels.append(f"#{len(labels)} {match.group(1)}")
        elif line.startswith("    return ") and labels:
            out.append(f"    _profile_counters[{len(labels) - 1}] += cycle_counter() - _profile_start")
        out.append(line)
    if not labels:
        return module, None, []
    counters = np.zeros(len(labels), dtype=np.uint64)
    argument_types = list(module.argument_types) + ["nb.uint64[::1]"]
    decorator = lines[start - 1]
    options = decorator[decorator.index("), ") + 3:]      # after the signature tuple
    parameters = lines[start][len(f"def {module.function_name}("):-2]
    header = [f"@nb.njit(({', '.join(argument_types)},), {options}",
              f"def {module.function_name}({parameters}, _profile_counters):"]
    out = out[:start - 1] + header + out[start - 1:]
    out.insert(next(i for i, line in enumerate(out) if line.startswith("import numba as nb")) + 1,
               f"from {__package__}.profile import cycle_counter")
    instrumented = dataclasses.replace(module, source="\n".join(out),
                                       arguments=list(module.arguments) + [("constant", counters)],
                                       argument_types=argument_types)
    return instrumented, counters, labels


def counter_rows(counters, labels, calls):
    """(label, seconds, count) per node block, from the cycle counters."""
    rate = cycles_per_second()
    if not rate or not calls:
        return []
    return [(label, float(c) / rate, calls) for label, c in zip(labels, counters)]
