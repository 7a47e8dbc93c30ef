"""Prints how many random cases each reliability property checked (the figure a soak run reports)."""
from .helpers import BACKEND_PROBLEMS, CASES_CHECKED, available_backends


def pytest_terminal_summary(terminalreporter):
    if not CASES_CHECKED:
        return
    terminalreporter.write_sep("-", "reliability: random cases checked")
    for name, count in sorted(CASES_CHECKED.items()):
        terminalreporter.write_line(f"{name}: {count}")
    terminalreporter.write_line(f"total: {sum(CASES_CHECKED.values())}; backends: {available_backends()}")
    for backend, problem in BACKEND_PROBLEMS.items():
        terminalreporter.write_line(f"backend {backend} unavailable: {problem[:300]}")
