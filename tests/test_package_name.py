"""The code generators install as ``symgraph.codegen``: no generic top-level ``codegen`` module is ours."""
import subprocess
import sys

import pytest


def test_code_generators_import_as_symgraph_codegen():
    import symgraph.codegen
    from symgraph.codegen import get_backend

    assert symgraph.codegen.__name__ == "symgraph.codegen"
    assert get_backend("python").__name__ == "symgraph.codegen.python"


@pytest.mark.parametrize("backend", ["python", "numba"])
def test_compiling_imports_no_top_level_codegen(backend, tmp_path):
    # From a directory outside the checkout, where only the installed package is visible.
    script = ("import sys, numpy as np, symgraph as sg\n"
              "x = sg.vector('x')\n"
              f"print(sg.function([x], (x * 2).sum(), backend={backend!r})(np.arange(3.0)))\n"
              "print(sorted(m for m in sys.modules if m == 'codegen' or m.startswith('codegen.')))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["6.0", "[]"]


def test_a_checkout_imports_its_own_code_generators_whatever_is_installed():
    """Imported from a source checkout whose ``symgraph.codegen`` no install maps (an editable install of
    another checkout, or none), the checkout's own ``codegen/`` serves it: its tests collect and test it."""
    import os
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = ("import sys\n"
              "sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in type(f).__name__]  # no install\n"
              f"sys.path.insert(0, {root!r})\n"
              "import symgraph.codegen.numba.runtime as runtime, symgraph as sg\n"
              "print(runtime.__file__)\n"
              "x = sg.vector('x')\n"
              "print(sg.function([x], x * 2.0, backend='python')([1.0, 2.0]).tolist())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path, values = done.stdout.split("\n")[:2]
    assert path == os.path.join(root, "codegen", "numba", "runtime.py") and values == "[2.0, 4.0]"
