"""The soak's figures, computed from ground truth, not from what the workflow says about itself.

The eventIds that should reach Personalize come from Validate's own logic
(``segment_personalize.interactions``) run on each distinct accepted message; the tracked ones are the local
Personalize service's stored events (SQLite ``events`` table); the dead-lettered ones are the dead-letter
queue's bodies. *lost* = expected eventIds neither stored nor in
the dead-letter queue; *tracked twice* = eventIds stored more than once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cli.redrive import RedriveReport
from local_stack.stack import LocalStack
from segment_personalize.dead_letters import is_parked
from segment_personalize.errors import InvalidSegmentEvent
from segment_personalize.interactions import validate_payload


@dataclass
class Figures:
    """Ground-truth figures at one moment (before or after the redrive)."""

    tracked_once: int
    tracked_twice: int
    lost: int
    unexpected: int
    dead_letters: int
    dead_letter_causes: Counter[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "trackedExactlyOnce": self.tracked_once,
            "trackedTwice": self.tracked_twice,
            "lost": self.lost,
            "unexpected": self.unexpected,
            "deadLettered": self.dead_letters,
            "deadLetterCauses": dict(self.dead_letter_causes),
        }


@dataclass
class SoakResult:
    workflow: str
    messages: int
    deliveries: int
    out_of_order: int
    accepted: int
    redeliveries: int
    ignored: int
    expected_interactions: int
    rejected: Counter[str]
    retries: int
    recovered_by_retries: int
    faults: list[str]
    fault_answers: Counter[str]
    before: Figures
    after: Figures
    redrive: RedriveReport
    identify_repeats: int
    seconds: float
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(
            f.lost == 0 and f.tracked_twice == 0 and f.unexpected == 0 for f in (self.before, self.after)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "messages": self.messages,
            "deliveries": self.deliveries,
            "copiesOutOfOrder": self.out_of_order,
            "accepted": self.accepted,
            "redeliveries": self.redeliveries,
            "ignored": self.ignored,
            "expectedInteractions": self.expected_interactions,
            "rejected": dict(self.rejected),
            "retries": self.retries,
            "recoveredByRetries": self.recovered_by_retries,
            "faults": self.faults,
            "faultAnswers": dict(self.fault_answers),
            "beforeRedrive": self.before.as_json(),
            "afterRedrive": self.after.as_json(),
            "redrive": self.redrive.as_json(),
            "identifyRepeats": self.identify_repeats,
            "seconds": round(self.seconds, 1),
            "stoppedEarly": self.stopped_early,
            "notes": self.notes,
            "ok": self.ok,
        }


def expectations(
    engine: Any,
    messages: list[Any],
    first_arn: dict[int, str],
    refused: dict[int, str],
    entry_rejections: dict[int, str],
) -> tuple[dict[str, str], int, Counter[str]]:
    """(expected eventId -> messageId, ignored messages, rejections by reason before any execution)."""
    settings = engine.functions["validate"].settings  # the deployed Validate's own settings
    expected: dict[str, str] = {}
    ignored = 0
    rejected: Counter[str] = Counter()
    for reason in refused.values():
        rejected[f"Segment: {reason}"] += 1
    for reason in entry_rejections.values():
        rejected[reason] += 1
    for index in first_arn:
        message = messages[index]
        try:
            result = validate_payload({"messageId": message["messageId"], "event": message}, settings)
        except InvalidSegmentEvent:
            continue  # counted from the execution's Rejected output
        if result.status == "ignored":
            ignored += 1
        for interaction in result.interactions:
            expected[interaction.event_id] = message["messageId"]
    return expected, ignored, rejected


def ground_truth(stack: LocalStack, expected: dict[str, str]) -> Figures:
    engine, personalize = stack.engine, stack.personalize
    assert engine is not None
    assert personalize is not None
    stored = Counter(str(row["event_id"]) for row in personalize.query("SELECT event_id FROM events"))
    # a parked input stays in the queue by design (it cannot become valid by waiting): not a dead letter here
    letters = [letter for letter in engine.dead_letters() if not is_parked(letter)]
    dead_message_ids = {letter.get("messageId") for letter in letters}
    causes = Counter(
        f"{letter.get('failedState')}: {(letter.get('error') or {}).get('Error')}" for letter in letters
    )
    in_dead_letters = {event_id for event_id, mid in expected.items() if mid in dead_message_ids}
    return Figures(
        tracked_once=sum(1 for event_id in expected if stored.get(event_id) == 1),
        tracked_twice=sum(1 for count in stored.values() if count > 1),
        lost=sum(1 for event_id in expected if event_id not in stored and event_id not in in_dead_letters),
        unexpected=sum(1 for event_id in stored if event_id not in expected),
        dead_letters=len(letters),
        dead_letter_causes=causes,
    )
