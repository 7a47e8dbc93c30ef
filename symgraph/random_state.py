"""The state of a random stream as an array: NumPy's ``PCG64`` bit generator in six ``uint64`` words.

A stream's state lives in a shared variable like any model parameter, so every draw is an ordinary node
(state in, new state and values out), updates are atomic and thread-safe, and loops carry it as a
recurrent value. The six words are, in order:

====  =========================================================
0, 1  the 128-bit LCG state, high and low 64 bits
2, 3  the 128-bit increment (stream), high and low 64 bits
4     ``has_uint32``: 1 when half of the last 64-bit output is kept
5     ``uinteger``: that kept 32-bit half (NumPy's ``next_uint32``)
====  =========================================================

:func:`state_array` and :func:`generator` convert between this array and ``numpy.random.Generator``
objects, so the python backend draws with NumPy itself and the numba backend's port
(``codegen/numba/pcg64.py``) is checked against it bit for bit.
"""
from __future__ import annotations

import numpy as np

#: The number of uint64 words of a stream state.
STATE_WORDS = 6
_LOW = (1 << 64) - 1


def state_array(bit_generator) -> np.ndarray:
    """The six-word state of a ``numpy.random.PCG64`` (or of a ``Generator`` built on one).

    Parameters
    ----------
    bit_generator : numpy.random.PCG64 or numpy.random.Generator
        The bit generator whose state is read (not changed).

    Returns
    -------
    numpy.ndarray
        uint64 array of shape (6,), laid out as the module docstring says.

    Examples
    --------
    >>> state_array(np.random.PCG64(0)).dtype
    dtype('uint64')
    """
    if isinstance(bit_generator, np.random.Generator):
        bit_generator = bit_generator.bit_generator
    state = bit_generator.state
    if state.get("bit_generator") != "PCG64":
        raise TypeError(f"random streams use NumPy's PCG64 bit generator, got {state.get('bit_generator')!r}")
    lcg, inc = int(state["state"]["state"]), int(state["state"]["inc"])
    return np.array([lcg >> 64, lcg & _LOW, inc >> 64, inc & _LOW, int(state["has_uint32"]),
                     int(state["uinteger"])], dtype=np.uint64)


def generator(state) -> np.random.Generator:
    """A new ``numpy.random.Generator(PCG64)`` positioned at the six-word ``state`` (which is not changed).

    Parameters
    ----------
    state : array_like of uint64, shape (6,)
        A stream state (see the module docstring).

    Returns
    -------
    numpy.random.Generator
        Its draws continue the stream exactly.

    Examples
    --------
    >>> g = np.random.default_rng(5)
    >>> generator(state_array(g)).random() == g.random()
    True
    """
    words = [int(w) for w in np.asarray(state, dtype=np.uint64).reshape(STATE_WORDS)]
    bit_generator = np.random.PCG64(0)
    bit_generator.state = {"bit_generator": "PCG64",
                           "state": {"state": (words[0] << 64) | words[1], "inc": (words[2] << 64) | words[3]},
                           "has_uint32": words[4], "uinteger": words[5]}
    return np.random.Generator(bit_generator)


def seeded_state(seed, index) -> np.ndarray:
    """The initial state of the ``index``-th draw of a stream seeded with ``seed``: the state of
    ``PCG64(numpy.random.SeedSequence(seed, spawn_key=(index,)))`` (NumPy's way of making independent
    child streams, as ``SeedSequence(seed).spawn``).

    Parameters
    ----------
    seed : int, sequence of int, or None
        The stream's seed (None: fresh entropy from the operating system).
    index : int
        Which draw of the stream (0 for the first one made).

    Returns
    -------
    numpy.ndarray
        uint64 array of shape (6,).

    Examples
    --------
    >>> s = seeded_state(42, 0)
    >>> float(generator(s).random()) == np.random.Generator(
    ...     np.random.PCG64(np.random.SeedSequence(42, spawn_key=(0,)))).random()
    True
    """
    entropy = seed.entropy if isinstance(seed, np.random.SeedSequence) else seed
    return state_array(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(int(index),))))
