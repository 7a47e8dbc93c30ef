"""What the accuracy tests of codegen/numba/vmath.py share: a jitted loop over one of its functions, and the
distance of results from exact values in units of the last place."""
import numba as nb
import numpy as np


def elementwise_loop(function):
    """A jitted ``kernel(x, out)`` applying ``function`` (one of vmath's, inlined) to every element of ``x``."""
    @nb.njit(error_model="numpy")
    def kernel(x, out):
        for i in range(x.size):
            out[i] = function(x[i])
    return kernel


def binary_runner(name):
    """``run(a, b)``: vmath's two-argument ``<name>_f64`` or ``<name>_f32`` (by ``a``'s dtype) on every pair of
    elements, in that order; ``run.loops`` holds the jitted loops by dtype."""
    from symgraph.codegen.numba import vmath

    def loop(function):
        @nb.njit(error_model="numpy")
        def kernel(a, b, out):
            for i in range(a.size):
                out[i] = function(a[i], b[i])
        return kernel
    loops = {np.float64: loop(getattr(vmath, f"{name}_f64")), np.float32: loop(getattr(vmath, f"{name}_f32"))}

    def run(a, b):
        out = np.empty_like(a)
        loops[a.dtype.type](a, b, out)
        return out
    run.loops = loops
    return run


def ulp_distance(got, exact, dtype):
    """|got - exact| in units of the last place of ``dtype`` at the exact value (subnormal spacing below)."""
    exact = np.asarray(exact, np.longdouble)
    spacing = np.spacing(np.abs(exact.astype(dtype))).astype(np.longdouble)
    return np.abs(got.astype(np.longdouble) - exact) / spacing


def runner(names):
    """``run(name, x)``: vmath's ``<name>_f64`` or ``<name>_f32`` (by ``x``'s dtype) on every element of ``x``;
    ``run.loops`` holds the jitted loops by (name, dtype)."""
    from symgraph.codegen.numba import vmath
    loops = {(name, dtype): elementwise_loop(getattr(vmath, f"{name}_{suffix}")) for name in names
             for dtype, suffix in ((np.float64, "f64"), (np.float32, "f32"))}

    def run(name, x):
        out = np.empty_like(x)
        loops[name, x.dtype.type](x, out)
        return out
    run.loops = loops
    return run


def assert_vectorised(loops):
    """Each of ``run.loops`` (by (name, dtype); a ``binary_runner``'s loops take two operands), run once, holds
    vectors of doubles in its LLVM IR."""
    for (name, dtype), kernel in loops.items():
        values = np.ones(16, dtype)
        operands = (values,) * (kernel.py_func.__code__.co_argcount - 1)       # (x, out) or (y, x, out)
        kernel(*operands, values.copy())
        assert "x double>" in next(iter(kernel.inspect_llvm().values())), (name, dtype)
