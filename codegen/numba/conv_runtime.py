"""Runtime library of the convolution ops (symgraph/ops/conv.py): cached ``@njit`` helpers the generated kernels
call through linked.py (see runtime.py's docstring for the conventions).

Each public helper computes one node for the whole batch and returns a new C-contiguous array. The kernel
passes its arrays as layout ``A`` views (``x[::1]``), so a helper compiles once per dtype whatever the
operands' layouts; the helpers then take ``np.ascontiguousarray`` (a view when the data is contiguous
already, the usual case, else a copy). The kernel has checked every shape relation the helpers rely on
(channels divisible by ``groups``, the output lengths, the gradients' shapes) and cast the convolutions'
operands to the output dtype (conv_cast), so the arithmetic runs in float32 for float32 operands and in
float64 otherwise, as the python backend's.

Convolution and both its gradients are BLAS products (PyTorch's CPU "im2col" scheme), one per group and
chunk of the batch. The input is first copied into a zero-padded buffer when it has padding (``_padded``; the
input gradient is accumulated in one and cut out at the end, ``_cropped``), so the copies below have no
bounds to test; its windows are copied into a column buffer of (C/groups) kh kw rows and (chunk) Ho Wo
columns (``_columns``), then

- ``conv2d``: ``out_g = W_g @ columns``; ``conv2d_epilogue`` adds a bias per channel and clamps at a lower
  bound (a ReLU) as it moves each product into the output (``_finish``: conv.py fuses a bias add and ReLU
  this way);
- ``conv2d_grad_input``: ``columns = W_gᵀ @ gy_g``, then the columns are added back onto the input's
  positions (``_add_columns``, "col2im");
- ``conv2d_grad_weight``: ``gW_gᵀ += columns @ gy_gᵀ`` (beta = 1 across chunks; OpenBLAS computes this
  orientation about twice as fast as ``gy_g @ columnsᵀ``), transposed into gW at the end.

The chunk holds as many batch entries as fit in ``COLUMN_BUDGET`` elements (the whole batch for small
images: one large product instead of many small ones). A 1x1 kernel with stride 1 and no padding needs no
column buffer (the input is its own columns). A convolution reading one channel per group with at most
``DIRECT_OUTPUTS`` outputs per group (depthwise, or a single input channel and few filters) runs as direct
loops over the taps for the output and the input gradient (``_direct``: measured faster than the product,
whose inner dimension is only kh kw); so does its weight gradient with stride 1, as dot products over whole
planes (``_direct_weight``: 1.8x faster on W9's first layer than columns of 36,864 entries and a product of
inner dimension 36,864), other strides through the product. Float32 stays float32 throughout
(sgemm accumulates in float32, as PyTorch's). The products call the ``gemm`` intrinsic of blas.py (NumPy's
CBLAS, the library ``a @ b`` uses); it is inlined into these helpers, so an edit of blas.py's ``gemm`` must
also touch this file (Numba's disk cache stamps each file's own source only).

Pooling is direct loops. ``max_pool2d`` and its two gradient ops find each window's first maximum in
row-major order, a NaN replacing it (the last NaN), padding never chosen (``_first_maximum``: the rule of
the op's ``perform``); integer inputs stay integers. ``avg_pool2d`` divides each window's sum by kh kw
(``count_include_pad``) or by the number of its elements inside the input.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .blas import gemm

_jit = nb.njit(cache=True, error_model="numpy")

#: elements of the column buffer per product (a chunk of the batch fills at most this many)
COLUMN_BUDGET = 1 << 20
#: at most this many outputs per group reading one channel each: direct loops (more: columns and BLAS)
DIRECT_OUTPUTS = 6
#: the dot products of ``_direct_weight`` run over a multiple of this many elements (16 float32 lanes of a
#: 512-bit register, unrolled 4 times by LLVM: the remainder would be a scalar loop, as slow as the rest)
DOT_BLOCK = 64


# ------------------------------------------------------------------ shared pieces
# The loops read and write flat (1-d) views at offsets computed as unsigned integers (every one is >= 0 here):
# Numba uses an unsigned index as it is, while a signed one gets a test for negative values (wraparound) that
# keeps LLVM from vectorizing the loop; and a view made inside a loop (``x[b, c]``) would cost reference
# counting on every iteration.

@nb.njit(inline="always")
def _chunk(n, rows, positions):
    """Batch entries per column buffer: as many as fit in COLUMN_BUDGET elements, at least one."""
    per_entry = max(rows * positions, 1)
    return max(1, min(n, COLUMN_BUDGET // per_entry))


@nb.njit(inline="always")
def _product(a, b, beta, out):
    """``out = a @ b + beta * out`` through BLAS (the operands are views BLAS addresses: never a copy)."""
    if gemm(1.0, a, b, beta, out) != 0:
        raise RuntimeError("conv2d: the BLAS product failed")


@nb.njit(inline="always")
def _reach(count, stride, k, dilation):
    """The length of the padded input the windows read: (count - 1) stride + (k - 1) dilation + 1."""
    return (count - 1) * stride + (k - 1) * dilation + 1


@nb.njit
def _padded(x, top, left, hp, wp):
    """``x`` (N, C, H, W) with ``top`` rows and ``left`` columns of zeros before, cut or padded with zeros to
    (hp, wp): what the windows read; ``x`` itself when it holds all that (no padding before, none after that
    a window reaches: the windows then read it with its own row length)."""
    n, c, h, w = x.shape
    if top == 0 and left == 0 and hp <= h and wp <= w:
        return x
    out = np.zeros((n, c, hp, wp), dtype=x.dtype)
    rows, cols = min(h, hp - top), min(w, wp - left)
    source, target = x.reshape(x.size), out.reshape(out.size)
    for plane in range(n * c):
        for r in range(max(rows, 0)):
            read, write = np.uint64((plane * h + r) * w), np.uint64((plane * hp + r + top) * wp + left)
            for q in range(np.uint64(max(cols, 0))):
                target[write + q] = source[read + q]
    return out


@nb.njit
def _cropped(padded, top, left, h, w):
    """The adjoint of ``_padded``: the (N, C, h, w) part of ``padded`` at (top, left) (zero where it ends)."""
    n, c, hp, wp = padded.shape
    if top == 0 and left == 0 and hp == h and wp == w:
        return padded
    out = np.zeros((n, c, h, w), dtype=padded.dtype)
    rows, cols = min(h, hp - top), min(w, wp - left)
    source, target = padded.reshape(padded.size), out.reshape(out.size)
    for plane in range(n * c):
        for r in range(max(rows, 0)):
            read, write = np.uint64((plane * hp + r + top) * wp + left), np.uint64((plane * h + r) * w)
            for q in range(np.uint64(max(cols, 0))):
                target[write + q] = source[read + q]
    return out


@nb.njit
def _columns(xp, n0, m, c0, cg, kh, kw, ho, wo, params, cols):
    """The windows of channels c0..c0+cg of batch entries n0..n0+m of the padded input ``xp`` into ``cols[:,
    :m Ho Wo]`` (both C-contiguous): row (c kh + i) kw + j, column b Ho Wo + r Wo + q holds xp at (r sh + i dh,
    q sw + j dw)."""
    sh, sw, dh, dw = params[0], params[1], params[4], params[5]
    channels, hp, wp = xp.shape[1], xp.shape[2], xp.shape[3]
    width, p = cols.shape[1], ho * wo
    source, target = xp.reshape(xp.size), cols.reshape(cols.size)
    row_step, step, run = np.uint64(sh * wp), np.uint64(sw), np.uint64(wo)
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                for b in range(m):
                    read = np.uint64((((n0 + b) * channels + c0 + c) * hp + i * dh) * wp + j * dw)
                    write = np.uint64(((c * kh + i) * kw + j) * width + b * p)
                    for r in range(ho):
                        if sw == 1:
                            for q in range(run):
                                target[write + q] = source[read + q]
                        else:
                            for q in range(run):
                                target[write + q] = source[read + q * step]
                        read += row_step
                        write += run


@nb.njit
def _add_columns(cols, gp, n0, m, c0, cg, kh, kw, ho, wo, params):
    """The adjoint of ``_columns``: each column entry added onto the padded input gradient ``gp`` where it was
    read from."""
    sh, sw, dh, dw = params[0], params[1], params[4], params[5]
    channels, hp, wp = gp.shape[1], gp.shape[2], gp.shape[3]
    width, p = cols.shape[1], ho * wo
    source, target = cols.reshape(cols.size), gp.reshape(gp.size)
    row_step, step, run = np.uint64(sh * wp), np.uint64(sw), np.uint64(wo)
    for c in range(cg):
        for i in range(kh):
            for j in range(kw):
                for b in range(m):
                    write = np.uint64((((n0 + b) * channels + c0 + c) * hp + i * dh) * wp + j * dw)
                    read = np.uint64(((c * kh + i) * kw + j) * width + b * p)
                    for r in range(ho):
                        if sw == 1:
                            for q in range(run):
                                target[write + q] += source[read + q]
                        else:
                            for q in range(run):
                                target[write + q * step] += source[read + q]
                        write += row_step
                        read += run


@nb.njit(inline="always")
def _finish(v, bias, lower):
    """A fused convolution's epilogue on one output ``v``: ``v + bias``, then ``lower if sum <= lower else sum``:
    ``relu``'s formula for ``lower = 0`` (a NaN passes), the sum itself for ``lower = -inf``."""
    v = v + bias
    return lower if v <= lower else v


