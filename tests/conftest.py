"""Test-wide settings: the CUDA target runs under Numba's simulator unless a real GPU run is asked for."""
import os

# Must be set before numba.cuda is first imported. SYMGRAPH_REAL_GPU=1 runs the CUDA tests on a real GPU.
if os.environ.get("SYMGRAPH_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


# Test modules that need a package of the test extra (hypothesis, dask) skip when it is missing, so a partial
# install still collects; under CI (the README's install) a missing one is an error, never a silent skip.
_TEST_EXTRA_MODULES = ("hypothesis", "dask", "distributed")


def pytest_configure(config):
    import importlib.util

    import pytest
    missing = [name for name in _TEST_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing and os.environ.get("CI"):
        raise pytest.UsageError(f"CI runs the full suite, but {', '.join(missing)} is not installed: "
                                "pip install -e '.[test,cuda]' (the README's test command)")
