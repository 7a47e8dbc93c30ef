"""Kernels call the precompiled helpers by address (codegen/numba/link.py): results, exceptions, the
records a cached kernel needs, and generated kernels that use the linked helpers for what Numba would
otherwise compile again in every kernel."""
from __future__ import annotations

import math
import re
from types import SimpleNamespace

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest
from numba import types

import symgraph as sg
from symgraph.codegen.numba import link, runtime


@numba.njit(cache=False)
def halve_positive(x):
    if x < 0:
        raise ValueError("halve_positive: negative input")
    return x / 2


linked_halve = link.linked(halve_positive)
linked_sum_rows = link.linked(runtime.sum_rows)


def test_linked_call_returns_the_helpers_result_and_registers_its_address():
    @numba.njit
    def caller(x):
        return linked_halve(x) + 1.0

    assert caller(3.0) == 2.5
    name = link.symbol(halve_positive, (types.float64,))
    result = halve_positive.overloads[(types.float64,)]
    assert llvm.address_of_symbol(name) == result.library.get_pointer_to_function(result.fndesc.llvm_func_name)


def test_exceptions_raised_in_a_linked_helper_reach_the_caller():
    @numba.njit
    def caller(x):
        return linked_halve(x)

    with pytest.raises(ValueError, match="halve_positive: negative input"):
        caller(-1.0)
    assert caller(4.0) == 2.0    # and the kernel still works afterwards


def test_arrays_and_tuples_cross_the_call():
    @numba.njit
    def caller(x):
        return linked_sum_rows(x, x.shape[0], x.shape[1], np.float64(0.0), np.float32(0.0), (x.shape[0],))

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    got = caller(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.sum(axis=1))


def test_recording_collects_what_a_cached_kernel_needs_and_restore_resolves_it():
    @numba.njit
    def caller(x):
        return linked_sum_rows(x, 1, x.shape[0], np.float64(0.0), 0.0, (np.int64(1),))[0]

    with link.recording() as records:
        assert caller(np.arange(4.0)) == 6.0
    argtypes = (types.float64[::1], types.int64, types.int64, types.float64, types.float64,
                types.UniTuple(types.int64, 1))
    assert records == [("symgraph.codegen.numba.runtime", "sum_rows", argtypes)]
    link.restore(records)
    assert llvm.address_of_symbol(link.symbol(runtime.sum_rows, argtypes))
    with pytest.raises(AttributeError):
        link.restore([("symgraph.codegen.numba.runtime", "no_such_helper", argtypes)])


