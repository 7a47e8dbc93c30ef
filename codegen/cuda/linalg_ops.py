"""Lowering of ``Dot`` and ``BatchedMatmul`` to one tiled shared-memory matmul kernel.

Each block computes a tile x tile piece of one output matrix, staging tiles of both
operands through shared memory; the block's z index strides over the (broadcast)
batch. Vector operands are matrix views with a length-1 axis, and batch broadcasting
is a 0/1 mask per batch axis, so no operand is ever copied. Accumulation is in the
result dtype (float32 stays float32, as cuBLAS does), in a fixed order: deterministic.
"""
from __future__ import annotations

import math

import numpy as np

from symgraph.ops.linalg import BatchedMatmul, Dot

from .elemwise import INT_POWER_SOURCE, broadcast_shape, uses_int_power
from .fusion import Epilogue, Pending, pending_step
from .runtime import cast_expr, literal, reshape_view, sizes, view_with
from .table import device, label, register


def matmul_source(name, batch_ndim, a_dtype, b_dtype, out_dtype, tile, epilogue=None):
    """The tiled kernel; with ``epilogue`` (an ``Epilogue``, 2-d products only) each product element is not
    stored but fed to the consumer's scalar program, whose outputs the kernel stores instead."""
    acc = "int64" if out_dtype == "bool" else out_dtype
    zero = literal(0, acc)
    batch = [f"b{i}" for i in range(batch_ndim)]
    outs = ["out"] if epilogue is None else [f"out{j}" for j in range(len(epilogue.kernel.outputs))]
    params = outs + ["a", "b", "m", "n", "k", "nbatch"] + [f"bd{i}" for i in range(batch_ndim)]
    params += [f"ma{i}" for i in range(batch_ndim)] + [f"mb{i}" for i in range(batch_ndim)]
    if epilogue is not None:
        params += epilogue.parameters()
    a_batch = "".join(f"b{i} * ma{i}, " for i in range(batch_ndim))
    b_batch = "".join(f"b{i} * mb{i}, " for i in range(batch_ndim))
    out_batch = "".join(f"{v}, " for v in batch)
    lines = ([INT_POWER_SOURCE] if epilogue is not None and uses_int_power(epilogue.kernel.instructions) else []) + [
             f"def {name}({', '.join(params)}):",
             f"    TILE = {tile}",
             # One dynamic shared array holds both tiles (see reduce.py on why not static arrays).
             f"    tiles = cuda.shared.array(0, T_{acc})",
             "    tx = cuda.threadIdx.x",
             "    ty = cuda.threadIdx.y",
             "    at = ty * TILE + tx",
             "    bt = TILE * TILE + at",
             "    row = cuda.blockIdx.y * TILE + ty",
             "    col = cuda.blockIdx.x * TILE + tx",
             "    for batch in range(cuda.blockIdx.z, nbatch, cuda.gridDim.z):"]
    if batch_ndim:
        lines.append("        r = batch")
        for i in reversed(range(1, batch_ndim)):
            lines += [f"        b{i} = r % bd{i}", f"        r = r // bd{i}"]
        lines.append("        b0 = r")
    lines += [f"        acc = {zero}",
              "        for start in range(0, k, TILE):",
              "            kk = start + tx",
              "            if row < m and kk < k:",
              f"                tiles[at] = {cast_expr(f'a[{a_batch}row, kk]', acc)}",
              "            else:",
              f"                tiles[at] = {zero}",
              "            kk = start + ty",
              "            if kk < k and col < n:",
              f"                tiles[bt] = {cast_expr(f'b[{b_batch}kk, col]', acc)}",
              "            else:",
              f"                tiles[bt] = {zero}",
              "            cuda.syncthreads()",
              "            for j in range(TILE):",
              "                acc += tiles[ty * TILE + j] * tiles[TILE * TILE + j * TILE + tx]",
              "            cuda.syncthreads()",
              "        if row < m and col < n:"]
    if epilogue is None:
        lines.append(f"            out[{out_batch}row, col] = {cast_expr('acc', out_dtype)}")
    else:
        lines += ["            i0 = row", "            i1 = col"]
        lines += ["            " + line for line in epilogue.body(cast_expr("acc", out_dtype))]
    return "\n".join(lines) + "\n"