@nb.njit
def _finish_rows(out, b, o0, og, p, bias, bias_step, lower):
    """In place, the epilogue on channels o0..o0+og of batch entry ``b`` of ``out`` (N, O, P): channel ``f``'s
    bias is ``bias[f * bias_step]`` (``bias_step`` 0: one bias for every channel)."""
    channels, flat = out.shape[1], out.reshape(out.size)
    run = np.uint64(p)
    for o in range(og):
        at, value = np.uint64((b * channels + o0 + o) * p), bias[(o0 + o) * bias_step]
        for s in range(run):
            flat[at + s] = _finish(flat[at + s], value, lower)


@nb.njit
def _move_rows_finished(y, tmp, n0, m, o0, og, p, bias, bias_step, lower):
    """``_move_rows`` from ``tmp`` into ``y`` with the epilogue (``_finish_rows``) on each value it writes."""
    channels, width = y.shape[1], tmp.shape[1]
    yf, tf = y.reshape(y.size), tmp.reshape(tmp.size)
    run = np.uint64(p)
    for o in range(og):
        value = bias[(o0 + o) * bias_step]
        for b in range(m):
            at, into = np.uint64(((n0 + b) * channels + o0 + o) * p), np.uint64(o * width + b * p)
            for s in range(run):
                yf[at + s] = _finish(tf[into + s], value, lower)


