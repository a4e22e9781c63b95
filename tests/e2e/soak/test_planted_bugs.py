"""The soak's power to fail, itself tested: each bug a held-out review planted, one at a time, makes a small
soak fail (marker ``e2e``), through the very figure that should catch it. The bugs are mutations in fakes
and wrappers (tests/fakes/planted_bugs.py, checked by tests/unit/soak/test_planted_bugs.py), never edits of
the source. Each soak runs the full fault plan, as ``make soak`` does, on the workflow type that catches
the bug (``make soak`` runs both, and fails when either does)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from soak.figures import SoakResult
from soak.harness import ClientWrapper, run_soak
from tests.fakes import planted_bugs
from tests.fakes.planted_bugs import HANDLER_BUGS, NO_NAME_DEDUPE

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EVENTS = 40


def planted(
    tmp_path: Path,
    workflow: str,
    hooks: Mapping[str, Sequence[str]] | None = None,
    wrap_client: ClientWrapper | None = None,
) -> SoakResult:
    return run_soak(
        workflow,
        events=EVENTS,
        seconds=90,
        seed=5,
        data_dir=tmp_path,
        sandbox_hooks=hooks,
        wrap_client=wrap_client,
    )


def handler_bug(name: str) -> dict[str, list[str]]:
    function, hook = HANDLER_BUGS[name]
    return {function: [hook]}


def lost(result: SoakResult) -> bool:
    return result.after.lost > 0


#: bug -> (workflow, the check that must see it)
CAUGHT_BY: dict[str, tuple[str, Callable[[SoakResult], bool]]] = {
    "Validate keeps only the first product of an order": ("STANDARD", lost),
    "Validate rejects every Order Completed": (
        "STANDARD",
        lambda r: lost(r) and sum(r.wrongly_rejected.values()) > 0,
    ),
    "StartExecution fails for one message in five": ("EXPRESS", lambda r: lost(r) and r.entry.never_in > 0),
    "Entry skips every Order Completed": (
        "STANDARD",
        lambda r: lost(r) and sum(r.wrongly_skipped.values()) > 0,
    ),
    "Track sends only the first PutEvents batch": ("EXPRESS", lost),
    "SyncProfile never flushes": (
        "STANDARD",
        lambda r: r.syncs.identify_missing > 0 and r.syncs.traits_missing > 0,
    ),
    # STANDARD runs one SyncProfile per message (but for retries of a failed one): EXPRESS shows it
    "SyncProfile is not idempotent": ("EXPRESS", lambda r: r.syncs.unexplained_repeats > 0),
}


def test_every_handler_bug_has_a_check() -> None:
    assert set(CAUGHT_BY) == set(HANDLER_BUGS)


@pytest.mark.parametrize("bug", sorted(HANDLER_BUGS))
def test_a_planted_handler_bug_fails_the_soak(bug: str, tmp_path: Path) -> None:
    workflow, caught = CAUGHT_BY[bug]
    result = planted(tmp_path, workflow, hooks=handler_bug(bug))
    assert not result.ok, bug
    assert caught(result), result.failures()


def test_without_the_name_dedupe_a_standard_soak_fails(tmp_path: Path) -> None:
    """Every copy starts an execution of its own (the EXPRESS emulation planted in STANDARD): nothing is lost
    or tracked twice, the idempotency records hold, yet the dedupe figure, counted from the entry
    function's answers and ListExecutions, sees it."""
    function, hook = NO_NAME_DEDUPE
    result = planted(tmp_path, "STANDARD", hooks={function: [hook]})
    assert result.after.lost == result.after.tracked_twice == 0
    assert result.entry.duplicates == 0 < result.entry.should_dedupe
    assert result.entry.extra_executions == result.entry.should_dedupe
    assert not result.ok


def test_a_redrive_that_never_deletes_a_dead_letter_fails_the_soak(tmp_path: Path) -> None:
    wrappers: list[Any] = []

    def never_deletes(service: str, client: Any) -> Any:
        wrapped = planted_bugs.redrive_never_deletes(service, client)
        wrappers.append(wrapped)
        return wrapped

    result = planted(tmp_path, "STANDARD", wrap_client=never_deletes)
    assert result.redrive.started  # it redrove them, and said nothing was left
    assert all(left.parked for left in result.redrive.left)  # only the parked input is said to stay
    assert result.after.lost == 0
    assert result.after.should_have_gone == result.before.dead_letters - result.before.parked > 0
    assert not result.ok
