"""Elementwise kernels: one scalar-op template table, one generated grid-stride kernel per node.

``Elemwise`` and ``Fused`` lower through the same path: a node becomes a *scalar
program* (instructions in evaluation order, each a scalar op, its operand indices
and its dtype) that is written out as straight-line source inside a grid-stride
loop. Broadcasting is index arithmetic: each array input is indexed with the
output's indices times a 0/1 mask per axis (0 where the input has length 1), so
no broadcast copy is ever made. Host scalars (0-d constants, 0-d inputs, shape
arithmetic) are passed as kernel arguments instead of one-element device arrays.

Integers keep NumPy's bits: every instruction's value is cast to its dtype (``T_int8(a + b)``, which
wraps as NumPy does, where Numba would compute in 64 bits); int64 add, sub, mul, neg and abs run in
uint64 (signed overflow is undefined to LLVM); a signed integer compared with a uint64 is compared
exactly; and integer ``**`` is exact, by repeated
squaring in uint64 (``int_power``, defined in the kernel's source); a negative signed exponent sets
an error flag that the launch reads back and raises as NumPy does.
"""
from __future__ import annotations

import math

import numpy as np

from .runtime import ErrorFlag, build_kernel, cast_expr, device_empty, literal, reshape_view, sizes


# ---------------------------------------------------------------- the scalar-op table
# Each entry turns operand expressions (already converted to the op's computation dtype) into an
# expression; ``t`` is the result dtype. Operands are plain names, so repeating one is free.

def _maximum(a, b, t):
    return f"({a} if ({a} >= {b} or {a} != {a}) else {b})"       # NaN propagates, as np.maximum


def _minimum(a, b, t):
    return f"({a} if ({a} <= {b} or {a} != {a}) else {b})"


def _sign(x, t):
    one = literal(1, t)
    if np.dtype(t).kind == "u":
        return f"({one} if {x} > 0 else {x})"
    return f"({one} if {x} > 0 else (-{one} if {x} < 0 else {x}))"   # sign(nan) = nan, sign(0) = 0


def _pow(a, b, t):
    if np.dtype(t).kind in "iu":     # exact, in modular uint64 arithmetic; the caller casts to t
        return f"int_power(T_uint64({a}), T_uint64({b}), T_uint64(1))"
    return f"({a} ** {b})"


# Repeated squaring, as NumPy's integer power loop (the same bits modulo 2**64 for signed operands).
INT_POWER_SOURCE = """@cuda.jit(device=True)
def int_power(base, exponent, one):
    result = one
    zero = one - one
    while exponent != zero:
        if exponent & one:
            result = result * base
        base = base * base
        exponent = exponent >> one
    return result

"""


_MIRRORED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_COMPARE = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def exact_comparison(name, a, b, a_dtype, b_dtype):
    """``a <op> b`` for a signed integer against a uint64, exactly as NumPy's ``qQ->?`` loops (Numba would
    compare both as float64, which rounds above 2**53); None for other dtype pairs."""
    kinds = {np.dtype(a_dtype).kind, np.dtype(b_dtype).kind}
    if kinds != {"i", "u"} or np.dtype("uint64") not in (np.dtype(a_dtype), np.dtype(b_dtype)):
        return None
    if np.dtype(a_dtype).kind == "u":            # the signed operand on the left: a > b is b < a
        name, a, b = _MIRRORED.get(name, name), b, a
    negative = f"(T_int64({a}) < T_int64(0))"
    unsigned = f"(T_uint64({a}) {_COMPARE[name]} T_uint64({b}))"
    if name in ("lt", "le", "ne"):               # a negative number is below every uint64
        return f"({negative} or {unsigned})"
    return f"((not {negative}) and {unsigned})"


# Numba marks signed 64-bit arithmetic "no signed wrap" (LLVM's nsw), so an overflow is undefined and the
# compiler may fold ``a + b > 0`` as if it could not wrap; uint64 arithmetic has the same bits, modulo 2**64.
_WRAPPING = {"add", "sub", "mul", "add_n", "neg", "abs"}


def int64_wrapping(name, args, template):
    """Source for an int64 ``name`` computed in uint64 (the caller casts the result back to int64)."""
    if name == "abs":                # abs(-2**63) is -2**63, as in NumPy
        x = args[0]
        return f"(T_uint64({x}) if {x} >= T_int64(0) else -T_uint64({x}))"
    return template(*[f"T_uint64({a})" for a in args], "uint64")


def checks_power(instructions) -> bool:
    """Whether the program raises a signed integer to a power (a negative exponent is an error)."""
    return any(op.name == "pow" and np.dtype(dtype).kind == "i" for op, _, dtype in instructions)


def _sigmoid(x, t):
    one = literal(1, t)
    return (f"({one} / ({one} + M.exp(-{x})) if {x} >= {literal(0, t)} "
            f"else M.exp({x}) / ({one} + M.exp({x})))")


def _softplus(x, t):
    zero = literal(0, t)
    return f"(({x} if {x} > {zero} else {zero}) + M.log1p(M.exp(-abs({x}))))"


