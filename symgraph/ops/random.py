"""Random numbers: the draw ops and ``sg.RandomStream``, the object users draw from.

A draw is an ordinary node: its inputs are a stream state (six uint64 words, NumPy's ``PCG64``; see
``symgraph/random_state.py``), the lengths of the result and the distribution's parameters; its outputs are
the advanced state and the values. So a draw is deterministic given its inputs: the optimizer may move or
copy it without changing what it computes, the state is updated atomically with the other updates of a
call, and a loop carries it as a recurrent value.

Each draw a stream makes owns a state in a shared variable of its own, seeded as NumPy seeds child streams
(``SeedSequence(seed, spawn_key=(i,))`` for the ``i``-th draw made). A compiled function that computes a
draw advances that draw's state on every call without the user passing updates: ``default_updates``
(below) lists the ``(shared state, new state)`` pairs ``sg.function`` adds. Draws that share a state are
one draw (the same values); two calls of ``rng.normal`` are two states, two draws, never merged.

Values are NumPy's: the python backend draws with ``numpy.random.Generator(PCG64)`` itself, the numba
backend with a port of the same algorithms (``codegen/numba/pcg64.py``), bit for bit; the cuda backend
draws with a counter-based generator on the device (a different stream, same distributions).

Continuous draws are written as a standard draw and ordinary arithmetic (``loc + scale * eps``, ``low +
(high - low) * u``), so their derivative in the location and scale is the reparameterisation gradient and
NumPy's own formulas give the same bits. Discrete draws have no derivative in their parameters.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..graph import Constant, Node, SharedVariable, Variable
from ..random_state import STATE_WORDS, generator, seeded_state, state_array
from ..types import TensorType, broadcast_shapes
from .base import Op, as_variable, pointing_at_user_line

#: The type of a stream state: NumPy's PCG64 in six uint64 words.
STATE_TYPE = TensorType("uint64", (STATE_WORDS,))
FLOAT_DTYPES = ("float32", "float64")


class RandomDraw(Op):
    """The base of the draw ops: inputs ``(state, *lengths, *parameters)``, outputs ``(new state, values)``.

    ``ndim`` lengths (0-d int64) give the shape of the values; a subclass says how many parameters it takes
    (``n_params``), checks them (``check_params``), and draws with a ``numpy.random.Generator``
    (``draw(generator, shape, params, node)``). Not differentiable: a continuous distribution's location
    and scale enter through ordinary arithmetic outside the op.
    """

    abstract = True
    __props__ = ("ndim", "dtype")
    n_params = 0

    def __init__(self, ndim, dtype):
        self.ndim = int(ndim)
        self.dtype = np.dtype(dtype).name

    def make_node(self, state, *rest):
        state = as_variable(state)
        if state.dtype != "uint64" or state.ndim != 1 or state.type.shape[0] not in (None, STATE_WORDS):
            raise TypeError(f"{self}: the state must be a random stream's uint64 ({STATE_WORDS},) array, "
                            f"got {state.describe()}")
        if len(rest) != self.ndim + self.n_params:
            raise TypeError(f"{self}: expected {self.ndim} lengths and {self.n_params} parameters, got "
                            f"{len(rest)} inputs")
        dims = [as_variable(d, like="int64") for d in rest[:self.ndim]]
        for d in dims:
            if d.ndim != 0 or d.dtype != "int64":
                raise TypeError(f"{self}: lengths must be 0-d int64 variables, got {d.describe()}")
        static = tuple(int(d.value) if isinstance(d, Constant) else None for d in dims)
        if any(n is not None and n < 0 for n in static):
            raise ValueError(f"{self}: negative dimensions are not allowed, got {static}")
        params = self.check_params([as_variable(p) for p in rest[self.ndim:]], static)
        return Node(self, [state, *dims, *params], [STATE_TYPE, TensorType(self.dtype, self.shape(static, params))])

    def check_params(self, params, static):
        return params

    def shape(self, static, params):
        return static

    def perform(self, node, inputs):
        state, dims, params = inputs[0], inputs[1:1 + self.ndim], inputs[1 + self.ndim:]
        shape = tuple(int(d) for d in dims)
        if any(n < 0 for n in shape):
            raise ValueError(f"{self.name}: negative dimensions are not allowed, got {shape}{node.where()}")
        rng = generator(state)
        values = self.draw(rng, shape, params, node)
        return [state_array(rng), np.asarray(values, dtype=self.dtype)]

    def draw(self, rng, shape, params, node):
        raise NotImplementedError

    def grad(self, inputs, outputs, output_grads):
        return [None] * len(inputs)

    def connection_pattern(self, node):
        return [False] * len(node.inputs)

    def default_updates(self, node):
        state = node.inputs[0]
        return [(state, node.outputs[0])] if isinstance(state, SharedVariable) else []


class StandardNormal(RandomDraw):
    """Standard normal values, ``Generator.standard_normal(shape, dtype)`` (NumPy's ziggurat)."""

    name = "standard_normal"

    def __init__(self, ndim, dtype="float64"):
        super().__init__(ndim, dtype)
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"standard_normal: dtype must be float32 or float64, got {self.dtype}")

    def draw(self, rng, shape, params, node):
        return rng.standard_normal(shape, dtype=self.dtype)


