"""Compiled functions over Dask arrays, and data-parallel training on ``dask.distributed`` (extra ``dask``).

``map_blocks(f, *args)`` runs a compiled function once per block of rows of its Dask-array
arguments and puts the results together as the function's graph says they must be
(``symgraph.sample_axis``): row-wise outputs are concatenated, sums and means over rows are
tree-reduced (means weighted by block sizes), so the result equals ``f`` on the whole arrays.
``DataParallelStep`` is synchronous data-parallel SGD built on the same pieces: a function
computing (cost, gradients) from the parameters' values and a block runs where each block
lives, and the driver applies one update per step after every block's result has arrived.

The function travels to the workers pickled, once per graph (a ``_Kernel`` in the graph, which
every block task reads); each worker process unpickles and compiles it once (from its disk cache
when it has it) and keeps it in a small per-process table, so blocks reuse it. Tasks are pure
functions of their inputs, so Dask may run one again (on another worker, after a worker died)
and get the same result. Task keys start ``symgraph-<function name>-``, which is what the Dask
dashboard shows.
"""
from __future__ import annotations

import hashlib
import operator
import pickle
import re
import threading
from collections import OrderedDict

import numpy as np

import dask
import dask.array as da
from dask.highlevelgraph import HighLevelGraph

from .function import Function, commit_updates, state_lock
from .graph import SharedVariable, Variable, graph_inputs
from .sample_axis import classify

__all__ = ["map_blocks", "DataParallelStep"]

# ---------------------------------------------------------------- the function on the workers

#: Functions a process has loaded, by the hash of their pickle (bounded: a long session making new
#: functions must not keep every one); _loads counts the unpickles (= compiles or disk-cache loads).
_loaded: OrderedDict = OrderedDict()
_LOADED_LIMIT = 16
_loads = 0
_load_lock = threading.Lock()


class _Kernel:
    """A compiled function as a graph holds it: its pickle and the hash that names it.

    Unpickling a ``_Kernel`` is cheap (bytes); ``function()`` unpickles the function itself (which
    compiles it, or loads it from the disk cache) the first time a process asks, then reuses it.
    """

    __slots__ = ("key", "payload")

    def __init__(self, key, payload):
        self.key, self.payload = key, payload

    @classmethod
    def of(cls, function):
        payload = pickle.dumps(function, protocol=pickle.HIGHEST_PROTOCOL)
        kernel = cls(hashlib.sha256(payload).hexdigest()[:32], payload)
        _remember(kernel.key, function)   # this process has it compiled already
        return kernel

    def function(self):
        global _loads
        with _load_lock:
            found = _loaded.get(self.key)
            if found is None:
                found = pickle.loads(self.payload)
                _loads += 1
                _remember(self.key, found)
            else:
                _loaded.move_to_end(self.key)
            return found

    def __reduce__(self):
        return (_Kernel, (self.key, self.payload))

    def __dask_tokenize__(self):
        return self.key


def _remember(key, function):
    _loaded[key] = function
    _loaded.move_to_end(key)
    while len(_loaded) > _LOADED_LIMIT:
        _loaded.popitem(last=False)


def _one_numba_thread():
    """Dask gives each task one core: the kernel's parallel loops get one thread, restored afterwards."""
    try:
        import numba
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
        return lambda: numba.set_num_threads(previous)
    except Exception:       # no threading layer: nothing to size
        return lambda: None


def _run_block(kernel, plan, rows, *args):
    """One block: the function's outputs (a list) on the block's ``rows`` rows and the whole arguments, those
    to be combined already made partial results (``plan[j]``: None, or the accumulator dtype of a sum, or
    of a mean, whose partial is the value times the block's rows)."""
    function = kernel.function()
    restore = _one_numba_thread()
    try:
        result = function(*args)
    finally:
        restore()
    outputs = list(result) if function._returns_list else [result]
    for j, step in enumerate(plan):
        if step is not None:
            how, accumulator = step
            outputs[j] = np.asarray(outputs[j], dtype=accumulator)
            if how == "mean":
                outputs[j] = outputs[j] * rows
    return outputs


def _add(results, positions):
    """The partial results at ``positions`` of several blocks' (or combines') results, added."""
    totals = [np.array(results[0][j], copy=True) for j in positions]
    for result in results[1:]:
        for total, j in zip(totals, positions):
            total += result[j]
    return totals


