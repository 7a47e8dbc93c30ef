"""On-disk cache of compiled kernels, keyed by the generated source and the versions that shape the code
(including a hash of the runtime library, runtime.py and friends, whose helpers kernels call by name).

Each entry is a directory ``$SYMGRAPH_CACHE_DIR/<key>/`` holding the generated
module ``kernel.py`` (deterministic source, no captured globals, so Numba's own
``cache=True`` works on it) with its bytecode and Numba's files under ``__pycache__``, the
records of the helpers it calls by address (``links.pickle``: registered before
the kernel is loaded, see link.py), and a ``manifest.json`` written last,
atomically, that records a hash of every file: an entry without a manifest
(half-written) or whose files do not match it (corrupted) is removed and
recompiled, and so is one whose helper records no longer resolve. A per-key
file lock makes two processes compiling the same function take turns; the
second one loads. An explain record per graph structure says why a miss
happened (new graph, changed dtypes, changed versions).

A cache directory that cannot be written (a read-only mount, a warm cache baked
into an image) still serves its complete entries, read without a lock; what it
cannot serve is compiled in a private temporary directory of this process, with
one warning per directory. A stray file or directory where an entry, its lock or
its manifest belongs is damage: removed and recreated, never an error.

Kernels are kept only while a function uses them: the in-process reuse map
holds weak references and kernel modules leave ``sys.modules`` once imported,
so a dropped function gives its dispatcher back (Numba keeps the machine code
in LLVM's execution engine, a few kB per kernel that are never freed).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pickle
import py_compile
import shutil
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass

from symgraph.collector import collector_paused

from ..guard import check_source
from . import interpreter, link
from .locator import KERNEL_MODULE_PREFIX, cache_directory  # noqa: F401 - cache_directory is part of this API
from .locator import atomic_write  # noqa: F401 - part of this module's API (tests replace it here)
from .locator import private_root as _private_root, warn_once as _warn_once

FORMAT_VERSION = "3"
_HERE = os.path.dirname(os.path.abspath(__file__))
# The libraries kernels call by name or embed (intrinsics); Numba's own index keys only the kernel file.
RUNTIME_SOURCES = tuple(os.path.join(_HERE, name) for name in ("runtime.py", "blas.py", "tape.py", "link.py",
                                                                  "linked.py", "pipeline.py", "pcg64.py",
                                                                  "lapack_factor.py", "lapack_spectral.py",
                                                                  "conv_runtime.py", "vmath.py"))
LINKS = "links.pickle"
# key -> dispatcher while some function still uses it, for functions compiled again in this process
_loaded = weakref.WeakValueDictionary()
_loaded_lock = threading.Lock()


@dataclass
class CacheInfo:
    """What happened when the function's kernel was obtained."""
    status: str                    # "compiled", "loaded" (from disk) or "memory" (this process)
    seconds: float                 # time to generate, compile or load the kernel
    reason: str | None             # on a miss: "new graph", "changed dtypes", "changed versions", ...
    key: str
    path: str | None
    tier: str = "kernel"           # what serves the calls: "kernel", or "python" while it compiles (tiered.py)

    @property
    def hit(self) -> bool:
        return self.status in ("loaded", "memory")

    def __str__(self):
        why = f" ({self.reason})" if self.reason else ""
        tier = " (calls run on the python tier)" if self.tier == "python" else ""
        return f"{self.status}{why}{tier} in {self.seconds * 1e3:.1f} ms, key {self.key[:12]}, {self.path}"


def cache_entry_exists(key) -> bool:
    """Whether the kernel of ``key`` is loaded in this process or has a complete entry in the disk cache."""
    with _loaded_lock:
        if _loaded.get(key) is not None:
            return True
    directory = os.path.join(cache_directory(), key)
    return os.path.isdir(directory) and _manifest_matches(directory)


def versions() -> dict:
    import numba
    import numpy
    import symgraph
    return {"format": FORMAT_VERSION, "symgraph": symgraph.__version__, "numba": numba.__version__,
            "numpy": numpy.__version__, "python": sys.version.split()[0], "runtime": runtime_digest()}


def runtime_digest() -> str:
    """Hash of the jitted libraries' sources: a kernel's machine code calls its helpers under names derived
    from their argument types and embeds the intrinsics, so an edited library must miss the kernel cache."""
    digest = hashlib.sha256(interpreter.digest().encode())
    for path in RUNTIME_SOURCES:
        with open(path, "rb") as stream:
            digest.update(stream.read())
    return digest.hexdigest()[:16]