class StandardUniform(RandomDraw):
    """Uniform values in [0, 1), ``Generator.random(shape, dtype)`` (53 or 24 random bits)."""

    name = "random"

    def __init__(self, ndim, dtype="float64"):
        super().__init__(ndim, dtype)
        if self.dtype not in FLOAT_DTYPES:
            raise TypeError(f"random: dtype must be float32 or float64, got {self.dtype}")

    def draw(self, rng, shape, params, node):
        return rng.random(shape, dtype=self.dtype)


def _check_broadcast(op, params, static):
    """The parameters must broadcast to the values' shape (as NumPy's ``size``): a ValueError if not."""
    for p in params:
        if p.ndim > len(static):
            raise ValueError(f"{op}: parameter {p.describe()} has more axes than the size {static}")
        for have, want in zip(p.type.shape[::-1], static[::-1]):
            if have not in (None, 1) and want is not None and have != want:
                raise ValueError(f"{op}: parameter {p.describe()} does not broadcast to the size {static}")


class Bernoulli(RandomDraw):
    """1 with probability ``p``, else 0: ``Generator.random(shape) < p`` (float64 uniforms whatever the
    dtype of the result). ``p`` broadcasts to the shape and must lie in [0, 1] (else a ValueError)."""

    name = "bernoulli"
    n_params = 1

    def check_params(self, params, static):
        (p,) = params
        if p.type.kind not in "biuf":
            raise TypeError(f"bernoulli: p must be real, got {p.describe()}")
        _check_broadcast(self, params, static)
        from .elemwise import cast
        return [cast(p, "float64")]

    def draw(self, rng, shape, params, node):
        p = np.asarray(params[0], dtype="float64")
        if not ((p >= 0) & (p <= 1)).all():
            raise ValueError(f"bernoulli: p must lie in [0, 1], got {p.min() if p.size else p}"
                             f"{node.where()}")
        return rng.random(shape) < np.broadcast_to(p, shape)


class Integers(RandomDraw):
    """Integers in ``[low, high)``, ``Generator.integers(low, high, shape)`` (int64; Lemire's method);
    ``low`` and ``high`` broadcast to the shape. ``low >= high`` somewhere is a ValueError."""

    name = "integers"
    n_params = 2

    def __init__(self, ndim):
        super().__init__(ndim, "int64")

    def check_params(self, params, static):
        for p in params:
            if p.type.kind not in "iu" or p.dtype == "uint64":
                raise TypeError(f"integers: low and high must be integers (int64 range), got {p.describe()}")
        _check_broadcast(self, params, static)
        from .elemwise import cast
        return [cast(p, "int64") for p in params]

    def draw(self, rng, shape, params, node):
        low, high = (np.asarray(p, dtype="int64") for p in params)
        if np.size(shape) and 0 in shape:
            return np.empty(shape, "int64")
        if (np.broadcast_to(low, shape) >= np.broadcast_to(high, shape)).any():
            raise ValueError(f"integers: low >= high{node.where()}")
        if low.ndim or high.ndim:
            return rng.integers(np.broadcast_to(low, shape), np.broadcast_to(high, shape), shape)
        return rng.integers(int(low), int(high), shape)