def _finish(totals, position, divisor, dtype):
    with np.errstate(invalid="ignore", divide="ignore"):
        value = totals[position] / divisor if divisor is not None else totals[position]
    return np.asarray(value, dtype=dtype)


# ---------------------------------------------------------------- checking the arguments

def _task_label(function):
    """The function's name as one word of letters (Dask's dashboard groups tasks by such words)."""
    words = re.findall(r"[A-Za-z]+", function.name or "")
    if not words:
        return "function"
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def _argument_label(function, i):
    name = function.inputs[i].name
    return f"argument {i} ({name!r})" if name else f"argument {i}"


def _split_arguments(function, args):
    """The indices of the Dask arrays among ``args`` and their common row chunks, after the checks."""
    if not isinstance(function, Function):
        raise TypeError(f"symgraph.dask.map_blocks: expected a compiled function (sg.function), "
                        f"got {type(function).__name__}")
    if len(args) != len(function.inputs):
        raise TypeError(f"symgraph.dask: {function._label()} takes {len(function.inputs)} argument(s), "
                        f"got {len(args)}")
    blocked = [i for i, a in enumerate(args) if isinstance(a, da.Array)]
    if not blocked:
        raise ValueError("symgraph.dask: no argument is a Dask array; call the function directly")
    chunks = None
    for i in blocked:
        array, label = args[i], _argument_label(function, i)
        if array.ndim != function.inputs[i].ndim or array.ndim == 0:
            raise ValueError(f"symgraph.dask: {label} is a {array.ndim}-d Dask array; the input expects "
                             f"{function.inputs[i].ndim} dimensions (and a sample axis 0)")
        if any(np.isnan(n) for n in array.chunks[0]):
            raise ValueError(f"symgraph.dask: {label} has unknown chunk sizes; call compute_chunk_sizes() first")
        for axis in range(1, array.ndim):
            if len(array.chunks[axis]) != 1:
                raise ValueError(f"symgraph.dask: {label} is chunked along axis {axis} ({array.chunks[axis]}); "
                                 f"blocks must hold whole rows: rechunk it with .rechunk({{{axis}: -1}})")
        if chunks is None:
            chunks, first = array.chunks[0], label
        elif array.chunks[0] != chunks:
            raise ValueError(f"symgraph.dask: {label} has row chunks {array.chunks[0]} but {first} has {chunks}; "
                             f"the blocks must pair rows: rechunk it with .rechunk({{0: {chunks}}})")
    return blocked, chunks


def _classify_outputs(function, blocked, what="map_blocks", labels=None):
    """How each output is put together, or a ValueError naming the first one that cannot be."""
    found = classify(function.outputs, [function.inputs[i] for i in blocked])
    for j, (var, dependence) in enumerate(zip(function.outputs, found)):
        where = var.owner.where() if var.owner is not None else ""
        label = labels[j] if labels else f"output {j} of {function._label()}"
        if dependence.combined is None:
            raise ValueError(f"symgraph.dask.{what}: {label} ({var.describe()}{where}) is neither computed "
                             "row by row nor a sum or mean over the rows, so the blocks' results cannot be "
                             f"put together: {dependence.why_not()}")
        if what == "DataParallelStep" and dependence.combined == "rows":
            raise ValueError(f"symgraph.dask.{what}: {label} ({var.describe()}{where}) has a sample axis; "
                             "the cost must be a scalar mean or sum over the samples")
    return found


# ---------------------------------------------------------------- building the graph

def _accumulator(dtype):
    """Partial sums of float16/float32 outputs add up in float64 and round once (as sg.sum does)."""
    return "float64" if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize < 8 else np.dtype(dtype).name