def cache_key(source: str, version_info: dict) -> str:
    text = source + "\n" + json.dumps(version_info, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def load_kernel(module, use_disk=True):
    """(dispatcher, CacheInfo) for the generated ``module`` (a ``lower.KernelModule``)."""
    start = time.perf_counter()
    version_info = versions()
    key = cache_key(module.source, version_info)
    with _loaded_lock:
        dispatcher = _loaded.get(key)
    if dispatcher is not None:
        return dispatcher, CacheInfo("memory", time.perf_counter() - start, None, key, None)
    if not use_disk:
        dispatcher = _import(module.source, tempfile.mkdtemp(prefix="symgraph-"), key)
        return _remember(key, dispatcher), CacheInfo("compiled", time.perf_counter() - start,
                                                     "disk cache disabled", key, None)
    root = cache_directory()
    try:
        return _load_or_compile(module, root, key, version_info, start)
    except OSError as exc:   # an unwritable or unusable cache directory must never stop a compile
        directory = os.path.join(root, key)
        dispatcher = _load_without_writing(directory, key)
        if dispatcher is not None:
            return _remember(key, dispatcher), CacheInfo("loaded", time.perf_counter() - start, None, key,
                                                         directory)
        _warn_once(root, exc)
        return _load_or_compile(module, _private_root(), key, version_info, start)


def _load_or_compile(module, root, key, version_info, start):
    """(dispatcher, CacheInfo): the entry under ``root`` loaded, or compiled and written, under its lock."""
    os.makedirs(root, exist_ok=True)
    directory = os.path.join(root, key)
    with _file_lock(os.path.join(root, key + ".lock")):
        reason = None
        if os.path.isdir(directory):
            if _manifest_matches(directory):
                try:
                    dispatcher = _load_entry(directory, key)
                    if dispatcher.stats.cache_hits:
                        return _remember(key, dispatcher), CacheInfo(
                            "loaded", time.perf_counter() - start, None, key, directory)
                    reason = "numba's cache entry was stale"
                except Exception as exc:  # a damaged entry must never stop a compile
                    reason = f"damaged entry ({exc if isinstance(exc, DamagedEntry) else type(exc).__name__})"
            else:
                reason = "corrupted or half-written entry"
            shutil.rmtree(directory, ignore_errors=True)
        if reason is None:
            reason = _explain_miss(root, module, version_info)
        _make_directory(directory)
        with link.recording() as records:
            dispatcher = _import(module.source, directory, key)
        atomic_write(os.path.join(directory, LINKS), pickle.dumps(records, protocol=4))
        _write_manifest(directory)
        _record_explain(root, module, version_info)
    return _remember(key, dispatcher), CacheInfo("compiled", time.perf_counter() - start, reason, key,
                                                 directory)


class DamagedEntry(Exception):
    """A cache entry that must not be loaded (recompiled instead)."""


def _load_entry(directory, key):
    """The kernel of the entry ``directory`` (its manifest checked): its helpers registered, then imported.

    Loading machine code that calls an unregistered symbol crashes the process, and ``links.pickle`` may
    be short (written by another writer, its manifest consistent): the symbols the machine code itself
    names are checked before Numba loads it."""
    with open(os.path.join(directory, LINKS), "rb") as stream:
        link.restore(pickle.loads(stream.read()))
    missing = link.unregistered(_linked_symbols(directory))
    if missing:
        raise DamagedEntry(f"its machine code calls {len(missing)} helper(s) its records do not register")
    return _import(None, directory, key)


def _linked_symbols(directory) -> set:
    """The linked-helper symbols named in the entry's compiled machine code (Numba's ``.nbc`` files)."""
    symbols = set()
    for relative, path in _entry_files(directory):
        if relative.endswith(".nbc"):
            with open(path, "rb") as stream:
                symbols.update(match.decode() for match in link.SYMBOL_PATTERN.findall(stream.read()))
    return symbols


def _load_without_writing(directory, key):
    """The kernel of a complete entry (its manifest matches) in a directory we cannot write, read without
    taking the lock (the manifest is written last, atomically); None when there is none or it does not load."""
    if not os.path.isdir(directory) or not _manifest_matches(directory):
        return None
    try:
        dispatcher = _load_entry(directory, key)
    except Exception:  # noqa: BLE001 - damaged or stale: the caller compiles in a private directory instead
        return None
    return dispatcher if dispatcher.stats.cache_hits else None


def _make_directory(path):
    """``os.makedirs(path)``, a stray file at ``path`` (damage: entries are directories) removed first."""
    if os.path.lexists(path) and not os.path.isdir(path):
        os.unlink(path)
    os.makedirs(path, exist_ok=True)


def _remember(key, dispatcher):
    """The dispatcher functions of this process share for ``key``: an earlier one still alive, else this."""
    with _loaded_lock:
        known = _loaded.get(key)
        if known is not None:
            return known
        _loaded[key] = dispatcher
        return dispatcher


def _import(source, directory, key):
    """Import ``directory/kernel.py`` (writing ``source`` first when given); its jitted ``kernel``."""
    path = os.path.join(directory, "kernel.py")
    if source is not None:
        check_source(source)     # only code we wrote becomes a module (codegen/guard.py)
        atomic_write(path, source.encode())
        _write_bytecode(path)
    spec = importlib.util.spec_from_file_location(f"{KERNEL_MODULE_PREFIX}{key}", path)
    module = importlib.util.module_from_spec(spec)
    # Numba's cached environment re-imports the module by name on load (the kernel has its signature, so
    # it is compiled or loaded right here); registered for that only, so a dropped function frees it.
    sys.modules[spec.name] = module
    try:
        with collector_paused():     # the kernel is compiled (or loaded) here: symgraph/collector.py
            spec.loader.exec_module(module)
    finally:
        if sys.modules.get(spec.name) is module:
            del sys.modules[spec.name]
    # Taken out of the module's globals: Numba's target context keeps every live kernel's entry point,
    # whose environment holds those globals, so a kernel named there could never be collected.
    return vars(module).pop("kernel")


def _write_bytecode(path):
    """The module's bytecode written next to it (``__pycache__``, checked against the source's hash), also where
    ``PYTHONDONTWRITEBYTECODE`` is set (common in containers): its import below reads it instead of compiling
    the source, and so does every later process loading the entry (~15-20 ms of a warm start of the MLP step).
    An entry whose bytecode cannot be written still loads, from its source."""
    with contextlib.suppress(OSError, py_compile.PyCompileError):
        py_compile.compile(path, cfile=importlib.util.cache_from_source(path), doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


@contextlib.contextmanager
def _file_lock(path):
    with _open_lock_file(path) as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _open_lock_file(path):
    """The lock file at ``path``, opened for locking; a directory there (damage) is removed first."""
    try:
        return open(path, "a+b")
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)
        return open(path, "a+b")


def _entry_files(directory):
    for folder, _, files in os.walk(directory):
        for name in files:
            if name == "manifest.json" or name.startswith(".tmp-"):
                continue
            path = os.path.join(folder, name)
            yield os.path.relpath(path, directory), path


def _digest(path):
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def _write_manifest(directory):
    files = {relative: _digest(path) for relative, path in _entry_files(directory)}
    atomic_write(os.path.join(directory, "manifest.json"), json.dumps(files, sort_keys=True).encode())


def _manifest_matches(directory) -> bool:
    try:
        with open(os.path.join(directory, "manifest.json"), "rb") as stream:
            recorded = json.loads(stream.read())
        present = {relative: path for relative, path in _entry_files(directory)}
        if set(recorded) != set(present) or not any(r.endswith(".nbc") for r in recorded):
            return False
        return all(_digest(present[relative]) == digest for relative, digest in recorded.items())
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def _explain_path(root, module):
    structure = hashlib.sha256(module.structure.encode()).hexdigest()[:40]
    return os.path.join(root, "explain", structure + ".json")


def _explain_miss(root, module, version_info) -> str:
    try:
        with open(_explain_path(root, module), "rb") as stream:
            records = json.loads(stream.read())
    except (OSError, ValueError):
        return "new graph"
    if not isinstance(records, list) or not records:
        return "new graph"
    records = [r for r in records if isinstance(r, dict)]
    if not any(r.get("dtypes") == module.dtypes for r in records):
        return "changed dtypes"
    records = [r for r in records if r.get("dtypes") == module.dtypes]
    if not any(r.get("constants") == module.constants for r in records):
        return ("changed constants (a Python number in the graph is compiled in: pass a value that changes "
                "as an input or a shared variable)")
    if all(r.get("versions") != version_info for r in records):
        return "changed versions"
    return "entry missing (deleted or never written)"


def _record_explain(root, module, version_info):
    path = _explain_path(root, module)
    with contextlib.suppress(OSError, ValueError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            with open(path, "rb") as stream:
                records = json.loads(stream.read())
            if not isinstance(records, list):
                records = []
        except (OSError, ValueError):
            records = []
        record = {"dtypes": module.dtypes, "constants": module.constants, "versions": version_info}
        records = [r for r in records if r != record][-15:] + [record]
        atomic_write(path, json.dumps(records).encode())
