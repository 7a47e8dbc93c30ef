"""Every codegen test module compiles into its own temporary symgraph cache directory."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="module")
def _private_cache_dir(tmp_path_factory):
    patch = pytest.MonkeyPatch()
    patch.setenv("SYMGRAPH_CACHE_DIR", str(tmp_path_factory.mktemp("symgraph-cache")))
    yield
    patch.undo()