def _blockwise(function, args, blocked, row_chunks, dependences, shapes, split_every=8, kernel=None):
    """Dask arrays for the outputs: one task per block runs the function; row-wise outputs are picked from
    those, and every sum and mean comes out of one shared tree of additions of the blocks' partial results.

    ``shapes[j]`` is the shape of output j (any value on the sample axis of a row-wise output).
    """
    kernel = kernel or _Kernel.of(function)
    prefix = f"symgraph-{_task_label(function)}"
    token = dask.base.tokenize(kernel.key, *args)
    kernel_key = f"{prefix}-kernel-{kernel.key}"
    layer = {kernel_key: kernel}
    operands = {}
    for i, value in enumerate(args):
        if i in blocked:
            operands[i] = list(dask.core.flatten(value.__dask_keys__()))
        else:
            key = f"{prefix}-value-{dask.base.tokenize(value)}"
            layer[key] = np.asarray(value)
            operands[i] = key
    combined = [j for j, d in enumerate(dependences) if d.combined in ("sum", "mean")]
    plan = tuple((d.combined, _accumulator(var.dtype)) if j in combined else None
                 for j, (var, d) in enumerate(zip(function.outputs, dependences)))
    blocks = f"{prefix}-block-{token}"
    for b, rows in enumerate(row_chunks):
        arguments = [operands[i][b] if i in blocked else operands[i] for i in range(len(args))]
        layer[(blocks, b)] = (_run_block, kernel_key, plan, rows, *arguments)
    if combined:
        top = _tree(layer, f"{prefix}-combine-{token}", [(blocks, b) for b in range(len(row_chunks))],
                    combined, split_every)
    outputs = []
    for j, (var, dependence, shape) in enumerate(zip(function.outputs, dependences, shapes)):
        how = dependence.combined
        name = f"{prefix}-{how}-{dask.base.tokenize(token, j)}"
        if how == "rows":
            axis = dependence.axis
            for b in range(len(row_chunks)):
                layer[(name, *(b if a == axis else 0 for a in range(var.ndim)))] = (operator.getitem, (blocks, b), j)
            chunks = tuple(tuple(row_chunks) if a == axis else (shape[a],) for a in range(var.ndim))
        else:
            chunks = tuple((n,) for n in shape)
            final = (name,) + (0,) * var.ndim
            if how == "const":
                layer[final] = (operator.getitem, (blocks, 0), j)
            else:
                divisor = int(sum(row_chunks)) if how == "mean" else None
                layer[final] = (_finish, top, combined.index(j), divisor, var.dtype)
        outputs.append((name, chunks, var))
    graph = HighLevelGraph.from_collections(blocks, layer, dependencies=[args[i] for i in blocked])
    return [da.Array(graph, name, chunks, meta=np.empty((0,) * var.ndim, dtype=var.dtype))
            for name, chunks, var in outputs]


def _tree(layer, name, leaves, positions, split_every):
    """Tasks adding the partial results at ``positions`` of ``leaves`` by groups of ``split_every``; the key
    of the top one (a list aligned with ``positions``)."""
    level, depth, first = leaves, 0, True
    while first or len(level) > 1:
        groups = [level[k:k + split_every] for k in range(0, len(level), split_every)]
        level = []
        for g, group in enumerate(groups):
            key = (name, depth, g)
            layer[key] = (_add, list(group), list(positions) if first else list(range(len(positions))))
            level.append(key)
        depth, first = depth + 1, False
    return level[0]


def _probe_shapes(function, args, blocked, dependences):
    """The outputs' shapes (None on a sample axis), from their static types or from one call on one row."""
    shapes = [list(var.type.shape) for var in function.outputs]
    for shape, dependence in zip(shapes, dependences):
        if dependence.combined == "rows":
            shape[dependence.axis] = 0
    if all(None not in shape for shape in shapes):
        return shapes
    # One row of zeros per blocked input: the lengths of the other axes do not depend on the values.
    values = [np.zeros((1,) + args[i].shape[1:], dtype=args[i].dtype) if i in blocked else args[i]
              for i in range(len(args))]
    try:
        results = function(*values)
    except Exception:       # a function that refuses zeros (a check, an index): the first real row
        values = [args[i][:1].compute() if i in blocked else args[i] for i in range(len(args))]
        results = function(*values)
    results = results if function._returns_list else [results]
    for shape, result in zip(shapes, results):
        for a in range(len(shape)):
            if shape[a] is None:
                shape[a] = np.shape(result)[a]
    return shapes


