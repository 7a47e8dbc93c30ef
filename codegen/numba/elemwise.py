"""Lowering of elementwise nodes (``Elemwise`` and the optimizer's ``Fused``): one loop per node.

A node's scalar program (one instruction for ``Elemwise``, many for ``Fused``)
becomes the body of a single loop, each op written from its own formula (``scalar.py``),
which indexes every operand directly: over flat contiguous memory when every
operand has the output's shape, in parallel (``prange``) when there are many
elements, else as a nested loop. Broadcasting the types show (an axis of static
length 1: a bias vector, ``keepdims``, a ``dimshuffle`` with ``'x'``) is index
arithmetic and never copies. An axis whose length the types leave open may still
be 1 at run time (NumPy broadcasting, which PyTensor refuses); such an operand
goes through ``runtime.broadcast_copy``, which returns it unchanged when its
shape is the output's and otherwise a broadcast copy: one loop per node instead
of a second, strided loop for a rare case, whose Numba compile time would equal
the loop's own. When the shape analysis of ``symgraph.rewrite.shapes`` proves
that every operand axis has the output's length (the program's matrix products
require it) or is statically 1, plain equality tests that raise the usual
``symgraph check`` error replace broadcasting. 0-d nodes become plain scalar
statements.
"""
from __future__ import annotations


from symgraph.rewrite.shapes import ShapeFacts, program_facts
from symgraph.ops.elemwise import Elemwise
from symgraph.ops.fused import Fused

from .kernel import Value, cast_code, dtype_code, register
from .scalar import raises_per_element, scalar_expression
from .tape import lower_vector_tape, vector_tape_applicable

# Elementwise programs with at least this many scalar operations per element may run in parallel.
PARALLEL_MIN_INSTRUCTIONS = 4
# ... and with at most this many outputs: Numba's parfor passes take time that grows steeply with the arrays
# a prange loop writes (x*i + i for 32 outputs: 7 s to compile, for 64: over 5 minutes; serial: ~1 s per
# 16 outputs), and one or two operations per output element are bound by memory, not by cores.
PARALLEL_MAX_OUTPUTS = 16


def _emit_body(node, kernel, read):
    """Emit the scalar program for one element; ``read(j)`` gives input j's value. Returns output names."""
    nin, instructions, outputs = node.op.scalar_program(node)
    dtypes = [v.dtype for v in node.inputs] + [dtype for _, _, dtype in instructions]
    names = [read(j) for j in range(nin)]
    # vmath.py's functions pay where a loop vectorises; a 0-d node (a scan step's scalar recurrence) runs
    # one element, where libm's scalar functions are as fast or faster (sin: 3x) and give NumPy's bits
    vector = any(var.ndim for var in node.outputs)
    for scalar_op, operands, dtype in instructions:
        expression = scalar_expression(scalar_op, [names[k] for k in operands],
                                       [dtypes[k] for k in operands], dtype, kernel, vector=vector)
        names.append(kernel.let(expression))
    return [cast_code(names[k], dtypes[k], var.dtype) for k, var in zip(outputs, node.outputs)]


def _axis_lengths(node, kernel, axis):
    """(code, static length) of each distinct operand length on output ``axis`` (axes statically 1 and
    missing leading axes broadcast, so they are left out; the same code needs no second test)."""
    n = node.outputs[0].ndim
    lengths = []
    for var in node.inputs:
        a = axis - (n - var.ndim)
        if a < 0 or var.type.shape[a] == 1:
            continue
        code = kernel.dims(var)[a]
        if all(code != known for known, _ in lengths):
            lengths.append((code, var.type.shape[a]))
    return lengths


def _broadcast_dims(node, kernel):
    """Code for each output length, emitting the checks that make the inputs broadcast."""
    out_type = node.outputs[0].type
    n = out_type.ndim
    dims = []
    for axis in range(n):
        contributors = _axis_lengths(node, kernel, axis)
        message = (f"{node.op}: the input lengths on axis {axis} cannot be broadcast together "
                   f"(they must be equal or 1)")
        if out_type.shape[axis] is not None:
            length = str(out_type.shape[axis])
            for code, static in contributors:
                if static is None:
                    kernel.check(f"{code} != {length} and {code} != 1", message)
        elif not contributors:
            length = "1"
        elif len(contributors) == 1:
            length = contributors[0][0]
        else:
            length = kernel.broadcast_length([code for code, _ in contributors], message)
        dims.append(length)
    return dims


