"""Elementwise kernels: the ops' own scalar formulas, one generated grid-stride kernel per node.

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

from symgraph.ops.elemwise import SCALAR_OPS, ScalarDialect

from .runtime import ErrorFlag, build_kernel, cast_expr, device_empty, literal, reshape_view, simulator_enabled, sizes


# ---------------------------------------------------------------- the scalar ops' dialect

#: functions of NumPy that Numba's CUDA target provides in ``numba.cuda`` rather than in ``math``
_CUDA_FUNCTIONS = {"cbrt"}
# NumPy's names of the functions ``math`` spells differently
_MATH_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
               "arctanh": "atanh", "arctan2": "atan2"}


class CudaDialect(ScalarDialect):
    """How the ops' scalar formulas (``ScalarOp.formula``) are written in a cuda kernel: ``math``'s functions
    (``M``), and temporaries as lines of the kernel body."""

    def __init__(self, dtype, body, prefix):
        self.dtype = np.dtype(dtype)
        self.body, self.prefix, self.count = body, prefix, 0

    def call(self, function, *args):
        # Numba's CUDA target has cbrt as ``cuda.cbrt``, not ``math.cbrt``; its simulator's ``cuda.cbrt``
        # is ``a ** (1 / 3)`` (NaN below 0), so there ``M`` (NumPy) computes it.
        if function == "exp2":          # not in Numba's CUDA math
            return self.power(self.lit(2), args[0])
        namespace = "cuda" if function in _CUDA_FUNCTIONS and not simulator_enabled() else "M"
        return f"{namespace}.{_MATH_NAMES.get(function, function)}({', '.join(args)})"

    def lit(self, value):
        return literal(value, self.dtype.name)

    def let(self, expression):
        if expression.isidentifier():
            return expression
        name = f"{self.prefix}_{self.count}"
        self.count += 1
        self.body.append(f"{name} = {expression}")
        return name

    def truth(self, x):
        return f"({x} != 0)"

    def convert(self, x, dtype):
        return f"T_{np.dtype(dtype).name}({x})"

    def abs(self, x):
        return f"abs({x})"

    def maximum(self, a, b):
        return f"({a} if ({a} >= {b} or {a} != {a}) else {b})"       # NaN propagates, as np.maximum

    def minimum(self, a, b):
        return f"({a} if ({a} <= {b} or {a} != {a}) else {b})"

    def mul(self, a, b):
        # NVVM contracts a product and a following sum into one fused multiply-add (its default, with no
        # public switch in numba-cuda), which rounds once where NumPy rounds twice: x * y - x * y would not
        # be 0. libdevice's round-to-nearest product is never contracted. (The simulator runs Python floats.)
        if self.dtype.kind == "f" and self.dtype.itemsize in (4, 8) and not simulator_enabled():
            return f"LD.{'fmul_rn' if self.dtype.itemsize == 4 else 'dmul_rn'}({a}, {b})"
        return f"({a} * {b})"

    def power(self, a, b):
        if self.dtype.kind in "iu":     # exact, in modular uint64 arithmetic; the caller casts to the dtype
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
_COMPARE = {"lt", "le", "gt", "ge", "eq", "ne"}


def exact_comparison(name, a, b, a_dtype, b_dtype):
    """``a <op> b`` for a signed integer against a uint64, exactly as NumPy's ``qQ->?`` loops (Numba would
    compare both as float64, which rounds above 2**53); None for other dtype pairs."""
    kinds = {np.dtype(a_dtype).kind, np.dtype(b_dtype).kind}
    if kinds != {"i", "u"} or np.dtype("uint64") not in (np.dtype(a_dtype), np.dtype(b_dtype)):
        return None
    if np.dtype(a_dtype).kind == "u":            # the signed operand on the left: a > b is b < a
        name, a, b = _MIRRORED.get(name, name), b, a
    negative = f"(T_int64({a}) < T_int64(0))"
    unsigned = f"(T_uint64({a}) {SCALAR_OPS[name].operator} T_uint64({b}))"
    if name in ("lt", "le", "ne"):               # a negative number is below every uint64
        return f"({negative} or {unsigned})"
    return f"((not {negative}) and {unsigned})"


# Numba marks signed 64-bit arithmetic "no signed wrap" (LLVM's nsw), so an overflow is undefined and the
# compiler may fold ``a + b > 0`` as if it could not wrap; uint64 arithmetic has the same bits, modulo 2**64.
_WRAPPING = {"add", "sub", "mul", "add_n", "neg", "abs"}


def int64_wrapping(scalar_op, args, dialect):
    """Source for an int64 ``scalar_op`` computed in uint64 (the caller casts the result back to int64)."""
    if scalar_op.name == "abs":                # abs(-2**63) is -2**63, as in NumPy
        x = args[0]
        return f"(T_uint64({x}) if {x} >= T_int64(0) else -T_uint64({x}))"
    unsigned = CudaDialect("uint64", dialect.body, dialect.prefix)
    return scalar_op.formula(unsigned, *[f"T_uint64({a})" for a in args])


def checks_power(instructions) -> bool:
    """Whether the program raises a signed integer to a power (a negative exponent is an error)."""
    return any(op.name == "pow" and np.dtype(dtype).kind == "i" for op, _, dtype in instructions)


def converts_operands(scalar_op) -> bool:
    """Whether the operands are converted to the result dtype first (arithmetic), or used as they are
    (comparisons, logical operators, ``where``'s condition and branches)."""
    return not (scalar_op.predicate or scalar_op.name == "where")


def missing_scalar_ops(scalar_ops) -> list[str]:
    return sorted({op.name for op in scalar_ops if not op.has_formula()})


# ---------------------------------------------------------------- kernel source

def _operand_dtype(k, nin, input_dtypes, instructions):
    return input_dtypes[k] if k < nin else instructions[k - nin][2]


def elementwise_source(name, nin, instructions, outputs, input_spec, out_ndim, out_dtypes):
    """Source of a grid-stride kernel; ``input_spec[k] = (dtype, ndim, is_host_scalar)``."""
    params = [f"out{j}" for j in range(len(outputs))] + [f"in{k}" for k in range(nin)] + ["n"]
    params += [f"d{a}" for a in range(out_ndim)]
    params += mask_parameters(input_spec)
    params += ["error"] if checks_power(instructions) else []
    lines = ([INT_POWER_SOURCE] if uses_int_power(instructions) else []) + [
        f"def {name}({', '.join(params)}):",
        "    for flat in range(cuda.grid(1), n, cuda.gridsize(1)):"]
    body = []
    if out_ndim:
        body.append("r = flat")
        for a in reversed(range(1, out_ndim)):
            body += [f"i{a} = r % d{a}", f"r = r // d{a}"]
        body.append("i0 = r")
    body += elementwise_body(nin, instructions, outputs, input_spec, out_ndim, out_dtypes)
    lines += ["        " + line for line in body]
    return "\n".join(lines) + "\n"


def mask_parameters(input_spec, given=(), prefix=""):
    """The 0/1 broadcast mask parameters of the array inputs (``m<k>_<axis>``), but those in ``given``."""
    return [f"{prefix}m{k}_{a}" for k, (_, ndim, scalar) in enumerate(input_spec)
            if not scalar and k not in given for a in range(ndim)]


def uses_int_power(instructions) -> bool:
    return any(op.name == "pow" and np.dtype(dtype).kind in "iu" for op, _, dtype in instructions)


def elementwise_body(nin, instructions, outputs, input_spec, out_ndim, out_dtypes, given=None, prefix="",
                     store=True):
    """The lines computing one element at the output index ``i0, i1, ...``: read each input ``in<k>`` (or
    take ``given[k]``, an expression of the caller's), run the scalar program, store ``out<j>``. Every name
    the lines make or read (but the index and ``given``) starts with ``prefix``. ``store=False``: returns
    the lines and the outputs' values (expressions) instead of storing them."""
    given = given or {}
    x, v, c, src, mask = (prefix + name for name in ("x", "v", "c", "in", "m"))
    input_dtypes = [d for d, _, _ in input_spec]
    body = []
    for k, (_, ndim, scalar) in enumerate(input_spec):
        if k in given:
            body.append(f"{x}{k} = {given[k]}")
        elif scalar:
            body.append(f"{x}{k} = {src}{k}")
        elif ndim == 0:
            body.append(f"{x}{k} = {src}{k}[0]")       # 0-d device values are passed as 1-element views
        else:
            lead = out_ndim - ndim
            index = ", ".join(f"i{lead + a} * {mask}{k}_{a}" for a in range(ndim))
            body.append(f"{x}{k} = {src}{k}[{index}]")

    def operand(k):
        return f"{x}{k}" if k < nin else f"{v}{k - nin}"

    for j, (scalar_op, operands, dtype) in enumerate(instructions):
        args = []
        for k in operands:
            if converts_operands(scalar_op) and _operand_dtype(k, nin, input_dtypes, instructions) != dtype:
                source = _operand_dtype(k, nin, input_dtypes, instructions)
                body.append(f"{c}{j}_{k} = {cast_expr(operand(k), dtype, source)}")
                args.append(f"{c}{j}_{k}")
            else:
                args.append(operand(k))
        if scalar_op.name == "pow" and np.dtype(dtype).kind == "i":
            body += [f"if {args[1]} < {literal(0, dtype)}:", "    error[0] = 1"]
        # a predicate's formula computes in its operands' dtype (isnan of an integer is False), others in the result's
        computes_in = np.result_type(*[_operand_dtype(k, nin, input_dtypes, instructions) for k in operands]) \
            if scalar_op.predicate else dtype
        if scalar_op.wide and dtype == "float32":     # computed in float64, rounded once (below)
            computes_in, args = "float64", [cast_expr(a, "float64") for a in args]
        dialect = CudaDialect(computes_in, body, f"{prefix}t{j}")
        exact = None
        if scalar_op.name in _COMPARE:
            exact = exact_comparison(scalar_op.name, *args, *(_operand_dtype(k, nin, input_dtypes, instructions)
                                                              for k in operands))
        elif dtype == "int64" and scalar_op.name in _WRAPPING:
            exact = int64_wrapping(scalar_op, args, dialect)
        body.append(f"{v}{j} = {cast_expr(exact or scalar_op.formula(dialect, *args), dtype)}")
    values = []
    for j, k in enumerate(outputs):
        value = operand(k)
        source = _operand_dtype(k, nin, input_dtypes, instructions)
        if source != out_dtypes[j]:
            value = cast_expr(value, out_dtypes[j], source)
        values.append(value)
    if not store:
        return body, values
    out_index = ", ".join(f"i{a}" for a in range(out_ndim)) if out_ndim else "0"
    return body + [f"out{j}[{out_index}] = {value}" for j, value in enumerate(values)]


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

    def kernel(self, call):
        """The compiled kernel (built on first use, noted by ``call``: a ``Call``, or None outside one)."""
        if self._kernel is None:
            source = elementwise_source("elementwise_kernel", self.nin, self.instructions, self.outputs,
                                        self.input_spec, self.out_ndim, self.out_dtypes)
            build = call.kernel if call is not None else build_kernel
            self._kernel = build(self.key, "elementwise_kernel", source)
        return self._kernel

    def output_shape(self, values):
        """The NumPy broadcast of ``values``' shapes (host scalars aside), with the output's ndim."""
        shapes = [tuple(v.shape) for v, (_, _, scalar) in zip(values, self.input_spec) if not scalar]
        shape = broadcast_shape(shapes, self.label) if shapes else ()
        return (1,) * (self.out_ndim - len(shape)) + shape

    def __call__(self, call, values, destinations=None):
        """Compute into arrays made by ``call`` (or into ``destinations``, views of the output shape);
        returns them."""
        if destinations is not None:
            shapes = [v.shape for v, (_, _, scalar) in zip(values, self.input_spec) if not scalar]
            shape = tuple(destinations[0].shape)
            if broadcast_shape(shapes + [shape], self.label) != shape:
                shown = ", ".join(str(tuple(s)) for s in shapes)
                raise ValueError(f"{self.label}: shapes {shown} cannot be broadcast to {shape}")
        else:
            shape = self.output_shape(values)
            destinations = [call.empty(shape, d) if call is not None else device_empty(shape, d)
                            for d in self.out_dtypes]
        n = math.prod(shape)
        if n == 0:
            return destinations
        args = [reshape_view(d, (1,)) if not self.out_ndim else d for d in destinations]
        inputs, masks = input_arguments(values, self.input_spec, shape)
        args += inputs + [n] + [int(d) for d in shape] + masks
        if self.checks_power:
            args.append(_power_error.array())
        blocks, threads = sizes().elementwise_grid(n)
        self.kernel(call)[blocks, threads](*args)
        if self.checks_power and _power_error.raised():
            raise ValueError(f"{self.label}: Integers to negative integer powers are not allowed (as in NumPy)")
        return destinations


def input_arguments(values, input_spec, shape, given=()):
    """The kernel arguments of an elementwise program's inputs (``values``, but the positions in ``given``)
    and their broadcast masks for an output of ``shape``, in the order of ``elementwise_source``."""
    args, masks = [], []
    for k, (value, (dtype, ndim, scalar)) in enumerate(zip(values, input_spec)):
        if k in given:
            continue
        if scalar:
            args.append(np.asarray(value, dtype=dtype)[()])
        elif ndim == 0:
            args.append(reshape_view(value, (1,)))
        else:
            args.append(value)
            lead = len(shape) - ndim
            masks += [0 if value.shape[a] == 1 and shape[lead + a] != 1 else 1 for a in range(ndim)]
    return args, masks


_copy_kernels = {}
_power_error = ErrorFlag()


def copy_into(call, destination, source):
    """``destination[...] = source`` (NumPy broadcasting) with an identity kernel (``call`` as for
    ``ElementwiseKernel``)."""
    from symgraph.ops.elemwise import Identity
    key = (destination.ndim, source.ndim, source.dtype.name, destination.dtype.name)
    kernel = _copy_kernels.get(key)
    if kernel is None:
        instruction = (Identity(), (0,), destination.dtype.name)
        kernel = ElementwiseKernel(1, (instruction,), (1,), ((source.dtype.name, source.ndim, False),),
                                   destination.ndim, (destination.dtype.name,), label="copy")
        _copy_kernels[key] = kernel
    kernel(call, [source], [destination])
    return destination
