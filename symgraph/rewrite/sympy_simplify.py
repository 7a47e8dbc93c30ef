"""SymPy views of scalar expressions: ``to_sympy``/``latex`` for users, and simplification of fused nodes.

``to_sympy(expr)`` turns an elementwise expression (variables, constants, elementwise
and fused nodes, shape-only ops) into a SymPy expression whose symbols are named
after the graph's inputs, so a derivative can be read, printed (``latex``) or checked.

``simplify_fused_nodes`` is the optimizer's SymPy stage. For each small fused node it
converts the scalar program to SymPy (stable functions such as ``log1p``, ``softplus``
and ``sigmoid`` stay opaque so SymPy cannot undo the stability rewrites), simplifies,
converts back with common subexpressions shared, and keeps the result only when it
has fewer operations and agrees with the original at finite sample points (same values,
same NaN/inf pattern). Like ``fast_math``, the stage reasons about real numbers: it turns
``sin(x)**2 + cos(x)**2`` into 1, which is also 1 where the original is NaN (x = inf).

Each expression goes through a cheap-first cascade of SymPy normal forms (``factor_terms``,
``powsimp``; then ``expand``, ``cancel``; then ``trigsimp``; then ``simplify``), each later and
costlier step only for smaller expressions (``EXPAND_SIZE``, ``TRIG_SIZE``, ``SIMPLIFY_SIZE``, in
SymPy operations) and only while the expression's wall-clock budget (``EXPRESSION_BUDGET``) and
the stage's (``TIME_BUDGET``) last; a result that is a number ends the cascade. Sizes, the two
budgets and a structural cache bound the cost on large graphs.
"""
from __future__ import annotations

import functools
import time

import numpy as np

from ..graph import Constant, inherit_source, toposort
from .log import snapshot
from ..ops import elemwise as ew
from ..ops.base import as_variable, op_name

#: fused nodes with more instructions than this are left alone (SymPy's simplify is super-linear)
MAX_INSTRUCTIONS = 16
#: total seconds the SymPy stage may spend in one optimizer run
TIME_BUDGET = 1.0
#: seconds one expression's cascade may start new steps in
EXPRESSION_BUDGET = 0.25
#: the largest expressions (SymPy operation counts) given to expand/cancel, trigsimp and simplify
EXPAND_SIZE, TRIG_SIZE, SIMPLIFY_SIZE = 12, 12, 8

_CACHE: dict = {}
_SHAPE_ONLY = ("dimshuffle", "broadcast_to", "sum_to_shape", "stop_gradient", "identity", "reshape")


class Unsupported(Exception):
    """An expression SymPy conversion does not cover."""


def _sympy():
    import sympy
    return sympy


def _opaque_function(name):
    return _sympy().Function(name)


def _scalar_to_sympy(scalar_op, args, readable):
    """The SymPy form of one scalar op applied to SymPy ``args``: the SymPy function the op declares it is
    (``ScalarOp.sympy_function``), an opaque function for the stable ones (``sympy_readable``), or one of
    the operators SymPy has no function for."""
    sp = _sympy()
    name = scalar_op.name
    a = args[0]
    if scalar_op.sympy_function:
        return getattr(sp, scalar_op.sympy_function)(*args)
    if scalar_op.sympy_readable is not None:
        return scalar_op.sympy_readable(sp, *args) if readable else _opaque_function(name)(*args)
    operators = {"sub": lambda: args[0] - args[1], "true_div": lambda: args[0] / args[1],
                 "neg": lambda: -a, "identity": lambda: a, "add_n": lambda: sp.Add(*args)}
    if name in operators:
        return operators[name]()
    if name == "cast":
        if np.dtype(scalar_op.dtype).kind == "b":
            raise Unsupported("cast to bool")
        return a
    if name == "where" and readable:
        return sp.Piecewise((args[1], args[0]), (args[2], True))
    comparisons = {"lt": sp.Lt, "le": sp.Le, "gt": sp.Gt, "ge": sp.Ge, "eq": sp.Eq, "ne": sp.Ne}
    if name in comparisons and readable:
        return comparisons[name](*args)
    raise Unsupported(f"scalar op {name}")


def _constant_to_sympy(var):
    sp = _sympy()
    if var.value.size != 1 and not np.all(var.value == var.value.flat[0]):
        raise Unsupported(f"non-uniform constant {var!r}")
    value = var.value.flat[0].item()
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 2 ** 53:
        return sp.Integer(int(value))
    return sp.Float(value)