@register(Elemwise, Fused)
def lower_elementwise(node, kernel):
    inputs = node.inputs
    if all(var.ndim == 0 for var in inputs):
        results = _emit_body(node, kernel, lambda j: kernel.code(inputs[j]))
        for var, code in zip(node.outputs, results):
            kernel.bind(var, kernel.let(code, "v"))
        return

    n = node.outputs[0].ndim
    proven = _lengths_proven_equal(node, _shape_facts(kernel))
    dims = _checked_dims(node, kernel) if proven else _broadcast_dims(node, kernel)
    tape_allowed = kernel.program is None or kernel.program.options.get("tape", True)
    if tape_allowed and vector_tape_applicable(node):  # very long: Numba would take minutes on the inline loop
        lower_vector_tape(node, kernel, dims)
        return
    outputs = []
    for var in node.outputs:
        name = kernel.fresh("v")
        kernel.emit(f"{name} = {kernel.new_array(dims, var.dtype)}")
        outputs.append(name)
        kernel.bind(var, name, dims, contiguous=True, owned=True)

    # One loop that indexes every operand directly. An operand whose length on some axis may differ
    # from the output's at run time (a length-1 axis the types do not show, broadcast dynamically as
    # NumPy does) is first replaced, for this loop only, by ``broadcast_copy``: the operand itself when
    # its shape is the output's (always, in practice), else a broadcast copy. A second, strided loop
    # for that rare case would cost as much compile time as the loop itself.
    out_shape = node.outputs[0].type.shape
    flat = all(var.ndim == n and (n == 1 or kernel.value(var).contiguous)
               and not any(s == 1 and o != 1 for s, o in zip(var.type.shape, out_shape))
               for var in inputs if var.ndim)
    saved, flattened = {}, set()
    if not proven:
        for var in inputs:
            if var.ndim == 0 or id(var) in saved:
                continue
            value = kernel.value(var)
            shape = _operand_shape(var, node, dims)
            if all(have == want for have, want in zip(value.dims, shape)):
                continue
            if flat and n > 1:
                # the flat loop's 1-d view of it at once (one helper call, not broadcast_copy then ravel)
                code = kernel.let(f"{kernel.runtime()}.broadcast_flat({value.code}, {kernel.int_tuple(shape)})",
                                  "flat")
                flattened.add(id(var))
            else:
                code = kernel.let(f"{kernel.runtime()}.broadcast_copy({value.code}, {kernel.int_tuple(shape)})",
                                  "exact")
            saved[id(var)] = value
            kernel.values[id(var)] = Value(code, shape, value.contiguous, False)
    try:
        if flat:
            _flat_loop(node, kernel, dims, outputs, flattened)
        else:
            _nested_loop(node, kernel, dims, outputs)
    finally:
        kernel.values.update(saved)


def _operand_shape(var, node, dims):
    """The shape an operand has when it needs no broadcasting but the static kind: the output's length on
    each of its axes, except those typed as length 1."""
    n = len(dims)
    return [("1" if static == 1 and node.outputs[0].type.shape[a + n - var.ndim] != 1 else dims[a + n - var.ndim])
            for a, static in enumerate(var.type.shape)]


def _shape_facts(kernel) -> ShapeFacts:
    """The shape facts of the program being lowered (computed once per kernel).

    The facts come only from the program's own nodes, all of which the kernel runs, and every
    length the loops then rely on is still tested at run time, so a wrong fact raises, never
    reads out of bounds.
    """
    facts = kernel.shape_facts
    if facts is None:
        program = kernel.program
        facts = program_facts(program.outputs) if program is not None else ShapeFacts()
        kernel.shape_facts = facts
    return facts


def _lengths_proven_equal(node, facts) -> bool:
    """True when every array operand's axis provably has the output's length, or is statically 1."""
    out = node.outputs[0]
    n = out.ndim
    out_dims = facts.dims(out)
    for var in node.inputs:
        if var.ndim == 0:
            continue
        described = facts.dims(var)
        for a, static in enumerate(var.type.shape):
            if static == 1:
                continue
            if not facts.same(described[a], out_dims[a + n - var.ndim]):
                return False
    return True