def batched_matmul(call, a, b, out_dtype, what):
    """``np.matmul`` of device arrays with ndim >= 2 (batch axes broadcast)."""
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)   # plain tuples: the simulator's refuse index -1
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{what}: operands of shapes {a_shape} and {b_shape} are not aligned "
                         f"(inner lengths {a_shape[-1]} != {b_shape[-2]})")
    batch = broadcast_shape([a_shape[:-2], b_shape[:-2]], f"{what} (batch axes)")
    nb = len(batch)
    # Pad both operands to the output's batch rank with leading length-1 axes (a 2-d product needs no view).
    if a.ndim != nb + 2:
        a = view_with(a, (1,) * (nb - a.ndim + 2) + a_shape, (0,) * (nb - a.ndim + 2) + tuple(a.strides))
    if b.ndim != nb + 2:
        b = view_with(b, (1,) * (nb - b.ndim + 2) + b_shape, (0,) * (nb - b.ndim + 2) + tuple(b.strides))
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    out = call.empty(batch + (m, n), out_dtype)
    nbatch = math.prod(batch)
    if not (m and n and nbatch):
        return out
    s = sizes()
    key = ("matmul", nb, a.dtype.name, b.dtype.name, out_dtype, s.tile)
    kernel = call.kernel(key, "matmul_kernel", lambda: matmul_source("matmul_kernel", nb, a.dtype.name,
                                                                     b.dtype.name, out_dtype, s.tile))
    grid = (-(-n // s.tile), -(-m // s.tile), max(1, min(nbatch, s.batch_max_blocks)))
    masks_a = [0 if a.shape[i] == 1 and batch[i] != 1 else 1 for i in range(nb)]
    masks_b = [0 if b.shape[i] == 1 and batch[i] != 1 else 1 for i in range(nb)]
    shared_bytes = 2 * s.tile * s.tile * np.dtype("int64" if out_dtype == "bool" else out_dtype).itemsize
    kernel[grid, (s.tile, s.tile), 0, shared_bytes](out, a, b, m, n, k, nbatch, *[int(d) for d in batch], *masks_a, *masks_b)
    return out


@register(Dot)
def lower_dot(node, host):
    out_dtype = node.outputs[0].dtype

    def step(args, call):
        a, b = device(args[0]), device(args[1])
        if a.shape[a.ndim - 1] != b.shape[0]:
            raise ValueError(f"{label(node)}: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
                             f"(inner lengths {a.shape[a.ndim - 1]} != {b.shape[0]})")
        a2 = a if a.ndim == 2 else view_with(a, (1, a.shape[0]), (0, a.strides[0]))
        b2 = b if b.ndim == 2 else view_with(b, (b.shape[0], 1), (b.strides[0], 0))
        out = batched_matmul(call, a2, b2, out_dtype, label(node))
        if a.ndim == 2 and b.ndim == 2:
            return [out]
        return [reshape_view(out, tuple(a.shape)[:-1] + tuple(b.shape)[1:])]
    return step


@register(BatchedMatmul)
def lower_batched_matmul(node, host):
    out_dtype = node.outputs[0].dtype

    def step(args, call):
        return [batched_matmul(call, device(args[0]), device(args[1]), out_dtype, label(node))]
    return step


# ---------------------------------------------------------------- a product and its elementwise reader, one kernel

class PendingProduct(Pending):
    """A 2-d product not computed yet (see fusion.py)."""

    __slots__ = ()
    ndim = 2

    @property
    def shape(self):
        (m, k), (k2, n) = tuple(self.args[0].shape), tuple(self.args[1].shape)
        if k != k2:
            self.value()          # raises the product's own error
        return (m, n)


def fuses_into_reader(node) -> bool:
    """Whether ``node`` is a product its elementwise reader may compute (2-d operands)."""
    return isinstance(node.op, Dot) and all(v.ndim == 2 for v in node.inputs + node.outputs)


def pending_value_step(node, compute):
    """The step of a product its reader computes (fusion.py)."""
    return pending_step(PendingProduct, compute)


def lower_with_reader(reader, product_node, host, unfused):
    """The step of ``reader`` computing ``product_node`` in the same kernel (fusion.py); ``unfused`` is the
    reader's own step."""
    epilogue = Epilogue(reader, product_node.outputs[0], host)
    product_dtype = product_node.outputs[0].dtype
    acc_dtype = "int64" if product_dtype == "bool" else product_dtype

    def step(args, call):
        pending = epilogue.pending(args)
        a, b = device(pending.args[0]), device(pending.args[1])
        (m, k), (k2, n) = tuple(a.shape), tuple(b.shape)
        if k != k2 or not epilogue.fits(args, (m, n)):
            return epilogue.unfused(unfused, args, call)
        outs = [call.empty((m, n), d) for d in epilogue.out_dtypes]
        if not (m and n):
            return outs
        s = sizes()
        key = ("matmul_epilogue", a.dtype.name, b.dtype.name, product_dtype, s.tile, epilogue.key())
        kernel = call.kernel(key, "matmul_kernel", lambda: matmul_source("matmul_kernel", 0, a.dtype.name,
                                                                         b.dtype.name, product_dtype, s.tile,
                                                                         epilogue))
        inputs, masks = epilogue.arguments(args, (m, n))
        shared_bytes = 2 * s.tile * s.tile * np.dtype(acc_dtype).itemsize
        grid = (-(-n // s.tile), -(-m // s.tile), 1)
        kernel[grid, (s.tile, s.tile), 0, shared_bytes](*outs, a, b, m, n, k, 1, *inputs, *masks)
        return outs
    return step
