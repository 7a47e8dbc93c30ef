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

Loading a helper through Numba's disk cache costs 3-4 ms (its index, its typing
records, a parse of its shared LLVM module and a scan of its symbols): 25 of them
were most of a warm start of the MLP step. A helper of this package compiled in
this process therefore also leaves its object code, its function's name and its
signature in ``<runtime cache>/linked`` (``_save_object``), and a later process
loads that object code into an LLVM JIT engine of its own (``_load_object``:
~0.2 ms), once every external symbol it names resolves; anything missing,
damaged or made by another machine or version falls back to Numba's way.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib
import inspect
import os
import pickle
import re
import threading

import llvmlite.binding as llvm
from numba.core import cgutils, types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.environment import lookup_environment
from numba.core.extending import intrinsic

from symgraph.collector import collector_paused

from .locator import GENERATED_MODULE_PREFIX, atomic_write, runtime_cache_path

PREFIX = "symgraph_linked_"
_resolved: dict = {}             # symbol -> (dispatcher, argument types, signature)
_noted = threading.local()       # the records of the kernel this thread is compiling
_engines: list = []              # the LLVM JIT engine helpers' saved object code is loaded into (made once)
_adapter_engines: list = []      # the engines of compile_adapters, never freed (code calls into them)
_environments: list = []         # the Numba environments that code loaded into it reads
#: a linked symbol as it appears in compiled machine code: the prefix, the helper's name, a 20-digit hash
SYMBOL_PATTERN = re.compile(rb"symgraph_linked_[A-Za-z0-9_]*?_[0-9a-f]{20}")


def symbol(helper, argtypes) -> str:
    python = helper.py_func
    text = f"{python.__module__}:{python.__qualname__}:{argtypes}"
    return f"{PREFIX}{python.__name__}_{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def resolve(helper, argtypes):
    """(symbol, signature) of ``helper`` for ``argtypes``, its address registered under the symbol: its
    object code saved by an earlier process (``_load_object``), else compiled or loaded from Numba's disk
    cache (and its object code saved when compiled here)."""
    name = symbol(helper, argtypes)
    # Numba's own (reentrant) compiler lock, not one of ours: a kernel being typed already holds it when
    # it resolves a helper, so a second lock taken in the other order by a loading thread could deadlock.
    with global_compiler_lock:
        entry = _resolved.get(name)
        if entry is None:
            path = _object_path(helper, name)
            loaded = _load_object(path) if path is not None else None
            if loaded is not None:
                address, signature = loaded
            else:
                with collector_paused():
                    helper.compile(argtypes)
                result = helper.overloads[argtypes]
                address = result.library.get_pointer_to_function(result.fndesc.llvm_func_name)
                signature = result.signature
                if path is not None and address:
                    _save_object(path, result)
            if not address:
                raise RuntimeError(f"symgraph: no machine code for {name}")
            llvm.add_symbol(name, address)
            entry = _resolved[name] = (helper, argtypes, signature)
    return name, entry[2]


# ------------------------------------------------------------------ helpers' object code, saved and loaded

_ENVIRONMENT = re.compile(r'@"?(_ZN08NumbaEnv[^"\s]*)"? = ')
#: an LLVM module's external functions and globals
_DECLARED = re.compile(r'^(?:declare [^@]*@"?([^"(]+)"?\(|@"?([^"\s]+)"? = external )', re.M)


