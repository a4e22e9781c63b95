"""Fixtures of the template tests: the real template translated once, its moto stacks created once.

A test that must prove a check can fail builds its own ``Validation`` of a modified copy
(``tests.iac.templates.modified``).
"""

from __future__ import annotations

import pytest

from iac import moto_stack
from iac.template import Validation
from state_machines import graph


@pytest.fixture(scope="session")
def validation() -> Validation:
    """``iac/template.yaml`` and the committed ASL file, translated for both parameter sets."""
    return Validation()


@pytest.fixture(scope="session")
def moto_stacks(validation: Validation) -> dict[str, moto_stack.MotoStack]:
    """Parameter set -> the stack moto created from the translated template, read back."""
    return moto_stack.moto_stacks(validation)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the template tests, the note ``make validate`` has always printed: how long one task step can
    take with every retry used. A note, not a check (yet): an EXPRESS execution stops after 300 s."""
    passed = terminalreporter.stats.get("passed", [])
    if not any("iac" in getattr(report, "keywords", {}) for report in passed):
        return
    validation = Validation()
    timeout = int(validation.template["Globals"]["Function"]["Timeout"])
    worst = graph.worst_case_task_seconds(validation.asl, timeout)
    terminalreporter.write_line(
        f"note worst case of one task step with every retry used: ~{worst}s "
        "(an EXPRESS execution stops after 300s, before its dead-letter branch runs)"
    )
