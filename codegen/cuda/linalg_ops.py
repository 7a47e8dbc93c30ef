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

from .elemwise import broadcast_shape
from .runtime import cast_expr, literal, reshape_view, sizes, view_with
from .table import device, label, register


def matmul_source(name, batch_ndim, a_dtype, b_dtype, out_dtype, tile):
    acc = "int64" if out_dtype == "bool" else out_dtype
    zero = literal(0, acc)
    batch = [f"b{i}" for i in range(batch_ndim)]
    params = ["out", "a", "b", "m", "n", "k", "nbatch"] + [f"bd{i}" for i in range(batch_ndim)]
    params += [f"ma{i}" for i in range(batch_ndim)] + [f"mb{i}" for i in range(batch_ndim)]
    a_batch = "".join(f"b{i} * ma{i}, " for i in range(batch_ndim))
    b_batch = "".join(f"b{i} * mb{i}, " for i in range(batch_ndim))
    out_batch = "".join(f"{v}, " for v in batch)
    lines = [f"def {name}({', '.join(params)}):",
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
              "        if row < m and col < n:",
              f"            out[{out_batch}row, col] = {cast_expr('acc', out_dtype)}"]
    return "\n".join(lines) + "\n"


def batched_matmul(call, a, b, out_dtype, what):
    """``np.matmul`` of device arrays with ndim >= 2 (batch axes broadcast)."""
    a_shape, b_shape = tuple(a.shape), tuple(b.shape)   # plain tuples: the simulator's refuse index -1
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{what}: operands of shapes {a_shape} and {b_shape} are not aligned "
                         f"(inner lengths {a_shape[-1]} != {b_shape[-2]})")
    batch = broadcast_shape([a_shape[:-2], b_shape[:-2]], f"{what} (batch axes)")
    nb = len(batch)
    # Pad both operands to the output's batch rank with leading length-1 axes.
    a = view_with(a, (1,) * (nb - a.ndim + 2) + tuple(a.shape), (0,) * (nb - a.ndim + 2) + tuple(a.strides))
    b = view_with(b, (1,) * (nb - b.ndim + 2) + tuple(b.shape), (0,) * (nb - b.ndim + 2) + tuple(b.strides))
    m, k, n = a_shape[-2], a_shape[-1], b_shape[-1]
    out = call.empty(batch + (m, n), out_dtype)
    nbatch = math.prod(batch)
    if not (m and n and nbatch):
        return out
    s = sizes()
    key = ("matmul", nb, a.dtype.name, b.dtype.name, out_dtype, s.tile)
    kernel = call.kernel(key, "matmul_kernel", matmul_source("matmul_kernel", nb, a.dtype.name, b.dtype.name,
                                                             out_dtype, s.tile))
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
        shape = tuple(a.shape)[:-1] + tuple(b.shape)[1:]
        return [reshape_view(out, shape)]
    return step


@register(BatchedMatmul)
def lower_batched_matmul(node, host):
    out_dtype = node.outputs[0].dtype

    def step(args, call):
        return [batched_matmul(call, device(args[0]), device(args[1]), out_dtype, label(node))]
    return step
