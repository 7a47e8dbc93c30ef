"""Central finite differences for tests that check a derivative against the values themselves."""
import numpy as np


def numeric_grad(f, x, eps=1e-6):
    """``d f / d x`` by central differences, one element of ``x`` at a time (``f`` returns a scalar)."""
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        out[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return out
