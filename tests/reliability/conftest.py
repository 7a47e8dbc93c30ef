"""Prints how many random cases each reliability property checked (the figure a soak run reports)."""
import pytest

from .helpers import BACKEND_PROBLEMS, CASES_CHECKED, available_backends, expected_backend_failures


@pytest.fixture(scope="session", autouse=True)
def expected_backends_work():
    """Every expected backend works, or every reliability test fails with the reason (checked when the
    first test runs, never at collection)."""
    failures = expected_backend_failures()
    if failures:
        pytest.fail("expected backend(s) do not work here: " +
                    "; ".join(f"{backend}: {reason[:300]}" for backend, reason in failures.items()))


def pytest_terminal_summary(terminalreporter):
    if not CASES_CHECKED:
        return
    terminalreporter.write_sep("-", "reliability: random cases checked")
    for name, count in sorted(CASES_CHECKED.items()):
        terminalreporter.write_line(f"{name}: {count}")
    terminalreporter.write_line(f"total: {sum(CASES_CHECKED.values())}; backends: {available_backends()}")
    for backend, problem in BACKEND_PROBLEMS.items():
        terminalreporter.write_line(f"backend {backend} broken: {problem[:300]}")