@nb.njit
def _move_rows(y, tmp, n0, m, o0, og, p, gather):
    """Between ``y`` (N, O, P) and ``tmp`` (og, chunk P), both C-contiguous: ``tmp[o, b P + s] = y[n0 + b, o0 +
    o, s]`` (``gather``), else the other way round."""
    channels, width = y.shape[1], tmp.shape[1]
    yf, tf = y.reshape(y.size), tmp.reshape(tmp.size)
    run = np.uint64(p)
    for o in range(og):
        for b in range(m):
            at, into = np.uint64(((n0 + b) * channels + o0 + o) * p), np.uint64(o * width + b * p)
            if gather:
                for s in range(run):
                    tf[into + s] = yf[at + s]
            else:
                for s in range(run):
                    yf[at + s] = tf[into + s]


@nb.njit
def _direct(xp, w, out, params, transposed, bias, bias_step, lower, fused):
    """A convolution reading one input channel per group, as loops over the taps: ``out[b, f] += w[f, 0, i, j] *
    the (i, j) shifted plane of xp[b, f // (O / groups)]`` (``xp`` padded); ``transposed``: its input gradient
    instead (``xp`` the output gradient, ``out`` the zeroed padded input gradient). All C-contiguous.

    With stride 1 an output plane is computed with the padded input's row length (``wide``: the columns past
    Wo are never used), so each tap is one long run over the plane rather than Ho short ones. ``fused``: the
    epilogue (``_finish``, channel f's bias ``bias[f * bias_step]``) on each output as it is written."""
    sh, sw, dh, dw, groups = params[0], params[1], params[4], params[5], params[6]
    image = out if transposed else xp
    result = xp if transposed else out
    n, c, hp, wp = image.shape
    o, ho, wo = result.shape[1], result.shape[2], result.shape[3]
    kh, kw = w.shape[2], w.shape[3]
    og = o // groups
    images, results, taps = image.reshape(image.size), result.reshape(result.size), w.reshape(w.size)
    if sh == 1 and sw == 1:
        wide = np.zeros(ho * wp, dtype=image.dtype)
        length = np.uint64((ho - 1) * wp + wo)
        for b in range(n):
            for f in range(o):
                plane, at_result = (b * c + f // og) * hp * wp, (b * o + f) * ho * wo
                if transposed:
                    for r in range(ho):
                        into, at = np.uint64(r * wp), np.uint64(at_result + r * wo)
                        for q in range(np.uint64(wo)):
                            wide[into + q] = results[at + q]
                else:
                    for t in range(length):
                        wide[t] = 0
                for i in range(kh):
                    if transposed:
                        for j in range(kw):
                            tap = taps[(f * kh + i) * kw + j]
                            at = np.uint64(plane + i * dh * wp + j * dw)
                            for t in range(length):
                                images[at + t] += tap * wide[t]
                        continue
                    for j in range(0, kw - 1, 2):     # two taps a pass: half the traffic through ``wide``
                        tap, other = taps[(f * kh + i) * kw + j], taps[(f * kh + i) * kw + j + 1]
                        at = np.uint64(plane + i * dh * wp + j * dw)
                        next_at = at + np.uint64(dw)
                        for t in range(length):
                            wide[t] += tap * images[at + t] + other * images[next_at + t]
                    if kw % 2:
                        tap = taps[(f * kh + i) * kw + kw - 1]
                        at = np.uint64(plane + i * dh * wp + (kw - 1) * dw)
                        for t in range(length):
                            wide[t] += tap * images[at + t]
                if not transposed and fused:
                    value = bias[f * bias_step]
                    for r in range(ho):
                        into, at = np.uint64(at_result + r * wo), np.uint64(r * wp)
                        for q in range(np.uint64(wo)):
                            results[into + q] = _finish(wide[at + q], value, lower)
                elif not transposed:
                    for r in range(ho):
                        into, at = np.uint64(at_result + r * wo), np.uint64(r * wp)
                        for q in range(np.uint64(wo)):
                            results[into + q] = wide[at + q]
        return
    row_step, step, run = np.uint64(sh * wp), np.uint64(sw), np.uint64(wo)
    for b in range(n):
        for f in range(o):
            for i in range(kh):
                for j in range(kw):
                    tap = taps[(f * kh + i) * kw + j]
                    at = np.uint64(((b * c + f // og) * hp + i * dh) * wp + j * dw)
                    into = np.uint64((b * o + f) * ho * wo)
                    for r in range(ho):
                        if transposed:
                            for q in range(run):
                                images[at + q * step] += tap * results[into + q]
                        else:
                            for q in range(run):
                                results[into + q] += tap * images[at + q * step]
                        at += row_step
                        into += run
    if fused and not transposed:
        for b in range(n):
            _finish_rows(result, b, 0, o, ho * wo, bias, bias_step, lower)


@nb.njit(fastmath={"reassoc"})
def _dot(a, at, b, bt, length):
    """``sum(a[at + t] * b[bt + t] for t < length)`` in any order: with reassociation allowed, LLVM vectorises it
    with several partial sums, as a BLAS dot does (a sum in the written order runs one add at a time)."""
    total = a[0] - a[0]
    for t in range(np.uint64(length)):
        total += a[at + t] * b[bt + t]
    return total


@nb.njit
def _direct_weight(xp, gy, gw, params):
    """The weight gradient of a convolution with stride 1 that reads one input channel per group, as dot
    products: ``gw[f, 0, i, j] += sum over b of <gy[b, f], the (i, dh, j dw) shifted plane of xp[b, f // (O /
    groups)]>`` (``xp`` padded). As ``_direct``, a plane of ``gy`` is laid out with the padded input's row
    length (``wide``, zeros past Wo), so each tap is one dot over the plane rather than Ho short ones.

    Those zeros multiply inputs that lie outside the tap's windows; an infinite or NaN input there would make
    the product NaN where the true sum has none, so the caller recomputes a gradient that is not finite."""
    dh, dw, groups = params[4], params[5], params[6]
    n, c, hp, wp = xp.shape
    o, ho, wo = gy.shape[1], gy.shape[2], gy.shape[3]
    kh, kw = gw.shape[2], gw.shape[3]
    og = o // groups
    images, grads, taps = xp.reshape(xp.size), gy.reshape(gy.size), gw.reshape(gw.size)
    # The dots run over a multiple of DOT_BLOCK elements (the vectorised loop's step: no scalar remainder),
    # reading zeros past the plane: ``image`` holds one padded plane, then zeros.
    length = (ho - 1) * wp + wo
    rounded = (length + DOT_BLOCK - 1) // DOT_BLOCK * DOT_BLOCK
    wide = np.zeros(max(ho * wp, rounded), dtype=gy.dtype)
    image = np.zeros(hp * wp + DOT_BLOCK, dtype=xp.dtype)
    for b in range(n):
        for channel in range(c):
            plane = (b * c + channel) * hp * wp
            for t in range(np.uint64(hp * wp)):
                image[t] = images[plane + t]
            for f in range(channel * og, (channel + 1) * og):
                at_grad = (b * o + f) * ho * wo
                for r in range(ho):
                    into, at = np.uint64(r * wp), np.uint64(at_grad + r * wo)
                    for q in range(np.uint64(wo)):
                        wide[into + q] = grads[at + q]
                for i in range(kh):
                    for j in range(kw):
                        taps[(f * kh + i) * kw + j] += _dot(wide, np.uint64(0), image,
                                                            np.uint64(i * dh * wp + j * dw), rounded)


@nb.njit
def _finite(a):
    flat = a.reshape(a.size)
    for t in range(flat.size):
        if not np.isfinite(flat[t]):
            return False
    return True


@nb.njit(inline="always")
def _pointwise(kh, kw, params, h, w, ho, wo):
    """Whether the input is its own column matrix: a 1x1 kernel, stride 1, no padding before."""
    return (kh == 1 and kw == 1 and params[0] == 1 and params[1] == 1 and params[2] == 0 and params[3] == 0
            and ho == h and wo == w)


# ------------------------------------------------------------------ convolution

@_jit
def conv_cast(a, like):
    """A C-contiguous copy of ``a`` (any layout and real dtype) in the dtype of the scalar ``like``."""
    out = np.empty(a.shape, dtype=np.asarray(like).dtype)
    flat = out.reshape(out.size)
    k = 0
    for index in np.ndindex(a.shape):
        flat[k] = a[index]
        k += 1
    return out


@_jit
def conv2d(x_any, w_any, params, ho, wo):
    """``conv2d`` of ``x`` (N, C, H, W) and ``w`` (O, C/groups, kh, kw), both of the output dtype; ``params``
    (sh, sw, top, left, dh, dw, groups); the output lengths ``ho``, ``wo`` (checked >= 1 by the kernel)."""
    x = np.ascontiguousarray(x_any)
    no_bias, zero = x.reshape(x.size)[:0], np.zeros(1, dtype=x.dtype)[0]      # (not read: ``fused`` is False)
    return _convolve(x, np.ascontiguousarray(w_any), params, ho, wo, no_bias, zero, False)


@_jit
def conv2d_epilogue(x_any, w_any, params, ho, wo, bias_any, lower):
    """``conv2d`` (as above) with the elementwise node that reads it fused into the loops that write its output:
    ``max(conv + bias, lower)`` as ``_finish`` computes it, ``bias`` (of the output dtype) holding one value
    per output channel or one for all; ``lower`` 0 for a ReLU, -inf for the sum alone. A single output
    channel with several biases broadcasts to one channel per bias (NumPy's rule; the kernel checked that
    the lengths broadcast)."""
    x = np.ascontiguousarray(x_any)
    w = np.ascontiguousarray(w_any)
    bias = np.ascontiguousarray(bias_any)
    o = w.shape[0]
    if bias.size == o or bias.size == 1:
        return _convolve(x, w, params, ho, wo, bias, lower, True)
    y = _convolve(x, w, params, ho, wo, bias, lower, False)       # one channel, broadcast to bias.size
    n = y.shape[0]
    out = np.empty((n, bias.size, ho, wo), dtype=y.dtype)
    source, target, p = y.reshape(y.size), out.reshape(out.size), ho * wo
    for b in range(n):
        for f in range(bias.size):
            at, into = np.uint64(b * p), np.uint64((b * bias.size + f) * p)
            for s in range(np.uint64(p)):
                target[into + s] = _finish(source[at + s], bias[f], lower)
    return out


@nb.njit(inline="always")
def _convolve(x, w, params, ho, wo, bias, lower, fused):
    """conv2d's computation (C-contiguous operands); ``fused``: the epilogue of ``conv2d_epilogue`` (a bias per
    output channel or one for all, ``bias.size`` being O or 1) applied where each output is written."""
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    sh, sw, top, left, dh, dw, groups = params
    og = o // groups
    bias_step = 1 if bias.size == o else 0
    if n * o * ho * wo == 0:
        return np.zeros((n, o, ho, wo), dtype=x.dtype)
    k, p = cg * kh * kw, ho * wo
    w2 = w.reshape((o, k))
    if _pointwise(kh, kw, params, h, wd, ho, wo):
        out = np.empty((n, o, ho, wo), dtype=x.dtype)
        out3, x3 = out.reshape((n, o, p)), x.reshape((n, cg * groups, p))
        for b in range(n):
            for g in range(groups):
                _product(w2[g * og:(g + 1) * og], x3[b, g * cg:(g + 1) * cg], 0.0, out3[b, g * og:(g + 1) * og])
                if fused:
                    _finish_rows(out3, b, g * og, og, p, bias, bias_step, lower)
        return out
    xp = _padded(x, top, left, _reach(ho, sh, kh, dh), _reach(wo, sw, kw, dw))
    if cg == 1 and og <= DIRECT_OUTPUTS:
        out = np.zeros((n, o, ho, wo), dtype=x.dtype)
        _direct(xp, w, out, params, False, bias, bias_step, lower, fused)
        return out
    out = np.empty((n, o, ho, wo), dtype=x.dtype)
    out3 = out.reshape((n, o, p))
    chunk = _chunk(n, k, p)
    cols = np.empty((k, chunk * p), dtype=x.dtype)
    tmp = np.empty((og, chunk * p), dtype=x.dtype)
    for n0 in range(0, n, chunk):
        m = min(chunk, n - n0)
        for g in range(groups):
            _columns(xp, n0, m, g * cg, cg, kh, kw, ho, wo, params, cols)
            if m == 1:
                _product(w2[g * og:(g + 1) * og], cols[:, :p], 0.0, out3[n0, g * og:(g + 1) * og])
                if fused:
                    _finish_rows(out3, n0, g * og, og, p, bias, bias_step, lower)
            else:
                _product(w2[g * og:(g + 1) * og], cols[:, :m * p], 0.0, tmp[:, :m * p])
                if fused:
                    _move_rows_finished(out, tmp, n0, m, g * og, og, p, bias, bias_step, lower)
                else:
                    _move_rows(out, tmp, n0, m, g * og, og, p, False)
    return out


@_jit
def conv2d_grad_input(gy_any, w_any, h, wd, params):
    """The gradient of ``conv2d`` with respect to its input, (N, C, h, wd): ``gy`` (N, O, Ho, Wo) and ``w``
    (O, C/groups, kh, kw) of the output dtype; ``params`` as conv2d's."""
    gy = np.ascontiguousarray(gy_any)
    w = np.ascontiguousarray(w_any)
    n, o, ho, wo = gy.shape
    _, cg, kh, kw = w.shape
    sh, sw, top, left, dh, dw, groups = params
    og = o // groups
    if n * cg * groups * h * wd == 0 or gy.size == 0:
        return np.zeros((n, cg * groups, h, wd), dtype=gy.dtype)
    k, p = cg * kh * kw, ho * wo
    w2 = w.reshape((o, k))
    gy3 = gy.reshape((n, o, p))
    if _pointwise(kh, kw, params, h, wd, ho, wo):
        gx = np.empty((n, cg * groups, h, wd), dtype=gy.dtype)
        gx3 = gx.reshape((n, cg * groups, p))
        for b in range(n):
            for g in range(groups):
                _product(w2[g * og:(g + 1) * og].T, gy3[b, g * og:(g + 1) * og], 0.0, gx3[b, g * cg:(g + 1) * cg])
        return gx
    hp, wp = _reach(ho, sh, kh, dh), _reach(wo, sw, kw, dw)
    if top == 0 and left == 0:          # accumulated in the gradient itself when no padding comes before
        hp, wp = max(hp, h), max(wp, wd)
    gp = np.zeros((n, cg * groups, hp, wp), dtype=gy.dtype)
    if cg == 1 and og <= DIRECT_OUTPUTS:
        _direct(gy, w, gp, params, True, gy.reshape(gy.size)[:0], 0, np.zeros(1, dtype=gy.dtype)[0], False)
        return _cropped(gp, top, left, h, wd)
    chunk = _chunk(n, k, p)
    cols = np.empty((k, chunk * p), dtype=gy.dtype)
    tmp = np.empty((og, chunk * p), dtype=gy.dtype)
    for n0 in range(0, n, chunk):
        m = min(chunk, n - n0)
        for g in range(groups):
            if m == 1:
                _product(w2[g * og:(g + 1) * og].T, gy3[n0, g * og:(g + 1) * og], 0.0, cols[:, :p])
            else:
                _move_rows(gy, tmp, n0, m, g * og, og, p, True)
                _product(w2[g * og:(g + 1) * og].T, tmp[:, :m * p], 0.0, cols[:, :m * p])
            _add_columns(cols, gp, n0, m, g * cg, cg, kh, kw, ho, wo, params)
    return _cropped(gp, top, left, h, wd)


@_jit
def conv2d_grad_weight(x_any, gy_any, kh, kw, params):
    """The gradient of ``conv2d`` with respect to its weight, (O, C/groups, kh, kw): ``x`` (N, C, H, W) and
    ``gy`` (N, O, Ho, Wo) of the output dtype; ``params`` as conv2d's."""
    x = np.ascontiguousarray(x_any)
    gy = np.ascontiguousarray(gy_any)
    n, c, h, wd = x.shape
    o, ho, wo = gy.shape[1], gy.shape[2], gy.shape[3]
    sh, sw, top, left, dh, dw, groups = params
    cg, og = c // groups, o // groups
    k, p = cg * kh * kw, ho * wo
    if o * k == 0 or n * p == 0:
        return np.zeros((o, cg, kh, kw), dtype=x.dtype)
    # The transpose gWᵀ (K, O) = columns @ gyᵀ: OpenBLAS runs this shape (a long inner dimension, the output
    # K x O) about twice as fast as gW = gy @ columnsᵀ.
    if cg == 1 and og <= DIRECT_OUTPUTS and sh == 1 and sw == 1:
        gw = np.zeros((o, cg, kh, kw), dtype=x.dtype)
        _direct_weight(_padded(x, top, left, _reach(ho, sh, kh, dh), _reach(wo, sw, kw, dw)), gy, gw, params)
        if _finite(gw):
            return gw
    gwt = np.zeros((k, o), dtype=x.dtype)
    gy3 = gy.reshape((n, o, p))
    if _pointwise(kh, kw, params, h, wd, ho, wo):
        x3 = x.reshape((n, c, p))
        for b in range(n):
            for g in range(groups):
                _product(x3[b, g * cg:(g + 1) * cg], gy3[b, g * og:(g + 1) * og].T, 1.0, gwt[:, g * og:(g + 1) * og])
    else:
        xp = _padded(x, top, left, _reach(ho, sh, kh, dh), _reach(wo, sw, kw, dw))
        chunk = _chunk(n, k, p)
        cols = np.empty((k, chunk * p), dtype=x.dtype)
        tmp = np.empty((og, chunk * p), dtype=x.dtype)
        for n0 in range(0, n, chunk):
            m = min(chunk, n - n0)
            for g in range(groups):
                _columns(xp, n0, m, g * cg, cg, kh, kw, ho, wo, params, cols)
                if m == 1:
                    _product(cols[:, :p], gy3[n0, g * og:(g + 1) * og].T, 1.0, gwt[:, g * og:(g + 1) * og])
                else:
                    _move_rows(gy, tmp, n0, m, g * og, og, p, True)
                    _product(cols[:, :m * p], tmp[:, :m * p].T, 1.0, gwt[:, g * og:(g + 1) * og])
    gw = np.empty((o, cg, kh, kw), dtype=x.dtype)
    flat = gw.reshape(o * k)
    for f in range(o):
        for i in range(k):
            flat[f * k + i] = gwt[i, f]
    return gw


# ------------------------------------------------------------------ pooling
# ``params``: (kh, kw, sh, sw, ph, pw), the padding on both sides of each axis. The loops run over the planes
# (N C of them) of flat views; a window is clipped to the plane (the padding holds nothing to choose or add).

@nb.njit(inline="always")
def _window(r, q, params, h, w):
    """The rows [i0, i1) and columns [j0, j1) of the plane in the window of output (r, q)."""
    kh, kw, sh, sw, ph, pw = params
    r0, q0 = r * sh - ph, q * sw - pw
    return max(r0, 0), min(r0 + kh, h), max(q0, 0), min(q0 + kw, w)


@nb.njit(inline="always")
def _window_maximum(flat, start, w, kh, kw):
    """(first maximum, its place ``i kw + j`` in the window, an int32) of the kh x kw window at ``start`` (inside
    its plane): the first in row-major order, a NaN replacing it (so the last NaN). The place is a 32-bit
    integer beside the float32 maximum: LLVM then vectorises the search over windows (7x faster on W9's
    pooling gradient than an int64 index into the plane)."""
    best, place = flat[np.uint64(start)], np.int32(0)
    for i in range(kh):
        for j in range(kw):
            value = flat[np.uint64(start + i * w + j)]
            take = (value > best) | (value != value)      # no branch: the comparisons are unpredictable
            best = value if take else best
            place = np.int32(i * kw + j) if take else place
    return best, place


@nb.njit(inline="always")
def _first_maximum(flat, plane, w, i0, i1, j0, j1):
    """The index (into the plane, H W) of the first maximum of the window in row-major order, a NaN replacing
    it (so the last NaN), positions outside the plane never chosen; 0 when the window holds none."""
    if i0 >= i1 or j0 >= j1:
        return 0
    width = j1 - j0
    _, place = _window_maximum(flat, plane + i0 * w + j0, w, i1 - i0, width)
    return (i0 + place // width) * w + j0 + place % width


@nb.njit(inline="always")
def _windows_maxima(flat, base, w, kh, kw, sh, sw, ho, wo, best, places, with_places):
    for r in range(ho):
        for q in range(wo):
            value, place = _window_maximum(flat, base + r * sh * w + q * sw, w, kh, kw)
            best[r * wo + q] = value
            if with_places:         # (a constant: without it, LLVM drops the place and vectorises over q)
                places[r * wo + q] = place


@nb.njit(inline="always")
def _plane_maxima(flat, base, w, params, ho, wo, best, places, with_places):
    """Without padding (every window inside its plane): the first maximum of each window of the plane at
    ``base`` into ``best`` and, ``with_places``, its place in the window (``_window_maximum``) into ``places``
    (both ho * wo long). 2x2 and 3x3 windows get loops of constant length, unrolled by LLVM (measured on W9's
    pooling layers: the values alone 6x faster than window-by-window loops of the general length), and with
    stride 2 constant strides, which vectorise the search with its places."""
    kh, kw, sh, sw = params[0], params[1], params[2], params[3]
    if kh == 2 and kw == 2 and sh == 2 and sw == 2:     # constant strides too: the places vectorise (6x)
        _windows_maxima(flat, base, w, 2, 2, 2, 2, ho, wo, best, places, with_places)
    elif kh == 3 and kw == 3 and sh == 2 and sw == 2:
        _windows_maxima(flat, base, w, 3, 3, 2, 2, ho, wo, best, places, with_places)
    elif kh == 2 and kw == 2:
        _windows_maxima(flat, base, w, 2, 2, sh, sw, ho, wo, best, places, with_places)
    elif kh == 3 and kw == 3:
        _windows_maxima(flat, base, w, 3, 3, sh, sw, ho, wo, best, places, with_places)
    else:
        _windows_maxima(flat, base, w, kh, kw, sh, sw, ho, wo, best, places, with_places)


@nb.njit(inline="always")
def _place_offsets(params, w):
    """The offset in the plane of each place ``i kw + j`` of a window from the window's first position."""
    kh, kw = params[0], params[1]
    offsets = np.empty(kh * kw, dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            offsets[i * kw + j] = i * w + j
    return offsets


@_jit
def max_pool2d(x_any, params, ho, wo):
    """``max_pool2d`` of ``x`` (N, C, H, W) -> (N, C, ho, wo) of x's dtype."""
    x = np.ascontiguousarray(x_any)
    n, c, h, w = x.shape
    out = np.zeros((n, c, ho, wo), dtype=x.dtype)
    if h * w == 0:
        return out
    source, target = x.reshape(x.size), out.reshape(out.size)
    if params[4] == 0 and params[5] == 0:       # no padding: every window lies inside its plane
        places = np.empty(0, dtype=np.int32)     # (not written without the places)
        for plane in range(n * c):
            at = plane * ho * wo
            _plane_maxima(source, plane * h * w, w, params, ho, wo, target[at:at + ho * wo], places, False)
        return out
    for plane in range(n * c):
        base, at = plane * h * w, plane * ho * wo
        for r in range(ho):
            for q in range(wo):
                i0, i1, j0, j1 = _window(r, q, params, h, w)
                index = _first_maximum(source, base, w, i0, i1, j0, j1)
                target[np.uint64(at + r * wo + q)] = source[np.uint64(base + index)]
    return out


@_jit
def max_pool2d_grad(x_any, gy_any, params):
    """The gradient of ``max_pool2d``: ``gy`` (N, C, Ho, Wo) added at each window's first maximum of ``x``
    -> an array of x's shape and gy's dtype."""
    x = np.ascontiguousarray(x_any)
    gy = np.ascontiguousarray(gy_any)
    n, c, h, w = x.shape
    ho, wo = gy.shape[2], gy.shape[3]
    gx = np.zeros((n, c, h, w), dtype=gy.dtype)
    if h * w == 0:
        return gx
    source, grads, target = x.reshape(x.size), gy.reshape(gy.size), gx.reshape(gx.size)
    if params[4] == 0 and params[5] == 0:
        best, places = np.empty(ho * wo, dtype=x.dtype), np.empty(ho * wo, dtype=np.int32)
        offsets, sh, sw = _place_offsets(params, w), params[2], params[3]
        for plane in range(n * c):
            base, at = plane * h * w, plane * ho * wo
            _plane_maxima(source, base, w, params, ho, wo, best, places, True)
            for r in range(ho):         # in the general path's order (overlapping windows add up alike)
                for q in range(wo):
                    o = r * wo + q
                    position = base + r * sh * w + q * sw + offsets[places[o]]
                    target[np.uint64(position)] += grads[np.uint64(at + o)]
        return gx
    for plane in range(n * c):
        base, at = plane * h * w, plane * ho * wo
        for r in range(ho):
            for q in range(wo):
                i0, i1, j0, j1 = _window(r, q, params, h, w)
                index = _first_maximum(source, base, w, i0, i1, j0, j1)
                target[np.uint64(base + index)] += grads[np.uint64(at + r * wo + q)]
    return gx


@_jit
def max_pool2d_gather(x_any, g_any, params, ho, wo):
    """``g`` (of x's shape) read at each window's first maximum of ``x`` -> (N, C, ho, wo) of g's dtype."""
    x = np.ascontiguousarray(x_any)
    g = np.ascontiguousarray(g_any)
    n, c, h, w = x.shape
    out = np.zeros((n, c, ho, wo), dtype=g.dtype)
    if h * w == 0:
        return out
    source, values, target = x.reshape(x.size), g.reshape(g.size), out.reshape(out.size)
    if params[4] == 0 and params[5] == 0:
        best, places = np.empty(ho * wo, dtype=x.dtype), np.empty(ho * wo, dtype=np.int32)
        offsets, sh, sw = _place_offsets(params, w), params[2], params[3]
        for plane in range(n * c):
            base, at = plane * h * w, plane * ho * wo
            _plane_maxima(source, base, w, params, ho, wo, best, places, True)
            for r in range(ho):
                for q in range(wo):
                    o = r * wo + q
                    position = base + r * sh * w + q * sw + offsets[places[o]]
                    target[np.uint64(at + o)] = values[np.uint64(position)]
        return out
    for plane in range(n * c):
        base, at = plane * h * w, plane * ho * wo
        for r in range(ho):
            for q in range(wo):
                i0, i1, j0, j1 = _window(r, q, params, h, w)
                index = _first_maximum(source, base, w, i0, i1, j0, j1)
                target[np.uint64(at + r * wo + q)] = values[np.uint64(base + index)]
    return out


@nb.njit(inline="always")
def _count(r, q, params, h, w, include_pad):
    """The number of positions a window's mean divides by: kh kw, or those inside the plane."""
    if include_pad:
        return params[0] * params[1]
    i0, i1, j0, j1 = _window(r, q, params, h, w)
    return (i1 - i0) * (j1 - j0)


@_jit
def avg_pool2d(x_any, params, ho, wo, include_pad):
    """``avg_pool2d`` of the float ``x`` (N, C, H, W) -> (N, C, ho, wo) of x's dtype, accumulated in it."""
    x = np.ascontiguousarray(x_any)
    n, c, h, w = x.shape
    out = np.zeros((n, c, ho, wo), dtype=x.dtype)
    counts = np.empty(ho * wo, dtype=x.dtype)     # in x's dtype: sum / count rounds once, as NumPy's
    for r in range(ho):
        for q in range(wo):
            counts[r * wo + q] = _count(r, q, params, h, w, include_pad)
    zero = np.zeros(1, dtype=x.dtype)[0]
    source, target = x.reshape(x.size), out.reshape(out.size)
    for plane in range(n * c):
        base, at = plane * h * w, plane * ho * wo
        for r in range(ho):
            for q in range(wo):
                i0, i1, j0, j1 = _window(r, q, params, h, w)
                total = zero
                for i in range(i0, i1):
                    row = np.uint64(base + i * w + j0)
                    for j in range(j1 - j0):
                        total += source[row + np.uint64(j)]
                target[np.uint64(at + r * wo + q)] = total / counts[r * wo + q]
    return out


@_jit
def avg_pool2d_grad(gy_any, h, w, params, include_pad):
    """The gradient of ``avg_pool2d``: each of ``gy`` (N, C, Ho, Wo) divided by its window's count and added
    over the window's positions inside (N, C, h, w)."""
    gy = np.ascontiguousarray(gy_any)
    n, c, ho, wo = gy.shape
    gx = np.zeros((n, c, h, w), dtype=gy.dtype)
    counts = np.empty(ho * wo, dtype=gy.dtype)
    for r in range(ho):
        for q in range(wo):
            counts[r * wo + q] = _count(r, q, params, h, w, include_pad)
    grads, target = gy.reshape(gy.size), gx.reshape(gx.size)
    for plane in range(n * c):
        base, at = plane * h * w, plane * ho * wo
        for r in range(ho):
            for q in range(wo):
                i0, i1, j0, j1 = _window(r, q, params, h, w)
                share = grads[np.uint64(at + r * wo + q)] / counts[r * wo + q]
                for i in range(i0, i1):
                    row = np.uint64(base + i * w + j0)
                    for j in range(j1 - j0):
                        target[row + np.uint64(j)] += share
    return gx
