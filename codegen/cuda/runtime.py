"""Device plumbing shared by every CUDA lowering: availability, launch sizes, arrays and views, kernel building.

Everything that differs between a real GPU and Numba's CUDA simulator lives here,
so the lowerings read the same on both: device arrays and strided views (a real
``DeviceNDArray`` shares ``gpu_data``; the simulator wraps a NumPy view), the math
functions generated kernels call (``math`` on a GPU; NumPy ufuncs in the simulator,
where ``math.log(0.0)`` would raise instead of returning ``-inf`` as the GPU does),
and launch sizes (tiny blocks in the simulator, where every thread is a Python thread).
"""
from __future__ import annotations

import functools
import itertools
import math
import os
import threading

import numpy as np

from symgraph.ops.elemwise import Cast, Lgamma, ScalarDialect

from ..guard import check_source


def simulator_enabled() -> bool:
    from numba import config
    return bool(config.ENABLE_CUDASIM)


def require_cuda():
    """Import numba.cuda and check that a GPU (or the simulator) can run kernels, or raise RuntimeError."""
    try:
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - numba-cuda is the optional extra 'cuda'
        raise RuntimeError("backend='cuda' needs the numba-cuda package: pip install 'symgraph[cuda]' "
                           f"({exc})") from None
    if simulator_enabled():
        return cuda
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        raise RuntimeError("backend='cuda': NUMBA_ENABLE_CUDASIM=1 was set after numba.cuda was imported; "
                           "set it before importing symgraph (or numba) to use the CUDA simulator")
    try:
        available = cuda.is_available()
    except Exception as exc:  # a broken driver install must not crash the caller
        available, reason = False, f"{type(exc).__name__}: {exc}"
    else:
        reason = "no CUDA driver or NVIDIA GPU was found"
    if not available:
        raise RuntimeError(f"backend='cuda' cannot run here: {reason}. It needs an NVIDIA GPU with a working "
                           "CUDA driver; to run the kernels on the CPU instead (slowly, for testing), set "
                           "NUMBA_ENABLE_CUDASIM=1 before importing symgraph, or use backend='numba'")
    _check_kernel_compiler()
    return cuda


def _check_kernel_compiler():
    """Load numba-cuda's lowering registry now, so an incompatible NumPy fails here, not at the first call.

    numba-cuda 0.30 registers overloads for NumPy functions that NumPy 2.5 removed (``np.row_stack``):
    with it, every kernel compilation raises AttributeError.
    """
    try:
        import numba.cuda.cudaimpl  # noqa: F401 - numba-cuda imports it at its first compilation anyway
    except (AttributeError, ImportError) as exc:
        from importlib.metadata import version
        raise RuntimeError(f"backend='cuda': numba-cuda {version('numba-cuda')} cannot compile kernels with "
                           f"NumPy {np.__version__} ({type(exc).__name__}: {exc}); install a NumPy it supports, "
                           "e.g. pip install 'numpy<2.5' (what the 'cuda' extra asks for)") from None


# ---------------------------------------------------------------- launch sizes

