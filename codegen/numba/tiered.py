"""Tiered execution: results before the compiler finishes (``sg.function(..., backend="numba", wait=False)``).

When the function's kernel is neither in this process nor in the disk cache, the first calls run on the
python backend (the graph evaluated with NumPy: no compilation at all) while a background process
(background.py) compiles the kernel into the disk cache. The first call after that process has finished
loads the kernel from the cache and hands the function the numba executor and its fast entry; every later
call runs the kernel. Each call runs entirely on one tier, and the function applies that call's updates
after it returned, so a call that raises changes nothing on either tier.

The tiers compute the same graph but not always the same bits: the kernel's vectorised functions (vmath.py's,
``scalar.VECTOR_FUNCTIONS`` and ``**``) are within 1-4 ulp of the exact result (``vector_math=False`` calls
libm, as NumPy does) and its products may sum in another order. A training run that switches tiers mid-way therefore need not repeat its last bits from
one run to the next, which is why ``wait=True`` (the kernel compiled before the function is returned) stays the
default.

``f.cache_info.tier`` says which tier serves the calls now: ``"python"`` (``status`` "compiling",
"compiled" when the next call will load the kernel, or "failed" when the background process died: the
function keeps working on the python tier and ``reason`` says why) or ``"kernel"``. A process that ends
while its background compile runs leaves it running: it finishes the cache entry for the next process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref

from .cache import CacheInfo, cache_key, cache_entry_exists, versions


def kernel_ready(module) -> bool:
    """Whether ``module``'s kernel can be had without compiling (this process or the disk cache)."""
    return cache_entry_exists(cache_key(module.source, versions()))


def _environment() -> dict:
    """The background process's environment: this one's, with the directory this symgraph was imported from
    first on its path (a process that found symgraph through ``sys.path`` compiles with the same code)."""
    import symgraph
    environment = dict(os.environ)
    home = os.path.dirname(os.path.dirname(os.path.abspath(symgraph.__file__)))
    environment["PYTHONPATH"] = os.pathsep.join(p for p in (home, environment.get("PYTHONPATH")) if p)
    return environment


class TieredExecutor:
    """The python backend's executor until the background compile of ``module`` has finished."""

    def __init__(self, program, module, make_kernel_executor):
        from symgraph.codegen import get_backend
        start = time.perf_counter()
        self.program, self.module = program, module
        self._key = cache_key(module.source, versions())
        self._make_kernel_executor = make_kernel_executor
        self._python = get_backend("python").compile(program)
        self._function = None
        self._switch_lock = threading.Lock()
        self._kernel_executor = None
        self._failure = None
        self._started = time.perf_counter()
        # its messages go to a file: a pipe nobody reads before the process ends could fill up and stall it
        self._messages = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"{__package__}.background"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=self._messages, env=_environment())
        request = json.dumps({"source": module.source, "structure": module.structure, "dtypes": module.dtypes})
        try:
            self._process.stdin.write(request.encode())
            self._process.stdin.close()
        except OSError as exc:     # the process died at once: the python tier stays
            self._failure = f"the background compile could not start ({exc})"
        self.calls_on_python_tier = 0
        self.generate_seconds = time.perf_counter() - start

    # ------------------------------------------------------------ what the function reads
    @property
    def source(self) -> str:
        return self.module.source

    @property
    def cache_info(self) -> CacheInfo:
        key = self._key
        seconds = time.perf_counter() - self._started
        calls = f"{self.calls_on_python_tier} call(s) ran on the python tier so far"
        if self._finished():
            return CacheInfo("compiled", seconds, f"in the background: the next call loads it; {calls}", key,
                             None, tier="python")
        if self._failure is not None:
            return CacheInfo("failed", seconds, self._failure, key, None, tier="python")
        return CacheInfo("compiling", seconds, f"in a background process (pid {self._process.pid}); {calls}",
                         key, None, tier="python")

    def make_entry(self, function):
        """No fast entry on the python tier (the function's general call path); kept to install the kernel's."""
        self._function = weakref.ref(function)
        return None

    # ------------------------------------------------------------ switching
    def _finished(self) -> bool:
        """Whether the background compile has ended successfully (a failure is recorded, once)."""
        with self._switch_lock:
            if self._failure is not None:
                return False
            code = self._process.poll()
            if code is None:
                return False
            if code != 0:
                self._messages.seek(0)
                error = self._messages.read().decode(errors="replace").strip().splitlines()
                self._failure = (f"the background compile exited with code {code}"
                                 + (f": {error[-1]}" if error else "") + "; the function stays on the python tier")
            self._messages.close()
            return code == 0

    def wait(self, timeout=None) -> bool:
        """Block until the background compile has ended (at most ``timeout`` seconds) and install the kernel;
        whether the kernel now serves the calls (``Function.wait``)."""
        if self._kernel_executor is not None:
            return True
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return self._switch() is not None

    def _switch(self):
        """The kernel's executor, installed in the function (with its fast entry) once; None before."""
        if self._kernel_executor is not None:
            return self._kernel_executor
        if not self._finished():
            return None
        with self._switch_lock:
            if self._kernel_executor is None:
                executor = self._make_kernel_executor()
                function = self._function() if self._function is not None else None
                if function is not None:
                    entry = executor.make_entry(function)
                    function._executor = executor
                    function._entry = entry
                    function._route()
                self._kernel_executor = executor
        return self._kernel_executor

    def __call__(self, input_values, shared_values):
        executor = self._switch()
        if executor is not None:
            return executor(input_values, shared_values)
        self.calls_on_python_tier += 1
        return self._python(input_values, shared_values)