def map_blocks(f, *args, split_every=8):
    """Evaluate a compiled function block by block over Dask arrays chunked along axis 0 (the sample axis).

    What each output is, is read from ``f``'s graph (never guessed from values): an output computed
    row by row (elementwise, ``X @ W``, a softmax over the last axis, a reduction over other axes)
    comes back as a Dask array chunked like the inputs; an output that is a sum or a mean over the
    rows (a loss, a gradient) is combined across blocks by a tree reduction of the blocks' partial
    results, means weighted by block sizes; an output that does not depend on the rows comes from
    one block. The result equals ``f`` on the whole arrays (up to the order of floating-point sums;
    float32 partial sums are added in float64). An output that is none of these (``max`` over the
    rows, ``x[0]``, ``sum(x) ** 2``, a sum plus a constant) is a ``ValueError`` naming it and the
    operation, before anything runs.

    ``f`` is pickled into the graph once; each worker process compiles it (or loads it from its
    disk cache, ``SYMGRAPH_CACHE_DIR``) once and reuses it for every block it runs. Task names
    start ``symgraph-<f's name>-`` (``-block``, ``-rows``, ``-sum``, ``-mean``) in Dask's dashboard.

    Parameters
    ----------
    f : Function
        A compiled function (``sg.function``) without updates.
    *args : dask.array.Array, numpy.ndarray or number
        One per input of ``f``. Dask arrays are the blocked arguments: chunked along axis 0 only
        (a single chunk on every other axis), all with the same chunks along axis 0. Anything
        else is given whole to every block.
    split_every : int, default 8
        How many partial results one task of the tree reduction adds.

    Returns
    -------
    dask.array.Array or list of dask.array.Array
        Lazy results (one, or a list when ``f`` returns a list), with ``f``'s output dtypes.

    Raises
    ------
    ValueError
        When an output cannot be put together from blocks, when the blocked arguments are chunked
        along another axis or differently from each other, or when ``f`` has updates.

    Examples
    --------
    >>> import numpy as np, dask.array as da, symgraph as sg, symgraph.dask
    >>> X, w = sg.matrix("X"), sg.vector("w")
    >>> f = sg.function([X, w], [X @ w, ((X @ w) ** 2).mean()], name="predict")
    >>> data = da.from_array(np.arange(12.0).reshape(6, 2), chunks=(4, 2))
    >>> scores, loss = symgraph.dask.map_blocks(f, data, np.array([1.0, -1.0]))
    >>> scores.chunks, float(loss.compute())
    (((4, 2),), 1.0)
    """
    if isinstance(f, Function) and f.updates:
        targets = ", ".join(target.describe() for target, _ in f.updates)
        raise ValueError(f"symgraph.dask.map_blocks: {f._label()} updates {targets}; the blocks would each "
                         "update a copy on their worker. Compile it without updates (and for training, "
                         "use symgraph.dask.DataParallelStep)")
    blocked, row_chunks = _split_arguments(f, args)
    dependences = _classify_outputs(f, blocked)
    shapes = _probe_shapes(f, args, blocked, dependences)
    outputs = _blockwise(f, args, blocked, row_chunks, dependences, shapes, split_every)
    return outputs if f._returns_list else outputs[0]


# ---------------------------------------------------------------- data-parallel training