def test_a_training_step_kernel_calls_helpers_instead_of_inline_numpy():
    """Inline np.empty, .copy(), .reshape() and BLAS layout code cost Numba compile time in every kernel."""
    rng = np.random.default_rng(0)
    X, y = sg.matrix("X", "float32"), sg.matrix("y", "float32")
    W = sg.shared(rng.normal(size=(5, 3)).astype("float32"), name="W")
    b = sg.shared(np.zeros(3, dtype="float32"), name="b")
    loss = sg.mean((sg.relu(X @ W + b) - y) ** 2)
    gW, gb = sg.grad(loss, [W, b])
    step = sg.function([X, y], loss, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], cache=False)
    reference = sg.function([X, y], loss, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], backend="python")
    source = step.source
    for inline in ("np.empty(", "np.zeros(", ".copy()", ".reshape(", "from symgraph.codegen.numba.blas"):
        assert inline not in source, inline
    assert "rt.gemm_checked(" in source and "rt.empty(" in source
    # a product is one call, which raises its own check (not a status tested by another call)
    assert "rt.check_value(rt.gemm" not in source and "rt.gemm(" not in source
    Xv, yv = rng.normal(size=(4, 5)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    W0 = W.get_value()
    got = step(Xv, yv)
    mine = W.get_value()
    W.set_value(W0)
    b.set_value(np.zeros(3, dtype="float32"))
    want = reference(Xv, yv)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(mine, W.get_value(), rtol=1e-5, atol=1e-6)


def test_dynamic_broadcasting_in_an_elementwise_loop_uses_a_broadcast_copy():
    """Lengths the types leave open may be 1 at run time (NumPy broadcasting); one loop serves both."""
    x, v = sg.matrix("x"), sg.vector("v")
    f = sg.function([x, v], sg.exp(x) * v + x, cache=False)
    assert "rt.broadcast_copy(" in f.source and f.source.count("for ") == 2   # one loop nest
    rng = np.random.default_rng(1)
    for xs, vs in [((3, 4), 4), ((3, 4), 1), ((3, 1), 4), ((1, 4), 4), ((1, 1), 5)]:
        a, c = rng.normal(size=xs), rng.normal(size=vs)
        np.testing.assert_allclose(f(a, c), np.exp(a) * c + a, rtol=1e-12)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        f(rng.normal(size=(3, 4)), rng.normal(size=3))


def test_dynamic_broadcasting_in_a_flat_loop_reads_operands_through_one_helper_call():
    """Operands of the same rank as the output go through one flat loop; each is read through the 1-d view
    ``broadcast_flat`` gives (itself, or a broadcast copy when a length is 1 at run time)."""
    x, y = sg.matrix("x"), sg.matrix("y")
    f = sg.function([x, y], sg.exp(x) * y + x, cache=False)
    assert f.source.count("rt.broadcast_flat(") == 2 and "rt.broadcast_copy(" not in f.source
    assert f.source.count("for ") == 1
    rng = np.random.default_rng(2)
    for xs, ys in [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((1, 4), (3, 4)), ((3, 1), (3, 4)), ((1, 1), (2, 2)),
                   ((0, 4), (1, 4))]:
        a, c = rng.normal(size=xs), rng.normal(size=ys)
        np.testing.assert_allclose(f(a, c), np.exp(a) * c + a, rtol=1e-12)
    with pytest.raises(ValueError, match="cannot be broadcast|broadcast"):
        f(rng.normal(size=(3, 4)), rng.normal(size=(2, 4)))


def test_kernels_compile_without_ssa_unless_they_have_prange_loops():
    """codegen/numba/pipeline.py: SSA reconstruction is ~15% of a kernel's compile, closure inlining and
    the after-typing rewrites ~5%; parfors need them."""
    x = sg.vector("x")
    serial = sg.function([x], sg.exp(x) * 2.0 + x, cache=False)
    assert "pipeline_class=KernelCompiler" in serial.source
    kernel = serial._executor.kernel
    passes = " ".join(kernel.overloads[kernel.signatures[0]].metadata["pipeline_times"]["nopython"])
    assert "strip_phis" in passes and "reconstruct_ssa" not in passes
    assert "inline_closure_likes" not in passes and "nopython_rewrites" not in passes   # SKIPPED_PASSES
    np.testing.assert_allclose(serial(np.arange(3.0)), np.exp(np.arange(3.0)) * 2 + np.arange(3.0))
    heavy = x
    for _ in range(12):
        heavy = sg.sin(heavy) * 1.1 + sg.cos(heavy)
    parallel = sg.function([x], heavy, cache=False)
    assert "prange(" in parallel.source
    kernel = parallel._executor.kernel
    passes = " ".join(kernel.overloads[kernel.signatures[0]].metadata["pipeline_times"]["nopython"])
    assert "reconstruct_ssa" in passes and "inline_closure_likes" in passes and "nopython_rewrites" in passes
    values = np.linspace(-1, 1, 50_000)
    expected = values
    for _ in range(12):
        expected = np.sin(expected) * 1.1 + np.cos(expected)
    np.testing.assert_allclose(parallel(values), expected, rtol=1e-12)


def _loop_kernel(x, y):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = math.exp(x[i]) * y[i] + x[i] / (1.0 + y[i] * y[i])
    return out


def _optimized_ir(first_round):
    """(library class, final LLVM IR) of ``_loop_kernel`` compiled through KernelCompiler, with Numba's
    first per-function optimization round or without it."""
    from symgraph.codegen.numba import pipeline
    saved = pipeline._NEW_PASS_MANAGERS
    pipeline._NEW_PASS_MANAGERS = saved and not first_round
    try:
        dispatcher = numba.njit((types.float64[::1], types.float64[::1]), pipeline_class=pipeline.KernelCompiler,
                                error_model="numpy")(_loop_kernel)
    finally:
        pipeline._NEW_PASS_MANAGERS = saved
    result = dispatcher.overloads[dispatcher.signatures[0]]
    values = np.linspace(-1, 1, 37)
    np.testing.assert_allclose(dispatcher(values, values[::-1].copy()), _loop_kernel(values, values[::-1].copy()),
                               rtol=1e-15)
    return type(result.library), result.library.get_llvm_str()


def _code_shape(text):
    """What the optimizer must still have done: functions, vector instructions, reference-count calls."""
    return {"functions": len(re.findall(r"^define ", text, re.M)),
            "vector lines": len(re.findall(r"x double>", text)),
            "increfs": len(re.findall(r"call[^\n]*@NRT_incref", text)),
            "decrefs": len(re.findall(r"call[^\n]*@NRT_decref", text))}


def test_kernels_skip_the_first_llvm_round_and_get_the_same_code():
    """codegen/numba/pipeline.py: a kernel's library skips Numba's per-function optimization round; the
    module round after it still vectorizes the loop and prunes the same reference counts."""
    from symgraph.codegen.numba import pipeline
    if not pipeline._NEW_PASS_MANAGERS:
        pytest.skip("this Numba has the legacy pass managers: kernels keep Numba's first round")
    library, skipped = _optimized_ir(first_round=False)
    _, full = _optimized_ir(first_round=True)
    assert library is pipeline.KernelLibrary
    assert _code_shape(skipped) == _code_shape(full)
    assert _code_shape(skipped)["vector lines"] > 0
    x = sg.vector("x")
    f = sg.function([x], sg.exp(x) * 2.0 + x, cache=False)
    kernel = f._executor.kernel
    assert type(kernel.overloads[kernel.signatures[0]].library) is pipeline.KernelLibrary


def test_kernels_compile_with_the_collector_paused(monkeypatch):
    """symgraph/collector.py: Numba's compile of a kernel runs without automatic garbage collections,
    which cost W7's cold compile ~0.35 s; the collector is back on after it."""
    import contextlib
    import gc
    from symgraph.codegen.numba import cache
    seen = []
    real = cache.collector_paused

    @contextlib.contextmanager
    def spy():
        with real():
            seen.append(gc.isenabled())
            yield

    monkeypatch.setattr(cache, "collector_paused", spy)
    was = gc.isenabled()
    gc.enable()
    try:
        x = sg.vector("x")
        f = sg.function([x], sg.exp(x) * 3.0 - x, cache=False)
        np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)) * 3.0 - np.arange(3.0))
        assert seen == [False]
        assert gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()


