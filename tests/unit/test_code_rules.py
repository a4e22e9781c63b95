"""Rules the tools enforce, not the reviewer: file and function length, and no network in the unit layer.

Ruff (complexity, naming, dead ``noqa``) and mypy (every package, the pydantic plugin) run in
``make lint`` and pre-commit; what they do not measure is measured here.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
#: Declarative builders, which may be longer: what they build reads better as one piece.
LONG_BUILDERS = {
    ("state_machines/workflow.py", "build"): "the workflow graph, state by state",
}


#: The project's packages: every Python file of the project lives in one of them.
PACKAGES = ("functions", "state_machines", "iac", "cli", "local_stack", "soak", "bench", "tests")


def python_files() -> list[Path]:
    """Every Python file of the project's packages."""
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of each function of ``path`` longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((node.name, length))
    return found


def test_no_source_file_is_over_500_lines() -> None:
    files = python_files()
    assert len(files) > 100  # the listing found the tree
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_FILE_LINES
    }
    assert too_long == {}


def test_no_function_is_over_60_lines_but_the_declarative_builders() -> None:
    too_long = {
        (str(path.relative_to(ROOT)), name): lines
        for path in python_files()
        for name, lines in long_functions(path)
        if (str(path.relative_to(ROOT)), name) not in LONG_BUILDERS
    }
    assert too_long == {}


def test_the_length_rule_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{n} = {n}" for n in range(MAX_FUNCTION_LINES))
    source = tmp_path / "long.py"
    source.write_text(f"def long():\n{body}\n")
    assert long_functions(source) == [("long", MAX_FUNCTION_LINES + 1)]


def test_a_unit_test_cannot_open_a_socket() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_a_loopback_test_cannot_reach_another_host() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(SocketConnectBlockedError):
        sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
