"""Compile one generated kernel into the disk cache in a process of its own (tiered execution).

``sg.function(..., backend="numba", wait=False)`` (``tiered.py``) starts ``python -m
symgraph.codegen.numba.background`` with the generated module on its standard input (JSON: the source and
what ``cache._explain_miss`` reads); this process compiles it through ``cache.load_kernel``, which writes the
entry under the cache's file lock (or finds it written already, by another process that compiled the same
kernel), and exits 0. Its own process: Numba's compile holds the GIL for seconds, which would stall the
caller's first calls if it ran on a thread. The caller then loads the entry from the disk cache.
"""
from __future__ import annotations

import json
import sys


def main() -> int:
    request = json.loads(sys.stdin.read())
    from .cache import load_kernel
    from .kernel import KernelModule
    module = KernelModule(request["source"], "kernel", [], [], [], [], False, request["structure"],
                          request["dtypes"])
    load_kernel(module)
    return 0


if __name__ == "__main__":
    sys.exit(main())
