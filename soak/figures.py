"""The soak's figures, each counted from ground truth that the code under test does not produce.

* expected: the traffic generator's facts (:mod:`soak.truth`);
* tracked: the local Personalize service's stored events (SQLite ``events`` table);
* dead-lettered: the dead-letter queue's bodies, read in moto without receiving them;
* started and deduplicated: the entry function's answers, checked against ListExecutions;
* synced: the local Segment's arrivals and profiles (:mod:`soak.syncs`).

*lost* = expected eventIds neither stored nor covered by a dead letter of their message; *tracked twice* =
eventIds stored more than once; *tracked wrong* = expected eventIds stored with another item, user, session
or event type; *unexpected* = stored eventIds nobody expected.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cli.redrive import RedriveReport
from local_stack.stack import LocalStack
from segment_personalize.dead_letters import is_parked
from soak.syncs import SyncFigures
from soak.truth import ExpectedEvent


@dataclass
class Figures:
    """Ground-truth figures at one moment (before or after the redrive)."""

    tracked_once: int
    tracked_twice: int
    lost: int
    unexpected: int
    wrong: int
    dead_letters: int
    parked: int  # dead letters the entry function parked: input that can never be processed
    dead_letter_causes: Counter[str]
    examples: list[str] = field(default_factory=list)  # a few eventIds behind a non-zero figure

    @property
    def should_have_gone(self) -> int:
        """Dead letters a redrive should take out of the queue (all but the parked ones)."""
        return self.dead_letters - self.parked

    def as_json(self) -> dict[str, Any]:
        return {
            "trackedExactlyOnce": self.tracked_once,
            "trackedTwice": self.tracked_twice,
            "lost": self.lost,
            "unexpected": self.unexpected,
            "trackedWrong": self.wrong,
            "deadLettered": self.dead_letters,
            "parked": self.parked,
            "deadLetterCauses": dict(self.dead_letter_causes),
            "examples": self.examples,
        }


@dataclass
class EntryFigures:
    """What the entry function answered the deliveries, and what Step Functions holds (ListExecutions)."""

    got_in: int  # deliveries that got into the workflow (started or duplicate)
    started: int  # executions the answers started
    duplicates: int  # answers "duplicate" with the first execution's ARN: the name dedupe
    should_dedupe: int  # STANDARD: deliveries that should have found their message's execution
    extra_executions: int  # executions beyond one per message, from ListExecutions (not the redrive's)
    retried: int  # deliveries that got in after failed invokes (Segment's retries)
    failed_attempts: int  # entry invokes that failed
    never_in: int  # valid messages none of whose deliveries got in after every retry

    def as_json(self) -> dict[str, Any]:
        return {
            "gotIn": self.got_in,
            "started": self.started,
            "deduplicatedByName": self.duplicates,
            "shouldDeduplicate": self.should_dedupe,
            "extraExecutions": self.extra_executions,
            "retried": self.retried,
            "failedAttempts": self.failed_attempts,
            "neverGotIn": self.never_in,
        }


@dataclass
class SoakResult:
    workflow: str
    messages: int
    deliveries: int
    out_of_order: int
    together: int
    entry: EntryFigures
    ignored: int
    skipped: int  # of the ignored, those the entry function answered skipped: no execution
    wrongly_skipped: Counter[str]  # interactions the entry function skipped: lost
    expected_interactions: int
    rejected: Counter[str]
    wrongly_rejected: Counter[str]
    malformed_not_rejected: list[str]
    retries: int
    recovered_by_retries: int
    faults: list[str]
    fault_answers: Counter[str]
    before: Figures
    after: Figures
    redrive: RedriveReport
    syncs: SyncFigures
    seconds: float
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Every figure that is not what it must be, as one line each; the soak passes when there is none."""
        found: list[str] = []
        for when, f in (("before the redrive", self.before), ("after the redrive", self.after)):
            for name, value in (
                ("lost", f.lost),
                ("tracked twice", f.tracked_twice),
                ("tracked wrong", f.wrong),
                ("unexpected eventIds", f.unexpected),
            ):
                if value:
                    found.append(f"{name} {when}: {value}")
        if self.after.should_have_gone:
            found.append(
                f"dead letters the redrive left that should have gone: {self.after.should_have_gone}"
            )
        if self.wrongly_rejected:
            found.append(f"valid messages rejected: {sum(self.wrongly_rejected.values())}")
        if self.wrongly_skipped:
            found.append(f"interactions skipped by the entry function: {sum(self.wrongly_skipped.values())}")
        if self.malformed_not_rejected:
            found.append(f"malformed messages not rejected: {len(self.malformed_not_rejected)}")
        if self.entry.never_in:
            found.append(f"messages that never got in: {self.entry.never_in}")
        if self.entry.duplicates != self.entry.should_dedupe:
            found.append(
                f"deduplicated by name: {self.entry.duplicates} of {self.entry.should_dedupe} redeliveries"
            )
        if self.workflow == "STANDARD" and self.entry.extra_executions:
            found.append(f"executions beyond one per message: {self.entry.extra_executions}")
        found.extend(self.syncs.failures())
        return found

    @property
    def ok(self) -> bool:
        return not self.failures()

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "messages": self.messages,
            "deliveries": self.deliveries,
            "copiesOutOfOrder": self.out_of_order,
            "copiesTogether": self.together,
            "entry": self.entry.as_json(),
            "ignored": self.ignored,
            "skipped": self.skipped,
            "wronglySkipped": dict(self.wrongly_skipped),
            "expectedInteractions": self.expected_interactions,
            "rejected": dict(self.rejected),
            "wronglyRejected": dict(self.wrongly_rejected),
            "malformedNotRejected": self.malformed_not_rejected,
            "retries": self.retries,
            "recoveredByRetries": self.recovered_by_retries,
            "faults": self.faults,
            "faultAnswers": dict(self.fault_answers),
            "beforeRedrive": self.before.as_json(),
            "afterRedrive": self.after.as_json(),
            "redrive": self.redrive.as_json(),
            "syncs": self.syncs.as_json(),
            "seconds": round(self.seconds, 1),
            "stoppedEarly": self.stopped_early,
            "notes": self.notes,
            "failures": self.failures(),
            "ok": self.ok,
        }


