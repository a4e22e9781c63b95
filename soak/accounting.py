"""The soak's books: what each delivery was answered, which executions ran for which message, what they
ended with; and, from them and the ground truth, the figures (:class:`soak.figures.SoakResult`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cli.redrive import RedriveReport
from local_stack.destination import classify
from local_stack.run_store import ExecutionRecord
from local_stack.stack import LocalStack
from local_stack.traffic import Generated
from soak.deliveries import Answer, Schedule
from soak.figures import EntryFigures, Figures, SoakResult, ground_truth
from soak.syncs import SyncFigures, sync_attempts, sync_figures
from soak.truth import GOT_IN, Judged, judge

#: History events of a failed step attempt.
_STEP_FAILURES = frozenset({"LambdaFunctionFailed", "LambdaFunctionTimedOut", "TaskFailed", "TaskTimedOut"})


@dataclass(frozen=True)
class BeforeRedrive:
    """What the deliveries came to once every execution ended, before the redrive."""

    judged: Judged
    retries: int
    recovered_by_retries: int
    figures: Figures


class Ledger:
    """Everything one soak saw, kept for its figures."""

    def __init__(self, workflow: str, facts: list[Generated]) -> None:
        self.workflow, self.facts = workflow, facts
        self.rejections: dict[int, str] = {}  # message -> why the Segment source or the workflow rejected it
        self.refused: set[int] = set()  # messages the Segment source refused: never delivered
        self.delivered: set[int] = set()  # messages whose first copy was handed over
        self.answers: list[Answer] = []  # what the entry function answered each delivery
        self.executions: dict[str, int] = {}  # execution ARN -> message, of the deliveries' executions
        self.deduplicated = 0  # answers that named an execution their message had already started
        self.descriptions: dict[str, dict[str, Any]] = {}  # ARN -> description, once ended
        self.histories: dict[str, list[dict[str, Any]]] = {}  # ARN -> history, once ended
        self.redriven: set[str] = set()  # ARNs the redrive started
        self.fault_answers: Counter[str] = Counter()  # faulty answers the services gave
        self.notes: list[str] = []
        self._before: BeforeRedrive | None = None

    def record(self, answers: Iterable[Answer]) -> list[str]:
        """Book one slot's answers; the ARNs of the executions they started."""
        started = []
        for answer in sorted(answers, key=lambda a: a.status != "started"):
            self.answers.append(answer)
            arn = answer.execution_arn
            if answer.status not in GOT_IN or arn is None:
                continue
            if arn in self.executions:
                self.deduplicated += self.executions[arn] == answer.delivery.index
                continue
            self.executions[arn] = answer.delivery.index
            started.append(arn)
        return started

    def ended(
        self, arn: str, description: dict[str, Any], history: list[dict[str, Any]], redriven: bool = False
    ) -> None:
        """Book an execution that ended: a delivery's, or (``redriven``) the redrive's."""
        self.descriptions[arn], self.histories[arn] = description, history
        if redriven:
            self.redriven.add(arn)
            return
        outcome, reason, *_ = classify(ExecutionRecord.from_description(arn, description))
        if outcome == "rejected":
            self.rejections.setdefault(self.executions[arn], f"workflow: {reason}")

    def before_redrive(self, stack: LocalStack) -> BeforeRedrive:
        """The deliveries judged, and the ground truth, once every execution ended."""
        assert stack.engine is not None
        judged = judge(self.facts, self.delivered, self.answers, self.rejections)
        recovered = sum(
            1
            for arn, d in self.descriptions.items()
            if d["status"] == "SUCCEEDED" and any(e["type"] in _STEP_FAILURES for e in self.histories[arn])
        )
        self._before = BeforeRedrive(
            judged, len(stack.engine.retry_waits), recovered, ground_truth(stack, judged.expected)
        )
        return self._before

    def dead_letters(self) -> int:
        assert self._before is not None
        return self._before.figures.dead_letters

    def entry_figures(self, stack: LocalStack, report: RedriveReport, judged: Judged) -> EntryFigures:
        """The entry function's answers, and ListExecutions: how many executions each message has."""
        got_in = [a for a in self.answers if a.status in GOT_IN]
        messages_in = {a.delivery.index for a in got_in}
        return EntryFigures(
            got_in=len(got_in),
            started=len(self.executions),
            duplicates=self.deduplicated,
            should_dedupe=len(got_in) - len(messages_in) if self.workflow == "STANDARD" else 0,
            extra_executions=self._extra_executions(stack, report),
            retried=sum(1 for a in got_in if a.failed_attempts),
            failed_attempts=sum(a.failed_attempts for a in self.answers),
            never_in=len(judged.never_in),
        )

    def _extra_executions(self, stack: LocalStack, report: RedriveReport) -> int:
        engine = stack.engine
        assert engine is not None
        redriven = self.redriven | {r.executionArn for r in report.started if r.executionArn}
        per_message: Counter[str] = Counter()
        for execution in engine.executions():
            arn = execution["executionArn"]
            if arn in redriven:
                continue
            index = self.executions.get(arn)
            fact_id = self.facts[index].message_id if index is not None else None
            per_message[str(fact_id or engine.describe(arn)["input"].get("messageId"))] += 1
        return sum(count - 1 for count in per_message.values())

    def sync_figures(self, stack: LocalStack, judged: Judged) -> SyncFigures:
        engine, segment = stack.engine, stack.segment
        assert engine is not None
        assert segment is not None
        attempts = [a for history in self.histories.values() for a in sync_attempts(history)]
        expected = {self.facts[i].message_id or "": self.facts[i].user_id for i in judged.syncs}
        return sync_figures(
            attempts,
            expected=expected,
            dead_message_ids={str(letter.get("messageId")) for letter in engine.dead_letters()},
            source_ids={f.message_id for f in self.facts if f.type == "identify" and f.message_id},
            arrivals=segment.arrivals("identify"),
            profile_traits=segment.profile_traits,
            late_answers=self.fault_answers["Segment tracking: slow"],
        )

    def result(
        self, stack: LocalStack, report: RedriveReport, schedule: Schedule, applied: list[str]
    ) -> SoakResult:
        """Every figure, after the redrive next to before it."""
        assert self._before is not None
        before = self._before
        judged = before.judged
        return SoakResult(
            workflow=self.workflow,
            messages=len(self.delivered),
            deliveries=len(self.answers),
            out_of_order=schedule.out_of_order,
            together=schedule.together,
            entry=self.entry_figures(stack, report, judged),
            ignored=judged.ignored,
            skipped=judged.skipped,
            wrongly_skipped=judged.wrongly_skipped,
            expected_interactions=len(judged.expected),
            rejected=judged.rejected,
            wrongly_rejected=judged.wrongly_rejected,
            malformed_not_rejected=judged.malformed_not_rejected,
            retries=before.retries,
            recovered_by_retries=before.recovered_by_retries,
            faults=applied,
            fault_answers=self.fault_answers,
            before=before.figures,
            after=ground_truth(stack, judged.expected),
            redrive=report,
            syncs=self.sync_figures(stack, judged),
            seconds=0.0,
            notes=list(self.notes),
        )
