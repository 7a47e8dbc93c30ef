"""Lowering of products: ``Dot`` through BLAS (``np.dot``) for floats, loops for integers; ``BatchedMatmul``
as one ``np.dot`` per (broadcast) batch entry written into the output.

Inner lengths are checked first, so a mismatched product raises a ValueError
naming the op and the user's line instead of reading out of bounds.
"""
from __future__ import annotations

import numpy as np

from .lower import dtype_code, literal, register


def _operand(kernel, var, dtype):
    code = kernel.code(var)
    return code if var.dtype == dtype else kernel.let(f"{code}.astype({dtype_code(dtype)})", "v")


@register("Dot")
def lower_dot(node, kernel):
    a, b = node.inputs
    out = node.outputs[0]
    a_dims, b_dims = kernel.dims(a), kernel.dims(b)
    kernel.check(f"{a_dims[-1]} != {b_dims[0]}",
                 f"{node.op}: the inner lengths of its operands differ (shapes are not aligned)")
    out_dims = a_dims[:-1] + b_dims[1:]
    if np.dtype(out.dtype).kind == "f":
        x, y = _operand(kernel, a, out.dtype), _operand(kernel, b, out.dtype)
        name = kernel.let(f"np.dot({x}, {y})", "v")
    else:
        name = _integer_dot(kernel, a, b, out, a_dims, b_dims)
    if out.ndim == 0:
        kernel.bind(out, name)
    else:
        kernel.bind(out, name, out_dims, contiguous=True, owned=True)


def _integer_dot(kernel, a, b, out, a_dims, b_dims):
    """Integer and boolean products: plain loops (BLAS has no integer kernels)."""
    x, y = kernel.code(a), kernel.code(b)
    acc_type = dtype_code(out.dtype)
    row = "i, " if a.ndim == 2 else ""
    col = ", j" if b.ndim == 2 else ""
    out_dims = a_dims[:-1] + b_dims[1:]
    name = kernel.fresh("v")
    if out_dims:
        kernel.emit(f"{name} = np.zeros(({', '.join(out_dims)},), dtype={acc_type})")
    if a.ndim == 2:
        kernel.emit(kernel.loop("i", a_dims[0]))
        kernel.depth += 1
    if b.ndim == 2:
        kernel.emit(kernel.loop("j", b_dims[1]))
        kernel.depth += 1
    total = kernel.let(literal(0, out.dtype), "acc")
    kernel.emit(kernel.loop("k", a_dims[-1]))
    with kernel.indent():
        kernel.emit(f"{total} += {acc_type}({x}[{row}k]) * {acc_type}({y}[k{col}])")
    target = ", ".join(p for p in ("i" if a.ndim == 2 else "", "j" if b.ndim == 2 else "") if p)
    if out_dims:
        kernel.emit(f"{name}[{target}] = {total}")
    else:
        kernel.emit(f"{name} = {total}")
    kernel.depth -= (a.ndim == 2) + (b.ndim == 2)
    return name


@register("BatchedMatmul")
def lower_batched_matmul(node, kernel):
    a, b = node.inputs
    out = node.outputs[0]
    a_dims, b_dims = kernel.dims(a), kernel.dims(b)
    kernel.check(f"{a_dims[-1]} != {b_dims[-2]}",
                 f"{node.op}: the inner lengths of its operands differ (shapes are not aligned)")
    batch = out.ndim - 2
    batch_dims, steps = [], {}
    for axis in range(batch):
        entries = []
        for var, dims in ((a, a_dims), (b, b_dims)):
            local = axis - (batch - (var.ndim - 2))
            if local >= 0:
                entries.append((var, local, dims[local]))
        length = kernel.broadcast_length([d for _, _, d in entries],
                                         f"{node.op}: the batch lengths on axis {axis} cannot be broadcast")
        for var, local, d in entries:
            steps[(id(var), local)] = kernel.let(f"0 if {d} == 1 else 1", "step")
        batch_dims.append(length)
    dtype = out.dtype
    x, y = _operand(kernel, a, dtype), _operand(kernel, b, dtype)
    out_dims = batch_dims + [a_dims[-2], b_dims[-1]]
    name = kernel.let(f"np.empty(({', '.join(out_dims)},), dtype={dtype_code(dtype)})", "v")
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
        kernel.emit(f"{name}[{position}:, :] = np.dot({matrix(a, x)}, {matrix(b, y)})")
    else:
        left, right = kernel.let(matrix(a, x), "m"), kernel.let(matrix(b, y), "m")
        kernel.emit(kernel.loop("i", a_dims[-2]))
        with kernel.indent():
            kernel.emit(kernel.loop("j", b_dims[-1]))
            with kernel.indent():
                total = kernel.let(literal(0, dtype), "acc")
                kernel.emit(kernel.loop("k", a_dims[-1]))
                with kernel.indent():
                    kernel.emit(f"{total} += {dtype_code(dtype)}({left}[i, k]) * {dtype_code(dtype)}({right}[k, j])")
                kernel.emit(f"{name}[{position}i, j] = {total}")
    kernel.depth -= batch
    kernel.bind(out, name, out_dims, contiguous=True, owned=True)
