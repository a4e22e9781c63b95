"""The soak's figures as ``make soak`` prints them."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import TextIO

from soak.figures import SoakResult

_MUST = "must be 0"
Printer = Callable[[str], None]


def print_result(result: SoakResult, out: TextIO | None = None) -> None:
    """The figures, as ``make soak`` prints them (to ``out``, standard output by default)."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    p(
        f"== soak {result.workflow}: {result.seconds:.1f} s"
        + ("  (stopped early: time)" if result.stopped_early else "")
    )
    for note in result.notes:
        p(f"note: {note}")
    _deliveries(result, p)
    _expected(result, p)
    p(f"faults                {sum(result.fault_answers.values())} answers")
    for label in result.faults:
        p(f"        on: {label}")
    for what, count in sorted(result.fault_answers.items()):
        p(f"  {count:>5}  {what}")
    p(
        f"retries               {result.retries}  (waits skipped: skip_retry_waits); "
        f"{result.recovered_by_retries} executions succeeded after a failed attempt"
    )
    _personalize(result, p)
    _segment(result, p)
    failures = result.failures()
    p(f"result                {'ok' if not failures else 'FAILED'}")
    for failure in failures:
        p(f"  FAILED  {failure}")


def _deliveries(result: SoakResult, p: Printer) -> None:
    e = result.entry
    p(
        f"messages              {result.messages} distinct, {result.deliveries} deliveries (each twice: "
        f"{result.together} pairs at the same moment, {result.out_of_order} copies out of order)"
    )
    p(f"entry                 {e.got_in} deliveries got in, {e.started} executions started")
    if result.workflow == "STANDARD":
        p(
            f"  name dedupe         {e.duplicates} redeliveries answered with their message's execution, "
            f"of {e.should_dedupe} that got in after it (must be all); "
            f"{e.extra_executions} executions beyond one per message (ListExecutions)   {_MUST}"
        )
    else:
        p(
            f"  no name dedupe      {e.extra_executions} redeliveries started as executions of their own "
            "(EXPRESS emulated: no name dedupe)"
        )
    p(
        f"  Segment's retries   {e.failed_attempts} invokes failed; {e.retried} deliveries got in after one; "
        f"{e.never_in} messages never got in   {_MUST}"
    )


def _expected(result: SoakResult, p: Printer) -> None:
    p(
        f"expected              {result.expected_interactions} interactions (eventIds, from the generator); "
        f"{result.ignored} valid messages are not interactions ({result.skipped} skipped by the entry "
        "function: no execution)"
    )
    p(f"  interactions skipped {sum(result.wrongly_skipped.values())}   {_MUST} (a loss)")
    p(f"rejected              {sum(result.rejected.values())}  made malformed by the generator, each:")
    for reason, count in result.rejected.most_common():
        p(f"  {count:>5}  {reason[:150]}")
    p(f"  valid rejected      {sum(result.wrongly_rejected.values())}   {_MUST} (a loss)")
    for reason, count in result.wrongly_rejected.most_common(5):
        p(f"  {count:>5}  {reason[:150]}")
    p(f"  malformed accepted  {len(result.malformed_not_rejected)}   {_MUST}")


def _personalize(result: SoakResult, p: Printer) -> None:
    p(f"{'':22}{'before redrive':>16}{'after redrive':>16}")
    b, a = result.before, result.after
    p(f"{'tracked exactly once':<22}{b.tracked_once:>16}{a.tracked_once:>16}")
    p(f"{'dead-lettered':<22}{b.dead_letters:>16}{a.dead_letters:>16}")
    for cause, count in b.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}")
    for cause, count in a.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}  (after redrive)")
    for label, before, after in (
        ("lost", b.lost, a.lost),
        ("tracked twice", b.tracked_twice, a.tracked_twice),
        ("tracked wrong", b.wrong, a.wrong),
        ("unexpected eventIds", b.unexpected, a.unexpected),
    ):
        p(f"{label:<22}{before:>16}{after:>16}   {_MUST}")
    for example in [*b.examples, *a.examples][:6]:
        p(f"    e.g. {example}")
    statuses = Counter(r.status for r in result.redrive.redriven)
    p(
        f"redrive               {result.redrive.received} received, {statuses.get('started', 0)} started, "
        f"{statuses.get('already_started', 0)} already started, {len(result.redrive.left)} left in the queue"
    )
    p(
        f"  after it            {a.should_have_gone} dead letters that should have gone   {_MUST}; "
        f"{a.parked} parked by the entry function (they stay)"
    )


def _segment(result: SoakResult, p: Printer) -> None:
    s = result.syncs
    p(
        f"syncs                 {s.synced} of the {s.expected} known users' interactions synced; "
        f"{s.missing} neither synced nor dead-lettered   {_MUST}"
    )
    p(
        f"identifies            {s.decided} decided by SyncProfile, {s.arrivals} arrivals at Segment "
        f"(counted before its messageId dedupe): {s.identify_missing} never arrived   {_MUST}"
    )
    p(
        f"  repeats             {s.repeats}: {min(s.repeats, s.late_answers)} explained by the "
        f"{s.late_answers} answers later than the client's timeout, {s.unexplained_repeats} not   {_MUST}; "
        f"{s.unexpected} nobody decided   {_MUST}"
    )
    p(
        f"profiles              {s.users} users synced: {s.traits_ok} hold the trait their last identify "
        f"decided, {s.traits_missing} none   {_MUST}, {s.traits_wrong} another   {_MUST}"
    )
    for example in s.examples[:6]:
        p(f"    e.g. {example}")