def to_sympy(expr, symbols=None):
    """A SymPy expression for the elementwise expression ``expr`` (inputs become named symbols).

    ``symbols`` may map input variables to SymPy symbols of your choice. Reductions,
    products and indexing are not scalar expressions and raise TypeError.
    """
    sp = _sympy()
    expr = as_variable(expr)
    mapping = dict(symbols or {})
    values = {}
    unnamed = 0

    def leaf(var):
        nonlocal unnamed
        if var in mapping:
            return mapping[var]
        if isinstance(var, Constant):
            return _constant_to_sympy(var)
        name = var.name
        if not name:
            name, unnamed = f"x{unnamed}", unnamed + 1
        mapping[var] = sp.Symbol(name)
        return mapping[var]

    def value(var):
        return values[var] if var in values else leaf(var)

    for node in toposort([expr], stop_at=list(mapping)):
        name = op_name(node.op)
        args = [value(v) for v in node.inputs]
        try:
            if name == "fused":
                operands = list(args)
                for scalar_op, indices, _ in node.op.instructions:
                    operands.append(_scalar_to_sympy(scalar_op, [operands[k] for k in indices], True))
                results = [operands[k] for k in node.op.outputs]
            elif hasattr(node.op, "scalar_op"):
                results = [_scalar_to_sympy(node.op.scalar_op, args, True)]
            elif name in _SHAPE_ONLY:
                results = [args[0]]
            else:
                raise Unsupported(f"op {node.op}")
        except Unsupported as exc:
            raise TypeError(f"to_sympy: {exc} is not a scalar elementwise expression{node.where()}") from None
        for var, result in zip(node.outputs, results):
            values[var] = result
    return value(expr)


def latex(expr, symbols=None):
    """The LaTeX formula of the elementwise expression ``expr`` (for printing a derivative)."""
    return _sympy().latex(to_sympy(expr, symbols))


# ------------------------------------------------------------------ the optimizer stage

@functools.lru_cache(maxsize=None)
def _from_sympy_unary() -> dict:
    """SymPy function name -> the scalar op class of one argument it is (opaque ones by the op's name)."""
    table = {}
    for cls in ew.SCALAR_OPS.values():
        if cls.nin == 1 and not cls.__props__ and (cls.sympy_function or cls.sympy_readable is not None):
            table[cls.sympy_function or cls.name] = cls
    return table


class _ProgramBuilder:
    """Turns SymPy expressions back into fused instructions, sharing equal subexpressions."""

    def __init__(self, symbols, dtype):
        self.operand = {s: k for k, s in enumerate(symbols)}
        self.nin = len(symbols)
        self.constants = []           # new constant inputs (values), appended after the old inputs
        self.instructions = []
        self.dtype = dtype

    def emit(self, scalar_op, operands):
        key = (scalar_op, tuple(operands))
        if key in self.operand:
            return self.operand[key]
        index = ("i", len(self.instructions))
        self.instructions.append((scalar_op, tuple(operands), self.dtype))
        self.operand[key] = index
        return index

    def constant(self, number):
        key = ("c", float(number))
        if key not in self.operand:
            self.constants.append(float(number))
            self.operand[key] = ("c", len(self.constants) - 1)
        return self.operand[key]

    def convert(self, expr):
        sp = _sympy()
        if expr in self.operand:
            return self.operand[expr]
        if expr.is_Number:
            if not expr.is_real or not expr.is_finite:
                raise Unsupported(str(expr))
            return self.constant(float(expr))
        if expr.is_Add:
            terms = list(expr.args)
            positive = [t for t in terms if not _is_negated(t)]
            negative = [-t for t in terms if _is_negated(t)]
            if not positive:
                result = self.emit(ew.Neg(), [self.convert(sp.Add(*negative))])
            else:
                result = self.convert(positive[0])
                for term in positive[1:]:
                    result = self.emit(ew.Add(), [result, self.convert(term)])
                for term in negative:
                    result = self.emit(ew.Sub(), [result, self.convert(term)])
        elif expr.is_Mul:
            coefficient, factors = expr.as_coeff_mul()
            if coefficient == -1:
                result = self.emit(ew.Neg(), [self.convert(sp.Mul(*factors))])
            else:
                numerator = [f for f in expr.args if not (f.is_Pow and f.exp.is_negative)]
                denominator = [1 / f for f in expr.args if f.is_Pow and f.exp.is_negative]
                result = self._product(numerator) if numerator else self.constant(1.0)
                if denominator:
                    result = self.emit(ew.TrueDiv(), [result, self._product(denominator)])
        elif expr.is_Pow:
            base, exponent = expr.args
            if exponent == sp.Rational(1, 2):
                result = self.emit(ew.Sqrt(), [self.convert(base)])
            elif exponent.is_Integer and 2 <= int(exponent) <= 4:
                b = self.convert(base)
                result = b
                for _ in range(int(exponent) - 1):
                    result = self.emit(ew.Mul(), [result, b])
            elif exponent.is_negative:
                result = self.emit(ew.TrueDiv(), [self.constant(1.0), self.convert(1 / expr)])
            else:
                result = self.emit(ew.Pow(), [self.convert(base), self.convert(exponent)])
        elif isinstance(expr, (sp.Max, sp.Min)):
            op = ew.Maximum() if isinstance(expr, sp.Max) else ew.Minimum()
            args = [self.convert(a) for a in expr.args]
            result = args[0]
            for a in args[1:]:
                result = self.emit(op, [result, a])
        elif expr.is_Function and type(expr).__name__ in _from_sympy_unary() and len(expr.args) == 1:
            result = self.emit(_from_sympy_unary()[type(expr).__name__](), [self.convert(expr.args[0])])
        else:
            raise Unsupported(str(type(expr)))
        self.operand[expr] = result
        return result

    def _product(self, factors):
        result = self.convert(factors[0])
        for f in factors[1:]:
            result = self.emit(ew.Mul(), [result, self.convert(f)])
        return result

    def finish(self, outputs):
        """(number of inputs, instructions, outputs) with operands as final indices."""
        nin = self.nin + len(self.constants)

        def index(ref):
            if isinstance(ref, int):
                return ref
            kind, k = ref
            return self.nin + k if kind == "c" else nin + k
        instructions = [(op, tuple(index(r) for r in ops), dtype) for op, ops, dtype in self.instructions]
        return nin, instructions, [index(r) for r in outputs]


