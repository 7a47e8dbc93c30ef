"""sg.grad differentiates the cost's stable forms (symgraph.rewrite.stabilize): gradients of naive formulas are
finite wherever the stable formula's are, on every backend, and the gradient is still made of the user's graph."""
import numpy as np
import pytest
pytest.importorskip("hypothesis", reason="hypothesis comes with the test extra: pip install -e '.[test]'")
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import special

import symgraph as sg
from symgraph.grad import DisconnectedInputError
from symgraph.graph import toposort
from symgraph.ops.base import op_name
from symgraph.rewrite import engine
from symgraph.rewrite.stabilize import stable_for_grad

BACKENDS = ["python", "numba", "cuda"]


def issue_cases():
    """(inputs, costs, values) of the cases issue 14 lists, each cost with its NumPy/SciPy value."""
    x, v, a, b, t = sg.matrix("x"), sg.vector("v"), sg.scalar("a"), sg.scalar("b"), sg.tensor("t")
    xv = np.array([[0.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])
    vv = np.array([1000.0, -1000.0, 40.0, 800.0])
    av, bv = 1e4, 1e4
    tv = np.full((2, 3, 4), -1000.0)
    weights = np.arange(vv.size, dtype=float)
    lsm = special.log_softmax(xv, axis=1)
    costs = [
        (-sg.sum(sg.log(sg.softmax(x))[[0, 1], [0, 2]]), -(lsm[0, 0] + lsm[1, 2])),
        (-sg.sum(sg.log(sg.softmax(x)[sg.arange(x.shape[0]), np.array([0, 2])])), -(lsm[0, 0] + lsm[1, 2])),
        (sg.sum(sg.log(1.0 + sg.exp(v))), np.logaddexp(0, vv).sum()),
        (sg.sum(sg.log1p(sg.exp(v))), np.logaddexp(0, vv).sum()),
        (sg.sum(sg.exp(v) / (1.0 + sg.exp(v)) * weights), (special.expit(vv) * weights).sum()),
        (sg.sum(sg.sigmoid(-v) * sg.exp(v) * weights), (special.expit(vv) * weights).sum()),
        (sg.sum(sg.log1p(-sg.sigmoid(v))), -np.logaddexp(0, vv).sum()),
        (sg.sum(sg.exp(v) / sg.exp(v).sum(axis=0) * weights), (special.softmax(vv) * weights).sum()),
        (sg.log(sg.exp(a) + sg.exp(b)), np.logaddexp(av, bv)),
        (sg.sum(sg.log(sg.sum(sg.exp(t), axis=2).T)), special.logsumexp(tv, axis=2).sum()),
        (-sg.sum(sg.log(1.0 - 1.0 / (1.0 + sg.exp(-v)))), np.logaddexp(0, vv).sum()),
    ]
    return [x, v, a, b, t], costs, [xv, vv, av, bv, tv]


def expected_gradients(values):
    xv, vv, av, bv, tv = values
    weights = np.arange(vv.size, dtype=float)
    picked = np.zeros_like(xv)
    picked[0, 0] = picked[1, 2] = 1
    nll = special.softmax(xv, axis=1) * picked.sum(axis=1, keepdims=True) - picked
    s = special.expit(vv)
    p = special.softmax(vv)
    return [
        {"x": nll}, {"x": nll}, {"v": s}, {"v": s}, {"v": s * (1 - s) * weights}, {"v": s * (1 - s) * weights},
        {"v": -s}, {"v": p * (weights - (p * weights).sum())}, {"a": 0.5, "b": 0.5},
        {"t": np.full_like(tv, 0.25)}, {"v": s},
    ]


@pytest.mark.parametrize("backend", BACKENDS)
def test_issue_cases_have_finite_values_and_gradients(backend):
    inputs, costs, values = issue_cases()
    by_name = {var.name: var for var in inputs}
    outputs, checks = [], []
    for (cost, value), gradients in zip(costs, expected_gradients(values)):
        outputs.append(cost)
        checks.append((len(outputs) - 1, value))
        for name, expected in gradients.items():
            outputs.append(sg.grad(cost, by_name[name]))
            checks.append((len(outputs) - 1, expected))
    got = sg.function(inputs, outputs, backend=backend)(*values)
    for index, expected in checks:
        np.testing.assert_allclose(np.asarray(got[index]), expected, rtol=1e-10, atol=1e-12,
                                   err_msg=f"output {index} ({outputs[index]!r})")


@pytest.mark.parametrize("backend", ["python", "numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_theano_asymptotic_32(backend, dtype):
    """Theano's test_asymptotic_32: the categorical cross-entropy of softmax(x + b) trained to zero error,
    then pushed to huge logits, keeps an exact value and gradient."""
    x, b = sg.matrix("x", dtype=dtype), sg.vector("b", dtype=dtype)
    labels = sg.vector("labels", dtype="int64")
    s = sg.softmax(x + b)
    c = -sg.log(s[sg.arange(labels.shape[0]), labels])   # Theano's categorical_crossentropy(s, labels)
    f = sg.function([x, labels, b], [sg.sum(c), sg.grad(sg.sum(c), x)], backend=backend)
    xval, bval, yval = np.zeros((5, 5), dtype=dtype), np.zeros(5, dtype=dtype), np.arange(5)
    for _ in range(100):
        cval, gxval = f(xval, yval, bval)
        xval -= (100.3 * gxval).astype(dtype)
    assert cval == 0
    xval = np.zeros((5, 5), dtype=dtype)
    for _ in range(100):
        cval, gxval = f(xval, yval, bval)
        xval += (100000.3 * gxval).astype(dtype)
    assert cval > 61750000
    assert gxval[0, 0] == -1.0
    assert gxval[0, 1] == 0.25


def test_gradient_reuses_the_forward_nodes_and_differentiates_the_stable_form():
    x = sg.vector("x")
    h = sg.tanh(x) * 3.0
    naive = sg.log(1.0 + sg.exp(h))
    cost = sg.sum(naive) + sg.sum(h * h)
    g = sg.grad(cost, x)
    nodes = toposort([g])
    assert h.owner in nodes and h.owner.inputs[0].owner in nodes       # the user's tanh and product
    names = [op_name(n.op) for n in nodes]
    assert "sigmoid" in names and "log1p" not in names and "true_div" not in names
    xv = np.array([-400.0, 0.3, 400.0])
    hv = 3 * np.tanh(xv)
    np.testing.assert_allclose(sg.function([x], g, backend="python", optimizer=None)(xv),
                               (special.expit(hv) + 2 * hv) * 3 * (1 - np.tanh(xv) ** 2))


def test_rewrites_do_not_look_through_wrt_or_consider_constant():
    x = sg.vector("x")
    s = sg.sigmoid(x)
    xv = np.array([0.0, 2.0, -3.0])
    # d log(s) / d s is 1 / s, not the derivative of -softplus(-x) with respect to anything
    g = sg.grad(sg.sum(sg.log(s)), s)
    np.testing.assert_allclose(sg.function([x], g, backend="python")(xv), 1 / special.expit(xv))
    # consider_constant: z's gradient is not propagated, but the cost around it is still stabilised
    z = x * 2.0
    cost = sg.sum(sg.log(1.0 + sg.exp(z)) * x)
    g = sg.grad(cost, x, consider_constant=[z])
    big = np.array([1000.0, -1000.0, 0.5])
    np.testing.assert_allclose(sg.function([x], g, backend="python", optimizer=None)(big), np.logaddexp(0, 2 * big))


def test_known_grads_second_derivatives_and_disconnected_inputs():
    x, y = sg.vector("x"), sg.vector("y")
    naive = sg.log(1.0 + sg.exp(x))
    xv = np.array([1000.0, -1000.0, 0.0])
    g = sg.grad(None, x, known_grads={naive: sg.ones_like(naive)})
    np.testing.assert_allclose(sg.function([x], g, backend="python", optimizer=None)(xv), special.expit(xv))
    h = sg.hessian(sg.sum(naive), x)
    s = special.expit(xv)
    np.testing.assert_allclose(sg.function([x], h, backend="python")(xv), np.diag(s * (1 - s)))
    with pytest.raises(DisconnectedInputError):
        sg.grad(sg.sum(naive), y)
    np.testing.assert_allclose(sg.function([y], sg.grad(sg.sum(naive), y, disconnected="zero"),
                                           backend="python")(xv), 0)


def test_graphs_without_overflowing_ops_are_differentiated_as_they_are():
    x = sg.vector("x")
    cost = sg.sum(sg.log(1.0 + x * x))            # log1p would fire, but nothing here can overflow to NaN
    assert stable_for_grad([cost], keep=[x])[0] is cost
    cost = sg.sum(sg.exp(x) * 2.0)                 # an exp, but no rewrite applies
    assert stable_for_grad([cost], keep=[x])[0] is cost


def test_a_rewrite_that_drops_an_input_is_not_used(monkeypatch):
    x, y = sg.vector("x"), sg.vector("y")
    cost = sg.sum(sg.log(sg.exp(x) + y))

    def drop_y(node):
        if op_name(node.op) == "log" and op_name(node.inputs[0].owner.op) == "add":
            return [sg.log(sg.exp(x))]
        return None

    monkeypatch.setitem(engine.REGISTRY, "drop_y", engine.LocalRewrite(drop_y, "drop_y", ["before_grad"], None))
    assert stable_for_grad([cost], keep=[x, y])[0] is cost
    g = sg.grad(cost, y)
    np.testing.assert_allclose(sg.function([x, y], g, backend="python", optimizer=None)(np.zeros(2), np.ones(2)),
                               [0.5, 0.5])


FORMS = {   # name: (build, value, derivative), each elementwise in x
    "log(1 + exp(x))": (lambda x: sg.log(1.0 + sg.exp(x)), lambda v: np.logaddexp(0, v), special.expit),
    "log(sigmoid(x))": (lambda x: sg.log(sg.sigmoid(x)), lambda v: -np.logaddexp(0, -v),
                        lambda v: special.expit(-v)),
    "exp(x) / (1 + exp(x))": (lambda x: sg.exp(x) / (1.0 + sg.exp(x)), special.expit,
                              lambda v: special.expit(v) * special.expit(-v)),
    "1 / (1 + exp(-x))": (lambda x: 1.0 / (1.0 + sg.exp(-x)), special.expit,
                          lambda v: special.expit(v) * special.expit(-v)),
    "log(1 - 1 / (1 + exp(-x)))": (lambda x: sg.log(1.0 - 1.0 / (1.0 + sg.exp(-x))), lambda v: -np.logaddexp(0, v),
                                   lambda v: -special.expit(v)),
    "log1p(-sigmoid(x))": (lambda x: sg.log1p(-sg.sigmoid(x)), lambda v: -np.logaddexp(0, v),
                           lambda v: -special.expit(v)),
    "sigmoid(-x) * exp(x)": (lambda x: sg.sigmoid(-x) * sg.exp(x), special.expit,
                             lambda v: special.expit(v) * special.expit(-v)),
    "log(exp(x) + exp(2x))": (lambda x: sg.log(sg.exp(x) + sg.exp(2.0 * x)), lambda v: np.logaddexp(v, 2 * v),
                              lambda v: special.expit(v - 2 * v) + 2 * special.expit(2 * v - v)),
}
_COMPILED = {}


def _compiled(name, optimizer):
    key = (name, optimizer)
    if key not in _COMPILED:
        build = FORMS[name][0]
        x = sg.vector("x")
        out = build(x)
        _COMPILED[key] = sg.function([x], [out, sg.grad(sg.sum(out), x)], backend="python", optimizer=optimizer)
    return _COMPILED[key]


@given(name=st.sampled_from(sorted(FORMS)), optimizer=st.sampled_from(["fast_run", None]),
       values=arrays(np.float64, st.integers(1, 6), elements=st.floats(-1e4, 1e4)))
@settings(max_examples=150, deadline=None)
def test_gradients_of_naive_forms_match_the_stable_derivative_everywhere(name, optimizer, values):
    _, value, derivative = FORMS[name]
    got_value, got_grad = _compiled(name, optimizer)(values)
    # Unoptimized, sigmoid's derivative s * (1 - s) cancels for large x (as in PyTensor and JAX): accurate
    # to about 1e-16 absolute there; the optimizer computes 1 - s as sigmoid(-x), accurate everywhere.
    if optimizer is None:
        np.testing.assert_allclose(got_grad, derivative(values), rtol=1e-6, atol=1e-15)
    else:
        np.testing.assert_allclose(got_grad, derivative(values), rtol=1e-9, atol=1e-300)
    if optimizer is not None:       # (values: only the optimizer computes the stable forms)
        np.testing.assert_allclose(got_value, value(values), rtol=1e-9, atol=1e-300)
