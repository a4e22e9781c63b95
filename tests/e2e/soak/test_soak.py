"""A small soak (every message delivered twice, faults on, then a redrive) and the redrive command against the
real workflow, with malformed dead letters left in place (marker ``e2e``). ``make soak`` runs the larger one.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

import cli.main as cli
from cli.redrive import REDRIVE_MARK, redrive
from local_stack.resources import DEFAULT_REGION
from local_stack.stack import LocalStack
from soak.faults import OUTAGE
from soak.figures import SoakResult
from soak.harness import run_soak
from soak.report import print_result
from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SMALL_SOAK_EVENTS = 40


@pytest.fixture(scope="module", params=["STANDARD", "EXPRESS"])
def small_soak(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> SoakResult:
    workflow = request.param
    return run_soak(
        workflow, events=SMALL_SOAK_EVENTS, seconds=120, seed=5, data_dir=tmp_path_factory.mktemp(workflow)
    )


def test_nothing_is_lost_or_tracked_twice_before_and_after_the_redrive(small_soak: SoakResult) -> None:
    for figures in (small_soak.before, small_soak.after):
        assert figures.lost == 0
        assert figures.tracked_twice == 0
        assert figures.unexpected == 0
        assert figures.wrong == 0
    assert small_soak.failures() == []
    assert small_soak.ok
    # after the redrive every expected interaction is in Personalize exactly once, and the queue holds only
    # what the entry function parked (input that can never be processed)
    assert small_soak.expected_interactions > 0
    assert small_soak.after.tracked_once == small_soak.expected_interactions
    assert small_soak.after.should_have_gone == 0
    assert small_soak.after.dead_letters == small_soak.after.parked


def test_every_message_was_delivered_twice_some_copies_at_the_same_moment(small_soak: SoakResult) -> None:
    assert small_soak.messages >= SMALL_SOAK_EVENTS
    assert small_soak.deliveries == 2 * small_soak.messages  # the source refused none
    assert small_soak.out_of_order > 0
    assert small_soak.together > 0
    entry = small_soak.entry
    assert entry.never_in == 0
    entry_refusals = sum(n for reason, n in small_soak.rejected.items() if reason.startswith("entry:"))
    # the messages the generator made as non-interactions are answered skipped: they start nothing
    assert small_soak.skipped == small_soak.ignored > 0
    assert small_soak.wrongly_skipped == {}
    not_in = entry_refusals + small_soak.skipped
    assert entry.got_in == small_soak.deliveries - 2 * not_in
    if small_soak.workflow == "STANDARD":  # each copy after the first found its message's execution
        assert entry.duplicates == entry.should_dedupe == entry.got_in - entry.started
        assert entry.extra_executions == 0
    else:  # EXPRESS: every copy that got in started an execution of its own
        assert entry.duplicates == entry.should_dedupe == 0
        assert entry.started == entry.got_in
        assert entry.extra_executions == entry.got_in - small_soak.messages + not_in


def test_the_faults_bit_retries_recovered_some_and_outages_dead_lettered_others(
    small_soak: SoakResult,
) -> None:
    assert small_soak.retries > 0
    assert small_soak.recovered_by_retries > 0
    assert small_soak.before.dead_letters > 0
    answered = {what.split(":")[0] for what in small_soak.fault_answers}
    assert {"Personalize PutEvents", "Personalize GetRecommendations", "Segment profile"} <= answered
    # each dead letter carries its cause, and the redrive took every one of them out of the queue
    assert sum(small_soak.before.dead_letter_causes.values()) == small_soak.before.dead_letters
    assert all(": " in cause and "None" not in cause for cause in small_soak.before.dead_letter_causes)
    assert len(small_soak.redrive.left) == small_soak.after.parked
    assert len(small_soak.redrive.started) == small_soak.before.should_have_gone


def test_a_large_orders_second_put_events_call_was_throttled_and_only_it_was_sent_again(
    small_soak: SoakResult,
) -> None:
    (note,) = [n for n in small_soak.notes if n.startswith("large order ")]
    calls = note.split("PutEvents calls ", 1)[1].split(", ")
    # the first ten events once; the rest throttled (the call and its SDK retry), then sent by the retry
    assert calls[0] == "-0..-9 200"
    assert [call.split(" ")[1] for call in calls[1:]] == ["ThrottlingException", "ThrottlingException", "200"]
    assert len({call.split(" ")[0] for call in calls[1:]}) == 1


def test_rejections_are_the_generators_malformed_messages_each_with_its_reason(
    small_soak: SoakResult,
) -> None:
    assert sum(small_soak.rejected.values()) == 5
    assert all(reason.split(": ", 1)[1] for reason in small_soak.rejected)
    assert small_soak.wrongly_rejected == {}
    assert small_soak.malformed_not_rejected == []


def test_every_sync_reached_segment_and_every_profile_holds_the_last_decided_trait(
    small_soak: SoakResult,
) -> None:
    syncs = small_soak.syncs
    assert syncs.expected > 0
    assert syncs.synced == syncs.expected
    assert syncs.decided >= syncs.expected
    assert syncs.arrivals >= syncs.decided
    assert syncs.identify_missing == syncs.unexplained_repeats == syncs.unexpected == 0
    assert syncs.users > 0
    assert syncs.traits_ok == syncs.users


def test_the_printed_report_has_every_figure(
    small_soak: SoakResult, capsys: pytest.CaptureFixture[str]
) -> None:
    print_result(small_soak)
    text = capsys.readouterr().out
    for label in (
        "entry",
        "expected",
        "  interactions skipped",
        "rejected",
        "tracked exactly once",
        "dead-lettered",
        "lost",
        "tracked twice",
        "tracked wrong",
        "syncs",
        "identifies",
        "profiles",
    ):
        assert f"\n{label} " in text
    assert "skip_retry_waits" in text
    assert text.rstrip().endswith("result                ok")
    if small_soak.workflow == "EXPRESS":
        assert "EXPRESS emulated" in text
    else:
        assert "name dedupe" in text


def test_without_idempotency_an_express_soak_tracks_twice(tmp_path: Path) -> None:
    """The figure can fail: with IDEMPOTENCY_TABLE unset, the second execution of each redelivered message
    sends its events to Personalize again (no fault needed), and its identify too."""
    result = run_soak(
        "EXPRESS",
        events=20,
        seconds=60,
        seed=5,
        data_dir=tmp_path,
        env={"IDEMPOTENCY_TABLE": ""},
        faults=False,
    )
    assert result.before.tracked_twice > 0
    assert result.syncs.unexplained_repeats > 0
    assert not result.ok


# --- redrive against the real workflow ----------------------------------------------------------------------


MALFORMED = {
    "not json": "not json {",
    "not an object": "[1, 2]",
    "messageId": json.dumps({"messageId": 5, "event": {}}),
    "event": json.dumps({"messageId": "m-1", "event": "a string"}),
}


def _visible(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_redrive_starts_dead_letters_again_and_leaves_malformed_ones_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with LocalStack(tmp_path, skip_retry_waits=True) as stack:
        engine, personalize = stack.engine, stack.personalize
        assert engine is not None
        assert personalize is not None
        session = boto3.session.Session(region_name=DEFAULT_REGION)
        sqs, sfn = session.client("sqs"), session.client("stepfunctions")
        queue, machine = engine.dead_letter_queue_url, engine.state_machine_arn

        # given an event dead-lettered by a Personalize outage, and four bodies that are not dead letters
        message = load_event("track_sku")
        message["messageId"] = "soak-redrive-1"
        personalize.faults.add("PutEvents", "InternalServerError", count=OUTAGE)
        failed = engine.run(message)
        assert failed["status"] == "FAILED"
        personalize.faults.clear()
        for body in MALFORMED.values():
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        assert _visible(sqs, queue) == 5

        # a dry run starts and deletes nothing
        dry = redrive(sqs, sfn, queue, machine, dry_run=True, wait_seconds=0)
        assert [r.status for r in dry.redriven] == ["would_start"]
        assert len(dry.left) == 4
        assert _visible(sqs, queue) == 5
        assert len(engine.executions()) == 1

        # when the fault is gone and the operator redrives (the CLI, boto3's own configuration)
        code = cli.main(
            ["redrive", "--queue-url", queue, "--state-machine-arn", machine, "--wait-seconds", "0", "--json"]
        )
        report = json.loads(capsys.readouterr().out)

        # then the dead letter ran again under a new name and the malformed bodies wait in the queue
        assert code == 1  # something was left in the queue
        (redriven,) = report["redriven"]
        assert redriven["status"] == "started"
        assert redriven["failedState"] == "Track"
        assert redriven["error"] == "PersonalizeUnavailable"
        assert redriven["executionName"].startswith("soak-redrive-1" + REDRIVE_MARK)
        assert len(redriven["executionName"]) <= 80
        assert engine.wait(redriven["executionArn"], timeout=30)["status"] == "SUCCEEDED"
        reasons = sorted(left["reason"] for left in report["left"])
        assert len(reasons) == 4
        assert all(reason.startswith("malformed dead letter: ") for reason in reasons)
        assert any("not JSON" in r for r in reasons)
        assert any("messageId" in r for r in reasons)
        assert any("event" in r for r in reasons)
        assert _visible(sqs, queue) == 4
        assert sorted(m["Body"] for m in _peek(sqs, queue)) == sorted(MALFORMED.values())

        # and a second redrive starts nothing new
        again = redrive(sqs, sfn, queue, machine, wait_seconds=0)
        assert again.started == []
        assert len(again.left) == 4
        events = Counter(r["event_id"] for r in personalize.query("SELECT event_id FROM events"))
        assert events == {"soak-redrive-1": 1}


def test_a_dead_letter_redriven_twice_is_tracked_once(tmp_path: Path) -> None:
    """Two copies of one dead letter in the queue (a send retried) start two executions; the idempotency
    records keep Personalize at one event and Segment at one identify."""
    with LocalStack(tmp_path, skip_retry_waits=True) as stack:
        engine, personalize, segment = stack.engine, stack.personalize, stack.segment
        assert engine is not None
        assert personalize is not None
        assert segment is not None
        session = boto3.session.Session(region_name=DEFAULT_REGION)
        sqs, sfn = session.client("sqs"), session.client("stepfunctions")
        message = load_event("track_sku")
        message["messageId"] = "soak-redrive-twice"
        # SyncProfile fails after Track succeeded: a redrive must not track again
        segment.faults.add("tracking", status=503, count=OUTAGE)
        assert engine.run(message)["status"] == "FAILED"
        segment.faults.clear()
        (letter,) = engine.dead_letters()
        assert letter["failedState"] == "SyncProfile"
        sqs.send_message(QueueUrl=engine.dead_letter_queue_url, MessageBody=json.dumps(letter))

        report = redrive(sqs, sfn, engine.dead_letter_queue_url, engine.state_machine_arn, wait_seconds=0)

        assert len(report.started) == 2
        assert len({r.executionName for r in report.started}) == 2
        for redriven in report.started:
            assert redriven.executionArn is not None
            assert engine.wait(redriven.executionArn, timeout=30)["status"] == "SUCCEEDED"
        events = Counter(r["event_id"] for r in personalize.query("SELECT event_id FROM events"))
        assert events == {"soak-redrive-twice": 1}
        identifies = [m for m in segment.message_log("identify") if m.get("userId") == message["userId"]]
        assert len(identifies) == 1


def _peek(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive every message and make it visible again at once."""
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=30)[
        "Messages"
    ]
    sqs.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ],
    )
    return list(messages)
