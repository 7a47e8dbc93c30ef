"""Lowering of products: ``Dot`` through a direct BLAS gemm call for floats, loops for integers;
``BatchedMatmul`` as one gemm per (broadcast) batch entry written into the output.

Float products call the ``gemm`` intrinsic of ``blas.py`` (``out = alpha * a @ b + beta * out``):
a transposed view such as ``W.T`` is a transpose flag, not a copy, and matrix-vector,
vector-matrix and vector-vector products are gemm calls with a row or column of length one
(Numba's ``np.dot`` compiles a ~300 ms implementation per layout combination per process;
the intrinsic is a few LLVM instructions). An operand BLAS cannot address (a broadcast view,
a negative stride) is copied into a C-contiguous buffer and the call repeated. ``emit_gemm``
is also what ``lower.generate`` uses to accumulate SGD-style updates into a shared
variable's array (``beta=1``). Inner lengths are checked first, so a mismatched product
raises a ValueError naming the op and the user's line instead of reading out of bounds.

In-place updates (``find_inplace_updates`` / ``emit_inplace_decisions`` / ``emit_inplace_writes``,
driven by ``lower.generate``): an update ``S -/+ c * dot(a, b)`` whose product and new value have no
other use is accumulated by one gemm (alpha=-/+c, beta=1) into the array the kernel received for
``S``, which is the shared variable's own storage, and that array is returned as the new value. The
gemms are the kernel's last statements (after every check, the output copies and the ordinary
computation of the other updates), so a call that raises changes nothing. Each call decides at run
time: the product must have ``S``'s shape, else the new value is computed into a fresh array with
broadcasting (``blas.accumulated_copy``); a target sharing memory with an argument that an in-place
gemm reads, or with another target (``W - lr * (W.T @ g)``, two shared variables on one array), is
copied first and the gemm accumulates into the copy, which becomes the new value. A user who holds the storage through
``get_value(borrow=True)`` or gave it with ``set_value(..., borrow=True)`` sees it change (as in
PyTensor); ``sg.function(..., inplace=False)`` turns this off.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symgraph.ops.linalg import BatchedMatmul, Dot

from .kernel import cast_code, dtype_code, literal, register


def _operand(kernel, var, dtype):
    code = kernel.code(var)
    return code if var.dtype == dtype else kernel.let(f"{kernel.runtime()}.astype({code}, {literal(0, dtype)})", "v")


@register(Dot)
def lower_dot(node, kernel):
    a, b = node.inputs
    out = node.outputs[0]
    a_dims, b_dims = kernel.dims(a), kernel.dims(b)
    kernel.check(f"{a_dims[-1]} != {b_dims[0]}",
                 f"{node.op}: the inner lengths of its operands differ (shapes are not aligned)")
    out_dims = a_dims[:-1] + b_dims[1:]
    if np.dtype(out.dtype).kind == "f":
        x, y = _operand(kernel, a, out.dtype), _operand(kernel, b, out.dtype)
        shape = out_dims or ["1"]      # a vector-vector product is a 1x1 gemm into a 1-element buffer
        name = kernel.let(kernel.new_array(shape, out.dtype), "v")
        ready = x == kernel.code(a) and y == kernel.code(b) and _blas_ready(kernel, a) and _blas_ready(kernel, b)
        emit_gemm(kernel, literal(1, out.dtype), x, y, literal(0, out.dtype), name, ready)
        if out.ndim == 0:
            name = kernel.let(f"{name}[0]", "v")
    else:
        name = _integer_dot(kernel, a, b, out, a_dims, b_dims)
    if out.ndim == 0:
        kernel.bind(out, name)
    else:
        kernel.bind(out, name, out_dims, contiguous=True, owned=True)


def _blas_ready(kernel, var) -> bool:
    """Known at generation time to be C-contiguous, or the ``.T`` (Fortran order) of a C-contiguous matrix."""
    if kernel.value(var).contiguous:
        return True
    node = var.owner
    return (node is not None and type(node.op).__name__ == "DimShuffle" and tuple(node.op.new_order) == (1, 0)
            and id(node.inputs[0]) in kernel.values and kernel.value(node.inputs[0]).contiguous)


def emit_gemm(kernel, alpha, x, y, beta, out, ready=False):
    """Emit ``out = alpha * x @ y + beta * out`` (BLAS); ``out`` is C-contiguous, shapes are checked before.

    With ``ready`` (both operands known C-contiguous or transposed C-contiguous) the intrinsic is called
    directly; otherwise ``gemm_copying`` (a disk-cached jitted helper) copies an operand BLAS cannot
    address. A refusal after that is an internal error and raises.
    """
    helper = "gemm_checked" if ready else "gemm_copying_checked"
    number = literal(kernel.check_number("internal error: BLAS refused the operands of a product"), "int64")
    kernel.emit(f"{kernel.runtime()}.{helper}({alpha}, {x}, {y}, {beta}, {out}, {number})")


def _integer_dot(kernel, a, b, out, a_dims, b_dims):
    """Integer and boolean products: plain loops (BLAS has no integer kernels)."""
    x, y = kernel.code(a), kernel.code(b)
    row = "i, " if a.ndim == 2 else ""
    col = ", j" if b.ndim == 2 else ""
    out_dims = a_dims[:-1] + b_dims[1:]
    name = kernel.fresh("v")
    if out_dims:
        kernel.emit(f"{name} = {kernel.new_array(out_dims, out.dtype, zeroed=True)}")
    if a.ndim == 2:
        kernel.emit(kernel.loop("i", a_dims[0]))
        kernel.depth += 1
    if b.ndim == 2:
        kernel.emit(kernel.loop("j", b_dims[1]))
        kernel.depth += 1
    total = _emit_integer_sum(kernel, f"{x}[{row}k]", f"{y}[k{col}]", a_dims[-1], a.dtype, b.dtype, out.dtype)
    target = ", ".join(p for p in ("i" if a.ndim == 2 else "", "j" if b.ndim == 2 else "") if p)
    if out_dims:
        kernel.emit(f"{name}[{target}] = {total}")
    else:
        kernel.emit(f"{name} = {total}")
    kernel.depth -= (a.ndim == 2) + (b.ndim == 2)
    return name


def _emit_integer_sum(kernel, left, right, length, left_dtype, right_dtype, dtype) -> str:
    """Emit the loop over ``k`` of an integer or boolean product's sum; returns code of ``dtype`` holding it.

    As NumPy: a bool product is the logical or of ands (bool); an integer one wraps in ``dtype``. The sum
    runs in uint64 (modular arithmetic, where Numba's signed int64 overflow is undefined), whose bits agree
    with ``dtype``'s modulo its width, so the total is cast to ``dtype`` once, at the end.
    """
    if np.dtype(dtype).kind == "b":
        total = kernel.let("False", "acc")
        kernel.emit(kernel.loop("k", length))
        with kernel.indent():
            kernel.emit(f"if {cast_code(left, left_dtype, dtype)} and {cast_code(right, right_dtype, dtype)}:")
            with kernel.indent():
                kernel.emit(f"{total} = True")
        return total
    total = kernel.let(literal(0, "uint64"), "acc")
    kernel.emit(kernel.loop("k", length))
    with kernel.indent():
        x, y = (cast_code(cast_code(v, d, dtype), dtype, "uint64") for v, d in ((left, left_dtype), (right, right_dtype)))
        kernel.emit(f"{total} += {x} * {y}")
    return cast_code(total, "uint64", dtype)


def broadcast_batch(node, kernel, operands, batch):
    """The NumPy broadcast of the leading (stack) axes of ``operands`` (``(var, dims, its number of stack
    axes)``): ``(lengths of the ``batch`` broadcast axes, {(id(var), axis): local holding 0 where that axis
    has length 1, else 1})``; lengths that do not broadcast raise naming the op."""
    batch_dims, steps = [], {}
    for axis in range(batch):
        entries = []
        for var, dims, own in operands:
            local = axis - (batch - own)
            if local >= 0:
                entries.append((var, local, dims[local]))
        length = kernel.broadcast_length([d for _, _, d in entries],
                                         f"{node.op}: the batch lengths on axis {axis} cannot be broadcast")
        for var, local, d in entries:
            steps[(id(var), local)] = kernel.let(f"0 if {d} == 1 else 1", "step")
        batch_dims.append(length)
    return batch_dims, steps


@register(BatchedMatmul)
def lower_batched_matmul(node, kernel):
    a, b = node.inputs
    out = node.outputs[0]
    a_dims, b_dims = kernel.dims(a), kernel.dims(b)
    kernel.check(f"{a_dims[-1]} != {b_dims[-2]}",
                 f"{node.op}: the inner lengths of its operands differ (shapes are not aligned)")
    batch = out.ndim - 2
    batch_dims, steps = broadcast_batch(node, kernel, [(a, a_dims, a.ndim - 2), (b, b_dims, b.ndim - 2)], batch)
    dtype = out.dtype
    x, y = _operand(kernel, a, dtype), _operand(kernel, b, dtype)
    out_dims = batch_dims + [a_dims[-2], b_dims[-1]]
    name = kernel.let(kernel.new_array(out_dims, dtype), "v")
    if b.ndim == 2 and np.dtype(dtype).kind == "f":
        # one matrix shared by the whole batch (a sequence of rows times weights): one gemm over all the rows
        one, zero = literal(1, dtype), literal(0, dtype)
        number = literal(kernel.check_number("internal error: BLAS refused the operands of a product"), "int64")
        kernel.emit(f"{kernel.runtime()}.matmul_rows_checked({one}, {x}, {y}, {zero}, {name}, {number})")
        kernel.bind(out, name, out_dims, contiguous=True, owned=True)
        return
    for axis in range(batch):
        kernel.emit(kernel.loop(f"b{axis}", batch_dims[axis]))
        kernel.depth += 1

    def matrix(var, code):
        """The matrix of ``var`` for the current batch entry (broadcast axes read entry 0)."""
        if var.ndim == 2:
            return code
        lead = batch - (var.ndim - 2)
        return f"{code}[{', '.join(f'b{lead + local} * {steps[(id(var), local)]}' for local in range(var.ndim - 2))}]"

    position = "".join(f"b{axis}, " for axis in range(batch))
    if np.dtype(dtype).kind == "f":
        left, right = kernel.let(matrix(a, x), "m"), kernel.let(matrix(b, y), "m")
        entry = kernel.let(f"{name}[{position}:, :]", "m") if batch else name
        emit_gemm(kernel, literal(1, dtype), left, right, literal(0, dtype), entry)
    else:
        left, right = kernel.let(matrix(a, x), "m"), kernel.let(matrix(b, y), "m")
        kernel.emit(kernel.loop("i", a_dims[-2]))
        with kernel.indent():
            kernel.emit(kernel.loop("j", b_dims[-1]))
            with kernel.indent():
                total = _emit_integer_sum(kernel, f"{left}[i, k]", f"{right}[k, j]", a_dims[-1], dtype, dtype, dtype)
                kernel.emit(f"{name}[{position}i, j] = {total}")
    kernel.depth -= batch
    kernel.bind(out, name, out_dims, contiguous=True, owned=True)


# ---------------------------------------------------------------- updates accumulated in place by gemm

@dataclass
class InplaceUpdate:
    """``target <- target + alpha * dot(a, b)`` written into the shared variable's own array by one gemm."""
    index: int                 # position of the update value in program.outputs
    target: object             # the SharedVariable
    value: object              # the update expression (the elementwise node's output)
    dot: object                # the Dot node
    elementwise: object        # the Elemwise/Fused node computing target -/+ c * dot
    sign: int                  # +1 or -1
    scale: object              # a 0-d input of the elementwise node, or None for 1
    flag: str = ""             # kernel local: True when the gemm path runs this call (the shapes are equal)
    storage: str = ""          # kernel local: the array the gemm writes (the target's, or a copy of it)
    result: str = ""           # kernel local holding the new value


def _scalar_program(node):
    """``(nin, instructions, outputs)`` of an Elemwise or Fused node (the Fused encoding), else None."""
    program = getattr(node.op, "scalar_program", None)
    return program(node) if program is not None else None


def _match_update(node, target, product):
    """(sign, scale input or None) when ``node`` computes ``target +/- [c *] product``, else None."""
    program = _scalar_program(node)
    if program is None or len(node.outputs) != 1:
        return None
    nin, instructions, outputs = program
    if any(np.dtype(dtype) != np.dtype(target.dtype) for _, _, dtype in instructions):
        return None

    def is_input(k, var):
        return k < nin and node.inputs[k] is var

    def scaled_product(k):
        if is_input(k, product):
            return 1, None
        if k < nin:
            return None
        op, operands, _ = instructions[k - nin]
        if op.name == "neg":
            inner = scaled_product(operands[0])
            return (-inner[0], inner[1]) if inner else None
        if op.name == "mul":
            for p, q in (operands, operands[::-1]):
                scale = node.inputs[q] if q < nin else None
                if is_input(p, product) and scale is not None and scale.ndim == 0 \
                        and scale is not target and scale.dtype == target.dtype:
                    return 1, scale
        return None

    top = outputs[0]
    if top < nin:
        return None
    op, operands, _ = instructions[top - nin]
    pairs = {"sub": [(operands, -1)], "add": [(operands, 1), (operands[::-1], 1)]}.get(op.name, [])
    for (p, q), sign in pairs:
        if is_input(p, target):
            found = scaled_product(q)
            if found:
                return sign * found[0], found[1]
    return None


def find_inplace_updates(program, nodes) -> list:
    """The updates ``S +/- c * dot(a, b)`` whose product and new value have no other use (see generate)."""
    uses = {}
    for node in nodes:
        for var in node.inputs:
            uses[id(var)] = uses.get(id(var), 0) + 1
    for var in program.outputs:
        uses[id(var)] = uses.get(id(var), 0) + 1
    found = []
    for position, target in enumerate(program.updated):
        index = program.n_outputs + position
        value = program.outputs[index]
        node = value.owner
        if node is None or uses.get(id(value)) != 1 or target.ndim not in (1, 2) or value.ndim != target.ndim \
                or np.dtype(target.dtype).kind != "f":
            continue
        for product in node.inputs:
            dot = product.owner
            if dot is None or type(dot.op).__name__ != "Dot" or uses.get(id(product)) != 1 \
                    or product.ndim != target.ndim or product.dtype != target.dtype \
                    or any(v.dtype != target.dtype for v in dot.inputs):
                continue
            match = _match_update(node, target, product)
            if match:
                found.append(InplaceUpdate(index, target, value, dot, node, *match))
                break
    return found


def _alpha(kernel, update) -> str:
    dtype = update.target.dtype
    if update.scale is None:
        return literal(update.sign, dtype)
    return f"{'-' if update.sign < 0 else ''}{kernel.code(update.scale)}"


def emit_inplace_decisions(kernel, updates):
    """Emit, before any write: the products' checks, whether each update can run in place this call
    (equal runtime shapes, no memory shared with what any in-place gemm reads or writes), and the
    ordinary computation for the updates that cannot. Rebinds each update value to its result local."""
    if not updates:
        return
    # Only arrays the kernel did not make (arguments and views of them) can share a target's memory.
    external = []
    for other in updates:
        for var in other.dot.inputs:
            if not kernel.value(var).internal and kernel.code(var) not in external:
                external.append(kernel.code(var))
    for update in updates:
        a, b = update.dot.inputs
        a_dims, b_dims = kernel.dims(a), kernel.dims(b)
        kernel.node = update.dot
        kernel.comment(f"in place: {kernel.code(update.target)} {'+' if update.sign > 0 else '-'}= c * {update.dot.op}")
        kernel.check(f"{a_dims[-1]} != {b_dims[0]}",
                     f"{update.dot.op}: the inner lengths of its operands differ (shapes are not aligned)")
        target = kernel.code(update.target)
        tests = [f"{d} == {t}" for d, t in zip(a_dims[:-1] + b_dims[1:], kernel.dims(update.target))]
        update.flag = kernel.let(" and ".join(tests) or "True", "inplace")
        # A target sharing memory with what an in-place gemm reads, or with another target, is replaced by
        # a copy: the gemm then writes the copy (the new value) and never what it or another gemm reads.
        update.storage = kernel.let(target, "target")
        read = external + [kernel.code(other.target) for other in updates if other is not update]
        if read:
            overlap = f"{kernel.runtime()}.overlaps"
            kernel.emit(f"if {' or '.join(f'{overlap}({target}, {code})' for code in read)}:")
            with kernel.indent():
                kernel.emit(f"{update.storage} = {kernel.runtime()}.copy({target})")
    for update in updates:
        update.result = kernel.let(update.storage, "updated")
        kernel.node = update.elementwise
        kernel.emit(f"if not {update.flag}:")
        with kernel.indent():
            _emit_ordinary_update(kernel, update)
        kernel.node = None
        kernel.bind(update.value, update.result, contiguous=True, owned=True)


def _emit_ordinary_update(kernel, update):
    """The new value in a fresh array: ``target + alpha * product`` with broadcasting (``blas.accumulated_copy``)."""
    a, b = update.dot.inputs
    status = kernel.fresh("status")
    alpha = f"{dtype_code(update.target.dtype)}({_alpha(kernel, update)})"
    kernel.emit(f"{status}, {update.result} = {kernel.runtime()}.accumulated_copy("
                f"{kernel.code(update.target)}, {alpha}, {kernel.code(a)}, {kernel.code(b)})")
    kernel.check(f"{status} != 0", f"{update.elementwise.op}: operand shapes cannot be broadcast")


def emit_inplace_writes(kernel, updates):
    """Emit the gemms (beta=1) into the shared variables' arrays: the kernel's last statements before return."""
    for update in updates:
        a, b = update.dot.inputs
        dtype = update.target.dtype
        alpha = _alpha(kernel, update)
        kernel.emit(f"if {update.flag}:")
        with kernel.indent():
            emit_gemm(kernel, alpha, kernel.code(a), kernel.code(b), literal(1, dtype), update.storage,
                      _blas_ready(kernel, a) and _blas_ready(kernel, b))
