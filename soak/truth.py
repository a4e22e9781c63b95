"""What should have happened, from the traffic generator's own account of what it made
(:class:`local_stack.traffic.Generated`), never from the workflow's code; and the deliveries judged by it.

* The interactions expected are those of every valid message the soak delivered: eventId, item id, user,
  session and event type, as the generator made them (docs/contract.md names eventIds).
* A rejection (by the Segment source, the entry function or the workflow's ``Rejected`` end) counts as one
  only where the generator made that message malformed; a valid message rejected anywhere is a loss.
* A valid message none of whose deliveries got into the workflow (the entry function failed every retry)
  is a loss, not a rejection.
* A delivery the entry function answered ``skipped`` (never an interaction: no execution started) is
  neither lost nor rejected where the generator made no interaction of its message ("not an interaction");
  where it did, the skip is a loss.
* A known user's interaction should reach SyncProfile (recommendations for known users only: the local
  stack's default ``RECOMMEND_FOR_ANONYMOUS``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from local_stack.traffic import Generated
from soak.deliveries import Answer

#: Entry answers with which a delivery got into the workflow.
GOT_IN = ("started", "duplicate")


@dataclass(frozen=True)
class ExpectedEvent:
    """One Personalize event the generator's message should become."""

    index: int  # the message's position in the traffic
    message_id: str
    item_id: str
    user_id: str | None
    session_id: str | None
    event_type: str | None

    def mismatch(self, row: Mapping[str, object]) -> str | None:
        """What differs in a stored ``events`` row (item, user, session, type), or None."""
        wanted = {
            "item_id": self.item_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "event_type": self.event_type,
        }
        wrong = [
            f"{key} {row.get(key)!r}, not {value!r}" for key, value in wanted.items() if row.get(key) != value
        ]
        return "; ".join(wrong) or None


@dataclass
class Judged:
    """The deliveries judged against the generator's facts."""

    expected: dict[str, ExpectedEvent] = field(default_factory=dict)  # eventId -> what it should be
    rejected: Counter[str] = field(default_factory=Counter)  # malformed messages, by the reason given
    wrongly_rejected: Counter[str] = field(default_factory=Counter)  # valid messages rejected: lost
    malformed_not_rejected: list[str] = field(default_factory=list)  # how each was made malformed
    never_in: dict[int, str] = field(default_factory=dict)  # valid message -> the last entry error
    ignored: int = 0  # valid messages that are not interactions
    skipped: int = 0  # of those, the ones the entry function answered skipped (no execution)
    wrongly_skipped: Counter[str] = field(default_factory=Counter)  # interactions skipped: lost
    got_in: set[int] = field(default_factory=set)  # messages a delivery of which got into the workflow
    syncs: set[int] = field(default_factory=set)  # messages that got in and should reach SyncProfile

    @property
    def losses(self) -> int:
        """Messages lost before any Personalize figure: rejected though valid, or never got in."""
        return sum(self.wrongly_rejected.values()) + sum(self.wrongly_skipped.values()) + len(self.never_in)


def judge(
    facts: list[Generated],
    delivered: Iterable[int],
    answers: Iterable[Answer],
    rejections: Mapping[int, str],
) -> Judged:
    """``delivered``: the messages whose first copy the soak handed over; ``rejections``: message -> why the
    Segment source or the workflow rejected it (the entry function's refusals are in ``answers``)."""
    by_message: dict[int, list[Answer]] = {}
    for answer in answers:
        by_message.setdefault(answer.delivery.index, []).append(answer)
    judged = Judged()
    for index in sorted(set(delivered)):
        fact = facts[index]
        mine = by_message.get(index, [])
        reasons = [a.reason for a in mine if a.status == "rejected" and a.reason]
        if index in rejections:
            reasons.append(rejections[index])
        if any(a.status in GOT_IN for a in mine):
            judged.got_in.add(index)
        if fact.malformed is not None:
            if reasons:
                judged.rejected[reasons[0]] += 1
            else:
                judged.malformed_not_rejected.append(fact.malformed)
            continue
        _expect(judged, index, fact)
        skips = [a.reason or "entry: skipped" for a in mine if a.status == "skipped"]
        if reasons:
            judged.wrongly_rejected[reasons[0]] += 1
        elif skips and fact.interactions():
            judged.wrongly_skipped[skips[0]] += 1
        elif skips:
            judged.skipped += 1  # counted as not an interaction (ignored) from the generator's facts
        elif index not in judged.got_in:
            failed = [a.reason for a in mine if a.status == "failed"]
            judged.never_in[index] = failed[-1] if failed and failed[-1] else "never delivered"
        elif fact.user_id is not None and fact.interactions():
            judged.syncs.add(index)
    return judged


def _expect(judged: Judged, index: int, fact: Generated) -> None:
    interactions = fact.interactions()
    if not interactions:
        judged.ignored += 1
        return
    assert fact.message_id is not None  # a valid message has one
    for event_id, item_id in interactions.items():
        judged.expected[event_id] = ExpectedEvent(
            index, fact.message_id, item_id, fact.user_id, fact.session_id, fact.event
        )
