"""Optimizer tests see every error raised inside a rewrite (instead of the skip-and-warn used for users)."""
import pytest

from symgraph.rewrite import engine


@pytest.fixture(autouse=True)
def strict_rewrites(monkeypatch):
    monkeypatch.setattr(engine, "STRICT", True)
