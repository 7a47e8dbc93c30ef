"""The graph optimizer. ``optimize_graph`` is the single entry point used by ``sg.function``.

The pipeline (``PIPELINE``) runs named stages on a private copy of the graph:
merge, canonicalize (one fixpoint of the canonical, constant-folding, shape and
stability rewrites), merge, fusion, SymPy simplification of the fused expressions
(opt-in), merge. ``"fast_compile"`` runs only merging and constant folding; ``None``
nothing. Any rewrite, tag or stage can be switched off by name, and optional stages
switched on: ``optimizer={"mode": "fast_run", "exclude": ["fusion"], "include": ["sympy"]}``.
"""
from __future__ import annotations

import warnings

from ..collector import collector_paused  # noqa: F401 - also this package's name for it (the optimizer's pause)
from ..graph import toposort
from . import canonical, constant_fold, distribute, engine, inline, linalg, stability  # noqa: F401  (register the local rewrites)
from .engine import REGISTRY, FunctionGraph, Stage, register, run_pipeline  # noqa: F401
from .fusion import fuse_elementwise
from .log import RewriteLog  # noqa: F401
from .merge import merge


def _scan_stage(fg):
    from .scan_steps import optimize_scan_steps
    return optimize_scan_steps(fg)


def _sympy_stage(fg):
    from .sympy_simplify import simplify_fused_nodes
    return simplify_fused_nodes(fg)


PIPELINE = [
    Stage("merge", ("merge",), merge, modes=("fast_run", "fast_compile")),
    Stage("constant_fold", ("constant_fold",), modes=("fast_compile",)),
    # One fixpoint for canonical, shape and stability rewrites: the worklist visits producers
    # before consumers, so each pattern is matched on already-simplified operands.
    Stage("canonicalize", ("canonicalize", "constant_fold", "shape", "stability")),
    Stage("merge_again", ("merge",), merge),
    # Merged nodes can make a shape read simpler again (two equal products: one source for a length);
    # then the same rewrites once more, so optimizing an optimized graph changes nothing.
    Stage("canonicalize_merged", ("canonicalize", "constant_fold", "shape", "stability"), after="merge_again"),
    Stage("fusion", ("fusion",), fuse_elementwise),
    # Opt-in: importing SymPy alone takes about a second, more than optimizing most graphs.
    Stage("sympy", ("sympy",), _sympy_stage, optional=True),
    # Each loop's step through this same pipeline (rewrite/scan_steps.py), its unread outputs removed.
    Stage("scan_steps", ("scan",), _scan_stage, modes=("fast_run", "fast_compile")),
    Stage("final_merge", ("merge",), merge, modes=("fast_run", "fast_compile")),
]


def optimize_graph(outputs, mode="fast_run", inputs=None):
    """Optimized copies of ``outputs`` (leaves kept as the same objects) and a rewrite log.

    ``mode`` is "fast_run", "fast_compile", None, or ``{"mode": ..., "exclude": [names or tags]}``.
    The user's graph is never modified; the returned outputs have the originals' dtypes and ranks.
    """
    outputs = list(outputs)
    with collector_paused():
        optimized, log = run_pipeline(outputs, PIPELINE, mode)
    problem = None
    for old, new in zip(outputs, optimized):
        if old.dtype != new.dtype or old.ndim != new.ndim:
            problem = f"the optimizer changed {old!r} into {new!r}"
    if problem is None and optimized is not outputs:
        try:
            toposort(optimized)  # the checked traversal: a rewrite bug must not hang or crash a backend
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        if engine.STRICT:
            raise AssertionError(f"internal error: {problem}")
        warnings.warn(f"internal optimizer error ({problem}); compiling the unoptimized graph instead",
                      RuntimeWarning, stacklevel=2)
        return outputs, log
    return optimized, log


def optimize(outputs, mode="fast_run"):
    """The optimized outputs (same structure as given), for inspection."""
    single = not isinstance(outputs, (list, tuple))
    result, _ = optimize_graph([outputs] if single else list(outputs), mode=mode)
    return result[0] if single else result


def rewrite_names(tag=None):
    """Names of the registered local rewrites (with ``tag`` when given)."""
    return [name for name, r in REGISTRY.items() if tag is None or tag in r.tags]