def ground_truth(stack: LocalStack, expected: dict[str, ExpectedEvent]) -> Figures:
    """The Personalize and dead-letter figures now."""
    engine, personalize = stack.engine, stack.personalize
    assert engine is not None
    assert personalize is not None
    rows = personalize.query("SELECT event_id, item_id, user_id, session_id, event_type FROM events")
    stored = Counter(str(row["event_id"]) for row in rows)
    letters = engine.dead_letters()
    dead_message_ids = {letter.get("messageId") for letter in letters}
    causes = Counter(  # a parked input's letter names its state and error like the others
        f"{letter.get('failedState')}: {(letter.get('error') or {}).get('Error')}" for letter in letters
    )
    covered = {event_id for event_id, e in expected.items() if e.message_id in dead_message_ids}
    lost = [e for e in expected if e not in stored and e not in covered]
    wrong = {
        str(row["event_id"]): why
        for row in rows
        if row["event_id"] in expected and (why := expected[str(row["event_id"])].mismatch(row))
    }
    unexpected = [e for e in stored if e not in expected]
    twice = [e for e, count in stored.items() if count > 1]
    examples = [f"lost {e}" for e in lost[:3]] + [f"wrong {e}: {why}" for e, why in list(wrong.items())[:3]]
    examples += [f"twice {e}" for e in twice[:3]] + [f"unexpected {e}" for e in unexpected[:3]]
    return Figures(
        tracked_once=sum(1 for event_id in expected if stored.get(event_id) == 1),
        tracked_twice=len(twice),
        lost=len(lost),
        unexpected=len(unexpected),
        wrong=len(wrong),
        dead_letters=len(letters),
        parked=sum(1 for letter in letters if is_parked(letter)),
        dead_letter_causes=causes,
        examples=examples,
    )
