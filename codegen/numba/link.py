"""Calls from generated kernels into precompiled jitted helpers through a named symbol, not linked code.

Numba links the LLVM IR of every jitted function a kernel calls into the
kernel's own module, then optimises and compiles that code again: ~60-100 ms
of each cold compile per distinct helper signature, ~40 ms per inline BLAS
call site, more for the tape interpreters. A helper called through
``linked(helper)`` is instead compiled once per install (Numba's disk cache of
runtime.py, blas.py and tape.py) and called by address: the kernel holds a
call to the external symbol ``symgraph_linked_<name>_<hash of the argument
types>`` with Numba's own calling convention (so exceptions raised in the
helper propagate as usual), and this module registers the helper's address
under that name with LLVM (``llvmlite.binding.add_symbol``) when it resolves
the helper in this process.

Loading a kernel's machine code before its symbols are registered crashes the
process (seen here as a segfault), so: a freshly compiled kernel resolves them
while Numba types it, and ``cache.py`` stores the records ``recording()``
collected (module, helper name, argument types) next to the kernel and calls
``restore`` before loading it from disk.
Only generated kernels may call linked helpers: a helper in Numba's own disk
cache that did would be loaded, its symbol unresolved, before anything
registered it.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import re
import threading

import llvmlite.binding as llvm
from numba.core import cgutils, types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.extending import intrinsic

PREFIX = "symgraph_linked_"
_resolved: dict = {}             # symbol -> (dispatcher, argument types, signature, compile result)
_noted = threading.local()       # the records of the kernel this thread is compiling
#: a linked symbol as it appears in compiled machine code: the prefix, the helper's name, a 20-digit hash
SYMBOL_PATTERN = re.compile(rb"symgraph_linked_[A-Za-z0-9_]*?_[0-9a-f]{20}")


def symbol(helper, argtypes) -> str:
    python = helper.py_func
    text = f"{python.__module__}:{python.__qualname__}:{argtypes}"
    return f"{PREFIX}{python.__name__}_{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def resolve(helper, argtypes):
    """(symbol, signature) of ``helper`` compiled (or loaded from Numba's disk cache) for ``argtypes``,
    its address registered under the symbol."""
    name = symbol(helper, argtypes)
    # Numba's own (reentrant) compiler lock, not one of ours: a kernel being typed already holds it when
    # it resolves a helper, so a second lock taken in the other order by a loading thread could deadlock.
    with global_compiler_lock:
        entry = _resolved.get(name)
        if entry is None:
            helper.compile(argtypes)
            result = helper.overloads[argtypes]
            address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
            if not address:
                raise RuntimeError(f"symgraph: no machine code for {name}")
            llvm.add_symbol(name, address)
            entry = _resolved[name] = (helper, argtypes, result.signature, result)
    return name, entry[2]


@contextlib.contextmanager
def recording():
    """Collects, as a list, the records of the linked helpers called by kernels compiled in this block."""
    previous = getattr(_noted, "records", None)
    _noted.records = records = []
    try:
        yield records
    finally:
        _noted.records = previous


def restore(records):
    """Registers the helpers a cached kernel calls (``records`` as ``recording`` collected them)."""
    for module_name, qualified_name, argtypes in records:
        helper = importlib.import_module(module_name)
        for part in qualified_name.split("."):
            helper = getattr(helper, part)
        resolve(helper, tuple(argtypes))


def unregistered(symbols) -> list:
    """The names among ``symbols`` that no helper of this process is registered under (sorted)."""
    return sorted(name for name in symbols if name not in _resolved)


def _note(helper, argtypes):
    records = getattr(_noted, "records", None)
    if records is not None:
        record = (helper.py_func.__module__, helper.py_func.__qualname__, argtypes)
        if record not in records:
            records.append(record)


def linked(helper, any_layout=False):
    """A kernel-callable stand-in for the jitted ``helper``: same arguments and result, called by address.

    With ``any_layout`` array arguments are passed as layout ``A`` arrays: for helpers that read strides
    at run time anyway (BLAS calls), one compiled signature then serves C, F and strided operands, so a
    kernel loads fewer helpers from Numba's cache (each load costs ~4 ms of a warm start)."""
    def typer(typingctx, *args):
        argtypes = tuple(types.unliteral(a) for a in args)
        if any_layout:
            argtypes = tuple(t.copy(layout="A") if isinstance(t, types.Array) else t for t in argtypes)
        name, signature = resolve(helper, argtypes)
        restype = signature.return_type

        def codegen(context, builder, call_signature, llargs):
            # Noted at lowering (once per kernel), not at typing, which Numba caches across kernels.
            _note(helper, argtypes)
            function_type = context.call_conv.get_function_type(restype, argtypes)
            callee = cgutils.get_or_insert_function(builder.module, function_type, name)
            values = [context.cast(builder, value, given, wanted) for value, given, wanted
                      in zip(cgutils.unpack_tuple(builder, llargs[0], len(args)), args, argtypes)]
            status, result = context.call_conv.call_function(builder, callee, restype, argtypes, values)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            return result

        return restype(types.StarArgTuple.from_types(args)), codegen

    typer.__name__ = typer.__qualname__ = f"linked_{helper.py_func.__name__}"
    return intrinsic(prefer_literal=False)(typer)
