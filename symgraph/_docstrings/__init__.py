"""The user-facing docstrings of the API functions that ``symgraph.ops`` and ``symgraph.rewrite`` define.

``sg.exp`` is ``symgraph.ops.elemwise.exp``, ``sg.sum`` is ``symgraph.ops.reduce.sum``: the ops'
modules say how an operation works, and this package, imported by ``symgraph/__init__.py``,
attaches what a user reads in ``help(sg.exp)`` and docs/api.md (NumPy attaches the docstrings of
its compiled functions the same way, in ``numpy/_core/_add_newdocs.py``). ``elementwise`` holds
the elementwise functions and reductions, which share templates; ``arrays`` the rest.
"""
from __future__ import annotations

import inspect


def add_doc(function, doc, signature=None):
    """Attach ``doc`` (and, for functions taking ``*args``, a readable ``signature``) to ``function``."""
    function.__doc__ = inspect.cleandoc(doc)
    if signature is not None:
        # Our own literal parameter lists (in this package), never user text.
        function.__signature__ = inspect.signature(eval(f"lambda {signature}: None"))  # noqa: S307


from . import arrays, elementwise  # noqa: E402,F401