def _relu(x, t):
    zero = literal(0, t)
    return f"({x} if ({x} > {zero} or {x} != {x}) else {zero})"


#: name -> (template, how operands are converted: "out" = to the result dtype, None = as they are)
SCALAR_TEMPLATES = {
    "add": (lambda a, b, t: f"({a} + {b})", "out"),
    "add_n": (lambda *args: "(" + " + ".join(args[:-1]) + ")", "out"),   # left to right, as the reference
    "sub": (lambda a, b, t: f"({a} - {b})", "out"),
    "mul": (lambda a, b, t: f"({a} * {b})", "out"),
    "true_div": (lambda a, b, t: f"({a} / {b})", "out"),
    "pow": (_pow, "out"),
    "maximum": (_maximum, "out"),
    "minimum": (_minimum, "out"),
    "lt": (lambda a, b, t: f"({a} < {b})", None),
    "le": (lambda a, b, t: f"({a} <= {b})", None),
    "gt": (lambda a, b, t: f"({a} > {b})", None),
    "ge": (lambda a, b, t: f"({a} >= {b})", None),
    "eq": (lambda a, b, t: f"({a} == {b})", None),
    "ne": (lambda a, b, t: f"({a} != {b})", None),
    "and": (lambda a, b, t: f"(({a} != 0) and ({b} != 0))", None),
    "or": (lambda a, b, t: f"(({a} != 0) or ({b} != 0))", None),
    "not": (lambda x, t: f"({x} == 0)", None),
    "neg": (lambda x, t: f"(-{x})", "out"),
    "abs": (lambda x, t: f"abs({x})", "out"),
    "sign": (_sign, "out"),
    "sigmoid": (_sigmoid, "out"),
    "softplus": (_softplus, "out"),
    "relu": (_relu, "out"),
    "where": (lambda c, a, b, t: f"({a} if {c} else {b})", None),
    "identity": (lambda x, t: x, "out"),
    "cast": (lambda x, t: x, "out"),      # the conversion to the result dtype is the whole op
}


def template_for(scalar_op):
    """``(template, conversion)`` of ``scalar_op``: its entry in this table, else ``math.<f>`` for the
    function the op declares it is (``ScalarOp.math_function``); None when there is neither."""
    entry = SCALAR_TEMPLATES.get(scalar_op.name)
    function = getattr(scalar_op, "math_function", None)
    if entry is None and function:
        entry = (lambda x, t: f"M.{function}({x})", "out")
    return entry


def missing_scalar_ops(scalar_ops) -> list[str]:
    return sorted({op.name for op in scalar_ops if template_for(op) is None})


def scalar_program(op, node):
    """``(nin, instructions, outputs)`` for an Elemwise or Fused node (see ops/fused.py)."""
    if hasattr(op, "instructions"):
        return op.nin, tuple(op.instructions), tuple(op.outputs)
    nin = len(node.inputs)
    return nin, ((op.scalar_op, tuple(range(nin)), node.outputs[0].dtype),), (nin,)


# ---------------------------------------------------------------- kernel source

def _operand_dtype(k, nin, input_dtypes, instructions):
    return input_dtypes[k] if k < nin else instructions[k - nin][2]


def elementwise_source(name, nin, instructions, outputs, input_spec, out_ndim, out_dtypes):
    """Source of a grid-stride kernel; ``input_spec[k] = (dtype, ndim, is_host_scalar)``."""
    input_dtypes = [d for d, _, _ in input_spec]
    params = [f"out{j}" for j in range(len(outputs))] + [f"in{k}" for k in range(nin)] + ["n"]
    params += [f"d{a}" for a in range(out_ndim)]
    for k, (_, ndim, scalar) in enumerate(input_spec):
        if not scalar and ndim:
            params += [f"m{k}_{a}" for a in range(ndim)]
    power = any(op.name == "pow" and np.dtype(dtype).kind in "iu" for op, _, dtype in instructions)
    params += ["error"] if checks_power(instructions) else []
    lines = ([INT_POWER_SOURCE] if power else []) + [
        f"def {name}({', '.join(params)}):",
        "    for flat in range(cuda.grid(1), n, cuda.gridsize(1)):"]
    body = []
    if out_ndim:
        body.append("r = flat")
        for a in reversed(range(1, out_ndim)):
            body += [f"i{a} = r % d{a}", f"r = r // d{a}"]
        body.append("i0 = r")
    for k, (_, ndim, scalar) in enumerate(input_spec):
        if scalar:
            body.append(f"x{k} = in{k}")
        elif ndim == 0:
            body.append(f"x{k} = in{k}[0]")       # 0-d device values are passed as 1-element views
        else:
            lead = out_ndim - ndim
            index = ", ".join(f"i{lead + a} * m{k}_{a}" for a in range(ndim))
            body.append(f"x{k} = in{k}[{index}]")

    def operand(k):
        return f"x{k}" if k < nin else f"v{k - nin}"

    for j, (scalar_op, operands, dtype) in enumerate(instructions):
        template, convert = template_for(scalar_op)
        args = []
        for k in operands:
            if convert == "out" and _operand_dtype(k, nin, input_dtypes, instructions) != dtype:
                body.append(f"c{j}_{k} = {cast_expr(operand(k), dtype)}")
                args.append(f"c{j}_{k}")
            else:
                args.append(operand(k))
        if scalar_op.name == "pow" and np.dtype(dtype).kind == "i":
            body += [f"if {args[1]} < {literal(0, dtype)}:", "    error[0] = 1"]
        exact = None
        if scalar_op.name in _COMPARE:
            exact = exact_comparison(scalar_op.name, *args, *(_operand_dtype(k, nin, input_dtypes, instructions)
                                                              for k in operands))
        elif dtype == "int64" and scalar_op.name in _WRAPPING:
            exact = int64_wrapping(scalar_op.name, args, template)
        body.append(f"v{j} = {cast_expr(exact or template(*args, dtype), dtype)}")
    out_index = ", ".join(f"i{a}" for a in range(out_ndim)) if out_ndim else "0"
    for j, k in enumerate(outputs):
        value = operand(k)
        if _operand_dtype(k, nin, input_dtypes, instructions) != out_dtypes[j]:
            value = cast_expr(value, out_dtypes[j])
        body.append(f"out{j}[{out_index}] = {value}")
    lines += ["        " + line for line in body]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- launching