def _is_negated(term):
    return term.is_Mul and term.as_coeff_mul()[0].is_negative or term.is_Number and term.is_negative


def _supported(scalar_op) -> bool:
    """Whether the SymPy stage can take ``scalar_op`` through SymPy and back."""
    return bool(scalar_op.sympy_function or scalar_op.sympy_readable is not None
                or scalar_op.name in ("sub", "true_div", "neg", "add_n", "identity"))


def _eligible(node):
    op = node.op
    dtypes = {v.dtype for v in node.inputs} | {d for _, _, d in op.instructions}
    if len(dtypes) != 1 or np.dtype(next(iter(dtypes))).kind != "f":
        return False
    if not 1 < len(op.instructions) <= MAX_INSTRUCTIONS:
        return False
    return all(_supported(s) for s, _, _ in op.instructions)


def _simplified_program(node, deadline=None):
    """(new inputs, Fused op) for a cheaper equivalent of ``node``, or None."""
    sp = _sympy()
    from ..ops.fused import Fused
    op = node.op
    dtype = node.outputs[0].dtype
    symbols = [sp.Symbol(f"i{k}", real=True) for k in range(op.nin)]
    leaves = [_constant_to_sympy(v) if isinstance(v, Constant) and v.value.size == 1 else s
              for v, s in zip(node.inputs, symbols)]
    operands = list(leaves)
    for scalar_op, indices, _ in op.instructions:
        operands.append(_scalar_to_sympy(scalar_op, [operands[k] for k in indices], False))
    simplified = [_cheap_simplify(operands[k], deadline) for k in op.outputs]
    builder = _ProgramBuilder(symbols, dtype)
    outputs = [builder.convert(e) for e in simplified]
    # An output that is a constant or an input (sin(x)**2 + cos(x)**2 -> 1) is copied by an identity
    # instruction: the fused node still broadcasts it to the shape of all its inputs.
    outputs = [ref if isinstance(ref, tuple) and ref[0] == "i" else builder.emit(ew.Identity(), [ref])
               for ref in outputs]
    nin, instructions, output_indices = builder.finish(outputs)
    if len(instructions) >= len(op.instructions) or not instructions:
        return None
    new_inputs = list(node.inputs) + [Constant(c, dtype=dtype) for c in builder.constants]
    new_op = Fused(nin, instructions, output_indices)
    if not _agrees(op, new_op, node.inputs, new_inputs):
        return None
    return new_inputs, new_op


