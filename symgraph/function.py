"""``sg.function``: optimize a graph, hand it to a backend, and run it with checked inputs and atomic updates.

The backend sees a ``Program`` (inputs, shared variables, outputs followed by the
update expressions) and returns an executor ``run(input_arrays, shared_arrays) ->
output_arrays``. This module owns what every backend shares: argument parsing,
validation and casting of values, and committing updates only after everything
was computed, so a call that raises leaves every shared variable as it was.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .graph import (Constant, SharedVariable, Variable, graph_inputs, graph_to_table, table_to_graph,
                    toposort)
from .types import checked_cast, safe_cast_allowed

# SYMGRAPH_BACKEND lets a user (or a test run) pick the default backend for every sg.function call.
DEFAULT_BACKEND = os.environ.get("SYMGRAPH_BACKEND", "numba")


@dataclass
class Program:
    """What a backend compiles: ``outputs[:n_outputs]`` are returned, the rest are update values."""
    inputs: list
    shared: list
    outputs: list
    n_outputs: int
    updated: list                      # the shared variables receiving outputs[n_outputs:], in order
    options: dict = field(default_factory=dict)

    @property
    def nodes(self):
        return toposort(self.outputs)


class CompiledGraph:
    """The optimized graph of a compiled function: ``inputs``, ``outputs``, ``updates`` and ``nodes``."""

    def __init__(self, program: Program):
        self._program = program
        self.inputs = program.inputs
        self.outputs = program.outputs[:program.n_outputs]
        self.updates = list(zip(program.updated, program.outputs[program.n_outputs:]))

    @property
    def nodes(self):
        return self._program.nodes

    @property
    def variables(self):
        return self._program.outputs

    def dprint(self, **kwargs):
        from .printing import dprint
        return dprint(self, **kwargs)

    def __repr__(self):
        return self.dprint()


def _as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return list(outputs), True
    return [outputs], False


def _normalize_updates(updates):
    if updates is None:
        return []
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates)
    result, seen = [], set()
    for pair in pairs:
        try:
            target, expr = pair
        except (TypeError, ValueError):
            raise TypeError(f"updates must be (shared_variable, expression) pairs, got {pair!r}") from None
        if not isinstance(target, SharedVariable):
            label = target.describe() if isinstance(target, Variable) else repr(target)
            raise TypeError(f"update target {label} is not a shared variable (sg.shared)")
        if id(target) in seen:
            raise ValueError(f"shared variable {target.describe()} is updated twice")
        seen.add(id(target))
        from .ops.base import as_variable
        expr = as_variable(expr, like=target.dtype)
        if expr.ndim != target.ndim:
            raise TypeError(f"update of {target.describe()}: the new value {expr.describe()} has "
                            f"{expr.ndim} dimensions, the shared variable {target.ndim}")
        if expr.dtype != target.dtype:
            if not (isinstance(expr, Constant) and safe_cast_allowed(expr.dtype, target.dtype)):
                raise TypeError(f"update of {target.describe()}: the new value {expr.describe()} has dtype "
                                f"{expr.dtype}; cast it with sg.cast(expr, '{target.dtype}')")
            from .ops.elemwise import cast
            expr = cast(expr, target.dtype)
        if not target.type.is_compatible(expr.type):
            raise ValueError(f"update of {target.describe()}: the new value {expr.describe()} "
                             "cannot have the shared variable's shape")
        result.append((target, expr))
    return result


def _with_default_updates(outputs, update_pairs):
    """The user's updates and those the graph's nodes ask for (``Op.default_updates``: a random draw
    advancing its state, a loop advancing the states of the draws in its step). An update the user gives
    for the same shared variable wins."""
    explicit = {id(target) for target, _ in update_pairs}
    asked = {}
    for node in toposort(outputs + [expr for _, expr in update_pairs]):
        for target, value in node.op.default_updates(node):
            if id(target) in explicit:
                continue
            if id(target) in asked and asked[id(target)][1] is not value:
                first = asked[id(target)][1].owner
                raise ValueError(f"{target.describe()} is advanced by two nodes, {first.op}{first.where()} and "
                                 f"{node.op}{node.where()}: a random state belongs to one draw (copies of a "
                                 "draw made by graph surgery share it; give an explicit update to choose)")
            asked[id(target)] = (target, value)
    return list(update_pairs) + list(asked.values())


#: Keywords a backend reads from ``sg.function``: numba's ``parallel``, ``cache``, ``tape`` and
#: ``inplace`` (see codegen/numba/__init__.py) and cuda's ``return_device_arrays``.
BACKEND_OPTIONS = ("parallel", "cache", "tape", "inplace", "vector_math", "wait", "return_device_arrays")
KEYWORDS = ("updates", "givens", "backend", "optimizer", "trust_input", "profile", "name", "rewrite_log",
            "no_default_updates", *BACKEND_OPTIONS)


def _check_keywords(options):
    unknown = [key for key in options if key not in BACKEND_OPTIONS]
    if unknown:
        import difflib
        close = difflib.get_close_matches(unknown[0], KEYWORDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(f"sg.function() got an unexpected keyword argument {unknown[0]!r}{hint}; "
                        f"the valid keywords are {', '.join(KEYWORDS)}")


class Function:
    """A compiled function: call it with values for its inputs, positionally or by name.

    Made by ``sg.function`` (see its documentation for the arguments). ``f(*values)`` returns an
    array for a single output or a list of arrays for a list of outputs, and applies the updates.

    Parameters
    ----------
    inputs, outputs, updates, givens, backend, optimizer, trust_input, profile, name
        As for ``sg.function``, which is the usual way to make one.

    Attributes
    ----------
    inputs, outputs : list of Variable
        The function's inputs and (unoptimized, after ``givens``) outputs.
    updates : list of (SharedVariable, Variable)
        The update pairs.
    graph : CompiledGraph
        The optimized graph the backend compiled (``f.graph.nodes``, ``f.dprint()``).
    backend, name : str
        The backend that runs it and the name given to ``sg.function`` (or None).
    rewrite_log : RewriteLog
        What the optimizer did (``print(f.rewrite_log)``).
    optimize_seconds, compile_seconds : float
        Time to optimize, and to optimize and compile.

    Examples
    --------
    >>> import numpy as np, symgraph as sg
    >>> x = sg.vector("x")
    >>> f = sg.function([x], x * 2, name="double", backend="python")
    >>> f(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> f
    <Function 'double': inputs [x: float64[?]] -> outputs [float64[?]], backend='python'>
    """

    def __init__(self, inputs, outputs, updates=None, givens=None, backend=None, optimizer="fast_run",
                 trust_input=False, profile=False, name=None, rewrite_log=False, no_default_updates=False,
                 **backend_options):
        import time
        start = time.perf_counter()
        _check_keywords(backend_options)
        # Kept so a pickled function can be compiled again when it is loaded (see __getstate__);
        # the givens are already substituted in the graph that is pickled.
        self._options = dict(backend_options, optimizer=optimizer, trust_input=trust_input, name=name,
                             rewrite_log=rewrite_log, profile=profile, no_default_updates=no_default_updates)
        if isinstance(inputs, Variable):
            inputs = [inputs]
        inputs = list(inputs)
        for v in inputs:
            if not isinstance(v, Variable):
                raise TypeError(f"function inputs must be symbolic variables, got {type(v).__name__} {v!r}")
            if isinstance(v, (Constant, SharedVariable)):
                raise TypeError(f"{v.describe()} is a {'constant' if isinstance(v, Constant) else 'shared variable'}"
                                " and cannot be a function input")
            if v.owner is not None:
                raise TypeError(f"function input {v.describe()} is computed by {v.owner.op}{v.owner.where()}; "
                                "inputs must be variables made by sg.scalar/vector/matrix/tensor")
        if len({id(v) for v in inputs}) != len(inputs):
            raise ValueError("the same variable is listed twice among the function inputs")
        names = [v.name for v in inputs if v.name]
        self._input_names = {v.name: i for i, v in enumerate(inputs) if v.name and names.count(v.name) == 1}

        output_list, self._returns_list = _as_list(outputs)
        from .ops.base import as_variable
        output_list = [as_variable(o) for o in output_list]
        update_pairs = _normalize_updates(updates)
        from .givens import normalize_givens, substitute
        replacements = normalize_givens(givens)
        if replacements:
            roots = substitute(output_list + [expr for _, expr in update_pairs], replacements)
            output_list = roots[:len(output_list)]
            update_pairs = [(target, expr) for (target, _), expr in zip(update_pairs, roots[len(output_list):])]
        if not no_default_updates:
            update_pairs = _with_default_updates(output_list, update_pairs)

        everything = output_list + [expr for _, expr in update_pairs]
        input_ids = {id(v) for v in inputs}
        for leaf in graph_inputs(everything):
            if isinstance(leaf, (Constant, SharedVariable)) or id(leaf) in input_ids:
                continue
            raise ValueError(f"the outputs depend on input {leaf.describe()}, which is not among the "
                             f"function's inputs {[v.name or repr(v) for v in inputs]}")

        self.rewrite_log = None
        if optimizer:
            from .rewrite import optimize_graph
            everything, self.rewrite_log = optimize_graph(everything, mode=optimizer, inputs=inputs)
        from .ops.from_graph import inline_all
        everything = inline_all(everything)      # OpFromGraph nodes the optimizer kept: their graphs in place
        shared = [v for v in graph_inputs(everything) if isinstance(v, SharedVariable)]
        updated = [target for target, _ in update_pairs]
        for target in updated:
            if target not in shared:
                shared.append(target)
        self.program = Program(inputs, shared, everything, len(output_list), updated,
                               dict(backend_options, trust_input=trust_input, profile=bool(profile)))
        self.graph = CompiledGraph(self.program)
        self.inputs, self.outputs = inputs, output_list
        self.updates = update_pairs
        self.name = name
        self.trust_input = trust_input
        self.optimize_seconds = time.perf_counter() - start

        from symgraph.codegen import get_backend
        self.backend = backend or os.environ.get("SYMGRAPH_BACKEND", DEFAULT_BACKEND)
        self._executor = get_backend(self.backend).compile(self.program)
        self._lock = state_lock(shared)
        self._profile = self._start_profile() if profile else None
        # A backend may offer a specialised checked entry (the numba backend's fast call path).
        make_entry = getattr(self._executor, "make_entry", None)
        self._entry = make_entry(self) if make_entry is not None else None
        self._route()
        self.compile_seconds = time.perf_counter() - start

    # ------------------------------------------------------------ calling

    def __call__(self, *args, **kwargs):
        return self._target()(*args, **kwargs)

    def _target(self):
        if self._profile is not None:
            return self._profiled_call
        return self._entry if self._entry is not None else self._call

    def _route(self):
        """Points calls of this function straight at what serves them (W2 call overhead).

        Calling ``f`` looks ``__call__`` up on its class, so each function gets a class of its own whose
        ``__call__`` is the backend's specialised entry (or the general path) as a static method: a call
        runs one Python frame, the entry's. Called again whenever the entry changes (tiered execution).
        """
        cls = type(self)
        if cls is Function:
            cls = type("Function", (Function,), {"__module__": __name__, "__slots__": ()})
            self.__class__ = cls
        cls.__call__ = staticmethod(self._target())

    def _profiled_call(self, *args, **kwargs):
        import time
        start = time.perf_counter()
        try:
            return (self._entry or self._call)(*args, **kwargs)
        finally:
            self._profile.add_call(time.perf_counter() - start)

    def _start_profile(self):
        """A Profile the executor fills: per node (python; cuda, synchronised; numba, cycle counters)."""
        from .profiling import Profile
        profile = Profile(f"{self.backend} backend, per node")
        if hasattr(self._executor, "enable_profile"):    # called before the entry is built
            self._executor.enable_profile(profile)
        else:
            profile.kind = f"{self.backend} backend, whole calls"
        return profile

    def _call(self, *args, **kwargs):
        values = self._bind(args, kwargs)
        if not self.trust_input:
            values = [check_value(v, var) for v, var in zip(values, self.inputs)]
        if getattr(self._executor, "manages_shared", False):
            # The backend reads and updates shared variables itself (CUDA keeps them on the device).
            if self._lock is None:
                outputs = self._executor.run(values)
            else:
                with self._lock:
                    outputs = self._executor.run(values)
            return outputs if self._returns_list else outputs[0]
        # get_value(borrow=True): a value another backend updated on a device is copied back first.
        if self._lock is None:
            results = self._executor(values, [])
            return self._finish(results, values)
        with self._lock:
            results = self._executor(values, [s.get_value(borrow=True) for s in self.program.shared])
            n = self.program.n_outputs
            commit_updates(self.program.updated, results[n:], owned={id(v) for v in values})
            return self._finish(results, values)

    def _bind(self, args, kwargs):
        n = len(self.inputs)
        if not kwargs and len(args) == n:
            return list(args)
        if len(args) > n:
            raise TypeError(f"{self._label()} takes {n} argument(s) "
                            f"({', '.join(v.name or '?' for v in self.inputs)}), got {len(args)}")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            if key not in self._input_names:
                raise TypeError(f"{self._label()} got an unexpected keyword argument '{key}'; "
                                f"its inputs are {[v.name for v in self.inputs]}")
            i = self._input_names[key]
            if values[i] is not _MISSING:
                raise TypeError(f"{self._label()} got two values for input '{key}'")
            values[i] = value
        missing = [self.inputs[i].describe() for i, v in enumerate(values) if v is _MISSING]
        if missing:
            raise TypeError(f"{self._label()} is missing a value for input {', '.join(missing)}")
        return values

    def _finish(self, results, values):
        n = self.program.n_outputs
        outputs = results[:n]
        # Never hand back an array the caller (or a shared variable) owns.
        owned = {id(v) for v in values}
        owned.update(id(s._host_value()) for s in self.program.shared)
        # Constants folded into outputs are read-only: the caller gets a writable copy of those too.
        outputs = [np.array(o, copy=True) if id(o) in owned or not isinstance(o, np.ndarray) or
                   not o.flags.writeable or
                   not o.flags.owndata and o.base is not None and id(o.base) in owned else o
                   for o in outputs]
        return outputs if self._returns_list else outputs[0]

    # ------------------------------------------------------------ pickling

    def __reduce__(self):
        # each function has a class of its own (see _route): pickles name the shared one
        return _unpickle_function, (self.__getstate__(),)

    def __getstate__(self):
        """The original inputs, outputs, updates and options; the function is compiled again on load."""
        targets = [target for target, _ in self.updates]
        roots = self.inputs + self.outputs + [expr for _, expr in self.updates]
        return {"graph": graph_to_table(roots), "n_inputs": len(self.inputs), "n_outputs": len(self.outputs),
                "targets": targets, "returns_list": self._returns_list,
                "options": dict(self._options, backend=self.backend)}

    def __setstate__(self, state):
        variables = table_to_graph(state["graph"])
        n_in, n_out = state["n_inputs"], state["n_outputs"]
        inputs, outputs, exprs = variables[:n_in], variables[n_in:n_in + n_out], variables[n_in + n_out:]
        self.__init__(inputs, outputs if state["returns_list"] else outputs[0],
                      updates=list(zip(state["targets"], exprs)), **state["options"])

    def _label(self):
        return f"function {self.name!r}" if self.name else "the compiled function"

    # ------------------------------------------------------------ inspection

    def __repr__(self):
        def shown(var):
            return f"{var.name}: {var.type}" if var.name else str(var.type)
        name = f" {self.name!r}" if self.name else ""
        updates = f", updates [{', '.join(target.name or str(target.type) for target, _ in self.updates)}]" \
            if self.updates else ""
        return (f"<Function{name}: inputs [{', '.join(shown(v) for v in self.inputs)}] -> outputs "
                f"[{', '.join(shown(v) for v in self.outputs)}]{updates}, backend={self.backend!r}>")

    def profile(self):
        """The timings of the calls so far: a table per node (python, cuda) or per generated kernel (numba).

        Returns
        -------
        symgraph.profiling.Profile
            ``str()`` of it is the table (rows sorted by time, with percentages of the calls'
            total); ``.rows`` the same as a list of dicts; ``.reset()`` starts again.

        Raises
        ------
        ValueError
            When the function was not compiled with ``profile=True``.

        Examples
        --------
        >>> import numpy as np, symgraph as sg
        >>> x = sg.vector("x")
        >>> f = sg.function([x], sg.exp(x).sum(), backend="python", profile=True)
        >>> _ = f(np.ones(3))
        >>> print(f.profile())                                # doctest: +SKIP
        python backend, per node: 1 call(s), 0.062 ms in all
        ...
        """
        if self._profile is None:
            raise ValueError(f"{self._label()} was compiled without profile=True; "
                             "compile it with sg.function(..., profile=True) to record timings")
        return self._profile

    def wait(self, timeout=None) -> bool:
        """Block until the function runs its compiled kernel (``sg.function(..., wait=False)``, tiered execution).

        A function compiled with ``wait=True`` (the default), or on another backend, runs its final code
        already: this returns True at once.

        Parameters
        ----------
        timeout : float, optional
            At most this many seconds.

        Returns
        -------
        bool
            True when the kernel now serves the calls; False when the time ran out or the background
            compile failed (``f.cache_info.reason`` says why; the calls keep running on the python tier).

        Examples
        --------
        >>> import numpy as np, symgraph as sg
        >>> x = sg.vector("x")
        >>> f = sg.function([x], sg.exp(x) * 2.0, wait=False)     # first calls on the python tier
        >>> f(np.zeros(2))
        array([2., 2.])
        >>> f.wait(), f.cache_info.tier                             # doctest: +SKIP
        (True, 'kernel')
        """
        executor = self._executor
        return executor.wait(timeout) if hasattr(executor, "wait") else True

    def dprint(self, **kwargs):
        """The optimized graph as text (``sg.dprint(f)``); keywords as ``sg.dprint``.

        Returns
        -------
        str
            One line per node, outputs first, shared subexpressions shown once.

        Examples
        --------
        >>> import symgraph as sg
        >>> x = sg.vector("x")
        >>> text = sg.function([x], x + 1, backend="python").dprint()
        """
        from .printing import dprint
        return dprint(self, **kwargs)

    @property
    def source(self):
        """The generated code (numba: the kernel's module; cuda: the kernels launched so far; python: None).

        Examples
        --------
        >>> import symgraph as sg
        >>> x = sg.vector("x")
        >>> sg.function([x], x + 1, backend="python").source is None
        True
        """
        return getattr(self._executor, "source", None)

    @property
    def cache_info(self):
        """How the numba backend obtained the kernel (compiled, or loaded from the disk cache, and why).

        ``None`` on the other backends. Its ``tier`` is ``"kernel"``, or ``"python"`` while a function made with
        ``wait=False`` runs on the python backend (``status`` "compiling", or "failed" when the background
        compile died).

        Examples
        --------
        >>> import symgraph as sg
        >>> x = sg.vector("x")
        >>> sg.function([x], x + 1, backend="python").cache_info is None
        True
        """
        return getattr(self._executor, "cache_info", None)


_MISSING = object()


def _unpickle_function(state):
    """A pickled ``Function``, compiled again (``Function.__reduce__``)."""
    function = Function.__new__(Function)
    function.__setstate__(state)
    return function


def check_value(value, var: Variable):
    """``value`` as an array of ``var``'s dtype, or a TypeError/ValueError naming ``var``."""
    if isinstance(value, Variable):
        raise TypeError(f"input {var.describe()} got a symbolic variable {value.describe()}; "
                        "pass a NumPy array or a number")
    if type(value) is np.ndarray and value.dtype.name == var.type.dtype and value.dtype.isnative:
        array = value
    else:
        if (hasattr(value, "__cuda_array_interface__") or getattr(type(value), "__cuda_ndarray__", False)) \
                and not isinstance(value, np.ndarray):
            return value  # device arrays are checked by the CUDA backend
        array = checked_cast(value, var.type.dtype, f"input {var.describe()}")
    if array.ndim != var.type.ndim:
        raise TypeError(f"input {var.describe()} expects a {var.type.ndim}-d value, got shape {array.shape}")
    for axis, (want, got) in enumerate(zip(var.type.shape, array.shape)):
        if want is not None and want != got:
            raise ValueError(f"input {var.describe()} has static length {want} on axis {axis}, "
                             f"got shape {array.shape}")
    return array


def commit_updates(targets, values, owned=()):
    """Assign all new values at once (after every one of them was computed and checked).

    Each value must fit its shared variable's static shape; one that does not is a ValueError
    naming the variable, raised before anything is assigned, so the call commits nothing (as
    ``set_value`` refuses such a value). A value that is one of the caller's arrays, or that is
    read-only (a folded constant, a broadcast view), is copied, so the caller cannot change the
    state later and every backend can read it.
    """
    arrays = []
    for target, value in zip(targets, values):
        array = np.asarray(value, dtype=target.dtype)
        check_update_shape(target, array.shape)
        if id(value) in owned or not array.flags.writeable:
            array = np.array(array, copy=True)
        arrays.append(array)
    for target, array in zip(targets, arrays):
        target._replace_host_value(array)
        for holder in target.device_copies.values():
            holder.invalidate(target)


def check_update_shape(target, shape):
    """ValueError naming ``target`` when an update's new value of ``shape`` breaks its static shape."""
    if not target.type.accepts_shape(tuple(shape)):
        raise ValueError(f"update of shared variable {target.describe()}: the new value has shape "
                         f"{tuple(shape)}, which does not fit its static shape {target.type.shape}; "
                         "no update of this call was committed")


class StateLock:
    """The locks of the shared variables a function reads or updates, taken in one global order.

    A call holds them from reading the state to committing its updates, so read-state, compute,
    commit is atomic per shared variable: two functions updating the same variable from two
    threads never lose an update, and a function that only reads a variable never sees it half
    committed (the numba backend may also accumulate an update into the variable's array in
    place). Every function takes its locks sorted by ``id`` of the variable (the order the cuda
    backend uses too), so two functions sharing variables cannot deadlock. The locks are the
    variables' own re-entrant locks, which ``get_value`` and ``set_value`` also hold.
    """

    __slots__ = ("_locks",)

    def __init__(self, shared):
        self._locks = tuple(s._lock for s in sorted(shared, key=id))

    def __enter__(self):
        taken = 0
        try:
            for lock in self._locks:
                lock.acquire()
                taken += 1
        except BaseException:  # interrupted half way (KeyboardInterrupt): give back what was taken
            for lock in reversed(self._locks[:taken]):
                lock.release()
            raise
        return self

    def __exit__(self, *exc_info):
        for lock in reversed(self._locks):
            lock.release()
        return False


def state_lock(shared):
    """The lock a call of a function over ``shared`` holds: None (no state), one variable's lock, or all."""
    if not shared:
        return None
    if len(shared) == 1:
        return shared[0]._lock
    return StateLock(shared)


def function(inputs, outputs, updates=None, givens=None, backend=None, optimizer="fast_run",
             trust_input=False, profile=False, name=None, **options):
    """Compile a function computing ``outputs`` from ``inputs`` (and updating shared variables).

    Parameters
    ----------
    inputs : list of Variable
        The variables a call gives values for, in order (made by ``sg.scalar``, ``sg.vector``,
        ``sg.matrix``, ``sg.tensor``). Values may be passed by position or by the inputs' names;
        each is converted to the input's dtype: a cast may round (float64 data to a float32
        input) but a value it would change beyond rounding (a finite float that becomes inf, an
        integer out of range, a masked element) is a ``ValueError`` naming the input, and a
        dtype that cannot be cast safely (float to int) a ``TypeError``.
    outputs : Variable or list of Variable
        What a call returns: one variable gives an array, a list (or tuple) gives a list of arrays.
    updates : list of (SharedVariable, expression) pairs, or dict, optional
        New values for shared variables. Every update is computed from the values *before* the
        call, together with the outputs, and all are committed at once after everything was
        computed, so one call is one training step; a call that raises (including an update
        whose value breaks the variable's static shape) commits nothing. A call holds the locks
        of the shared variables it reads or updates, so calls from several threads never lose
        an update. Nodes may add updates of their own (``Op.default_updates``): a random draw
        (``sg.RandomStream``) advances its state on every call without being listed here; an
        update given here for the same shared variable wins.
    givens : list of (Variable, replacement) pairs, or dict, optional
        Substitutions made in ``outputs`` and ``updates`` before compiling, all at once (as
        Theano's): a replacement is a variable (or a number/array) of the same dtype, ndim and
        compatible static shape; a replaced variable may be an input, a shared variable or any
        intermediate variable, and need not be listed in ``inputs``.
    backend : {"numba", "python", "cuda"}, optional
        Where it runs; default ``$SYMGRAPH_BACKEND`` or ``"numba"`` (the whole optimized graph as
        one Numba-compiled kernel). ``"python"`` runs each op's NumPy reference; ``"cuda"``
        runs numba.cuda kernels (``NUMBA_ENABLE_CUDASIM=1`` simulates a GPU).
    optimizer : str, dict or None, optional
        ``"fast_run"`` (default), ``"fast_compile"``, ``None`` (no rewrites), or
        ``{"mode": "fast_run", "exclude": [...], "include": [...]}`` naming rewrites, tags or
        stages; an unknown name is a ``ValueError`` listing close matches.
    trust_input : bool, optional
        Skip the conversion and checks of input values (they must already be C-contiguous arrays
        of the inputs' dtypes and ndims); the fastest calls, and wrong values are undefined.
    profile : bool, optional
        Record where each call's time goes; ``f.profile()`` returns the table (per node on the
        python backend, per node's kernels on cuda, per node block of the generated kernel on
        numba by its cycle counters, or per generated kernel where the CPU has none).
    name : str, optional
        A name shown in ``repr(f)`` and in error messages.
    **options
        Backend options: ``parallel``, ``cache``, ``tape``, ``inplace``, ``vector_math`` (numba: on by
        default, exp, expm1, tanh, log, log1p, sin, cos, tan, erf, erfc, log2, log10, exp2, sinh, cosh,
        arctan, arctan2, arcsin, arccos, arcsinh, arccosh, arctanh, hypot, cbrt and float powers in
        the generated loops are vectorisable code within 1-4 ulp,
        several times faster on large arrays; ``False`` calls libm's functions), ``wait`` (numba: True
        by default, the kernel is compiled before ``sg.function`` returns; ``False``, when the kernel is
        not in the disk cache yet, runs the first calls on the python backend while a background
        process compiles it, then switches; ``f.cache_info.tier`` says which tier serves the calls) and
        ``return_device_arrays`` (cuda), and ``rewrite_log``; ``no_default_updates=True`` leaves
        out the updates nodes add by themselves (random draws then repeat the same values). Any
        other keyword is a ``TypeError`` naming it.

    Returns
    -------
    Function
        Call it as ``f(*values)`` or ``f(name=value)``; it returns a NumPy array for a single
        output or a list of arrays for a list of outputs, and then the shared variables hold
        their updated values.

    Examples
    --------
    >>> import numpy as np, symgraph as sg
    >>> x = sg.vector("x")
    >>> w = sg.shared(np.zeros(2), name="w")
    >>> loss = sg.sum((x - w) ** 2)
    >>> step = sg.function([x], loss, updates=[(w, w - 0.25 * sg.grad(loss, w))])
    >>> float(step(np.array([1.0, 2.0])))    # the loss at w before the update
    5.0
    >>> w.get_value()
    array([0.5, 1. ])
    """
    return Function(inputs, outputs, updates=updates, givens=givens, backend=backend, optimizer=optimizer,
                    trust_input=trust_input, profile=profile, name=name, **options)
