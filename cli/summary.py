"""The totals of a local run, what ``run`` and ``replay`` print: counts by outcome, a few synced profiles."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from local_stack.run_store import Outcome

if TYPE_CHECKING:
    from local_stack.stack import LocalStack


@dataclass
class Summary:
    """Totals of a run, what ``run`` and ``replay`` print."""

    messages: int = 0
    accepted: int = 0
    skipped: int = 0
    ignored: int = 0
    rejected: int = 0
    tracked: int = 0
    items_tracked: int = 0
    dead_lettered: int = 0
    synced: int = 0
    duplicates: int = 0
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    skipped_reasons: Counter[str] = field(default_factory=Counter)
    ignored_reasons: Counter[str] = field(default_factory=Counter)
    dead_letter_causes: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, outcomes: Iterable[Outcome]) -> Summary:
        summary = cls()
        for outcome in outcomes:
            summary.add(outcome)
        return summary

    def add(self, outcome: Outcome) -> None:
        """Count one more line: the totals are counters, so a replay of any size keeps no list of lines."""
        self.messages += 1
        if outcome.duplicate:
            self.duplicates += 1
            return
        if outcome.executionName:
            self.accepted += 1
        if outcome.outcome == "skipped":
            self.skipped += 1
            _count(self.skipped_reasons, outcome.reason)
        elif outcome.outcome == "ignored":
            self.ignored += 1
            _count(self.ignored_reasons, outcome.reason)
        elif outcome.outcome == "rejected":
            self.rejected += 1
            _count(self.rejected_reasons, outcome.reason)
        elif outcome.outcome == "tracked":
            self.tracked += 1
            self.items_tracked += outcome.itemsTracked
            self.synced += outcome.synced
        elif outcome.outcome == "dead-lettered":
            self.dead_lettered += 1
            _count(self.dead_letter_causes, outcome.cause)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if not isinstance(v, Counter)}
        data["rejectedReasons"] = dict(self.rejected_reasons)
        data["skippedReasons"] = dict(self.skipped_reasons)
        data["ignoredReasons"] = dict(self.ignored_reasons)
        data["deadLetterCauses"] = dict(self.dead_letter_causes)
        return data


#: Distinct reasons (or causes) counted apart; the others are counted together under OTHER_REASONS.
MAX_REASONS = 100
OTHER_REASONS = "(other reasons)"


def _count(counter: Counter[str], reason: str | None) -> None:
    """One more of ``reason``: a reason often quotes the bad value, so an export of many bad lines would
    make a new key for each; past MAX_REASONS distinct ones, a new reason counts as OTHER_REASONS."""
    key = reason or "?"
    if key not in counter and len(counter) >= MAX_REASONS:
        key = OTHER_REASONS
    counter[key] += 1


def print_summary(summary: Summary, stack: LocalStack, out: TextIO, sample_users: int = 3) -> None:
    """The totals, then up to ``sample_users`` profiles with their synced recommendations."""
    p = functools.partial(print, file=out)
    p(f"messages          {summary.messages}")
    p(f"accepted          {summary.accepted}  (executions started by the entry function)")
    if summary.duplicates:
        p(f"redeliveries      {summary.duplicates}  (deduplicated by execution name)")
    p(f"skipped           {summary.skipped}  (never interactions: the entry function started no execution)")
    for reason, count in summary.skipped_reasons.most_common(4):
        p(f"  {count:>5}  {reason}")
    p(f"ignored           {summary.ignored}  (executions ended Ignored: valid, not interactions)")
    for reason, count in summary.ignored_reasons.most_common(4):
        p(f"  {count:>5}  {reason}")
    p(f"rejected          {summary.rejected}")
    for reason, count in summary.rejected_reasons.most_common(8):
        p(f"  {count:>5}  {reason}")
    p(
        f"tracked           {summary.tracked}  executions, "
        f"{summary.items_tracked} interactions sent to Personalize"
    )
    p(f"dead-lettered     {summary.dead_lettered}")
    for cause, count in summary.dead_letter_causes.most_common(8):
        p(f"  {count:>5}  {cause}")
    p(f"profiles synced   {summary.synced}  identify calls with recommended_products")
    _print_profiles(stack, out, sample_users)


def _print_profiles(stack: LocalStack, out: TextIO, sample_users: int) -> None:
    assert stack.segment is not None
    assert stack.personalize is not None
    p = functools.partial(print, file=out)
    shown = 0
    for profile in stack.segment.profiles():
        traits = profile.get("traits") or {}
        if "recommended_products" not in traits or shown >= sample_users:
            continue
        shown += 1
        ids = [i for i in profile.get("external_ids", []) if i.startswith("user_id:")] or profile[
            "external_ids"
        ]
        p()
        p(f"profile {ids[0]}")
        p(f"  favorite_departments  {traits.get('favorite_departments')}")
        purchased = traits.get("purchased_products") or []
        p(f"  purchased_products    {len(purchased)} items")
        recommended = traits["recommended_products"]
        categories = [(stack.personalize.item(i) or {}).get("CATEGORY", "?") for i in recommended]
        p(f"  recommended_products  {recommended}")
        p(f"    their categories    {categories}")
