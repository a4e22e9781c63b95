"""Fixtures of the template tests: the real template translated once, its moto stacks created once.

A test that must prove a check can fail builds its own ``Validation`` of a modified copy
(``tests.iac.templates.modified``).
"""

from __future__ import annotations

import pytest

from iac import moto_stack
from iac.template import Validation
from state_machines import budget


@pytest.fixture(scope="session")
def validation() -> Validation:
    """``iac/template.yaml`` and the committed ASL file, translated for both parameter sets."""
    return Validation()


@pytest.fixture(scope="session")
def moto_stacks(validation: Validation) -> dict[str, moto_stack.MotoStack]:
    """Parameter set -> the stack moto created from the translated template, read back."""
    return moto_stack.moto_stacks(validation)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """After the template tests, what ``make validate`` has always told: how long the slowest way through the
    workflow can take with every retry used, next to the budget (``tests/iac/test_budget.py`` checks it)."""
    passed = terminalreporter.stats.get("passed", [])
    if not any("iac" in getattr(report, "keywords", {}) for report in passed):
        return
    case = budget.worst_case(Validation().asl)
    terminalreporter.write_line(
        f"time budget: the slowest path takes {case.seconds:.0f} s at worst, every retry used "
        f"(budget {budget.BUDGET_SECONDS['EXPRESS']} s; an EXPRESS execution stops at "
        f"{budget.EXPRESS_LIMIT_SECONDS} s): {' -> '.join(case.path)}"
    )
