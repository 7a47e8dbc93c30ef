"""Where Numba keeps the machine code of our kernels and of our jitted runtime: always under the symgraph
cache directory, whatever Numba's own settings say.

Numba picks a cache locator per jitted function when it is decorated, from a list
(``numba.core.caching.CacheImpl._locator_classes``): ``NUMBA_CACHE_DIR`` first,
then the source file's ``__pycache__``, then a per-user directory. Both defaults
hurt us:

- With ``NUMBA_CACHE_DIR`` set, a kernel's machine code went to that directory,
  outside the entry whose manifest and helper records (``links.pickle``) describe
  it. An entry then looked damaged, was rewritten, and Numba loaded the old machine
  code for the new file before its linked helpers were registered: the second
  process died with SIGSEGV. Kernels now always keep their machine code in their
  entry (``<entry>/__pycache__``), covered by the manifest and removed with it.
- The runtime library (``runtime.py``, ``blas.py``, ``tape.py``, every ``cache=True``
  function in this package) wrote its cache into the installed source tree (17 MB
  under ``codegen/numba/__pycache__``), which a read-only install cannot hold. It now
  lives in ``<cache directory>/runtime/<install>``, or in a private temporary
  directory (with one warning) when the cache directory cannot be written.

Importing this module installs both locators, ahead of Numba's; ``codegen/numba/__init__.py`` imports it
before any module that defines a ``cache=True`` function, since Numba picks the locator at decoration.
"""
from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import warnings

from numba.core.caching import CacheImpl, InTreeCacheLocator, _CacheLocator, _SourceFileBackedLocatorMixin

#: the module-name prefix of generated kernel modules (``cache._import`` names them)
KERNEL_MODULE_PREFIX = "symgraph_kernel_"
#: the module-name prefix of the generated parts of the runtime library (interpreter.py)
GENERATED_MODULE_PREFIX = "symgraph_generated_"
_HERE = os.path.dirname(os.path.abspath(__file__))
_lock = threading.Lock()
_warned: set = set()               # cache directories this process has warned about
_private_roots: dict = {}          # process id -> this process's private temporary cache directory


def cache_directory() -> str:
    """The symgraph cache directory: ``$SYMGRAPH_CACHE_DIR``, else ``$XDG_CACHE_HOME/symgraph`` or
    ``~/.cache/symgraph``."""
    configured = os.environ.get("SYMGRAPH_CACHE_DIR")
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "symgraph")


def warn_once(root, exc):
    """One warning per cache directory and process: it cannot be used, and why."""
    with _lock:
        if root in _warned:
            return
        _warned.add(root)
    why = f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
    warnings.warn(f"symgraph: cannot use the kernel cache directory {root!r} ({why}); compiling in a "
                  "private temporary directory instead", RuntimeWarning, stacklevel=3)


def private_root() -> str:
    """This process's own temporary cache directory (made on first use, removed at exit), for what the
    configured directory cannot hold."""
    pid = os.getpid()            # a forked child makes its own: the parent removes the parent's at exit
    with _lock:
        root = _private_roots.get(pid)
        if root is None:
            root = _private_roots[pid] = tempfile.mkdtemp(prefix="symgraph-cache-")
            atexit.register(_remove_private_root, pid, root)
        return root


def _remove_private_root(pid, root):
    if os.getpid() == pid:
        shutil.rmtree(root, ignore_errors=True)


class EntryCacheLocator(InTreeCacheLocator):
    """Numba's cache locator for our kernel modules: their entry's ``__pycache__``, whatever
    ``NUMBA_CACHE_DIR`` says, and possibly read-only (a warm cache on a read-only mount still loads;
    Numba's in-tree locator insists on writing there)."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if not py_func.__module__.startswith(KERNEL_MODULE_PREFIX) or not os.path.exists(py_file):
            return None
        return cls(py_func, py_file)

    def ensure_cache_path(self):
        try:
            super().ensure_cache_path()
        except OSError:
            if not os.path.isdir(self.get_cache_path()):
                raise


def atomic_write(path, data: bytes):
    """Write ``data`` to ``path`` whole or not at all (a temporary file renamed over it): a reader in another
    process never sees half a file."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def runtime_cache_path(root=None) -> str:
    """The directory of the runtime library's machine code: ``$SYMGRAPH_RUNTIME_CACHE_DIR`` when set (to
    keep the once-per-install library apart from the kernels, e.g. with a fresh ``SYMGRAPH_CACHE_DIR`` per
    run), else under ``root`` (the cache directory). In it, one directory per
    installed copy and version of this package (its import name, path and sources), so two checkouts
    sharing a cache never overwrite each other, and an edited module never leaves stale machine code in
    a function that called into it (Numba's own index only checks the function's own file)."""
    if root is None and os.environ.get("SYMGRAPH_RUNTIME_CACHE_DIR"):
        return os.path.join(os.environ["SYMGRAPH_RUNTIME_CACHE_DIR"], _install_digest())
    return os.path.join(root or cache_directory(), "runtime", _install_digest())


@functools.lru_cache(maxsize=None)
def _install_digest() -> str:
    digest = hashlib.sha256(f"{__package__}\0{_HERE}".encode())
    for name in sorted(os.listdir(_HERE)):
        if name.endswith(".py"):
            with open(os.path.join(_HERE, name), "rb") as stream:
                digest.update(name.encode() + b"\0" + stream.read())
    return digest.hexdigest()[:16]


def generated_directory() -> str:
    """Where the generated parts of the runtime library are written (their machine code goes next to
    them): the runtime cache path, or this process's private directory when that cannot be written."""
    path = runtime_cache_path()
    try:
        os.makedirs(path, exist_ok=True)
        if not os.access(path, os.W_OK):
            if os.statvfs(path).f_flag & os.ST_RDONLY:     # say why, as a failed write would
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
            raise PermissionError(errno.EACCES, "not writable", path)
    except OSError as exc:
        warn_once(cache_directory(), exc)
        path = runtime_cache_path(private_root())
        os.makedirs(path, exist_ok=True)
    return path


class RuntimeCacheLocator(_SourceFileBackedLocatorMixin, _CacheLocator):
    """Numba's cache locator for the ``cache=True`` functions of this package (the runtime library) and of
    its generated parts: under the symgraph cache directory, never in the installed source tree."""

    def __init__(self, py_func, py_file, cache_path):
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path

    def get_cache_path(self):
        return self._cache_path

    @classmethod
    def from_function(cls, py_func, py_file):
        if py_func.__module__.startswith(GENERATED_MODULE_PREFIX) and os.path.exists(py_file):
            return cls(py_func, py_file, os.path.dirname(os.path.abspath(py_file)))
        if os.path.dirname(os.path.abspath(py_file)) != _HERE or not os.path.exists(py_file):
            return None
        locator = cls(py_func, py_file, runtime_cache_path())
        try:
            locator.ensure_cache_path()       # makes it, and checks that it can be written
        except OSError as exc:
            warn_once(cache_directory(), exc)
            locator = cls(py_func, py_file, runtime_cache_path(private_root()))
            locator.ensure_cache_path()
        return locator


def install():
    """Put our locators first in Numba's list (idempotent)."""
    for locator in (EntryCacheLocator, RuntimeCacheLocator):
        if locator in CacheImpl._locator_classes:
            CacheImpl._locator_classes.remove(locator)
    CacheImpl._locator_classes[:0] = [RuntimeCacheLocator, EntryCacheLocator]


install()