class LaunchSizes:
    """Threads per block and block caps; the simulator gets tiny ones so tests stay fast."""

    def __init__(self, simulated: bool):
        if simulated:
            self.elementwise_threads, self.elementwise_max_blocks = 16, 2
            self.reduce_threads, self.reduce_max_blocks = 8, 4       # a power of two: tree reduction
            self.reduce_target_blocks = 4                           # split a few long rows this wide
            self.tile = 4                                            # matmul tile (tile x tile threads)
            self.batch_max_blocks = 2
            self.factor_threads = 4                                  # one block per matrix (factor_ops.py)
        else:
            self.elementwise_threads, self.elementwise_max_blocks = 256, 8192
            self.reduce_threads, self.reduce_max_blocks = 256, 65535
            self.reduce_target_blocks = 1024
            self.tile = 16
            self.batch_max_blocks = 65535
            self.factor_threads = 128

    def elementwise_grid(self, n):
        blocks = max(1, min(self.elementwise_max_blocks, -(-n // self.elementwise_threads)))
        return blocks, self.elementwise_threads


_sizes = None


def sizes() -> LaunchSizes:
    global _sizes
    if _sizes is None:
        _sizes = LaunchSizes(simulator_enabled())
    return _sizes


# ---------------------------------------------------------------- arrays

def is_device_array(value) -> bool:
    """A Numba device array (real or simulated) or any object with ``__cuda_array_interface__``."""
    if isinstance(value, np.ndarray):
        return False
    return bool(getattr(type(value), "__cuda_ndarray__", False)) or hasattr(value, "__cuda_array_interface__")


def as_numba_device_array(value):
    """Numba's own view of a device array (zero copy for CuPy/PyTorch arrays on a real GPU)."""
    if getattr(type(value), "__cuda_ndarray__", False):
        return value
    from numba import cuda
    return cuda.as_cuda_array(value)


class DeviceMemoryPool:
    """Device buffers kept for reuse, so a loop of calls stops allocating after its first call.

    ``cuMemAlloc`` of a large buffer costs tens to hundreds of microseconds and ``cuMemFree``
    waits for the device to go idle, while a training step makes dozens of intermediates per call.
    As in PyTorch's caching allocator, a buffer nobody references any more goes back to a free
    list of its (rounded) size instead of to the driver. Reusing it is safe because every kernel
    and copy symgraph issues runs on the default stream, in order: a later kernel that writes a
    reused buffer runs after every earlier kernel that read it.

    ``allocate_block(context, nbytes)`` makes new device memory: Numba's ``context.memalloc``,
    whose pointers free themselves (through Numba's deferred deallocation) once unreferenced.
    Each array gets its own reference-counted pointer onto a block, handed out the way Numba's
    memory manager hands out its own: the counted pointer stays in ``_live`` and the array holds
    an owning reference (``own()``); every view of the array takes another, and when the last
    reference goes the count reaches zero and the block returns to the free list.
    """

    GRANULE = 512     # bytes: sizes are rounded up to this, so nearly equal shapes share buffers

    def __init__(self, allocate_block):
        self._allocate_block = allocate_block
        self._free = {}    # (id(context), rounded size) -> blocks ready for reuse
        self._contexts = {}   # id -> context, held so that no later context (after cuda.close()) gets its id
        self._live = {}    # serial -> the counted pointer of a block in use
        self._serials = itertools.count()

    def allocate(self, context, nbytes):
        from numba.cuda.cudadrv.driver import AutoFreePointer
        size = -(-max(int(nbytes), 1) // self.GRANULE) * self.GRANULE
        self._contexts.setdefault(id(context), context)
        free = self._free.setdefault((id(context), size), [])
        try:
            block = free.pop()       # list.pop/append are atomic: finalizers may run in any thread
        except IndexError:
            block = self._new_block(context, size)
        serial = next(self._serials)
        counted = AutoFreePointer(context, block.device_pointer, size,
                                  finalizer=_release(self._live, serial, free, block))
        self._live[serial] = counted
        return counted.own()

    def _new_block(self, context, size):
        try:
            return self._allocate_block(context, size)
        except Exception:  # noqa: BLE001 - out of memory, most likely: retry once without our cache
            if not self.cached_bytes():
                raise
            self.empty(context)
            return self._allocate_block(context, size)

    def cached_bytes(self) -> int:
        """Bytes held in free lists (not in use by any array)."""
        return sum(size * len(blocks) for (_, size), blocks in list(self._free.items()))

    def empty(self, context=None):
        """Give every cached block back to the driver; buffers in use return to it when freed."""
        self._free = {}
        if context is not None:
            pending = getattr(getattr(context, "memory_manager", None), "deallocations", None)
            if pending is not None:
                pending.clear()      # Numba defers cuMemFree; do it now


def _release(live, serial, free, block):
    def give_back():
        live.pop(serial, None)
        free.append(block)
    return give_back


def _numba_memalloc(context, nbytes):
    return context.memalloc(nbytes)


POOL = DeviceMemoryPool(_numba_memalloc)


def empty_cache():
    """Release the device memory the CUDA backend keeps for reuse (as ``torch.cuda.empty_cache``)."""
    if simulator_enabled():
        return
    from numba.cuda.cudadrv import devices
    POOL.empty(devices.get_context())


@functools.cache
def per_thread_default_stream() -> bool:
    """Whether Numba gives each host thread its own default stream; then kernels of two threads are
    not ordered, and no buffer one call released may be reused (asked once: Numba reads it at import)."""
    from numba import config
    try:
        from numba.cuda.core import config as cuda_config   # where numba-cuda 0.2x+ reads it
    except ImportError:
        cuda_config = config
    return any(bool(getattr(c, "CUDA_PER_THREAD_DEFAULT_STREAM", False)) for c in (config, cuda_config))


def _pooled_array(shape, dtype):
    from numba import cuda
    nbytes = math.prod(shape) * dtype.itemsize
    if simulator_enabled() or nbytes == 0 or per_thread_default_stream():
        return cuda.device_array(shape, dtype=dtype)
    from numba.cuda.cudadrv import devices
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    context = devices.get_context()
    return DeviceNDArray(shape, c_strides(shape, dtype.itemsize), dtype,
                         gpu_data=POOL.allocate(context, nbytes))


def to_device(array):
    # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
    array = np.asarray(array, order="C")
    device = _pooled_array(tuple(array.shape), array.dtype)
    if array.size:
        device.copy_to_device(array)
    return device


def device_empty(shape, dtype):
    """A new device array outside any call (a call's steps allocate with ``Call.empty``)."""
    return _pooled_array(tuple(int(n) for n in shape), np.dtype(dtype))


class Call:
    """The state of one call of a compiled function, handed to every step as its second argument.

    ``empty`` allocates the call's arrays: it reuses first an array of the same shape and dtype that
    the function's previous call made and did not hand out (``recycle``: the same Numba array object,
    so neither the allocation nor Numba's typing of a new array object is paid again), records each
    in ``allocated`` and tags it with ``token`` (so the executor knows nobody else holds it). ``kernel``
    builds a kernel and notes its key in ``used`` (the kernels a function runs, for ``f.source``).
    """

    __slots__ = ("token", "recycle", "allocated", "used")

    def __init__(self, recycle=None, used=None):
        self.token = object()
        self.recycle = recycle if recycle is not None else {}
        self.allocated = []
        self.used = used

    def empty(self, shape, dtype):
        """A device array of ``shape`` and ``dtype`` made by this call (contents undefined)."""
        shape, dtype = tuple(int(n) for n in shape), np.dtype(dtype)
        spare = self.recycle.get((shape, dtype)) if self.recycle else None
        array = spare.pop() if spare else _pooled_array(shape, dtype)
        self.allocated.append(array)
        array._symgraph_call = self.token
        return array

    def kernel(self, key, name, source):
        """``build_kernel(key, name, source)``, noted as one this call's function runs (``source``: the text,
        or a function writing it, called only when the kernel is not built yet)."""
        if self.used is not None and key not in self.used:
            self.used[key] = None
        return build_kernel(key, name, source)


def spare_arrays(allocated, handed_out):
    """The arrays of ``allocated`` not in ``handed_out`` (by identity), by (shape, dtype), for reuse."""
    kept = {id(a) for a in handed_out}
    spare = {}
    for array in allocated:
        if id(array) not in kept:
            spare.setdefault((tuple(array.shape), array.dtype), []).append(array)
    return spare


def is_fresh(array, token) -> bool:
    """Whether ``array`` was allocated by the call ``token`` (an update or output may then keep it)."""
    return token is not None and getattr(array, "_symgraph_call", None) is token and is_c_contiguous(array)


def to_host(value) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if not value.is_c_contiguous() and value.size > 1:
        value = contiguous_copy(None, value)
    return value.copy_to_host()


def c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(int(n), 1)
    return tuple(reversed(strides))


def view_with(array, shape, strides):
    """A view of ``array``'s data starting at its first element, with a new shape and byte strides."""
    shape, strides = tuple(int(n) for n in shape), tuple(int(s) for s in strides)
    if simulator_enabled():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        base = array._ary
        return FakeCUDAArray(np.lib.stride_tricks.as_strided(base, shape, strides))
    from numba.cuda.cudadrv.devicearray import DeviceNDArray
    return DeviceNDArray(shape=shape, strides=strides, dtype=array.dtype, gpu_data=array.gpu_data)


def is_c_contiguous(array) -> bool:
    return array.size <= 1 or array.is_c_contiguous()


def reshape_view(array, shape):
    """``array`` (C-contiguous) seen with another shape of the same size; works for 0-d shapes too."""
    return view_with(array, shape, c_strides(shape, array.dtype.itemsize))


def contiguous_copy(call, array):
    """A C-contiguous copy of ``array``, made by ``call`` (a ``Call``; None outside a call)."""
    from .elemwise import copy_into
    out = call.empty(array.shape, array.dtype) if call is not None else device_empty(array.shape, array.dtype)
    copy_into(call, out, array)
    return out


def as_contiguous(call, array):
    return array if is_c_contiguous(array) else contiguous_copy(call, array)


def host_int(value, what) -> int:
    """A host Python int from a host or device 0-d integer value (a device value costs one transfer)."""
    array = to_host(value) if not isinstance(value, np.ndarray) else value
    if array.ndim != 0 or array.dtype.kind not in "iub":
        raise TypeError(f"{what}: expected an integer scalar, got a {array.dtype} value of shape {array.shape}")
    return int(array)


class ErrorFlag:
    """A one-byte device flag that kernels set on bad input (an index out of range).

    Each host thread keeps its own, zeroed once; a call reads it back (one byte, which waits for
    the kernel) and only an error resets it, so the common path uploads nothing.
    """

    def __init__(self):
        self._local = threading.local()

    def array(self):
        flag = getattr(self._local, "array", None)
        if flag is None:
            flag = self._local.array = to_device(np.zeros(1, np.int8))
        return flag

    def raised(self) -> bool:
        flag = self.array()
        if not to_host(flag)[0]:
            return False
        flag.copy_to_device(np.zeros(1, np.int8))
        return True


# ---------------------------------------------------------------- kernel building

def _special(name):
    """SciPy's ufunc for a ``math`` function NumPy lacks (erf, erfc, lgamma: C's, as the op's reference
    computes it from SciPy's, finite at float64's subnormals where ``gammaln`` is inf)."""
    from scipy import special
    if name == "lgamma":
        return lambda x: Lgamma.impl(x)[()]
    return {"erf": special.erf, "erfc": special.erfc}[name]


class _SimulatorMath:
    """The ``math`` functions generated kernels use, as NumPy ufuncs: IEEE results (inf/nan) instead of
    Python's ValueError/OverflowError, and NumPy scalars keep their dtype, as on a GPU."""

    def __getattr__(self, name):
        ufunc = {"pow": np.power, "fabs": np.abs}.get(name) or getattr(np, name, None) or _special(name)

        def call(*args):
            with np.errstate(all="ignore"):
                return ufunc(*args)
        return call


NUMERIC_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64")

_kernel_cache: dict = {}
_cache_lock = threading.Lock()
#: every generated kernel source, in build order (``f.source`` shows the ones a function uses)
SOURCES: dict = {}


def kernel_namespace():
    import numba
    from numba import cuda
    namespace = {"__name__": "symgraph_cuda_kernels", "cuda": cuda, "INF": math.inf,
                 "M": _SimulatorMath() if simulator_enabled() else math}
    if not simulator_enabled():
        from numba.cuda import libdevice
        namespace["LD"] = libdevice     # products that are never fused into an addition (elemwise.CudaDialect)
    for name in NUMERIC_DTYPES:
        namespace[f"T_{name}"] = numba.from_dtype(np.dtype(name))
    return namespace


_simulator_lock = threading.Lock()


class _SimulatedLaunch:
    """A simulated kernel, launched one at a time (the simulator supports no concurrent launches,
    e.g. from two host threads calling one function) with a short GIL switch interval: the simulator
    runs a block as Python threads polled at every syncthreads, and with the default 5 ms interval
    each barrier costs milliseconds per thread."""

    def __init__(self, kernel):
        self.kernel = kernel

    def __getitem__(self, configuration):
        def launch(*args):
            import sys
            with _simulator_lock:
                previous = sys.getswitchinterval()
                sys.setswitchinterval(1e-5)
                try:
                    return self.kernel[configuration](*args)
                finally:
                    sys.setswitchinterval(previous)
        return launch


def build_kernel(key, name, source):
    """``cuda.jit`` of the function ``name`` defined by ``source``, cached by ``key`` (op identity, dtypes, ndims).
    ``source`` may be a function returning the text: a call finding the kernel built writes no source."""
    with _cache_lock:
        kernel = _kernel_cache.get(key)
        if kernel is not None:
            return kernel
        from numba import cuda
        if callable(source):
            source = source()
        namespace = kernel_namespace()
        check_source(source)     # only code we wrote becomes a kernel (codegen/guard.py)
        exec(compile(source, f"<symgraph cuda kernel {name}>", "exec"), namespace)
        kernel = cuda.jit(namespace[name])
        if simulator_enabled():
            kernel = _SimulatedLaunch(kernel)
        _kernel_cache[key] = kernel
        SOURCES[key] = source
        return kernel


def synchronized(step):
    """``step`` with the device synchronised after it, so timing it measures its kernels (profiling)."""
    def run(args, call):
        results = step(args, call)
        from numba import cuda
        cuda.synchronize()
        return results
    return run


class _ConversionDialect(ScalarDialect):
    """What ``Cast.from_float`` writes a guarded float-to-integer conversion with, in a cuda kernel (the
    converted value's source is repeated: pure, computed once by the compiler)."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def let(self, expression):
        return expression if expression.isidentifier() else f"({expression})"

    def lit(self, value):
        return literal(value, self.dtype.name)

    def convert(self, x, dtype):
        return f"T_{np.dtype(dtype).name}({x})"


def cast_expr(expr, dtype, source=None) -> str:
    """Source text converting ``expr`` (of dtype ``source``, when known) to ``dtype`` as NumPy's astype does
    (bool: nonzero; a float to an integer as ``Cast.from_float`` defines it for every value: a bare
    conversion saturates on a GPU, where NumPy wraps a negative float into an unsigned type)."""
    if dtype == "bool":
        return f"(({expr}) != 0)"
    if source is not None and np.dtype(source).kind == "f" and np.dtype(dtype).kind in "iu":
        return Cast.from_float(_ConversionDialect(source), str(expr), dtype)
    return f"T_{dtype}({expr})"


def literal(value, dtype) -> str:
    """A typed constant, so float32 arithmetic stays float32 (a bare ``1.0`` would be float64)."""
    if dtype == "bool":
        return "True" if value else "False"
    if np.dtype(dtype).kind == "f":
        if math.isinf(value):
            return f"T_{dtype}({'-' if value < 0 else ''}INF)"
        if math.isnan(value):
            return f"T_{dtype}(INF - INF)"
        return f"T_{dtype}({float(value)!r})"
    return f"T_{dtype}({int(value)})"
