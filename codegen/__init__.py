"""Backends: each lowers a ``symgraph.function.Program`` to an executor through one dispatch table."""
from __future__ import annotations

import importlib

_BACKENDS = {
    "python": "symgraph.codegen.python",
    "numba": "symgraph.codegen.numba",
    "cuda": "symgraph.codegen.cuda",
}


def get_backend(name):
    """The backend module for ``name``; it provides ``compile(program) -> executor``."""
    if name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {sorted(_BACKENDS)}")
    return importlib.import_module(_BACKENDS[name])


def available_backends():
    return list(_BACKENDS)