def broadcast_shape(shapes, label):
    first = tuple(shapes[0]) if shapes else ()
    if all(tuple(s) == first for s in shapes):     # the common case, without NumPy's slower general path
        return first
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        shown = ", ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{label}: shapes {shown} cannot be broadcast together") from None


class ElementwiseKernel:
    """A scalar program over inputs of fixed dtypes/ndims; call it with device arrays or host scalars."""

    def __init__(self, nin, instructions, outputs, input_spec, out_ndim, out_dtypes, label="elementwise"):
        self.nin, self.instructions, self.outputs = nin, tuple(instructions), tuple(outputs)
        self.input_spec, self.out_ndim, self.out_dtypes = tuple(input_spec), out_ndim, tuple(out_dtypes)
        self.label = label
        self.checks_power = checks_power(self.instructions)
        self.key = ("elementwise", self.nin, self.instructions, self.outputs, self.input_spec,
                    out_ndim, self.out_dtypes)
        self._kernel = None

    def kernel(self):
        if self._kernel is None:
            source = elementwise_source("elementwise_kernel", self.nin, self.instructions, self.outputs,
                                        self.input_spec, self.out_ndim, self.out_dtypes)
            self._kernel = build_kernel(self.key, "elementwise_kernel", source)
        return self._kernel

    def __call__(self, values, destinations=None):
        """Compute into fresh arrays (or into ``destinations``, views of the output shape); returns them."""
        shapes = [v.shape for v, (_, _, scalar) in zip(values, self.input_spec) if not scalar]
        if destinations is not None:
            shape = tuple(destinations[0].shape)
            if broadcast_shape(shapes + [shape], self.label) != shape:
                shown = ", ".join(str(tuple(s)) for s in shapes)
                raise ValueError(f"{self.label}: shapes {shown} cannot be broadcast to {shape}")
        else:
            shape = broadcast_shape(shapes, self.label) if shapes else ()
            if len(shape) < self.out_ndim:
                shape = (1,) * (self.out_ndim - len(shape)) + shape
            destinations = [device_empty(shape, d) for d in self.out_dtypes]
        n = math.prod(shape)
        if n == 0:
            return destinations
        args = [reshape_view(d, (1,)) if not self.out_ndim else d for d in destinations]
        masks = []
        for value, (dtype, ndim, scalar) in zip(values, self.input_spec):
            if scalar:
                args.append(np.asarray(value, dtype=dtype)[()])
            elif ndim == 0:
                args.append(reshape_view(value, (1,)))
            else:
                args.append(value)
                lead = self.out_ndim - ndim
                masks += [0 if value.shape[a] == 1 and shape[lead + a] != 1 else 1 for a in range(ndim)]
        args += [n] + [int(d) for d in shape] + masks
        if self.checks_power:
            args.append(_power_error.array())
        blocks, threads = sizes().elementwise_grid(n)
        self.kernel()[blocks, threads](*args)
        if self.checks_power and _power_error.raised():
            raise ValueError(f"{self.label}: Integers to negative integer powers are not allowed (as in NumPy)")
        return destinations


_copy_kernels = {}
_power_error = ErrorFlag()


def copy_into(destination, source):
    """``destination[...] = source`` (NumPy broadcasting) with an identity kernel."""
    from symgraph.ops.elemwise import Identity
    key = (destination.ndim, source.ndim, source.dtype.name, destination.dtype.name)
    kernel = _copy_kernels.get(key)
    if kernel is None:
        instruction = (Identity(), (0,), destination.dtype.name)
        kernel = ElementwiseKernel(1, (instruction,), (1,), ((source.dtype.name, source.ndim, False),),
                                   destination.ndim, (destination.dtype.name,), label="copy")
        _copy_kernels[key] = kernel
    kernel([source], [destination])
    return destination
