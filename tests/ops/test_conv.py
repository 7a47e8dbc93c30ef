"""Convolution networks (symgraph/ops/conv.py): conv2d, max_pool2d, avg_pool2d and their gradient ops.

Values against a direct-loop NumPy reference written here (and PyTorch where it is installed) over a grid of
strides, paddings, dilations and groups with odd sizes and batch 1; gradients against finite differences
and second derivatives; every backend against the python backend; float32 stays float32; errors name the
op and the user's line. cuda runs under Numba's simulator unless SYMGRAPH_REAL_GPU=1.
"""
import numpy as np
import pytest

import symgraph as sg
from symgraph.ops import conv as cv

BACKENDS = ["python", "numba", "cuda"]
TOL = {"float64": 1e-12, "float32": 2e-5}


# ---------------------------------------------------------------- references (direct loops)

def conv_reference(x, w, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (top, bottom), (left, right) = padding
    dtype = np.result_type(x.dtype, w.dtype, np.float32)      # integers compute in float64, as the op
    xp = np.zeros((n, c, h + top + bottom, wd + left + right))
    xp[:, :, top:top + h, left:left + wd] = x
    ho = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), dtype)
    per_group = o // groups
    for b in range(n):
        for oc in range(o):
            first = (oc // per_group) * cg
            for r in range(ho):
                for q in range(wo):
                    total = 0.0
                    for ic in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += xp[b, first + ic, r * stride[0] + i * dilation[0],
                                            q * stride[1] + j * dilation[1]] * w[oc, ic, i, j]
                    out[b, oc, r, q] = total
    return out


def pool_reference(x, kernel, stride, padding, kind, count_include_pad=True):
    n, c, h, w = x.shape
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    out = np.zeros((n, c, ho, wo), x.dtype if kind == "max" else np.result_type(x.dtype, np.float32))
    for r in range(ho):
        for q in range(wo):
            r0, q0 = r * stride[0] - padding[0], q * stride[1] - padding[1]
            window = x[:, :, max(r0, 0):min(r0 + kernel[0], h), max(q0, 0):min(q0 + kernel[1], w)]
            if kind == "max":
                out[:, :, r, q] = window.max(axis=(2, 3))
            else:
                count = kernel[0] * kernel[1] if count_include_pad else window.shape[2] * window.shape[3]
                out[:, :, r, q] = window.sum(axis=(2, 3)) / count
    return out


# (x shape, w shape, stride, padding as sg.conv2d takes it, dilation, groups)
CONV_CASES = {
    "plain": ((2, 3, 7, 6), (4, 3, 3, 3), 1, 0, 1, 1),
    "batch1_pad1": ((1, 2, 5, 5), (3, 2, 3, 3), 1, 1, 1, 1),
    "stride2_odd": ((2, 3, 9, 8), (2, 3, 3, 2), 2, 0, 1, 1),
    "stride_pair_pad_pair": ((1, 2, 10, 9), (4, 2, 3, 3), (2, 1), (1, 2), 1, 1),
    "dilated": ((2, 2, 9, 9), (2, 2, 3, 3), 1, 2, 2, 1),
    "dilation_pair": ((1, 2, 8, 10), (3, 2, 2, 3), (1, 2), 1, (2, 1), 1),
    "groups": ((2, 4, 6, 6), (6, 2, 3, 3), 1, 1, 1, 2),
    "depthwise": ((2, 3, 7, 7), (3, 1, 3, 3), 1, 1, 1, 3),
    "depthwise_multiplier": ((1, 2, 6, 5), (4, 1, 2, 2), 2, 1, 1, 2),
    "same_odd": ((2, 2, 6, 7), (3, 2, 3, 3), 1, "same", 1, 1),
    "same_even_kernel": ((1, 2, 6, 6), (2, 2, 2, 4), 1, "same", 1, 1),
    "same_dilated": ((1, 1, 7, 7), (2, 1, 3, 3), 1, "same", 2, 1),
    "valid": ((1, 1, 5, 6), (1, 1, 5, 6), 1, "valid", 1, 1),
    "one_by_one": ((2, 5, 4, 3), (3, 5, 1, 1), 1, 0, 1, 1),
    "kernel_past_stride": ((1, 2, 7, 7), (2, 2, 3, 3), 3, 1, 1, 1),
}


def _pads(padding, w_shape, dilation):
    """PyTorch-form padding as the op's ((top, bottom), (left, right))."""
    d = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        totals = [d[i] * (w_shape[2 + i] - 1) for i in range(2)]
        return tuple((t // 2, t - t // 2) for t in totals)
    p = padding if isinstance(padding, tuple) else (padding, padding)
    return ((p[0], p[0]), (p[1], p[1]))


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _conv_case(name, dtype="float64", seed=0):
    x_shape, w_shape, stride, padding, dilation, groups = CONV_CASES[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    X = sg.tensor("X", dtype, (None,) * 4)
    W = sg.tensor("W", dtype, w_shape)
    y = sg.conv2d(X, W, stride=stride, padding=padding, dilation=dilation, groups=groups)
    reference = conv_reference(x.astype("float64"), w.astype("float64"), _pair(stride),
                               _pads(padding, w_shape, dilation), _pair(dilation), groups)
    return X, W, y, x, w, reference


@pytest.mark.parametrize("name", sorted(CONV_CASES))
def test_conv2d_matches_the_reference_with_its_gradients(name):
    X, W, y, x, w, reference = _conv_case(name)
    gy = np.random.default_rng(1).standard_normal(reference.shape)
    f = sg.function([X, W], [y, *sg.grad(sg.sum(y * gy), [X, W])], backend="python")
    out, gx, gw = f(x, w)
    np.testing.assert_allclose(out, reference, rtol=1e-12, atol=1e-12)
    # the gradients of a linear map: <gy, conv(x, w)> = <gx, x> = <gw, w>
    total = np.sum(reference * gy)
    assert np.sum(gx * x) == pytest.approx(total, rel=1e-11, abs=1e-11)
    assert np.sum(gw * w) == pytest.approx(total, rel=1e-11, abs=1e-11)


@pytest.mark.parametrize("name", ["stride_pair_pad_pair", "groups", "dilated", "depthwise_multiplier"])
def test_conv2d_gradients_match_finite_differences_to_second_order(name):
    x_shape, w_shape, stride, padding, dilation, groups = CONV_CASES[name]

    def cost(x, w):
        y = sg.conv2d(x, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
        return sg.sum(sg.tanh(y) * sg.constant(np.linspace(-1, 1, 7)[None, None, None, :1]))

    rng = np.random.default_rng(2)
    point = [0.5 * rng.standard_normal(x_shape), 0.5 * rng.standard_normal(w_shape)]
    sg.verify_grad(cost, point, rtol=1e-6, n_directions=3)
    # the gradient of the gradient (a gradient penalty): its own finite differences
    sg.verify_grad(lambda x, w: sg.sum(sg.grad(cost(x, w), x) ** 2) + sg.sum(sg.grad(cost(x, w), w) ** 2),
                   point, rtol=1e-5, n_directions=3)


POOL_CASES = {
    "max_2": ("max", (2, 3, 8, 8), 2, None, 0),
    "max_3_stride2_pad1": ("max", (1, 2, 7, 9), 3, 2, 1),
    "max_rect": ("max", (2, 1, 7, 8), (3, 2), (1, 2), (1, 0)),
    "max_overlap": ("max", (1, 2, 6, 5), 3, 1, 1),
    "avg_2": ("avg", (2, 3, 8, 8), 2, None, 0),
    "avg_3_stride2_pad1": ("avg", (1, 2, 7, 9), 3, 2, 1),
    "avg_rect": ("avg", (2, 1, 7, 8), (3, 2), (1, 2), (1, 0)),
}


@pytest.mark.parametrize("name", sorted(POOL_CASES))
def test_pooling_matches_the_reference(name):
    kind, shape, kernel, stride, padding = POOL_CASES[name]
    x = np.random.default_rng(3).standard_normal(shape)
    X = sg.tensor("X", shape=(None,) * 4)
    function = sg.max_pool2d if kind == "max" else sg.avg_pool2d
    outputs = [function(X, kernel, stride, padding)]
    if kind == "avg":
        outputs.append(sg.avg_pool2d(X, kernel, stride, padding, count_include_pad=False))
    got = sg.function([X], outputs, backend="python")(x)
    k = _pair(kernel)
    s = k if stride is None else _pair(stride)
    np.testing.assert_allclose(got[0], pool_reference(x, k, s, _pair(padding), kind), rtol=1e-13)
    if kind == "avg":
        np.testing.assert_allclose(got[1], pool_reference(x, k, s, _pair(padding), kind, False), rtol=1e-13)


def test_max_pool_gradient_goes_to_the_first_maximum_and_a_nan_wins():
    X = sg.tensor("X", shape=(None,) * 4)
    y = sg.max_pool2d(X, 2)
    f = sg.function([X], [y, sg.grad(sg.sum(y), X)], backend="python")
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    out, g = f(x)
    assert out[0, 0, 0, 0] == 3.0 and g[0, 0].tolist() == [[0.0, 1.0], [0.0, 0.0]]
    x = np.array([[[[np.nan, 3.0], [np.nan, 0.0]]]])
    out, g = f(x)
    assert np.isnan(out[0, 0, 0, 0]) and g[0, 0].tolist() == [[0.0, 0.0], [1.0, 0.0]]     # the last NaN
    x = np.full((1, 1, 2, 2), -np.inf)
    assert f(x)[1][0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]        # all -inf: the first element


@pytest.mark.parametrize("name", ["max_3_stride2_pad1", "avg_3_stride2_pad1", "max_overlap"])
def test_pooling_gradients_to_second_order(name):
    kind, shape, kernel, stride, padding = POOL_CASES[name]
    function = sg.max_pool2d if kind == "max" else sg.avg_pool2d

    def cost(x):
        return sg.sum(sg.sin(function(x, kernel, stride, padding)) ** 2)

    point = [np.random.default_rng(4).standard_normal(shape)]     # distinct values: no ties
    sg.verify_grad(cost, point, rtol=1e-6, n_directions=3)
    sg.verify_grad(lambda x: sg.sum(sg.grad(cost(x), x) ** 2), point, rtol=1e-5, n_directions=3)


# ---------------------------------------------------------------- backends

def _network(dtype):
    """A small CNN cost and its gradients (every op and gradient op of conv.py), with sample values."""
    rng = np.random.default_rng(5)
    X = sg.tensor("X", dtype, (None, 2, 9, 9))
    W1 = sg.tensor("W1", dtype, (4, 2, 3, 3))
    W2 = sg.tensor("W2", dtype, (4, 2, 2, 2))
    h = sg.maximum(sg.conv2d(X, W1, padding=1), 0)
    h = sg.max_pool2d(h, 3, 2, 1)
    h = sg.conv2d(h, W2, stride=1, padding="same", groups=2, dilation=1)
    h = sg.avg_pool2d(sg.tanh(h), 2, padding=1, count_include_pad=False)
    cost = sg.sum(h ** 2)
    grads = sg.grad(cost, [X, W1, W2])
    # a second-order term: the gradient of the squared input-gradient norm
    penalty = sg.grad(sg.sum(grads[0] ** 2), W1)
    values = [rng.standard_normal((2, 2, 9, 9)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal((4, 2, 2, 2))]
    return [X, W1, W2], [h, cost, *grads, penalty], [v.astype(dtype) for v in values]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_every_backend_matches_the_python_backend(backend, dtype):
    inputs, outputs, values = _network(dtype)
    want = sg.function(inputs, outputs, backend="python")(*values)
    got = sg.function(inputs, outputs, backend=backend)(*values)
    for g, w in zip(got, want):
        g = np.asarray(g)
        assert g.dtype == dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=TOL[dtype], atol=TOL[dtype] * max(1.0, float(np.abs(w).max())))


# each lowering path (im2col products, 1x1 without columns, direct depthwise loops, padding, strides,
# dilation, groups) on the compiled backends; the python backend runs every case above
COMPILED_CASES = [("numba", name) for name in ("plain", "stride_pair_pad_pair", "dilation_pair", "groups",
                                               "depthwise", "depthwise_multiplier", "same_even_kernel",
                                               "one_by_one", "kernel_past_stride", "same_dilated")]
COMPILED_CASES += [("cuda", name) for name in ("plain", "stride_pair_pad_pair", "dilation_pair",
                                               "depthwise_multiplier", "same_even_kernel")]


@pytest.mark.parametrize("backend,name", COMPILED_CASES)
def test_conv_cases_on_the_compiled_backends(backend, name):
    X, W, y, x, w, reference = _conv_case(name)
    gy = np.random.default_rng(1).standard_normal(reference.shape)
    outputs = [y, *sg.grad(sg.sum(y * gy), [X, W])]
    want = sg.function([X, W], outputs, backend="python")(x, w)
    got = sg.function([X, W], outputs, backend=backend)(x, w)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_weight_gradients_with_infinite_inputs_match_the_python_backend(backend):
    """A weight gradient reading one channel per group with stride 1 (numba: dot products over whole planes,
    whose padding columns multiply inputs outside a tap's windows by zero) is exact when the input holds
    infinities and NaNs: each tap's sum has them only where its windows reach them."""
    X, G = sg.tensor("X", shape=(None,) * 4), sg.tensor("G", shape=(None,) * 4)
    for groups, w_shape, dilation in [(1, (3, 1, 3, 3), 1), (2, (4, 1, 2, 3), (2, 1))]:
        W = sg.tensor("W", shape=w_shape)
        gw = sg.grad(sg.sum(sg.conv2d(X, W, dilation=dilation, groups=groups) * G), W)
        x = np.random.default_rng(3).standard_normal((2, groups, 7, 8))
        x[0, 0, 1, 0], x[1, -1, 6, 7], x[1, 0, 3, 0] = np.inf, -np.inf, np.nan
        w = np.zeros(w_shape)
        g = np.random.default_rng(4).standard_normal(
            sg.function([X, W], sg.conv2d(X, W, dilation=dilation, groups=groups), backend="python")(x, w).shape)
        want = sg.function([X, W, G], gw, backend="python")(x, w, g)
        assert np.isfinite(want).any() and not np.isfinite(want).all()
        np.testing.assert_allclose(sg.function([X, W, G], gw, backend=backend)(x, w, g), want, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS[1:])
@pytest.mark.parametrize("kernel, stride, padding", [(2, None, 0), (3, 1, 0), ((3, 2), (1, 2), 0), (2, 1, 0),
                                                     (3, 2, 1), (3, 2, 0)])
def test_max_pooling_ties_nans_and_overlaps_match_the_python_backend(backend, kernel, stride, padding):
    """Max pooling's value, gradient (to the first maximum, the last NaN) and the gradient's own gradient (the
    gather) with ties, NaNs, -inf and overlapping windows: the compiled backends' row-wise path for windows
    without padding and their window-by-window path with it give the python backend's bits."""
    X, G = sg.tensor("X", shape=(None,) * 4), sg.tensor("G", shape=(None,) * 4)
    y = sg.max_pool2d(X, kernel, stride, padding)
    gx = sg.grad(sg.sum(y * G), X)
    outputs = [y, gx, sg.grad(sg.sum(gx * X * X), G)]
    rng = np.random.default_rng(8)
    x = rng.integers(-2, 3, size=(2, 3, 7, 9)).astype("float64")         # many ties
    x[0, 0, 1, 1] = x[0, 1, 2, 4] = x[1, 2, 3, 3] = np.nan
    x[1, 0] = -np.inf
    g = rng.standard_normal(sg.function([X], y, backend="python")(x).shape)
    want = sg.function([X, G], outputs, backend="python")(x, g)
    got = sg.function([X, G], outputs, backend=backend)(x, g)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32_and_integers_compute_in_float64(backend):
    X, W = sg.tensor("X", "float32", (None,) * 4), sg.tensor("W", "float32", (None,) * 4)
    I = sg.tensor("I", "int64", (None,) * 4)
    outputs = [sg.conv2d(X, W), sg.max_pool2d(X, 2), sg.avg_pool2d(X, 2), sg.conv2d(I, W), sg.max_pool2d(I, 2),
               sg.avg_pool2d(I, 2)]
    f = sg.function([X, W, I], outputs, backend=backend)
    x = np.arange(32, dtype="float32").reshape(1, 2, 4, 4)
    out = f(x, np.ones((1, 2, 2, 2), "float32"), x.astype("int64"))
    assert [np.asarray(o).dtype.name for o in out] == ["float32"] * 3 + ["float64", "int64", "float64"]
    np.testing.assert_array_equal(out[1][0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(out[4][0, 0], [[5, 7], [13, 15]])
    np.testing.assert_allclose(out[0][0, 0], conv_reference(x, np.ones((1, 2, 2, 2)))[0, 0], rtol=1e-6)


# ---------------------------------------------------------------- errors

def test_bad_shapes_are_errors_when_the_graph_is_built():
    X = sg.tensor("X", shape=(None, 4, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: the input's 4 channels are not divisible by groups=3.*test_conv"):
        sg.conv2d(X, sg.tensor("W", shape=(3, 1, 3, 3)), groups=3)
    with pytest.raises(ValueError, match=r"conv2d: the weight reads 3 channels per group.*test_conv"):
        sg.conv2d(X, sg.tensor("W", shape=(2, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: the kernel \(7 wide.*larger than the padded input \(5\).*test_conv"):
        sg.conv2d(X, sg.tensor("W", shape=(2, 4, 7, 3)))
    with pytest.raises(ValueError, match=r"conv2d: expected a 4-d.*test_conv"):
        sg.conv2d(sg.matrix("M"), sg.tensor("W", shape=(2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"padding='same' needs stride 1"):
        sg.conv2d(X, sg.tensor("W", shape=(2, 4, 3, 3)), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding='same' needs the kernel size"):
        sg.conv2d(X, sg.tensor("W", shape=(None,) * 4), padding="same")
    with pytest.raises(TypeError, match=r"stride must be an int or a pair"):
        sg.conv2d(X, sg.tensor("W", shape=(2, 4, 3, 3)), stride=1.5)
    with pytest.raises(ValueError, match=r"max_pool2d: padding 2 must be at most half the kernel"):
        sg.max_pool2d(X, 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: the kernel.*larger than the padded input.*test_conv"):
        sg.avg_pool2d(X, 6)
    with pytest.raises(TypeError, match=r"conv2d: expected real float"):
        sg.conv2d(sg.tensor("Z", "complex128", (None,) * 4), sg.tensor("W", shape=(2, 4, 3, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_shapes_known_only_at_call_time_are_errors_then(backend):
    X, W = sg.tensor("X", shape=(None,) * 4), sg.tensor("W", shape=(None,) * 4)
    f = sg.function([X, W], [sg.conv2d(X, W, groups=2)], backend=backend)
    with pytest.raises(ValueError, match=r"conv2d.*not divisible by groups=2.*test_conv"):
        f(np.ones((1, 3, 5, 5)), np.ones((2, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d.*channels per group.*test_conv"):
        f(np.ones((1, 2, 5, 5)), np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d.*larger than the padded input.*test_conv"):
        f(np.ones((1, 2, 5, 5)), np.ones((2, 1, 6, 3)))
    g = sg.function([X], [sg.max_pool2d(X, 3), sg.avg_pool2d(X, 3)], backend=backend)
    with pytest.raises(ValueError, match=r"pool2d.*larger than the padded input.*test_conv"):
        g(np.ones((1, 1, 2, 5)))
    padded = sg.function([X], [sg.max_pool2d(X, 2, padding=1)], backend=backend)
    with pytest.raises(ValueError, match=r"max_pool2d.*no element to pool.*test_conv"):
        padded(np.ones((1, 1, 0, 4)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_batch_gives_empty_results(backend):
    X, W = sg.tensor("X", shape=(None,) * 4), sg.tensor("W", shape=(None,) * 4)
    y = sg.max_pool2d(sg.conv2d(X, W, padding=1), 2, padding=1)
    outputs = [y, sg.avg_pool2d(X, 2), *sg.grad(sg.sum(y), [X, W])]
    out = sg.function([X, W], outputs, backend=backend)(np.ones((0, 2, 4, 4)), np.ones((3, 2, 3, 3)))
    assert [np.asarray(o).shape for o in out] == [(0, 3, 3, 3), (0, 2, 2, 2), (0, 2, 4, 4), (3, 2, 3, 3)]
    np.testing.assert_array_equal(out[3], 0.0)


# ---------------------------------------------------------------- PyTorch, where installed

def test_against_pytorch_over_a_grid():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for name, (x_shape, w_shape, stride, padding, dilation, groups) in CONV_CASES.items():
        X, W, y, x, w, _ = _conv_case(name)
        gy = np.random.default_rng(7).standard_normal(sg.function([X, W], y, backend="python")(x, w).shape)
        got = sg.function([X, W], [y, *sg.grad(sg.sum(y * gy), [X, W])], backend="python")(x, w)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        ty = F.conv2d(tx, tw, stride=stride, padding=padding, dilation=dilation, groups=groups)
        (ty * torch.tensor(gy)).sum().backward()
        for g, want in zip(got, (ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy())):
            np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-12, err_msg=name)
    for name, (kind, shape, kernel, stride, padding) in POOL_CASES.items():
        x = np.random.default_rng(8).standard_normal(shape)
        X = sg.tensor("X", shape=(None,) * 4)
        ours, theirs = (sg.max_pool2d, F.max_pool2d) if kind == "max" else (sg.avg_pool2d, F.avg_pool2d)
        y = ours(X, kernel, stride, padding)
        tx = torch.tensor(x, requires_grad=True)
        ty = theirs(tx, kernel, stride, padding)
        gy = np.random.default_rng(9).standard_normal(tuple(ty.shape))
        (ty * torch.tensor(gy)).sum().backward()
        got = sg.function([X], [y, sg.grad(sg.sum(y * gy), X)], backend="python")(x)
        np.testing.assert_allclose(got[0], ty.detach().numpy(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(got[1], tx.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_the_functions_are_documented_and_their_examples_run():
    import doctest
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for name in ("conv2d", "max_pool2d", "avg_pool2d"):
        function = getattr(sg, name)
        assert function is getattr(cv, name)
        assert all(section in function.__doc__ for section in ("Parameters\n", "Returns\n", "Examples\n"))
        for test in finder.find(function, name, globs={"sg": sg, "np": np}):
            runner.run(test)
    assert runner.failures == 0


def test_a_tiny_lenet_trains_as_jax_for_a_few_sgd_steps():
    """Five SGD steps of a small LeNet (conv - relu - max pool - conv - relu - avg pool - dense - softmax
    cross-entropy) from the same weights: the same parameters as JAX's ``lax.conv_general_dilated`` and
    ``reduce_window`` after each step."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp, lax = jax.numpy, jax.lax
    rng = np.random.default_rng(12)
    images, labels = rng.standard_normal((8, 1, 10, 10)), rng.integers(0, 3, 8)
    params = [0.3 * rng.standard_normal(s) for s in ((4, 1, 3, 3), (4,), (6, 4, 3, 3), (6 * 2 * 2, 3))]

    X = sg.tensor("X", shape=(None, 1, 10, 10))
    y = sg.tensor("y", "int64", (None,))
    shared = [sg.shared(p.copy(), name=f"p{i}") for i, p in enumerate(params)]
    w1, b1, w2, w3 = shared
    h = sg.maximum(sg.conv2d(X, w1, padding=1) + b1[None, :, None, None], 0)
    h = sg.max_pool2d(h, 2)                                    # (8, 4, 5, 5)
    h = sg.maximum(sg.conv2d(h, w2), 0)                        # (8, 6, 3, 3)
    h = sg.avg_pool2d(h, 2, padding=1, count_include_pad=False)  # (8, 6, 2, 2)
    logits = sg.matmul(sg.reshape(h, (-1, 24)), w3)
    loss = -sg.mean(sg.sum(sg.log_softmax(logits) * sg.one_hot(y, 3), axis=1))
    step = sg.function([X, y], loss, updates=[(p, p - 0.1 * g) for p, g in zip(shared, sg.grad(loss, shared))])

    def jax_loss(ps, xs, ys):
        a, b, c, d = ps
        dn = ("NCHW", "OIHW", "NCHW")
        h = jnp.maximum(lax.conv_general_dilated(xs, a, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dn)
                        + b[None, :, None, None], 0)
        h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        h = jnp.maximum(lax.conv_general_dilated(h, c, (1, 1), "VALID", dimension_numbers=dn), 0)
        pads = ((0, 0), (0, 0), (1, 1), (1, 1))
        total = lax.reduce_window(h, 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), pads)
        count = lax.reduce_window(jnp.ones_like(h), 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), pads)
        logits = (total / count).reshape(len(xs), -1) @ d
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits) * jax.nn.one_hot(ys, 3), axis=1))

    theirs = [jnp.asarray(p) for p in params]
    for _ in range(5):
        ours_loss = step(images, labels)
        their_loss, grads = jax.value_and_grad(jax_loss)(theirs, images, labels)
        theirs = [p - 0.1 * g for p, g in zip(theirs, grads)]
        assert ours_loss == pytest.approx(float(their_loss), rel=1e-10)
    for s, p in zip(shared, theirs):
        np.testing.assert_allclose(s.get_value(), np.asarray(p), rtol=1e-9, atol=1e-12)


def test_jacobians_and_hessians_batch_the_conv_and_pooling_ops():
    """sg.jacobian batches its rows through the ops (vectorize.py's rules: the batch folded into the images'
    batch axis, or a loop for batched filters), and agrees with one gradient per output."""
    rng = np.random.default_rng(13)
    X, W = sg.tensor("X", shape=(None,) * 4), sg.tensor("W", shape=(None,) * 4)
    y = sg.avg_pool2d(sg.tanh(sg.max_pool2d(sg.conv2d(X, W, padding=1, groups=2), 2, 1)), 2)
    flat = sg.reshape(y, (-1,))
    jx, jw = sg.jacobian(flat, [X, W])
    x, w = rng.standard_normal((1, 2, 5, 4)), rng.standard_normal((2, 1, 3, 3))
    got_x, got_w, values = sg.function([X, W], [jx, jw, flat], backend="python")(x, w)
    rows = [sg.grad(flat[i], [X, W]) for i in range(values.size)]
    each = sg.function([X, W], [g for pair in rows for g in pair], backend="python")(x, w)
    np.testing.assert_allclose(got_x, np.stack(each[0::2]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_w, np.stack(each[1::2]), rtol=1e-12, atol=1e-14)
    hw = sg.hessian(sg.sum(y ** 2), W)
    got = sg.function([X, W], hw, backend="python")(x, w)
    gw = sg.grad(sg.sum(y ** 2), W)
    columns = [sg.grad(sg.reshape(gw, (-1,))[i], W) for i in range(w.size)]
    want = np.stack(sg.function([X, W], columns, backend="python")(x, w)).reshape(w.shape + w.shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- bias add and ReLU fused into the convolution

FUSION_CASES = {   # (x shape, w shape, stride, groups): each way the numba helper writes a convolution's output
    "direct": ((3, 1, 9, 8), (4, 1, 3, 3), 1, 1),                 # one channel per group: loops over the taps
    "direct_strided": ((2, 2, 9, 9), (4, 1, 3, 3), 2, 2),
    "columns": ((3, 3, 7, 6), (5, 3, 3, 3), 1, 1),                # im2col and one product for the batch
    "columns_per_image": ((2, 9, 40, 40), (3, 9, 3, 3), 1, 1),    # a column buffer per batch entry
    "pointwise": ((2, 4, 5, 3), (3, 4, 1, 1), 1, 1),             # 1x1: no column buffer
}


def _fusion_inputs(x_shape, w_shape, dtype, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    x.flat[::7] = 0.0                                           # outputs at exactly -bias: ReLU's boundary
    w = rng.standard_normal(w_shape).astype(dtype)
    x[0, 0, 0, :2] = [np.nan, np.inf]
    b = rng.standard_normal((1, w_shape[0], 1, 1)).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(FUSION_CASES))
def test_bias_and_relu_fuse_into_the_convolution_with_the_python_backends_bits(name, dtype):
    """relu(conv + b) with the gradients of a training step through max pooling (which read the pre-activation
    sum only for its shape) and conv + b alone: numba writes them from the convolution's own loops (one helper
    call, no elementwise loop), and the bias add and ReLU give the python backend's bits on numba's
    convolution, NaN, inf and ReLU's boundary included."""
    x_shape, w_shape, stride, groups = FUSION_CASES[name]
    X, W = sg.tensor("X", dtype, (None,) * 4), sg.tensor("W", dtype, (None,) * 4)
    B, Z = sg.tensor("B", dtype, (1, None, 1, 1)), sg.tensor("Z", dtype, (None,) * 4)
    z = sg.conv2d(X, W, stride=stride, groups=groups)
    a = sg.relu(z + B)
    cost = sg.sum(sg.tanh(sg.max_pool2d(a, 2)))    # (a ReLU read by an elementwise node would join its loop)
    x, w, b = _fusion_inputs(x_shape, w_shape, dtype)
    convolution = sg.function([X, W], z, backend="numba")(x, w)
    np.testing.assert_allclose(convolution, sg.function([X, W], z, backend="python")(x, w), rtol=TOL[dtype],
                               atol=TOL[dtype])
    for outputs, epilogue in [([a, *sg.grad(cost, [X, W, B])], sg.relu(Z + B)), ([B + z], B + Z), ([a], None)]:
        compiled = sg.function([X, W, B], outputs, backend="numba")
        assert "conv2d_epilogue" in compiled.source
        got = compiled(x, w, b)
        want = sg.function([Z, B], epilogue if epilogue is not None else sg.relu(Z + B), backend="python")(
            convolution, b)
        assert got[0].dtype == want.dtype == dtype
        np.testing.assert_array_equal(got[0].view(f"u{want.itemsize}"), want.view(f"u{want.itemsize}"))  # bits
        reference = sg.function([X, W, B], outputs, backend="python")(x, w, b)
        for g, e in zip(got[1:], reference[1:]):        # the gradients: BLAS products, close
            np.testing.assert_allclose(g, e, rtol=TOL[dtype], atol=TOL[dtype] * 10)


def test_a_fused_bias_broadcasts_and_its_bad_lengths_are_errors():
    """The bias's length is known only at call time: one for all channels, one per channel, several for a
    single-channel convolution (NumPy's broadcasting, as the python backend), anything else an error naming
    the elementwise op and the user's line."""
    X, W = sg.tensor("X", shape=(None,) * 4), sg.tensor("W", shape=(None,) * 4)
    B = sg.tensor("B", shape=(1, None, 1, 1))
    outputs = [sg.relu(sg.conv2d(X, W) + B)]
    f = sg.function([X, W, B], outputs, backend="numba")
    assert "conv2d_epilogue" in f.source
    Z = sg.tensor("Z", shape=(None,) * 4)
    convolution = sg.function([X, W], sg.conv2d(X, W), backend="numba")
    epilogue = sg.function([Z, B], sg.relu(Z + B), backend="python")
    x = np.random.default_rng(6).standard_normal((2, 2, 6, 5))
    for out_channels, biases in [(3, 1), (3, 3), (1, 4), (1, 1)]:
        w = np.random.default_rng(7).standard_normal((out_channels, 2, 3, 3))
        b = np.linspace(-1, 1, biases).reshape(1, -1, 1, 1)
        want = epilogue(convolution(x, w), b)
        assert want.shape == (2, max(out_channels, biases), 4, 3)
        np.testing.assert_array_equal(f(x, w, b)[0], want)
    with pytest.raises(ValueError, match=r"fused.*axis 1 cannot be broadcast.*test_conv"):
        f(x, np.ones((3, 2, 3, 3)), np.ones((1, 2, 1, 1)))


def test_a_convolution_read_elsewhere_is_not_fused():
    """The fusion needs the convolution's value read by the one elementwise node and the sum's output read
    only for its shape; otherwise the nodes are computed apart, with the same results."""
    X, W = sg.tensor("X", shape=(None,) * 4), sg.tensor("W", shape=(None,) * 4)
    B = sg.tensor("B", shape=(1, None, 1, 1))
    z = sg.conv2d(X, W)
    x, w, b = _fusion_inputs((2, 2, 6, 6), (3, 2, 3, 3), "float64")
    for outputs in ([sg.relu(z + B), z], [sg.relu(z + B), z + B], [sg.relu(z + B) * z], [sg.exp(z + B)],
                    [z + B + 1.0]):
        f = sg.function([X, W, B], outputs, backend="numba")
        assert "conv2d_epilogue" not in f.source
        for g, e in zip(f(x, w, b), sg.function([X, W, B], outputs, backend="python")(x, w, b)):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
