"""The Segment side of the soak: every identify that reached the local Segment, and every synced profile's
final trait, against what the workflow decided.

What the workflow decided is read from the executions' histories: each SyncProfile attempt that succeeded,
with its input (the item ids, the recommendation id) and its output (how many items it sent, the identify's
messageId, the trait), between the times it was scheduled and it succeeded. What reached Segment is the
local Segment's own log of arrivals, counted before its messageId dedupe
(:meth:`local_stack.segment.SegmentService.arrivals`), and its profiles.

* **identify missing**: a decided identify that never reached Segment (a SyncProfile that never flushed);
* **repeats**: arrivals of a decided identify after its first. One is explained by each tracking-API
  answer that came too late (the identify was applied after the client gave up, and the retry sends it
  again); the others are unexplained (a step that is not idempotent sent it again);
* **sync missing**: a message the generator says should reach SyncProfile (a known user's interaction)
  that got in but was never synced, nor is in the dead-letter queue;
* **trait**: for each user the workflow synced, the profile's trait must be what the user's last identify
  decided. Of the attempts of one identify messageId, the first to succeed sent it (a later one answered
  from its idempotency record); the identifies of a user are ordered by that first success. Where two
  overlap in time (scheduled before the other succeeded), either may have reached Segment last, and
  either value is accepted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: The SyncProfile state of the ASL.
SYNC_STATE = "SyncProfile"

Value = tuple[tuple[str, ...], str | None]  # the trait's item ids and its recommendation id


@dataclass(frozen=True)
class SyncAttempt:
    """One SyncProfile attempt that succeeded, as the execution history shows it; ``scheduled`` is when the
    state's first attempt was scheduled."""

    message_id: str
    identify_message_id: str
    trait: str
    value: Value
    scheduled: datetime
    succeeded: datetime


def sync_attempts(history: Iterable[Mapping[str, Any]]) -> list[SyncAttempt]:
    """The SyncProfile attempts of one execution that succeeded, oldest first."""
    found: list[SyncAttempt] = []
    inside, scheduled, payload = False, None, None
    for event in history:
        kind = event["type"]
        if kind == "TaskStateEntered":
            inside = event["stateEnteredEventDetails"]["name"] == SYNC_STATE
            scheduled = None
        elif inside and kind == "LambdaFunctionScheduled":
            # from the state's first attempt: a failed attempt may have sent the identify (an answer too
            # late), so the identify may have reached Segment at any time since
            scheduled = scheduled or event["timestamp"]
            payload = json.loads(event["lambdaFunctionScheduledEventDetails"]["input"])
        elif inside and kind == "LambdaFunctionSucceeded" and payload is not None and scheduled is not None:
            output = json.loads(event["lambdaFunctionSucceededEventDetails"]["output"])
            if "count" not in output:  # not SyncProfile's result (the contract's SyncProfileResult)
                continue
            items = tuple(payload.get("itemIds") or ())[: int(output["count"])]
            found.append(
                SyncAttempt(
                    str(payload["messageId"]),
                    str(output["identifyMessageId"]),
                    str(output["trait"]),
                    (items, payload.get("recommendationId")),
                    scheduled,
                    event["timestamp"],
                )
            )
    return found


@dataclass
class SyncFigures:
    """The identify and profile figures, measured once every execution (the redrive's too) ended."""

    expected: int = 0  # messages that should reach SyncProfile (generator) and got in
    synced: int = 0  # of them, with a SyncProfile that succeeded
    missing: int = 0  # of them, neither synced nor in the dead-letter queue
    decided: int = 0  # distinct identifies the workflow decided (identify messageIds)
    arrivals: int = 0  # arrivals of those at Segment, before its messageId dedupe
    identify_missing: int = 0  # decided identifies that never arrived
    repeats: int = 0  # arrivals after the first of one identify
    late_answers: int = 0  # tracking-API answers later than the client's timeout (each explains a repeat)
    unexpected: int = 0  # identifies at Segment that neither the generator nor the workflow sent
    users: int = 0  # users the workflow synced
    traits_ok: int = 0
    traits_missing: int = 0
    traits_wrong: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def unexplained_repeats(self) -> int:
        return max(0, self.repeats - self.late_answers)

    def failures(self) -> list[str]:
        return [
            f"{name}: {value}"
            for name, value in (
                ("syncs missing", self.missing),
                ("identifies that never reached Segment", self.identify_missing),
                ("identify repeats no late answer explains", self.unexplained_repeats),
                ("identifies at Segment nobody decided", self.unexpected),
                ("synced profiles without the trait", self.traits_missing),
                ("synced profiles with another trait than the last decided", self.traits_wrong),
            )
            if value
        ]

    def as_json(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "synced": self.synced,
            "missing": self.missing,
            "decidedIdentifies": self.decided,
            "arrivals": self.arrivals,
            "identifyMissing": self.identify_missing,
            "repeats": self.repeats,
            "lateAnswers": self.late_answers,
            "unexplainedRepeats": self.unexplained_repeats,
            "unexpectedIdentifies": self.unexpected,
            "users": self.users,
            "traitsOk": self.traits_ok,
            "traitsMissing": self.traits_missing,
            "traitsWrong": self.traits_wrong,
            "examples": self.examples,
        }