def test_checks_that_cannot_fail_are_dropped_and_leave_valid_blocks():
    from symgraph.codegen.numba.lower import KernelWriter
    kernel = KernelWriter()
    length = kernel.broadcast_length(["n", "1", "1"], "cannot broadcast")   # 1 against 1: nothing to test
    kernel.check("m != m and m != 1", "cannot fail")
    kernel.check("k != 2", "can fail")
    wide = kernel.broadcast_length(["n", "m", "1"], "m cannot broadcast")  # one helper call, one check
    source = "def body(n, m, k):\n" + "\n".join(kernel.lines) + f"\n    return {length}, {wide}\n"
    namespace = {"np": np, "rt": SimpleNamespace(broadcast_lengths=runtime.broadcast_lengths.py_func,
                                                 check_value=runtime.check_value.py_func)}
    exec(compile(source, "<kernel>", "exec"), namespace)                   # noqa: S102 - valid Python
    assert [check.message for check in kernel.checks] == ["can fail", "m cannot broadcast"]
    assert namespace["body"](4, 4, 2) == (4, 4) and namespace["body"](1, 3, 2) == (1, 3)
    with pytest.raises(ValueError) as failed:
        namespace["body"](4, 4, 5)
    assert failed.value.args == ("symgraph check", 0)
    with pytest.raises(ValueError) as failed:
        namespace["body"](3, 2, 2)                                     # 3 against 2
    assert failed.value.args == ("symgraph check", 1)