@functools.cache
def _machine() -> str:
    """What saved object code must have been made by: this CPU and its features, Numba and llvmlite."""
    import llvmlite
    import numba
    text = "\0".join([llvm.get_process_triple(), llvm.get_host_cpu_name(),
                      llvm.get_host_cpu_features().flatten(), numba.__version__, llvmlite.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def _source_digest(path) -> str:
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()[:16]


def _object_path(helper, name):
    """Where ``helper``'s object code for symbol ``name`` is saved, or None: only helpers of this package and
    of its generated modules (the runtime cache directory is per install and version of those sources)."""
    python = helper.py_func
    if not (python.__module__.startswith(__package__ + ".") or python.__module__.startswith(GENERATED_MODULE_PREFIX)):
        return None
    try:
        source = _source_digest(python.__code__.co_filename)
    except OSError:
        return None
    return os.path.join(runtime_cache_path(), "linked", f"{name}_{source}_{_machine()}.pickle")


def _save_object(path, result):
    """Save the object code of a helper compiled in this process (nothing when Numba kept none: one loaded
    from Numba's cache), with its function's name, signature and the external symbols it declares."""
    try:
        _, kind, data = result.library.serialize_using_object_code()
        text = result.library.get_llvm_str()
        declared = sorted({function or variable for function, variable in _DECLARED.findall(text)})
        # the environments its code reads (boxing a raised exception's arguments, for one), as Numba's own
        # cache keeps them: the helper's and those of the functions linked into its code
        environments = [result.environment] + [
            env for env in map(lookup_environment, sorted(set(_ENVIRONMENT.findall(text))))
            if env is not None and env is not result.environment and env.can_cache()]
        record = (result.fndesc.llvm_func_name, result.signature, declared, data[0],
                  hashlib.sha256(data[0]).hexdigest(), environments, list(result.reload_init or ()))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, pickle.dumps(record, protocol=4))
    except Exception:   # noqa: BLE001 - a cache that cannot be written only costs the next process time
        return


def _load_object(path):
    """(address, signature) of the helper whose object code ``path`` holds, loaded into this module's JIT
    engine; None when there is none, it is damaged, or an external symbol it declares is not registered
    (loading code that calls an unresolved symbol would end the process)."""
    try:
        with open(path, "rb") as stream:
            function_name, signature, declared, code, digest, environments, reload_init = \
                pickle.loads(stream.read())
        if hashlib.sha256(code).hexdigest() != digest:
            return None
        for initialise in reload_init:       # what Numba's cache runs before loading such code
            initialise()
    except Exception:   # noqa: BLE001 - missing or damaged: Numba's cache or a compile instead
        return None
    if not all(llvm.address_of_symbol(symbol) for symbol in declared if not symbol.startswith("llvm.")):
        return None
    if not _engines:
        _engines.append(llvm.create_mcjit_compiler(llvm.parse_assembly(""), _target_machine()))
    engine = _engines[0]
    engine.add_object_file(llvm.ObjectFileRef.from_data(code))
    engine.finalize_object()
    for env in environments:                 # each environment's global points at it (Numba's set_env)
        slot = engine.get_global_value_address(env.env_name)
        if slot:
            ctypes.c_void_p.from_address(slot).value = id(env)
            _environments.append(env)        # alive as long as the code that reads it
    address = engine.get_function_address(function_name)
    return (address, signature) if address else None


def _target_machine():
    """A new target machine of the host (this CPU and its features) for one JIT engine, which takes it over
    (llvmlite's engines own their target machine: one shared by two would be freed twice)."""
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(), jit=True)


def compile_adapters(module, names) -> dict:
    """{name: address}: the small hand-written llvmlite ``module`` (the BLAS and LAPACK adapters of blas.py
    and lapack_factor.py) compiled into a JIT engine of its own, kept for the life of the process.

    Straight to machine code, without Numba's code library and its optimisation passes: ~4 ms of a
    process's start instead of ~13 per adapter module. Each module gets its own engine, so binding the
    same adapter names again (another BLAS) never finds the earlier code; no engine is ever freed, since
    code compiled while an adapter was bound calls it by address (Numba never frees code either).

    >>> from llvmlite import ir
    >>> module = ir.Module(name="example")
    >>> f = ir.Function(module, ir.FunctionType(ir.IntType(32), []), name="answer")
    >>> ir.IRBuilder(f.append_basic_block()).ret(ir.Constant(ir.IntType(32), 42))  # doctest: +ELLIPSIS
    <...>
    >>> ctypes.CFUNCTYPE(ctypes.c_int32)(compile_adapters(module, ["answer"])["answer"])()
    42
    """
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    with global_compiler_lock:
        engine = llvm.create_mcjit_compiler(parsed, _target_machine())
        engine.finalize_object()
        _adapter_engines.append(engine)
        addresses = {name: engine.get_function_address(name) for name in names}
    if not all(addresses.values()):
        raise RuntimeError(f"symgraph: no machine code for {sorted(n for n, a in addresses.items() if not a)}")
    return addresses


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
    kernel loads fewer helpers from Numba's cache (each load costs ~4 ms of a warm start).

    A helper whose parameters are all plain positional ones (no default, no ``*args``) gets a stand-in of
    the same arity: Numba then passes the arguments as they are, where a ``*args`` stand-in has every call
    site pack them into a tuple and unpack it again (typed and lowered at each of a kernel's calls)."""
    parameters = list(inspect.signature(helper.py_func).parameters.values())
    fixed = all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in parameters)

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
            given_values = llargs if fixed else cgutils.unpack_tuple(builder, llargs[0], len(args))
            values = [context.cast(builder, value, given, wanted) for value, given, wanted
                      in zip(given_values, args, argtypes)]
            status, result = context.call_conv.call_function(builder, callee, restype, argtypes, values)
            with cgutils.if_unlikely(builder, status.is_error):
                context.call_conv.return_status_propagate(builder, status)
            return result

        return (restype(*args) if fixed else restype(types.StarArgTuple.from_types(args))), codegen

    typer.__name__ = typer.__qualname__ = f"linked_{helper.py_func.__name__}"
    if fixed:       # what Numba reads as the stand-in's signature: the typing context, then the helper's
        typer.__signature__ = inspect.Signature(
            [inspect.Parameter("typingctx", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
            + [p.replace(annotation=inspect.Parameter.empty) for p in parameters])
    return intrinsic(prefer_literal=False)(typer)
