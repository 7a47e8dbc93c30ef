"""Lowering of the random draws of symgraph/ops/random.py: a copy of the state, advanced in place by the
cached port of NumPy's ``Generator(PCG64)`` algorithms (pcg64.py), which fills a new array, so the values
and the new state are NumPy's bit for bit. Bad parameters raise the python backend's errors, naming the op.
"""
from __future__ import annotations

from symgraph.ops.random import Bernoulli, Choice, Integers, Permutation, StandardNormal, StandardUniform

from .kernel import cast_code, literal, register

_SUFFIX = {"float64": "f64", "float32": "f32"}


def _start(node, kernel):
    """``(new state, dims, params)``: the state copied (the input may be a shared variable's value, or a
    row a loop keeps) and the drawn shape's lengths, checked."""
    rt = kernel.runtime()
    state = node.inputs[0]
    new_state = kernel.let(f"{rt}.copy({kernel.code(state)})", "s")
    ndim = node.op.ndim
    dims = []
    for axis, length in enumerate(node.inputs[1:1 + ndim]):
        d = kernel.int64_code(length, "n")
        kernel.check(f"{d} < 0", f"{node.op.name}: negative dimensions are not allowed (axis {axis})")
        dims.append(d)
    return new_state, dims, node.inputs[1 + ndim:]


def _finish(node, kernel, new_state, values, dims):
    kernel.bind(node.outputs[0], new_state, ["6"], contiguous=True, owned=True)
    out = node.outputs[1]
    if out.ndim == 0:
        kernel.bind(out, kernel.let(f"{values}[0]", "x"))
    else:
        kernel.bind(out, values, dims, contiguous=True, owned=True)


def _values(kernel, dims, dtype):
    """A new array for the values (one element for a 0-d draw, read back as a scalar)."""
    return kernel.let(kernel.new_array(dims if dims else ["1"], dtype), "v")


def _contiguous(kernel, var, dims):
    """``var`` as a C-contiguous array of ``dims`` (a 0-d value: an array of one element)."""
    rt = kernel.runtime()
    if var.ndim == 0:
        return kernel.let(f"{rt}.full((np.int64(1),), {cast_code(kernel.code(var), var.dtype, var.dtype)})", "p")
    return kernel.let(f"{rt}.copy({rt}.broadcast_to({kernel.code(var)}, {kernel.int_tuple(dims)}))", "p")


@register(StandardNormal)
@register(StandardUniform)
def lower_standard(node, kernel):
    new_state, dims, _ = _start(node, kernel)
    values = _values(kernel, dims, node.op.dtype)
    helper = "standard_normal" if isinstance(node.op, StandardNormal) else "random"
    kernel.emit(f"{kernel.runtime()}.{helper}_{_SUFFIX[node.op.dtype]}({new_state}, {values})")
    _finish(node, kernel, new_state, values, dims)


@register(Bernoulli)
def lower_bernoulli(node, kernel):
    new_state, dims, (p,) = _start(node, kernel)
    probabilities = _contiguous(kernel, p, dims)
    values = _values(kernel, dims, node.op.dtype)
    status = kernel.let(f"{kernel.runtime()}.bernoulli({new_state}, {probabilities}, {values})", "st")
    kernel.check(f"{status} != 0", f"{node.op.name}: p must lie in [0, 1]")
    _finish(node, kernel, new_state, values, dims)


@register(Integers)
def lower_integers(node, kernel):
    new_state, dims, (low, high) = _start(node, kernel)
    values = _values(kernel, dims, "int64")
    bounds = [_contiguous(kernel, bound, dims) for bound in (low, high)]
    status = kernel.let(f"{kernel.runtime()}.integers({new_state}, {bounds[0]}, {bounds[1]}, {values})", "st")
    kernel.check(f"{status} != 0", f"{node.op.name}: low >= high")
    _finish(node, kernel, new_state, values, dims)


@register(Permutation)
def lower_permutation(node, kernel):
    new_state, _, (n,) = _start(node, kernel)
    length = kernel.int64_code(n, "n")
    kernel.check(f"{length} < 0", f"{node.op.name}: n must be >= 0")
    values = _values(kernel, [length], "int64")
    kernel.emit(f"{kernel.runtime()}.permutation({new_state}, {values})")
    _finish(node, kernel, new_state, values, [length])


# NumPy's messages for the statuses of the choice helpers
_CHOICE_ERRORS = {1: "probabilities are not non-negative", 2: "probabilities do not sum to 1",
                  3: "cannot take samples from an empty population", 4: "fewer non-zero entries in p than size"}


@register(Choice)
def lower_choice(node, kernel):
    op, rt = node.op, kernel.runtime()
    new_state, dims, params = _start(node, kernel)
    population = kernel.int64_code(params[0], "n")
    values = _values(kernel, dims, "int64")
    count = kernel.let(f"{values}.size", "k")
    kernel.check(f"{count} > 0 and {population} <= 0", f"{op.name}: cannot take samples from an empty population")
    if not op.replace:
        kernel.check(f"{count} > {population}", f"{op.name}: cannot take a larger sample than the population "
                                                 "without replacement")
    if op.weighted:
        p = kernel.let(f"{rt}.copy({kernel.code(params[1])})", "p")
        kernel.check(f"{p}.size != {population}", f"{op.name}: a and p must have the same length")
        helper = "choice_p" if op.replace else "choice_p_no_replace"
        status = kernel.let(f"{rt}.{helper}({new_state}, {p}, {values})", "st")
        for code, message in _CHOICE_ERRORS.items():
            kernel.check(f"{status} == {code}", f"{op.name}: {message}")
    elif op.replace:     # NumPy: integers(0, population)
        low = kernel.let(f"{rt}.full((np.int64(1),), {literal(0, 'int64')})", "lo")
        high = kernel.let(f"{rt}.full((np.int64(1),), {population})", "hi")
        kernel.emit(f"if {count} > 0:")
        with kernel.indent():
            kernel.emit(f"{rt}.integers({new_state}, {low}, {high}, {values})")
    else:
        kernel.emit(f"{rt}.choice_no_replace({new_state}, {population}, {values})")
    _finish(node, kernel, new_state, values, dims)