def _checked_dims(node, kernel):
    """Output lengths when every operand provably has them: one operand's length, and an equality
    test for the others (cheaper than broadcasting, and the only loop needed is emitted)."""
    out_type = node.outputs[0].type
    n = out_type.ndim
    dims = []
    for axis in range(n):
        codes = [code for code, _ in _axis_lengths(node, kernel, axis)]
        static = out_type.shape[axis]
        length = str(static) if static is not None else (codes[0] if codes else "1")
        message = (f"{node.op}: the input lengths on axis {axis} differ; they must be equal (a matrix "
                   f"product or concatenation in this function requires it)")
        for code in codes:
            if code != length:
                kernel.check(f"{code} != {length}", message)
        dims.append(length)
    return dims


def _flat_loop(node, kernel, dims, outputs, flattened=frozenset()):
    """One loop over the elements in memory order; ``flattened``: ids of the operands whose code already is
    their 1-d view (``broadcast_flat``)."""
    n = len(dims)
    size = kernel.let(" * ".join(dims), "size") if n > 1 else dims[0]
    flat = {}
    for var in node.inputs:
        if var.ndim:
            code = kernel.code(var)
            flat[id(var)] = (kernel.let(f"{kernel.runtime()}.ravel({code})", "flat")
                             if n > 1 and id(var) not in flattened else code)
    targets = [kernel.let(f"{kernel.runtime()}.ravel({name})", "flat") if n > 1 else name for name in outputs]

    def body():
        results = _emit_body(node, kernel, lambda j: (
            kernel.let(f"{flat[id(node.inputs[j])]}[i]", "a") if node.inputs[j].ndim
            else kernel.code(node.inputs[j])))
        for target, code in zip(targets, results):
            kernel.emit(f"{target}[i] = {code}")

    static_size = _static_size(node)
    # Only compute-heavy loops get a prange version: each one costs a second or more of compile
    # time, and one or two cheap operations per element are bound by memory, not by cores.
    instructions = node.op.scalar_program(node)[1]
    heavy = (len(instructions) >= PARALLEL_MIN_INSTRUCTIONS and len(node.outputs) <= PARALLEL_MAX_OUTPUTS
             and not raises_per_element(instructions))
    parallel = (kernel.allow_parallel and heavy
                and (static_size is None or static_size >= kernel.parallel_min_size))
    if parallel and static_size is None:
        kernel.emit(f"if {size} >= {kernel.parallel_min_size}:")
        with kernel.indent():
            kernel.emit(kernel.loop("i", size, parallel=True))
            with kernel.indent():
                body()
            _keep_writes(kernel, targets if n > 1 else [])
        kernel.emit("else:")
        with kernel.indent():
            kernel.emit(kernel.loop("i", size))
            with kernel.indent():
                body()
    else:
        kernel.emit(kernel.loop("i", size, parallel=parallel))
        with kernel.indent():
            body()
        if parallel:
            _keep_writes(kernel, targets if n > 1 else [])


def _keep_writes(kernel, views):
    """After a ``prange`` loop that wrote through the flat ``views`` (``rt.ravel`` of the outputs): a use of
    each view. Numba's parfor passes do not know that a helper's result aliases its argument, so they took
    the writes to a view nobody reads later for dead code and dropped the loop (uninitialised outputs for
    every heavy elementwise node of two or more axes and at least ``kernel.parallel_min_size`` elements)."""
    for view in views:
        kernel.emit(f"{kernel.runtime()}.written({view})")


def _static_size(node):
    size = 1
    for n in node.outputs[0].type.shape:
        if n is None:
            return None
        size *= n
    return size


def _nested_loop(node, kernel, dims, outputs):
    """Every operand has the output's lengths (the caller made sure) except its axes typed length 1."""
    n = len(dims)
    out_shape = node.outputs[0].type.shape
    indices = {}
    for var in node.inputs:
        if var.ndim:
            indices[id(var)] = ["0" if static == 1 and out_shape[a + n - var.ndim] != 1 else f"i{a + n - var.ndim}"
                                for a, static in enumerate(var.type.shape)]

    for axis in range(n):
        kernel.emit(kernel.loop(f"i{axis}", dims[axis]))
        kernel.depth += 1

    def read(j):
        var = node.inputs[j]
        if var.ndim == 0:
            return kernel.code(var)
        return kernel.let(f"{kernel.code(var)}[{', '.join(indices[id(var)])}]", "a")

    results = _emit_body(node, kernel, read)
    position = ", ".join(f"i{axis}" for axis in range(n))
    for target, code in zip(outputs, results):
        kernel.emit(f"{target}[{position}] = {code}")
    kernel.depth -= n
