"""The soak's figures as ``make soak`` prints them."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TextIO

from soak.figures import SoakResult


def print_result(result: SoakResult, out: TextIO | None = None) -> None:
    """The figures, as ``make soak`` prints them (to ``out``, standard output by default)."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    emulation = (
        "redeliveries deduplicated by execution name"
        if result.workflow == "STANDARD"
        else "redeliveries started as executions of their own (EXPRESS emulated: no name dedupe)"
    )
    p(
        f"== soak {result.workflow}: {result.seconds:.1f} s"
        + ("  (stopped early: time)" if result.stopped_early else "")
    )
    for note in result.notes:
        p(f"note: {note}")
    p(
        f"messages              {result.messages} distinct, {result.deliveries} deliveries "
        f"(each twice; {result.out_of_order} copies out of order)"
    )
    p(f"accepted              {result.accepted}  executions started by the entry function")
    p(f"  redeliveries        {result.redeliveries}  {emulation}")
    p(f"  ignored             {result.ignored}  valid, not interactions")
    p(f"  interactions        {result.expected_interactions}  eventIds expected (Validate's logic on each)")
    p(f"rejected              {sum(result.rejected.values())}")
    for reason, count in result.rejected.most_common():
        p(f"  {count:>5}  {reason[:150]}")
    p(f"faults                {sum(result.fault_answers.values())} answers")
    for label in result.faults:
        p(f"        on: {label}")
    for what, count in sorted(result.fault_answers.items()):
        p(f"  {count:>5}  {what}")
    p(
        f"retries               {result.retries}  (waits skipped: skip_retry_waits); "
        f"{result.recovered_by_retries} executions succeeded after a failed attempt"
    )
    p(f"{'':22}{'before redrive':>16}{'after redrive':>16}")
    b, a = result.before, result.after
    p(f"{'tracked exactly once':<22}{b.tracked_once:>16}{a.tracked_once:>16}")
    p(f"{'dead-lettered':<22}{b.dead_letters:>16}{a.dead_letters:>16}")
    for cause, count in b.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}")
    for cause, count in a.dead_letter_causes.most_common():
        p(f"  {count:>5}  {cause}  (after redrive)")
    p(f"{'lost':<22}{b.lost:>16}{a.lost:>16}   must be 0")
    p(f"{'tracked twice':<22}{b.tracked_twice:>16}{a.tracked_twice:>16}   must be 0")
    if b.unexpected or a.unexpected:
        p(f"{'unexpected eventIds':<22}{b.unexpected:>16}{a.unexpected:>16}   must be 0")
    statuses = Counter(r.status for r in result.redrive.redriven)
    p(
        f"redrive               {result.redrive.received} received, {statuses.get('started', 0)} started, "
        f"{statuses.get('already_started', 0)} already started, {len(result.redrive.left)} left in the queue"
    )
    p(f"identify repeats      {result.identify_repeats}  reached Segment again, deduplicated by messageId")
    p(f"result                {'ok' if result.ok else 'FAILED'}")
