"""How each output of a graph depends on the sample axis of its blocked inputs (for ``symgraph.dask``).

``symgraph.dask`` runs a compiled function once per block of rows and must know, before it runs
anything, how to put the blocks' results together. This module decides it from the graph alone,
never from values: a tag (``Dependence``) is propagated from the blocked inputs, whose axis 0 is
the sample axis, through every node, by one rule per op. With ``n`` a block's number of rows and
``N`` the total:

- ``const``: the same value for every block and for the whole (inputs given whole, shared
  variables, constants, and anything computed from those only). ``power`` p: the value is
  ``c * n**-p`` with ``c`` the same everywhere (``1 / n`` has power 1, the row count ``n``
  power -1 and the flag ``count``).
- ``rows``: the value has a sample axis (``axis``) and its block ``b`` is the whole's rows of
  block ``b``, each scaled by ``n**-power`` (power 1: the rows of ``d mean / d x``, ``r_i / n``
  in a block and ``r_i / N`` in the whole).
- ``sum``: the whole's value is the sum of the blocks' values (a sum over rows, a gradient of a sum).
- ``mean``: the whole's value is the blocks' values averaged with weights ``n / N``.
- ``iota``: the positions 0..n-1 of a block's rows (``arange(x.shape[0])``): only good as the
  index that pairs each row with itself (``log_p[arange(n), labels]``).
- ``unknown``: anything not proven above; ``reason`` says where the proof stopped.

The rules are conservative: an op without a rule here is ``unknown`` unless all its inputs are
``const``. An affine map of a mean (``mean + c``) is still a mean, because the weights sum to
one; a sum plus a constant is not a sum.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .graph import Constant, toposort
from .ops.elemwise import Elemwise
from .ops.index import SYMBOLIC, AdvancedIncSubtensor, AdvancedSubtensor, ARange, IncSubtensor, Subtensor
from .ops.join import Join
from .ops.linalg import Dot
from .ops.nnet import LogSoftmax, LogSumExp, OneHot, Softmax
from .ops.reduce import Reduce, SumToShape
from .ops.shape import BroadcastTo, DimShuffle, Reshape, Shape, ShapeOf, SpecifyShape
from .ops.sort import ArgReduce, Cumulative


@dataclass(frozen=True)
class Dependence:
    """How a variable depends on the sample axis (see the module's documentation for the kinds)."""
    kind: str
    axis: int | None = None
    power: int = 0
    count: bool = False
    zero: bool = False
    reason: str = ""

    @property
    def combined(self) -> str | None:
        """How an output of this dependence is put together from the blocks' results: ``"rows"``
        (concatenated along ``axis``), ``"sum"``, ``"mean"``, ``"const"`` (any block's value), or None."""
        if self.kind == "rows" and self.power == 0:
            return "rows"
        if self.kind in ("sum", "mean"):
            return self.kind
        if self.kind == "const" and self.power == 0:
            return "const"
        if self.kind == "const" and self.power == -1:     # c * n in a block, c * N for the whole
            return "sum"
        return None

    def why_not(self) -> str:
        """Why the result cannot be put together (for error messages)."""
        if self.kind == "unknown":
            return self.reason
        if self.kind == "rows":
            return ("its rows are scaled by the number of rows of the block they are in (as the gradient of "
                    "a mean with respect to a per-row value is), so a block's rows differ from the whole's")
        if self.kind == "iota":
            return "it holds the positions of rows inside a block, which differ from their positions in the whole"
        return "it scales with a power of the number of rows other than 1 (a sum) or 0"


CONST = Dependence("const")
ZERO = Dependence("const", zero=True)


def rows(axis, power=0, zero=False):
    return Dependence("rows", axis=axis, power=power, zero=zero)


def const(power=0, count=False, zero=False):
    return Dependence("const", power=power, count=count, zero=zero)


def unknown(node, why):
    return Dependence("unknown", reason=f"{node.op}{node.where()} {why}")


def total(power, node):
    """What summing rows of ``power`` over the sample axis gives: a sum (power 0) or a mean (power 1)."""
    if power == 0:
        return Dependence("sum")
    if power == 1:
        return Dependence("mean")
    return unknown(node, "sums rows scaled by a power of the block's row count other than 0 or 1")


def classify(outputs, blocked_inputs) -> list[Dependence]:
    """The ``Dependence`` of each of ``outputs`` when ``blocked_inputs`` are split into blocks of rows.

    Parameters
    ----------
    outputs : list of Variable
        The graph's outputs (a compiled function's ``outputs``: the user's graph, before rewrites).
    blocked_inputs : list of Variable
        The inputs given block by block (their axis 0 is the sample axis); every other input is
        the same for every block.

    Returns
    -------
    list of Dependence
        One per output; ``.combined`` says how to put the blocks' results together (None: not
        provable, ``.why_not()`` says why).

    Examples
    --------
    >>> import symgraph as sg
    >>> X, w = sg.matrix("X"), sg.vector("w")
    >>> [d.combined for d in classify([X @ w, (X @ w).mean(), (X @ w).max()], [X])]
    ['rows', 'mean', None]
    """
    from .ops.from_graph import inline_all
    outputs = inline_all(list(outputs))
    tags = {}
    for var in blocked_inputs:
        tags[id(var)] = rows(0) if var.ndim else Dependence("unknown", reason=f"{var.describe()} has no axis 0")

    def tag_of(var):
        found = tags.get(id(var))
        if found is not None:
            return found
        if isinstance(var, Constant):
            return ZERO if not np.any(var.value) else CONST
        return CONST                           # inputs given whole, shared variables

    for node in toposort(outputs):
        results = _rule(node, [tag_of(v) for v in node.inputs])
        for var, tag in zip(node.outputs, results):
            tags[id(var)] = tag
    return [tag_of(v) for v in outputs]


_KEEPS_ZERO = (BroadcastTo, DimShuffle, Reshape, SpecifyShape)
_KEEPS_ZERO_SCALAR = ("neg", "cast", "identity")


def _rule(node, ins):
    for tag in ins:
        if tag.kind == "unknown":
            return [tag] * len(node.outputs)
    op = node.op
    if all(t.kind == "const" and t.power == 0 for t in ins):
        zero = bool(ins) and ins[0].zero and (isinstance(op, _KEEPS_ZERO) or isinstance(op, Elemwise)
                                               and op.scalar_op.name in _KEEPS_ZERO_SCALAR)
        return [replace(CONST, zero=zero)] * len(node.outputs)
    rule = _RULES.get(type(op))
    if rule is None:
        return [unknown(node, "is not known to act row by row, nor to sum over rows")] * len(node.outputs)
    result = rule(node, ins)
    return result if isinstance(result, list) else [result]


# ---------------------------------------------------------------- elementwise

_ADDITIVE = ("add", "sub", "add_n")
_HOMOGENEOUS = ("neg", "identity", "relu")     # f(c x) = c f(x) for c > 0: a row scaling passes through


def _combine_powers(node, powers_and_zero):
    """The common power of operands that are added (zeros fit any power), or None."""
    powers = {p for p, zero in powers_and_zero if not zero}
    if len(powers) > 1:
        return None
    return powers.pop() if powers else 0


def _elemwise(node, ins):
    name = node.op.scalar_op.name
    out = node.outputs[0]
    if any(t.kind == "iota" for t in ins):
        return unknown(node, "computes with the positions of rows inside a block")
    if any(t.kind == "rows" for t in ins):
        return _elemwise_rows(node, ins, name, out)
    return _elemwise_totals(node, ins, name, out)


def _elemwise_rows(node, ins, name, out):
    sample = None
    for var, tag in zip(node.inputs, ins):
        if tag.kind == "rows":
            aligned = tag.axis + out.ndim - var.ndim
            if sample is not None and aligned != sample:
                return unknown(node, "combines values whose sample axes are different axes")
            sample = aligned
    for var, tag in zip(node.inputs, ins):
        if tag.kind in ("sum", "mean"):
            return unknown(node, f"combines rows with a {tag.kind} over rows")
        if tag.kind == "const":
            axis = sample - (out.ndim - var.ndim)
            if axis >= 0 and var.type.shape[axis] != 1:
                return unknown(node, f"combines rows with {var.describe()}, which is given whole and would "
                                     "need the sample axis's length")
    if all(t.power == 0 for t in ins):
        return rows(sample)                  # any elementwise function of rows acts row by row
    power = _scaled_power(node, ins, name)
    if power is None:
        return unknown(node, f"applies {name} to rows scaled by the block's row count (not linear)")
    return rows(sample, power)


def _scaled_power(node, ins, name):
    """The power of the result of a linear (or positively homogeneous) elementwise op, or None."""
    pairs = [(t.power, t.zero) for t in ins]
    if name in _ADDITIVE:
        return _combine_powers(node, pairs)
    if name in _HOMOGENEOUS or name == "cast" and (node.outputs[0].type.is_float or ins[0].count):
        return ins[0].power
    if name == "mul":
        return ins[0].power + ins[1].power
    if name == "true_div":
        return ins[0].power - ins[1].power
    if name == "where" and ins[0].power == 0:
        return _combine_powers(node, pairs[1:])
    return None


def _elemwise_totals(node, ins, name, out):
    """Elementwise ops among consts (of any power), sums and means."""
    kinds = {t.kind for t in ins if not t.zero}
    if kinds <= {"const"}:
        power = _scaled_power(node, ins, name)
        if power is None:
            return unknown(node, f"applies {name} to a value that scales with the block's row count")
        count = name == "cast" and ins[0].count
        return const(power, count=count)
    totals = kinds - {"const"}
    if len(totals) > 1:
        return unknown(node, "combines a sum over rows with a mean over rows")
    kind = totals.pop()
    operands = [t for t in ins if not t.zero]
    if name in _ADDITIVE or name == "where":
        others = operands if name != "where" else [t for t in ins[1:] if not t.zero]
        if name == "where" and not (ins[0].kind == "const" and ins[0].power == 0):
            return unknown(node, f"selects with a condition computed from a {ins[0].kind} over rows")
        constants = [t for t in others if t.kind == "const"]
        if kind == "sum" and constants:
            return unknown(node, "adds a value given whole to a sum over rows (the blocks' sums would count "
                                 "it once per block)")
        if kind == "mean" and any(t.power != 0 for t in constants):
            return unknown(node, "adds a value that scales with the block's row count to a mean")
        return Dependence(kind)
    if name in ("neg", "identity") or name == "cast" and out.type.is_float:
        return Dependence(kind)
    if name in ("mul", "true_div"):
        total_side = 0 if ins[0].kind == kind else 1
        if name == "true_div" and total_side == 1:
            return unknown(node, f"divides by a {kind} over rows")
        other = ins[1 - total_side]
        power = other.power if name == "mul" else -other.power
        if other.kind != "const":
            verb = "multiplies" if name == "mul" else "divides"
            return unknown(node, f"{verb} a {kind} over rows by another value computed from the rows")
        if kind == "sum" and power in (0, 1):
            return Dependence("sum" if power == 0 else "mean")
        if kind == "mean" and power in (0, -1):
            return Dependence("mean" if power == 0 else "sum")
        return unknown(node, f"scales a {kind} over rows by a power of the block's row count")
    return unknown(node, f"applies {name}, which is not linear, to a {kind} over rows")


# ---------------------------------------------------------------- reductions

def _reduce(node, ins):
    op, (tag,), x = node.op, ins, node.inputs[0]
    if tag.kind == "rows":
        if tag.axis in op.axis:
            if op.kind != "sum":
                return unknown(node, f"reduces the sample axis with {op.kind} (only sums and means over rows "
                                     "are put together from blocks)")
            return total(tag.power, node)
        if op.kind != "sum" and tag.power != 0 and op.kind not in ("max", "min"):
            return unknown(node, f"takes the {op.kind} of rows scaled by the block's row count")
        axis = tag.axis if op.keepdims else tag.axis - sum(1 for a in op.axis if a < tag.axis)
        return rows(axis, tag.power)
    if tag.kind == "iota":
        return unknown(node, "reduces the positions of rows inside a block")
    if op.kind != "sum":
        return unknown(node, f"takes the {op.kind} of a {tag.kind} over rows")
    return Dependence(tag.kind, power=tag.power) if tag.kind == "const" else Dependence(tag.kind)


def _sum_to_shape(node, ins):
    (g, like), (gt, lt) = node.inputs, ins
    lead = g.ndim - like.ndim
    if gt.kind == "rows":
        if gt.axis < lead:
            return total(gt.power, node)
        axis = gt.axis - lead
        if lt.kind == "rows" and lt.axis == axis:
            return rows(axis, gt.power)
        if lt.kind != "rows" and like.type.shape[axis] == 1:
            return total(gt.power, node)
        return unknown(node, "may or may not sum over the sample axis (the target's length there is not known to be 1)")
    if lt.kind == "rows" or gt.kind == "iota":
        return unknown(node, "sums a value without a sample axis to the shape of rows")
    return gt if gt.kind == "const" else Dependence(gt.kind)


def _along_axis(node, ins):
    """Softmax, log-softmax: row by row when their axis is not the sample axis."""
    (tag,) = ins
    if tag.kind == "rows" and tag.power == 0 and node.op.axis != tag.axis:
        return rows(tag.axis)
    return unknown(node, "normalizes along the sample axis" if tag.kind == "rows" and node.op.axis == tag.axis
                   else f"is not linear and is applied to a {tag.kind} over rows")


def _logsumexp(node, ins):
    (tag,), op = ins, node.op
    if tag.kind == "rows" and tag.power == 0 and tag.axis not in op.axis:
        return rows(tag.axis if op.keepdims else tag.axis - sum(1 for a in op.axis if a < tag.axis))
    return unknown(node, "reduces over the sample axis" if tag.kind == "rows" else
                   f"is not linear and is applied to a {tag.kind} over rows")


def _last_axis(node, ins):
    """argmax/argmin, cumsum/cumprod: along the last axis, row by row when that is not the sample axis."""
    (tag,), x = ins, node.inputs[0]
    if tag.kind == "rows" and tag.axis != x.ndim - 1:
        if getattr(node.op, "kind", "") in ("argmax", "argmin", "cumsum") or tag.power == 0:
            return rows(tag.axis, 0 if node.op.kind.startswith("arg") else tag.power)
    return unknown(node, "runs along the sample axis" if tag.kind == "rows" else
                   f"is applied to a {tag.kind} over rows")


# ---------------------------------------------------------------- products

def _dot(node, ins):
    (a, b), (ta, tb) = node.inputs, ins
    if "iota" in (ta.kind, tb.kind):
        return unknown(node, "multiplies the positions of rows inside a block")
    a_rows, b_rows = ta.kind == "rows", tb.kind == "rows"
    if a_rows and b_rows:
        if ta.axis == a.ndim - 1 and tb.axis == 0:       # contracts the sample axis: X.T @ delta
            return total(ta.power + tb.power, node)
        return unknown(node, "multiplies two values with sample axes without contracting them")
    if a_rows or b_rows:
        tag, other, var = (ta, tb, a) if a_rows else (tb, ta, b)
        contracted = tag.axis == (a.ndim - 1 if a_rows else 0)
        if contracted:
            return unknown(node, "contracts the sample axis with a value given whole")
        if other.kind != "const":
            return unknown(node, f"multiplies rows by a {other.kind} over rows")
        axis = tag.axis if a_rows else a.ndim - 1
        return rows(axis, tag.power + other.power)
    kinds = {ta.kind, tb.kind}
    if kinds == {"const"}:
        return const(ta.power + tb.power)
    if "const" not in kinds:
        return unknown(node, "multiplies two values that are both sums or means over rows")
    total_tag, other = (ta, tb) if ta.kind != "const" else (tb, ta)
    if other.power != 0:
        return unknown(node, f"scales a {total_tag.kind} over rows by the block's row count")
    return Dependence(total_tag.kind)


# ---------------------------------------------------------------- shapes and layout

def _shape_of(node, ins):
    (tag,) = ins
    if tag.kind == "rows" and node.op.axis == tag.axis or tag.kind == "iota":
        return const(-1, count=True)
    return CONST


def _shape(node, ins):
    if ins[0].kind in ("rows", "iota"):
        return unknown(node, "reads the whole shape of rows (the sample axis's length differs per block)")
    return CONST


def _count_position(node, dims):
    """The position of the one shape entry that is the block's row count; ValueError-free: None or an
    ``unknown`` when the entries are not all constants (and at most one row count)."""
    positions = [i for i, t in enumerate(dims) if t.kind == "const" and t.count]
    if len(positions) > 1 or any(not (t.kind == "const" and (t.power == 0 or t.count)) for t in dims):
        return unknown(node, "has a shape computed from the data or from several row counts")
    return positions[0] if positions else None


def _broadcast_to(node, ins):
    x, tag, dims = node.inputs[0], ins[0], ins[1:]
    position = _count_position(node, dims)
    if isinstance(position, Dependence):
        return position
    shift = len(dims) - x.ndim
    if tag.kind == "rows":
        if position == tag.axis + shift:
            return rows(position, tag.power, tag.zero)
        return unknown(node, "broadcasts rows to a shape whose sample axis is not their row count")
    if tag.kind == "iota":
        return unknown(node, "broadcasts the positions of rows inside a block")
    if position is None:
        return tag if tag.kind == "const" else Dependence(tag.kind)
    if tag.kind != "const":
        return unknown(node, f"broadcasts a {tag.kind} over rows along the rows")
    axis = position - shift
    if axis >= 0 and x.type.shape[axis] != 1:
        return unknown(node, "broadcasts a value given whole along the sample axis")
    return rows(position, tag.power, tag.zero)


def _dimshuffle(node, ins):
    (tag,), order = ins, node.op.new_order
    if tag.kind == "rows":
        if tag.axis not in order:
            return unknown(node, "drops the sample axis")
        return rows(order.index(tag.axis), tag.power, tag.zero)
    if tag.kind == "iota":
        return unknown(node, "moves the positions of rows inside a block")
    return tag


def _reshape(node, ins):
    tag, dims = ins[0], ins[1:]
    position = _count_position(node, dims)
    if isinstance(position, Dependence):
        return position
    if tag.kind == "rows":
        if tag.axis == 0 and position == 0:
            return rows(0, tag.power, tag.zero)     # C order: each row keeps its elements
        return unknown(node, "reshapes rows without keeping the sample axis first with its length")
    if position is not None or tag.kind == "iota":
        return unknown(node, "reshapes a value without a sample axis to one with it")
    return tag


def _specify_shape(node, ins):
    return ins[0]


def _join(node, ins):
    axis = node.op.axis
    if all(t.kind == "rows" for t in ins):
        if len({t.axis for t in ins}) == 1 and ins[0].axis != axis:
            power = _combine_powers(node, [(t.power, t.zero) for t in ins])
            if power is not None:
                return rows(ins[0].axis, power)
        return unknown(node, "joins rows along the sample axis or rows of different scalings")
    kinds = {t.kind for t in ins}
    if len(kinds) == 1 and kinds <= {"sum", "mean"}:
        return Dependence(kinds.pop())
    return unknown(node, "joins rows with values without a sample axis, or sums with means")


def _one_hot(node, ins):
    (tag, n) = ins
    if tag.kind == "rows" and n.kind == "const" and n.power == 0:
        return rows(tag.axis)
    return unknown(node, "has a length computed from the data" if tag.kind == "rows" else
                   f"encodes a {tag.kind} over rows")


def _arange(node, ins):
    start, stop, step = node.inputs
    if (isinstance(start, Constant) and start.value == 0 and isinstance(step, Constant) and step.value == 1
            and ins[1].kind == "const" and ins[1].count):
        return Dependence("iota")
    return unknown(node, "counts to a bound computed from the rows")


# ---------------------------------------------------------------- indexing

def _index_parts(node, first_index):
    """The spec entries of an indexing node with, for each, the tags of the inputs it consumes."""
    return node.op.spec, node.inputs[first_index:]


def _constant_indices(node, tags):
    return all(t.kind == "const" and t.power == 0 for t in tags)


def _basic_slot_axis(spec, axis):
    """Where axis ``axis`` of the indexed value is in ``x[spec]`` (None: it is indexed, not sliced)."""
    if spec[axis] != ("s", None, None, None):
        return None
    return axis - sum(1 for entry in spec[:axis] if entry[0] == "i")


def _subtensor(node, ins):
    tag, indices = ins[0], ins[1:]
    if not _constant_indices(node, indices):
        return unknown(node, "indexes with values computed from the rows")
    if tag.kind == "rows":
        axis = _basic_slot_axis(node.op.spec, tag.axis)
        if axis is None:
            return unknown(node, "indexes or slices the sample axis (a block's rows are not the whole's)")
        return rows(axis, tag.power, tag.zero)
    if tag.kind == "iota":
        return unknown(node, "indexes the positions of rows inside a block")
    return tag


def _inc_subtensor(node, ins):
    x, y = node.inputs[:2]
    tx, ty, indices = ins[0], ins[1], ins[2:]
    if not _constant_indices(node, indices):
        return unknown(node, "indexes with values computed from the rows")
    if tx.kind == "rows" or ty.kind == "rows":
        if tx.kind != "rows":
            return unknown(node, "writes rows into a value given whole")
        slot = _basic_slot_axis(node.op.spec, tx.axis)
        if slot is None:
            return unknown(node, "writes into part of the sample axis")
        return _write_rows(node, tx, ty, slot, _slot_ndim(node))
    return _write_totals(node, tx, ty)


def _slot_ndim(node):
    return len(Subtensor(node.op.spec).output_shape(node.inputs[0]))


def _write_rows(node, tx, ty, slot_axis, slot_ndim):
    """``x`` (rows) with ``y`` written or added where ``slot_axis`` of the region is the sample axis."""
    y = node.inputs[1]
    if ty.kind == "rows":
        if ty.axis + slot_ndim - y.ndim != slot_axis:
            return unknown(node, "writes rows at other rows' places")
    elif ty.kind == "const":
        axis = slot_axis - (slot_ndim - y.ndim)
        if axis >= 0 and y.type.shape[axis] != 1:
            return unknown(node, "writes a value given whole along the sample axis")
    else:
        return unknown(node, f"writes a {ty.kind} over rows into rows")
    power = _combine_powers(node, [(tx.power, tx.zero), (ty.power, ty.zero)])
    if power is None:
        return unknown(node, "adds rows of different scalings by the block's row count")
    return rows(tx.axis, power)


def _write_totals(node, tx, ty):
    """``x`` with ``y`` written or added at constant indices, neither having a sample axis."""
    kinds = {t.kind for t in (tx, ty) if not t.zero} - {"const"}
    if "iota" in kinds:
        return unknown(node, "writes the positions of rows inside a block")
    if not kinds:
        power = _combine_powers(node, [(tx.power, tx.zero), (ty.power, ty.zero)])
        return const(power) if power is not None else unknown(node, "mixes scalings by the block's row count")
    if len(kinds) > 1:
        return unknown(node, "combines a sum over rows with a mean over rows")
    kind = kinds.pop()
    constants = [t for t in (tx, ty) if t.kind == "const" and not t.zero]
    if kind == "sum" and constants:
        return unknown(node, "combines a sum over rows with a value given whole")
    if kind == "mean" and any(t.power != 0 for t in constants):
        return unknown(node, "combines a mean with a value that scales with the block's row count")
    return Dependence(kind)


def _advanced_pattern(node, first_index, index_tags):
    """For x[key] with index arrays: ``("own", None)`` when the key pairs each row with itself
    (``x[arange(n), labels]``: iota on axis 0, then row-wise or scalar indices, adjacent), ``("gather",
    output_sample_axis)`` when one index array of rows picks entries of a value given whole
    (``table[tokens]``), else None."""
    spec = node.op.spec
    indices = node.inputs[first_index:]
    consumed, array_entries = [], []
    it = iter(zip(indices, index_tags))
    for axis, entry in enumerate(spec):
        if entry[0] == "a":
            array_entries.append((axis, *next(it)))
        else:
            parts = [p for p in entry[1:] if p == SYMBOLIC]
            consumed += [next(it)[1] for _ in parts]
    if not all(t.kind == "const" and t.power == 0 for t in consumed):
        return None
    axes = [axis for axis, _, _ in array_entries]
    if axes != list(range(axes[0], axes[0] + len(axes))):
        return None
    first_axis, first_var, first_tag = array_entries[0]
    if first_axis == 0 and first_tag.kind == "iota":
        for _, var, tag in array_entries[1:]:
            if not (tag.kind == "rows" and tag.axis == 0 and tag.power == 0 and var.ndim == 1
                    or tag.kind == "const" and tag.power == 0 and var.ndim == 0):
                return None
        return ("own", None)
    if len(array_entries) == 1 and first_tag.kind == "rows" and first_tag.power == 0:
        return ("gather", first_axis + first_tag.axis)
    return None


def _advanced_subtensor(node, ins):
    tag = ins[0]
    pattern = _advanced_pattern(node, 1, ins[1:])
    if pattern is None:
        if tag.kind != "rows" and all(t.kind == "const" and t.power == 0 for t in ins[1:]):
            return tag if tag.kind == "const" else Dependence(tag.kind)
        return unknown(node, "indexes with arrays that do not pair each row with itself")
    kind, axis = pattern
    if kind == "own" and tag.kind == "rows" and tag.axis == 0:
        return rows(0, tag.power)
    if kind == "gather" and tag.kind == "const":
        return rows(axis, tag.power)
    return unknown(node, "indexes with arrays that do not pair each row with itself")


def _advanced_inc_subtensor(node, ins):
    tx, ty = ins[0], ins[1]
    pattern = _advanced_pattern(node, 2, ins[2:])
    if pattern is None:
        if all(t.kind == "const" and t.power == 0 for t in ins[2:]) and "rows" not in (tx.kind, ty.kind):
            return _write_totals(node, tx, ty)
        return unknown(node, "writes with index arrays that do not pair each row with itself")
    kind, axis = pattern
    y, slot = node.inputs[1], AdvancedSubtensor(node.op.spec).output_shape(node.inputs[0], node.inputs[2:])
    if kind == "own" and tx.kind == "rows" and tx.axis == 0:
        return _write_rows(node, tx, ty, 0, len(slot))
    if kind == "gather" and tx.kind == "const" and tx.zero and ty.kind == "rows" \
            and not node.op.set_instead_of_inc and ty.axis + len(slot) - y.ndim == axis:
        return total(ty.power, node)      # every row's contribution added into a table: a sum over rows
    return unknown(node, "writes rows into a value given whole")


_RULES = {
    Elemwise: _elemwise,
    Reduce: _reduce, SumToShape: _sum_to_shape,
    Softmax: _along_axis, LogSoftmax: _along_axis, LogSumExp: _logsumexp,
    ArgReduce: _last_axis, Cumulative: _last_axis,
    Dot: _dot,
    ShapeOf: _shape_of, Shape: _shape, BroadcastTo: _broadcast_to, DimShuffle: _dimshuffle,
    Reshape: _reshape, SpecifyShape: _specify_shape, Join: _join, OneHot: _one_hot, ARange: _arange,
    Subtensor: _subtensor, IncSubtensor: _inc_subtensor,
    AdvancedSubtensor: _advanced_subtensor, AdvancedIncSubtensor: _advanced_inc_subtensor,
}