@dataclass(frozen=True)
class _Identify:
    """One decided identify: the attempt that sent it, and every value one of its attempts could have sent."""

    first: SyncAttempt
    values: frozenset[Value]


def _identifies(attempts: list[SyncAttempt]) -> dict[str, _Identify]:
    by_id: dict[str, list[SyncAttempt]] = {}
    for attempt in attempts:
        by_id.setdefault(attempt.identify_message_id, []).append(attempt)
    decided = {}
    for identify_id, group in by_id.items():
        first = min(group, key=lambda a: a.succeeded)
        values = frozenset(a.value for a in group if a.scheduled <= first.succeeded)
        decided[identify_id] = _Identify(first, values)
    return decided


def last_values(identifies: Iterable[_Identify]) -> frozenset[Value]:
    """The values one user's profile may hold last: the last identify's, and those of identifies that
    overlap it in time."""
    ordered = sorted(identifies, key=lambda i: i.first.succeeded)
    last = ordered[-1].first
    return frozenset(value for i in ordered if i.first.succeeded >= last.scheduled for value in i.values)


def sync_figures(
    attempts: list[SyncAttempt],
    *,
    expected: Mapping[str, str | None],
    dead_message_ids: set[str],
    source_ids: set[str],
    arrivals: Sequence[Mapping[str, Any]],
    profile_traits: Any,
    late_answers: int,
) -> SyncFigures:
    """``expected``: messageId -> user of each message that should reach SyncProfile and got in (the
    generator's); ``source_ids``: the messageIds the generator's own identifies carry;
    ``profile_traits(external_id)``: a profile's traits at Segment, or None."""
    figures = SyncFigures(late_answers=late_answers)
    decided = _identifies(attempts)
    synced = {i.first.message_id for i in decided.values()}
    figures.expected = len(expected)
    figures.synced = len(synced & set(expected))
    missing = [m for m in expected if m not in synced and m not in dead_message_ids]
    figures.missing = len(missing)
    figures.examples += [f"sync missing {m}" for m in missing[:3]]
    _count_arrivals(figures, decided, arrivals, source_ids)
    _check_traits(figures, decided, expected, profile_traits)
    return figures


def _count_arrivals(
    figures: SyncFigures,
    decided: Mapping[str, _Identify],
    arrivals: Sequence[Mapping[str, Any]],
    source_ids: set[str],
) -> None:
    counted = Counter(str(a["messageId"]) for a in arrivals)
    figures.decided = len(decided)
    figures.arrivals = sum(counted[i] for i in decided)
    never = [i for i in decided if not counted[i]]
    figures.identify_missing = len(never)
    figures.repeats = sum(counted[i] - 1 for i in decided if counted[i] > 1)
    unexpected = [i for i in counted if i not in decided and i not in source_ids]
    figures.unexpected = len(unexpected)
    figures.examples += [f"identify never arrived {i}" for i in never[:3]]
    figures.examples += [f"identify {i} arrived {counted[i]} times" for i in decided if counted[i] > 2][:3]
    figures.examples += [f"identify nobody decided {i}" for i in unexpected[:3]]


def _check_traits(
    figures: SyncFigures,
    decided: Mapping[str, _Identify],
    expected: Mapping[str, str | None],
    profile_traits: Any,
) -> None:
    by_user: dict[str, list[_Identify]] = {}
    for identify in decided.values():
        user = expected.get(identify.first.message_id)
        if user is not None:
            by_user.setdefault(user, []).append(identify)
    figures.users = len(by_user)
    for user, identifies in sorted(by_user.items()):
        trait = identifies[0].first.trait
        traits = profile_traits(f"user_id:{user}") or {}
        if trait not in traits:
            figures.traits_missing += 1
            figures.examples.append(f"{user}: no {trait} trait")
            continue
        held = (tuple(traits[trait] or ()), traits.get(f"{trait}_recommendation_id"))
        if held in last_values(identifies):
            figures.traits_ok += 1
        else:
            figures.traits_wrong += 1
            figures.examples.append(f"{user}: {trait} {list(held[0])[:4]}..., not the last decided")
