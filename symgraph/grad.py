"""Symbolic differentiation (placeholder: being written)."""


def grad(cost, wrt, consider_constant=None, disconnected="raise", known_grads=None):
    raise NotImplementedError


def jacobian(expr, wrt):
    raise NotImplementedError


def hessian(cost, wrt):
    raise NotImplementedError


def Lop(f, wrt, eval_points):
    raise NotImplementedError


def Rop(f, wrt, eval_points):
    raise NotImplementedError


def hessian_vector_product(cost, wrt, v):
    raise NotImplementedError


def verify_grad(fn, point, eps=1e-6, rtol=1e-4, atol=None, n_directions=3, rng=None, backend="python"):
    raise NotImplementedError
