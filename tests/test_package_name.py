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