class Permutation(RandomDraw):
    """A random permutation of ``0 .. n-1``, ``Generator.permutation(n)`` (int64). ``n < 0`` is a
    ValueError."""

    name = "permutation"
    n_params = 1

    def __init__(self):
        super().__init__(0, "int64")

    def check_params(self, params, static):
        (n,) = params
        if n.ndim != 0 or n.type.kind not in "iu":
            raise TypeError(f"permutation: n must be a 0-d integer, got {n.describe()}")
        from .elemwise import cast
        return [cast(n, "int64")]

    def shape(self, static, params):
        n = params[0]
        return (int(n.value) if isinstance(n, Constant) else None,)

    def draw(self, rng, shape, params, node):
        n = int(params[0])
        if n < 0:
            raise ValueError(f"permutation: n must be >= 0, got {n}{node.where()}")
        return rng.permutation(n)


class Choice(RandomDraw):
    """Indices drawn from ``range(population)``, ``Generator.choice(population, shape, replace, p)``
    (int64). The parameters are the population size (a 0-d int) and, when ``weighted``, ``p`` (1-d
    probabilities as long as the population, non-negative, summing to 1 within NumPy's tolerance)."""

    __props__ = ("ndim", "dtype", "replace", "weighted")
    name = "choice"

    def __init__(self, ndim, replace=True, weighted=False):
        super().__init__(ndim, "int64")
        self.replace = bool(replace)
        self.weighted = bool(weighted)

    @property
    def n_params(self):
        return 2 if self.weighted else 1

    def check_params(self, params, static):
        from .elemwise import cast
        count = params[0]
        if count.ndim != 0 or count.type.kind not in "iu":
            raise TypeError(f"choice: the population size must be a 0-d integer, got {count.describe()}")
        checked = [cast(count, "int64")]
        if self.weighted:
            p = params[1]
            if p.ndim != 1 or p.type.kind not in "biuf":
                raise TypeError(f"choice: p must be a 1-d array of probabilities, got {p.describe()}")
            if isinstance(count, Constant) and p.type.shape[0] not in (None, int(count.value)):
                raise ValueError(f"choice: a and p must have the same length, got {int(count.value)} and "
                                 f"{p.describe()}")
            checked.append(cast(p, "float64"))
        return checked

    def draw(self, rng, shape, params, node):
        population = int(params[0])
        p = params[1] if self.weighted else None
        count = int(np.prod(shape))
        if p is not None and len(p) != population:
            raise ValueError(f"choice: a and p must have the same length, got {population} and {len(p)}"
                             f"{node.where()}")
        if count and population <= 0:
            raise ValueError(f"choice: cannot take samples from an empty population{node.where()}")
        if not self.replace and count > population:
            raise ValueError(f"choice: cannot take a larger sample ({count}) than the population "
                             f"({population}) without replacement{node.where()}")
        if count == 0:
            return np.empty(shape, "int64")
        try:
            return rng.choice(population, size=shape, replace=self.replace, p=p)
        except ValueError as exc:
            raise ValueError(f"choice: {exc}{node.where()}") from None


# ---------------------------------------------------------------- the stream users draw from

def _lengths(size, what):
    """``size`` (an int, a 0-d int variable or a sequence of them) as int64 length variables."""
    from .arrays import _shape
    with pointing_at_user_line():
        return [as_variable(d, like="int64") for d in _shape(size, what)]


def _broadcast_lengths(params, what):
    """The lengths of the NumPy broadcast of ``params`` (variables): static where known, else symbolic."""
    from . import elemwise as ew
    from .shape import shape_of
    with pointing_at_user_line():
        static = broadcast_shapes(*[p.type.shape for p in params], op_name=what)
    lengths = []
    for axis, known in enumerate(static):
        if known is not None:
            lengths.append(as_variable(known, like="int64"))
            continue
        candidates = []
        for p in params:
            own = axis - (len(static) - p.ndim)
            if own >= 0 and p.type.shape[own] != 1:
                candidates.append(shape_of(p, own))
        length = candidates[0]
        for other in candidates[1:]:     # 1 broadcasts; equal lengths stay; a mismatch fails in the arithmetic
            length = ew.where(ew.eq(length, 1), other, length)
        lengths.append(length)
    return lengths


def _is_number(value, number):
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and value == number


def _float_dtype(dtype, what):
    name = np.dtype(dtype).name
    if name not in FLOAT_DTYPES:
        with pointing_at_user_line():
            raise TypeError(f"{what}: dtype must be float32 or float64, got {name}")
    return name


