"""One delivery at the entry function, retried as Segment retries; the EXPRESS emulation (marker ``unit``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from local_stack.lambda_runtime.invoker import InvocationError
from soak import deliveries
from soak.deliveries import ENTRY_ATTEMPTS, Delivery, deliver
from soak.emulation import EXPRESS_MARK, ExpressStarts, express_starts

pytestmark = pytest.mark.unit

MESSAGE = {"messageId": "m1", "type": "track"}


class FakeEntry:
    """An engine whose entry function answers from a script: a value is returned, an exception raised."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls = 0

    def deliver(self, message: Any) -> Any:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def failure(error_type: str, message: str = "boom") -> InvocationError:
    return InvocationError({"errorType": error_type, "errorMessage": message})


def started(status: str = "started", arn: str = "arn:m1") -> dict[str, Any]:
    return {"started": [{"messageId": "m1", "executionName": "m1", "executionArn": arn, "status": status}]}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliveries, "ENTRY_BACKOFF", 0.0)


def test_started_and_duplicate_answers_get_in() -> None:
    for status in ("started", "duplicate"):
        answer = deliver(FakeEntry(started(status)), Delivery(0, 0, MESSAGE))
        assert (answer.status, answer.execution_arn, answer.failed_attempts) == (status, "arn:m1", 0)


def test_a_failed_invoke_is_retried_as_segment_retries_and_is_not_a_rejection() -> None:
    entry = FakeEntry(failure("StartExecutionFailed"), failure("StartExecutionFailed"), started())
    answer = deliver(entry, Delivery(0, 0, MESSAGE))
    assert (answer.status, answer.failed_attempts, entry.calls) == ("started", 2, 3)

    never = FakeEntry(failure("StartExecutionFailed", "StartExecution m1: ThrottlingException"))
    answer = deliver(never, Delivery(0, 1, MESSAGE))
    assert answer.status == "failed"
    assert never.calls == ENTRY_ATTEMPTS
    assert answer.reason == "StartExecutionFailed: StartExecution m1: ThrottlingException"


def test_input_the_entry_function_refuses_is_a_rejection_in_the_old_and_the_new_contract() -> None:
    raised = deliver(
        FakeEntry(failure("InvalidSegmentEvent", "message: messageId is missing")), Delivery(0, 0, {})
    )
    assert (raised.status, raised.reason) == (
        "rejected",
        "entry: InvalidSegmentEvent: message: messageId is missing",
    )
    parked = {"started": [{"status": "rejected", "reason": "message: messageId is missing"}]}
    answer = deliver(FakeEntry(parked), Delivery(0, 0, {}))
    assert (answer.status, answer.reason, answer.execution_arn) == (
        "rejected",
        "entry: message: messageId is missing",
        None,
    )


class FakeStepFunctions:
    def __init__(self) -> None:
        self.names: list[str] = []

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Mapping[str, Any]:  # noqa: N803, A002
        self.names.append(name)
        return {"executionArn": f"{stateMachineArn}:{name}"}


def test_express_emulation_starts_every_delivery_under_a_name_of_its_own() -> None:
    class App:
        sfn: Any = FakeStepFunctions()

    real = App.sfn
    express_starts(App)
    assert isinstance(App.sfn, ExpressStarts)
    long_name = "m" * 80
    for name in ("m1", "m1", long_name):
        App.sfn.start_execution(stateMachineArn="arn:sm", name=name, input="{}")
    assert len(set(real.names)) == 3
    assert all(EXPRESS_MARK in name and len(name) <= 80 for name in real.names)
    assert real.names[0].startswith("m1-express-")
