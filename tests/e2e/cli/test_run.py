"""The local stack end to end: generated traffic and a replay file through the entry function, the real
state machine and every step, against the local Personalize and Segment services (marker ``e2e``)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

import cli.main as cli
from cli.summary import Summary
from local_stack.destination import replay
from local_stack.stack import LocalStack
from local_stack.traffic import generate
from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def generated_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One small seeded run, shared by the checks below (the stack stays open for inspection)."""
    data_dir = tmp_path_factory.mktemp("data")
    traffic = generate(3, users=5, anonymous=2, sessions_per_visitor=2)
    with LocalStack(data_dir, items=traffic.items_catalog(), skip_retry_waits=True) as stack:
        outcomes = replay(stack, traffic.messages)
        yield stack, traffic, outcomes, data_dir


def _tracked_event_ids(stack: LocalStack) -> list[str]:
    assert stack.personalize is not None
    return [row["event_id"] for row in stack.personalize.query("SELECT event_id FROM events")]


def test_every_message_gets_exactly_one_outcome(generated_run: Any) -> None:
    _, traffic, outcomes, _ = generated_run
    assert len(outcomes) == len(traffic.messages)
    assert {o.outcome for o in outcomes} <= {"tracked", "skipped", "rejected", "dead-lettered"}
    summary = Summary.of(outcomes)
    # the messages the generator made as non-interactions (identifies, pages) start no execution
    not_interactions = [f for f in traffic.facts if f.malformed is None and not f.interactions()]
    assert summary.skipped == len(not_interactions) > 0
    skipped = {o.messageId for o in outcomes if o.outcome == "skipped"}
    assert skipped == {f.message_id for f in not_interactions}
    assert all(o.executionName is None and o.reason for o in outcomes if o.outcome == "skipped")
    # the five malformed messages are rejected with a reason, and nothing else is
    assert summary.rejected == traffic.malformed
    assert all(o.reason for o in outcomes if o.outcome == "rejected")
    assert summary.dead_lettered == 0
    assert summary.tracked > 0
    assert summary.synced > 0


def test_every_accepted_interaction_is_tracked_once(generated_run: Any) -> None:
    stack, _, outcomes, _ = generated_run
    event_ids = _tracked_event_ids(stack)
    duplicates = [event_id for event_id, count in Counter(event_ids).items() if count > 1]
    assert duplicates == []
    assert len(event_ids) == sum(o.itemsTracked for o in outcomes if o.outcome == "tracked")
    # and each tracked execution's eventIds are exactly the ones Personalize stored
    expected: set[str] = set()
    assert stack.runs is not None
    for outcome in outcomes:
        if outcome.outcome == "tracked":
            record = stack.runs.execution(outcome.executionName)
            expected.update(record.output["tracked"]["eventIds"])
    assert expected == set(event_ids)


def test_synced_traits_land_on_the_profiles_and_respect_the_trait_rules(generated_run: Any) -> None:
    stack, _, outcomes, _ = generated_run
    synced_users = set()
    assert stack.runs is not None
    assert stack.segment is not None
    assert stack.personalize is not None
    for outcome in outcomes:
        if outcome.synced:
            record = stack.runs.execution(outcome.executionName)
            synced_users.add(record.output["validated"]["userId"])
    assert synced_users
    for user_id in synced_users:
        traits = stack.segment.profile_traits(f"user_id:{user_id}")
        assert traits is not None
        recommended = traits["recommended_products"]
        assert 0 < len(recommended) <= 10
        assert traits["recommended_products_recommendation_id"].startswith("RID-")
        categories = {stack.personalize.item(item)["CATEGORY"] for item in recommended}
        assert categories <= set(traits["favorite_departments"])


def test_purchased_items_are_never_recommended(generated_run: Any) -> None:
    # given a profile whose purchased_products holds what the model would recommend first
    stack, _, _, _ = generated_run
    assert stack.engine is not None
    assert stack.segment is not None
    message = load_event("track_sku")
    message["userId"] = "buyer-1"
    message["messageId"] = "e2e-purchased-1"
    stack.engine.run(message)
    before = stack.segment.profile_traits("user_id:buyer-1")["recommended_products"]
    stack.segment.set_traits("user_id:buyer-1", {"purchased_products": before[:3]})
    # when the user's next event runs through the workflow
    message["messageId"] = "e2e-purchased-2"
    description = stack.engine.run(message)
    # then none of the purchased items comes back
    assert description["status"] == "SUCCEEDED"
    after = stack.segment.profile_traits("user_id:buyer-1")["recommended_products"]
    assert after
    assert not set(after) & set(before[:3])
    assert description["output"]["filtered"]["removed"]["exclude purchased_products"] >= 1


def test_trace_steps_through_a_real_execution(generated_run: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, outcomes, data_dir = generated_run
    name = next(o.executionName for o in outcomes if o.synced)
    assert cli.main(["--data-dir", str(data_dir), "trace", name]) == 0
    text = capsys.readouterr().out
    order = ["Validate", "Track", "Recommend", "FilterTraits", "SyncProfile", "Synced"]
    positions = [text.index(f". {state} (") for state in order]
    assert positions == sorted(positions)
    assert cli.main(["--data-dir", str(data_dir), "trace", name, "--json"]) == 0
    states = json.loads(capsys.readouterr().out)["states"]
    track = next(s for s in states if s["name"] == "Track")
    assert track["output"]["tracked"] >= 1
    assert track["retries"] == 0
    assert cli.main(["--data-dir", str(data_dir), "trace", "no-such-execution"]) == 2


def test_a_throttled_put_events_is_retried_by_the_state_machine_without_sleeping(generated_run: Any) -> None:
    # given Personalize throttles the next PutEvents once
    stack, _, _, _ = generated_run
    assert stack.engine is not None
    assert stack.personalize is not None
    stack.personalize.faults.add("PutEvents", "ThrottlingException", count=1)
    waits_before = len(stack.engine.retry_waits)
    message = load_event("track_sku")
    message["messageId"] = "e2e-state-machine-retry"
    # when the event runs through the workflow
    description = stack.engine.run(message)
    # then the client made its one attempt (the SDK does not retry: each call must fit the function's
    # timeout) and the state machine retried Track after a backoff wait, recorded, not slept
    assert description["status"] == "SUCCEEDED"
    assert len(stack.engine.retry_waits) == waits_before + 1
    track_failures = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in stack.engine.history(description["executionArn"])
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert track_failures == ["PersonalizeThrottled"]
    assert len(_tracked_event_ids(stack)) == len(set(_tracked_event_ids(stack)))