def _as_param(value, dtype):
    """A parameter of a continuous draw in the draw's dtype (Python numbers take it; arrays are cast)."""
    from .elemwise import cast
    v = as_variable(value, like=dtype)
    return v if v.dtype == dtype else cast(v, dtype)


class RandomStream:
    """A source of random numbers inside graphs, as Theano's ``RandomStreams`` and PyTensor's
    ``RandomStream``: each method returns a symbolic draw, and every call of a compiled function that
    computes it draws new values.

    Each draw keeps its state (NumPy's ``PCG64``) in a shared variable of its own, which every function
    computing the draw advances on each call without being given updates (atomically with the other
    updates: a failed call advances nothing). Two functions computing the same draw share its state. The
    ``i``-th draw made from a stream seeded with ``seed`` starts from ``PCG64(SeedSequence(seed,
    spawn_key=(i,)))``, and the python and numba backends give the values NumPy's ``Generator`` gives
    from that state, bit for bit; the cuda backend draws on the device from a counter-based generator
    (Philox-4x32-10) keyed by the same state: same distributions, different values.

    Parameters
    ----------
    seed : int, sequence of int, numpy.random.SeedSequence or None
        The seed (None: fresh entropy from the operating system, so each run differs).

    Attributes
    ----------
    state_variables : tuple of SharedVariable
        The states of the draws made so far, in order (``sg.function`` updates them; ``get_value`` and
        ``set_value`` save and restore a stream's position).

    Examples
    --------
    >>> rng = sg.RandomStream(42)
    >>> x = sg.vector("x")
    >>> noisy = sg.function([x], x + rng.normal(size=x.shape, scale=0.1), backend="python")
    >>> a, b = noisy([0.0, 0.0]), noisy([0.0, 0.0])
    >>> bool((a != b).all())
    True
    """

    def __init__(self, seed=None):
        self._seed = self._entropy(seed)
        self._states = []

    @staticmethod
    def _entropy(seed):
        if seed is None:
            return np.random.SeedSequence().entropy
        if isinstance(seed, np.random.SeedSequence):
            return seed.entropy
        try:
            np.random.SeedSequence(seed)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"RandomStream: the seed must be a non-negative int, a sequence of them, a "
                            f"SeedSequence or None, got {seed!r} ({exc})") from None
        return seed

    @property
    def state_variables(self):
        """The shared variables holding the states of the draws made so far, in the order they were made
        (one per draw; ``sg.function`` updates them itself)."""
        return tuple(self._states)

    def seed(self, seed=None):
        """Restart the stream: every draw made (and every draw made later) starts again from the state
        ``seed`` gives it, as if the stream had been created with ``seed``.

        Parameters
        ----------
        seed : int, sequence of int, numpy.random.SeedSequence or None
            The new seed (None: fresh entropy).

        Returns
        -------
        None

        Examples
        --------
        >>> rng = sg.RandomStream(0)
        >>> f = sg.function([], rng.uniform(size=2), backend="python")
        >>> first = f()
        >>> rng.seed(0)
        >>> bool((f() == first).all())
        True
        """
        self._seed = self._entropy(seed)
        for index, state in enumerate(self._states):
            state.set_value(seeded_state(self._seed, index))

    def _new_state(self, what):
        index = len(self._states)
        state = SharedVariable(seeded_state(self._seed, index), name=f"rng.{what}[{index}]", dtype="uint64",
                               shape=(STATE_WORDS,))
        self._states.append(state)
        return state

    def _draw(self, op, what, *inputs):
        with pointing_at_user_line():
            return op(self._new_state(what), *inputs)[1]

    def normal(self, size=None, loc=0.0, scale=1.0, dtype="float64"):
        """Normal values ``loc + scale * eps`` with ``eps`` standard normal (NumPy's ziggurat).

        Parameters
        ----------
        size : int, 0-d int Variable, or tuple of them, optional
            The shape; None: the broadcast shape of ``loc`` and ``scale``.
        loc, scale : float or Variable
            The mean and standard deviation (they broadcast to ``size``). Differentiable: the gradient is
            the reparameterisation one (``d/dloc = 1``, ``d/dscale = eps``). ``scale`` is not checked: a
            negative scale gives ``loc + scale * eps``.
        dtype : {"float64", "float32"}
            The dtype of the values (the parameters are cast to it).

        Returns
        -------
        Variable
            The draw. With the default ``loc`` and ``scale`` it equals ``Generator.standard_normal(size,
            dtype)`` on the draw's state, else (float64) ``Generator.normal(loc, scale, size)``.

        Examples
        --------
        >>> rng = sg.RandomStream(1)
        >>> sg.function([], rng.normal(size=(2, 3)), backend="python")().shape
        (2, 3)
        """
        dtype = _float_dtype(dtype, "normal")
        standard = _is_number(loc, 0) and _is_number(scale, 1)
        loc, scale = _as_param(loc, dtype), _as_param(scale, dtype)
        lengths = _lengths(size, "normal") if size is not None else _broadcast_lengths([loc, scale], "normal")
        eps = self._draw(StandardNormal(len(lengths), dtype), "normal", *lengths)
        if standard:
            return eps
        return _located(loc, scale, eps, lengths, size is not None, "normal")

    def uniform(self, size=None, low=0.0, high=1.0, dtype="float64"):
        """Uniform values in ``[low, high)``: ``low + (high - low) * u`` with ``u`` in [0, 1).

        Parameters
        ----------
        size : int, 0-d int Variable, or tuple of them, optional
            The shape; None: the broadcast shape of ``low`` and ``high``.
        low, high : float or Variable
            The bounds (they broadcast to ``size``). Differentiable (reparameterisation: ``d/dlow = 1 - u``,
            ``d/dhigh = u``).
        dtype : {"float64", "float32"}
            The dtype of the values (the bounds are cast to it).

        Returns
        -------
        Variable
            The draw. With the default bounds it equals ``Generator.random(size, dtype)`` on the draw's
            state, else (float64) ``Generator.uniform(low, high, size)``.

        Examples
        --------
        >>> rng = sg.RandomStream(1)
        >>> u = sg.function([], rng.uniform(size=1000, low=2.0, high=3.0), backend="python")()
        >>> bool(((u >= 2.0) & (u < 3.0)).all())
        True
        """
        dtype = _float_dtype(dtype, "uniform")
        standard = _is_number(low, 0) and _is_number(high, 1)
        low, high = _as_param(low, dtype), _as_param(high, dtype)
        lengths = _lengths(size, "uniform") if size is not None else _broadcast_lengths([low, high], "uniform")
        u = self._draw(StandardUniform(len(lengths), dtype), "uniform", *lengths)
        if standard:
            return u
        return _located(low, high - low, u, lengths, size is not None, "uniform")

    def bernoulli(self, p, size=None, dtype="float64"):
        """1 with probability ``p``, else 0 (``Generator.random(size) < p``, as the given dtype).

        Parameters
        ----------
        p : float or Variable
            The probability of a 1, in [0, 1] (a ValueError at call time otherwise); broadcasts to
            ``size``. Not differentiable: the draw is discrete, so ``sg.grad`` of something depending on
            ``p`` only through it raises ``DisconnectedInputError`` (``disconnected="zero"`` gives zeros),
            as for indices.
        size : int, 0-d int Variable, or tuple of them, optional
            The shape; None: the shape of ``p``.
        dtype : str, default "float64"
            The dtype of the result (a float for masks, "bool", or an integer).

        Returns
        -------
        Variable
            The draw.

        Examples
        --------
        >>> rng = sg.RandomStream(3)
        >>> h = sg.matrix("h")
        >>> dropped = h * rng.bernoulli(0.5, size=h.shape) / 0.5
        >>> sg.function([h], dropped, backend="python")(np.ones((2, 4))).shape
        (2, 4)
        """
        p = as_variable(p, like="float64")
        lengths = _lengths(size, "bernoulli") if size is not None else _broadcast_lengths([p], "bernoulli")
        return self._draw(Bernoulli(len(lengths), dtype), "bernoulli", *lengths, p)

    def integers(self, low, high=None, size=None):
        """Integers in ``[low, high)`` (``[0, low)`` when ``high`` is None), as ``Generator.integers``.

        Parameters
        ----------
        low, high : int or integer Variable
            The bounds (they broadcast to ``size``); ``low >= high`` is a ValueError at call time.
        size : int, 0-d int Variable, or tuple of them, optional
            The shape; None: the broadcast shape of the bounds.

        Returns
        -------
        Variable
            int64 values, equal to ``Generator.integers(low, high, size)`` on the draw's state. Not
            differentiable (as ``bernoulli``).

        Examples
        --------
        >>> rng = sg.RandomStream(0)
        >>> k = sg.function([], rng.integers(10, size=5), backend="python")()
        >>> bool(((k >= 0) & (k < 10)).all())
        True
        """
        if high is None:
            low, high = 0, low
        low, high = as_variable(low, like="int64"), as_variable(high, like="int64")
        lengths = _lengths(size, "integers") if size is not None else _broadcast_lengths([low, high], "integers")
        return self._draw(Integers(len(lengths)), "integers", *lengths, low, high)

    def permutation(self, n):
        """A random permutation: of ``0 .. n-1`` when ``n`` is an integer, of the rows of ``n`` (along its
        first axis) when it is an array, as ``Generator.permutation``.

        Parameters
        ----------
        n : int, 0-d integer Variable, or Variable with at least one axis
            The length, or the array whose rows are permuted (differentiable in that array).

        Returns
        -------
        Variable
            int64 ``(n,)`` (equal to ``Generator.permutation(n)`` on the draw's state), or the permuted rows.

        Examples
        --------
        >>> rng = sg.RandomStream(0)
        >>> sorted(sg.function([], rng.permutation(5), backend="python")().tolist())
        [0, 1, 2, 3, 4]
        """
        if isinstance(n, Variable) and n.ndim:
            from .shape import shape_of
            order = self._draw(Permutation(), "permutation", shape_of(n, 0))
            return n[order]
        if isinstance(n, (bool, np.bool_)):
            raise TypeError(f"permutation: n must be an integer or an array, got {n!r}")
        if isinstance(n, (int, np.integer)) and n < 0:
            with pointing_at_user_line():
                raise ValueError(f"permutation: n must be >= 0, got {n}")
        return self._draw(Permutation(), "permutation", as_variable(n, like="int64"))

    def choice(self, a, size=None, replace=True, p=None):
        """Samples from ``range(a)`` (``a`` an integer) or from the elements of the 1-d array ``a``, as
        ``Generator.choice``.

        Parameters
        ----------
        a : int, 0-d integer Variable, or 1-d Variable
            The population size, or the population.
        size : int, 0-d int Variable, or tuple of them, optional
            The shape of the sample; None: one value (0-d).
        replace : bool, default True
            With replacement (False: no element twice; a sample larger than the population is a
            ValueError at call time).
        p : 1-d array_like or Variable, optional
            The probability of each element (non-negative, summing to 1 as NumPy requires; its length is
            the population's). None: uniform.

        Returns
        -------
        Variable
            The sample: int64 indices equal to ``Generator.choice(len, size, replace, p)`` on the draw's
            state, or the elements of ``a`` at them (differentiable in ``a``; not in ``p``).

        Examples
        --------
        >>> rng = sg.RandomStream(0)
        >>> sg.function([], rng.choice(3, size=4, p=[0.0, 1.0, 0.0]), backend="python")()
        array([1, 1, 1, 1])
        """
        from .shape import shape_of
        population = None
        if isinstance(a, (Variable, np.ndarray, list, tuple)):
            a = as_variable(a)
            if a.ndim > 1:
                with pointing_at_user_line():
                    raise ValueError(f"choice: a must be an integer or a 1-d array, got {a.describe()}")
            if a.ndim == 1:
                population = a
        elif isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            with pointing_at_user_line():
                raise TypeError(f"choice: a must be an integer or a 1-d array, got {a!r}")
        count = shape_of(population, 0) if population is not None else as_variable(a, like="int64")
        lengths = _lengths(size, "choice") if size is not None else []
        params = [count] if p is None else [count, as_variable(p, like="float64")]
        index = self._draw(Choice(len(lengths), replace, p is not None), "choice", *lengths, *params)
        return index if population is None else population[index]


def _located(loc, scale, standard, lengths, sized, what):
    """``loc + scale * standard`` with the parameters broadcast to the drawn shape when a size was given
    (NumPy's rule: the parameters broadcast to ``size``, never beyond it)."""
    from .shape import broadcast_to
    if sized:
        with pointing_at_user_line():
            _check_broadcast(what, [loc, scale], tuple(int(d.value) if isinstance(d, Constant) else None
                                                       for d in lengths))
        loc = broadcast_to(loc, lengths) if loc.ndim else loc
        scale = broadcast_to(scale, lengths) if scale.ndim else scale
    return loc + scale * standard