def _cheap_simplify(expr, deadline=None):
    """The smallest SymPy form of ``expr`` found by the cheap-first cascade (module docstring).

    ``sympy.simplify`` can take seconds on a 15-operation trigonometric expression, so it runs last
    and only on small ones; a step is started only before both deadlines, and a number ends it.
    """
    sp = _sympy()
    size = sp.count_ops(expr)
    own_deadline = time.perf_counter() + EXPRESSION_BUDGET
    deadline = own_deadline if deadline is None else min(deadline, own_deadline)
    transforms = [sp.factor_terms, sp.powsimp]
    if size <= EXPAND_SIZE:
        transforms += [sp.expand, sp.cancel, lambda e: sp.factor_terms(sp.expand(e))]
    if size <= TRIG_SIZE and expr.has(sp.sin, sp.cos, sp.tan, sp.tanh):
        transforms.append(sp.trigsimp)
    if size <= SIMPLIFY_SIZE:
        transforms.append(sp.simplify)
    best, best_size = expr, size
    for transform in transforms:
        if best.is_Number or time.perf_counter() > deadline:
            break
        try:
            candidate = transform(best)
        except Exception:  # SymPy raises many kinds of errors on odd inputs; a failed form is skipped
            continue
        candidate_size = sp.count_ops(candidate)
        if candidate_size < best_size or (candidate.is_Number and not best.is_Number):
            best, best_size = candidate, candidate_size
    return best


def _agrees(old_op, new_op, old_inputs, new_inputs, samples=24):
    """Both programs give the same values (and the same NaN/inf pattern) at sample points."""
    rng = np.random.default_rng(0)
    dtype = old_inputs[0].dtype if old_inputs else "float64"
    arrays = []
    for var in old_inputs:
        if isinstance(var, Constant):
            arrays.append(np.broadcast_to(var.value, (samples,)) if var.value.size == 1 else None)
        else:
            points = np.concatenate([rng.normal(0, 2, samples - 6), [0.0, 1.0, -1.0, 0.5, 2.0, -3.0]])
            arrays.append(rng.permutation(points).astype(dtype))
    if any(a is None for a in arrays):
        return False
    arrays += [np.broadcast_to(v.value, (samples,)) for v in new_inputs[len(old_inputs):]]
    old = _evaluate(old_op, arrays[:len(old_inputs)])
    new = _evaluate(new_op, arrays)
    tolerance = 1e-9 if dtype == "float64" else 1e-4
    for a, b in zip(old, new):
        if not np.array_equal(np.isfinite(a), np.isfinite(b)):
            return False
        finite = np.isfinite(a)
        if not np.allclose(a[finite], b[finite], rtol=tolerance * 100, atol=tolerance):
            return False
        if not np.array_equal(a[~finite], b[~finite], equal_nan=True):
            return False
    return True


def _evaluate(op, arrays):
    values = list(arrays)
    with np.errstate(all="ignore"):
        for scalar_op, indices, dtype in op.instructions:
            values.append(np.asarray(scalar_op.impl(*[values[k] for k in indices]), dtype=dtype))
    return [np.broadcast_to(values[k], (len(arrays[0]),)) for k in op.outputs]


def _structure_key(node):
    constants = tuple(v.signature() if isinstance(v, Constant) else None for v in node.inputs)
    return (node.op, constants, node.outputs[0].dtype)


def simplify_fused_nodes(fg, time_budget=None):
    """The SymPy stage: replace fused nodes by cheaper equivalent ones; returns how many changed."""
    budget = TIME_BUDGET if time_budget is None else time_budget
    start = time.perf_counter()
    changed = 0
    from ..ops.fused import Fused
    for node in [n for n in fg.toposort() if isinstance(n.op, Fused)]:
        if not _eligible(node):
            continue
        key = _structure_key(node)
        if key not in _CACHE:
            if time.perf_counter() - start > budget:
                break
            try:
                _CACHE[key] = _simplified_program(node, start + budget)
            except (Unsupported, TypeError, ValueError, AttributeError, RecursionError):
                _CACHE[key] = None
        found = _CACHE[key]
        if found is None:
            continue
        extra = len(found[0]) - len(node.inputs)
        new_inputs = list(node.inputs) + found[0][len(found[0]) - extra:] if extra else list(node.inputs)
        with inherit_source(node.sources):
            new_node = found[1].make_node(*new_inputs)
        if any(o.dtype != n.dtype or not o.type.is_compatible(n.type) for o, n in zip(node.outputs, new_node.outputs)):
            continue
        before = None
        if fg.log is not None and fg.log.detailed:
            before = [snapshot(v) for v in node.outputs]
        _CACHE.setdefault(_structure_key(new_node), None)  # already simplified: keeps the pass idempotent
        fg.import_variable(new_node.outputs[0])
        for old, new in zip(node.outputs, new_node.outputs):
            fg.replace(old, new, "sympy_simplify", check=False)
        if fg.log is not None:
            fg.log.record(fg.stage, "sympy_simplify", before, new_node.outputs, node.sources)
        changed += 1
    return changed