@pytest.mark.timeout(300)
def test_restoring_in_one_thread_while_another_compiles_does_not_deadlock():
    """resolve() takes Numba's compiler lock, which a kernel being typed already holds: a second lock
    taken in the other order by a loading thread could deadlock the two."""
    import threading
    argtypes = (types.float64[::1], types.int64, types.int64, types.float64, types.float64,
                types.UniTuple(types.int64, 1))
    records = [("symgraph.codegen.numba.runtime", "sum_rows", argtypes)]
    stop, errors = threading.Event(), []

    def restore_repeatedly():
        try:
            while not stop.is_set():
                link._resolved.pop(link.symbol(runtime.sum_rows, argtypes), None)   # resolve again each time
                link.restore(records)
        except Exception as exc:    # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=restore_repeatedly)
    thread.start()
    try:
        for k in range(6):
            x = sg.vector("x")
            f = sg.function([x], sg.sum(sg.exp(x) * float(k + 2)), cache=False)
            np.testing.assert_allclose(f(np.arange(3.0)), np.exp(np.arange(3.0)).sum() * (k + 2))
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not thread.is_alive() and not errors


def test_linked_helpers_are_made_on_first_use_and_each_name_has_one_home():
    """``rt.name`` makes its stand-in on first use, importing the helper modules only as far as its own
    (linked.py): so no public helper name may appear in two modules, or the order would choose."""
    import importlib
    import subprocess
    import sys
    from symgraph.codegen.numba import linked
    homes = {}
    for module_name in linked.MODULES:
        module = importlib.import_module(f"symgraph.codegen.numba.{module_name}")
        for name, (_, helper) in linked.helpers(module).items():
            homes.setdefault(name, []).append((module_name, helper.py_func.__name__))
    assert {name: where for name, where in homes.items() if len(where) > 1} == {}
    assert sorted(linked.names()) == sorted(homes) and len(homes) > 80
    assert linked.gemm_checked is linked.gemm_checked and "gemm_checked" in linked.__dict__   # made once
    for name, [(_, function_name)] in homes.items():   # each is found where its module's source says it may be
        assert getattr(linked, name)._defn.__name__ == f"linked_{function_name}"
    with pytest.raises(AttributeError, match="no helper 'no_such_helper'"):
        linked.no_such_helper
    # a new process that compiles and runs an elementwise kernel never imports the convolution helpers
    script = ("import sys, numpy as np, symgraph as sg\n"
              "x = sg.vector('x')\n"
              "f = sg.function([x], sg.exp(x) * 2.0 + x, cache=False)\n"
              "assert abs(f(np.ones(3))[0] - (np.e * 2 + 1)) < 1e-12\n"
              "print('conv_runtime' in ' '.join(sys.modules), 'lapack_spectral' in ' '.join(sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_a_helpers_object_code_is_saved_and_a_later_load_needs_no_numba_dispatcher(tmp_path, monkeypatch):
    """A helper compiled in this process leaves its object code (link._save_object); a later process loads
    it into link's own JIT engine (~0.2 ms instead of Numba's 3-4 ms per helper), and what it raises still
    reaches the caller with its run-time arguments (the helper's Numba environment is set up too)."""
    monkeypatch.setattr(link, "runtime_cache_path", lambda: str(tmp_path))
    fresh = numba.njit(runtime.broadcast_lengths.py_func)    # compiled here: Numba keeps its object code
    stand_in = link.linked(fresh)
    argtypes = (types.UniTuple(types.int64, 5), types.int64)
    name = link.symbol(fresh, argtypes)
    link._resolved.pop(name, None)
    try:
        @numba.njit
        def first(a, b):
            return stand_in((a, b, 1, a, 1), np.int64(7))

        assert first(3, 1) == 3
        [saved] = (tmp_path / "linked").glob(f"{name}_*.pickle")
        compiled = fresh.overloads[argtypes]
        assert llvm.address_of_symbol(name) == compiled.library.get_pointer_to_function(
            compiled.fndesc.llvm_func_name)

        link._resolved.pop(name)            # as in a new process: resolved again, now from the saved code
        fresh.overloads.clear()
        assert link.resolve(fresh, argtypes)[1] == compiled.signature
        assert argtypes not in fresh.overloads           # Numba's dispatcher neither compiled nor loaded it
        assert llvm.address_of_symbol(name) != compiled.library.get_pointer_to_function(
            compiled.fndesc.llvm_func_name)

        @numba.njit
        def later(a, b):
            return stand_in((a, b, 1, a, 1), np.int64(7))

        assert later(4, 4) == 4 and later(1, 5) == 5
        with pytest.raises(ValueError) as failed:
            later(3, 2)
        assert failed.value.args == ("symgraph check", 7)
    finally:
        link._resolved.pop(name, None)


def test_saved_object_code_that_is_damaged_or_calls_an_unknown_symbol_is_not_loaded(tmp_path):
    import pickle
    helper = numba.njit(runtime.check_value.py_func)
    argtypes = (types.boolean, types.int64)
    helper.compile(argtypes)
    result = helper.overloads[argtypes]
    path = tmp_path / "record.pickle"
    link._save_object(str(path), result)
    function_name, signature, declared, code, digest, environments, reload_init = pickle.loads(path.read_bytes())
    assert signature == result.signature and function_name == result.fndesc.llvm_func_name and code
    assert "NRT_MemInfo_alloc_aligned" not in declared or llvm.address_of_symbol("NRT_MemInfo_alloc_aligned")
    address, loaded_signature = link._load_object(str(path))
    assert address and loaded_signature == signature
    damaged = code[:100] + bytes([code[100] ^ 1]) + code[101:]          # one bit flipped: its digest differs
    path.write_bytes(pickle.dumps((function_name, signature, declared, damaged, digest, environments,
                                   reload_init)))
    assert link._load_object(str(path)) is None
    path.write_bytes(pickle.dumps((function_name, signature, declared + ["symgraph_no_such_symbol"], code,
                                   digest, environments, reload_init)))
    assert link._load_object(str(path)) is None                        # loading it would end the process
    path.write_bytes(b"not a record")
    assert link._load_object(str(path)) is None
    assert link._load_object(str(tmp_path / "missing.pickle")) is None


def test_adapters_compile_into_engines_of_their_own():
    """compile_adapters (the BLAS and LAPACK adapters): each module's code is its own, even under one name."""
    import ctypes
    from llvmlite import ir

    def module_returning(value):
        module = ir.Module(name="adapter_probe")
        function = ir.Function(module, ir.FunctionType(ir.IntType(32), []), name="symgraph_probe_adapter")
        ir.IRBuilder(function.append_basic_block("entry")).ret(ir.Constant(ir.IntType(32), value))
        return module

    first = link.compile_adapters(module_returning(7), ["symgraph_probe_adapter"])
    second = link.compile_adapters(module_returning(11), ["symgraph_probe_adapter"])
    call = ctypes.CFUNCTYPE(ctypes.c_int32)
    assert call(first["symgraph_probe_adapter"])() == 7      # the first engine is still there
    assert call(second["symgraph_probe_adapter"])() == 11
    with pytest.raises(RuntimeError, match="no machine code"):
        link.compile_adapters(module_returning(1), ["symgraph_missing_adapter"])


def test_every_jit_engine_owns_its_own_target_machine():
    """llvmlite's engines take over the target machine they are made with: one shared by two engines would
    be freed twice when they close (at exit at the latest). A process closes every engine it made."""
    import subprocess
    import sys
    script = (
        "import gc, symgraph as sg, numpy as np\n"
        "from symgraph.codegen.numba import blas, lapack_factor, link\n"
        "x = sg.vector('x')\n"
        "assert sg.function([x], sg.dot(x, x))(np.arange(3.0)) == 5.0\n"
        "blas.bind_gemm(); lapack_factor.bind_lapack()\n"
        "for engine in link._adapter_engines + link._engines:\n"
        "    engine.close()\n"
        "link._adapter_engines.clear(); link._engines.clear(); gc.collect()\n"
        "print('closed')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "closed" in done.stdout, done.stderr[-2000:]