class DataParallelStep:
    """Synchronous data-parallel SGD on a ``dask.distributed`` cluster: one call, one step.

    A function computing the cost and its gradients with respect to ``params`` from the values of
    the shared variables and one block of the minibatch is compiled once (and once per worker).
    Each call reads the parameters' values on the driver, sends them with the step's graph, runs
    the function on every block of the minibatch where that block lives, combines the blocks'
    costs and gradients weighted by block size (as ``map_blocks``: the result is the cost and
    gradient of the whole minibatch), and then, once every block's result has arrived, applies
    ``p <- p - learning_rate * g`` to all parameters at once on the driver. A step that fails
    changes nothing; a worker that dies during a step is replaced and its tasks run again (they
    are pure: the same values and blocks give the same results), and the update is still applied
    exactly once. So N steps on K workers give the parameters N steps of ``sg.function(inputs,
    cost, updates=[(p, p - learning_rate * sg.grad(cost, p))])`` give on the same minibatches, up
    to the order of floating-point sums.

    Parameters
    ----------
    inputs : list of Variable
        The minibatch's inputs (their axis 0 is the sample axis).
    cost : Variable
        A scalar cost that is a mean (or sum) over the samples, plus terms that do not depend on
        them (a weight penalty); checked from the graph, as ``map_blocks`` does.
    params : list of SharedVariable
        The parameters updated by each step; other shared variables the cost reads are sent with
        their current values each step and not updated.
    learning_rate : float or SharedVariable
        The step size; a shared variable is read at each step (a schedule can change it).
    client : distributed.Client, optional
        Where to run; default the current client (``distributed.get_client()``).
    retries : int, default 2
        How many times Dask runs a task again that raised (a worker that died is handled by Dask
        whatever this is).
    name : str, optional
        The name of the compiled function and of the tasks (default ``"trainStep"``).

    Attributes
    ----------
    function : Function
        The compiled per-block function: ``(inputs..., state values...) -> [cost, *gradients]``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, symgraph as sg, symgraph.dask
    >>> from distributed import Client, LocalCluster
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))     # doctest: +SKIP
    >>> X, y = sg.matrix("X"), sg.vector("y")
    >>> w = sg.shared(np.zeros(3), name="w")
    >>> step = symgraph.dask.DataParallelStep([X, y], ((X @ w - y) ** 2).mean(), [w], 0.1)
    >>> data = da.from_array(np.ones((8, 3)), chunks=(4, 3))
    >>> float(step(data, da.ones(8, chunks=4)))                               # doctest: +SKIP
    1.0
    """

    def __init__(self, inputs, cost, params, learning_rate, client=None, retries=2, name=None):
        import symgraph as sg
        inputs = [inputs] if isinstance(inputs, Variable) else list(inputs)
        params = [params] if isinstance(params, SharedVariable) else list(params)
        if not params or not all(isinstance(p, SharedVariable) for p in params):
            raise TypeError("DataParallelStep: params must be a non-empty list of shared variables (sg.shared)")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("DataParallelStep: a parameter is listed twice")
        if not isinstance(cost, Variable) or cost.ndim != 0:
            raise TypeError(f"DataParallelStep: the cost must be a scalar variable, got {cost!r}")
        gradients = sg.grad(cost, params)
        others = [v for v in graph_inputs([cost, *gradients])
                  if isinstance(v, SharedVariable) and all(v is not p for p in params)]
        self.params, self.state = params, params + others
        # The state becomes inputs: the function is a pure function of (block, values), one compile for all steps.
        placeholders = [Variable(s.type, name=s.name) for s in self.state]
        self.name = name or "trainStep"
        self.function = sg.function(inputs + placeholders, [cost, *gradients],
                                    givens=list(zip(self.state, placeholders)), name=self.name)
        self.n_inputs = len(inputs)
        labels = ["the cost"] + [f"the gradient with respect to {p.describe()}" for p in params]
        self._dependences = _classify_outputs(self.function, list(range(len(inputs))), "DataParallelStep", labels)
        self._kernel = _Kernel.of(self.function)
        self.learning_rate, self.client, self.retries = learning_rate, client, retries
        self._lock = state_lock(self.state)

    def __call__(self, *minibatch):
        """One step on ``minibatch`` (Dask arrays chunked along axis 0, one per input); returns the cost."""
        from distributed import get_client
        if len(minibatch) != self.n_inputs:
            raise TypeError(f"DataParallelStep takes {self.n_inputs} minibatch array(s), got {len(minibatch)}")
        minibatch = [m if isinstance(m, da.Array) else da.from_array(np.asarray(m), chunks=np.shape(m))
                     for m in minibatch]
        client = self.client
        if client is None:
            try:
                client = get_client()
            except ValueError:
                raise ValueError("DataParallelStep: no dask.distributed client; start one (distributed.Client(...)) "
                                 "or pass client=") from None
        with self._lock:        # read, compute, commit: no other update of these variables in between
            values = [s.get_value() for s in self.state]
            args = list(minibatch) + values
            blocked, row_chunks = _split_arguments(self.function, args)
            shapes = [()] + [v.shape for v in values[:len(self.params)]]
            outputs = _blockwise(self.function, args, blocked, row_chunks, self._dependences, shapes,
                                 kernel=self._kernel)
            cost, *gradients = client.gather(client.compute(outputs, retries=self.retries))
            rate = self.learning_rate.get_value() if isinstance(self.learning_rate, SharedVariable) \
                else self.learning_rate
            new_values = [np.asarray(value - np.asarray(rate, dtype=value.dtype) * gradient, dtype=value.dtype)
                          for value, gradient in zip(values, gradients)]
            commit_updates(self.params, new_values)
        return cost
