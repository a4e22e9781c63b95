"""The engine's speed-ups change nothing an execution shows: the same history events, descriptions and
GetExecutionHistory answers as moto's interpreter as it comes (``LocalEngine(fast=False)``).

The same Segment messages run through the whole local stack twice, once with each engine, on every path a
message can take: synced, tracked only (anonymous), ignored, rejected, retried then synced, dead-lettered.
And the table of ``moto_patches`` is the truth: it lists exactly what each switch replaces, and every
replaced attribute is back once the engine closes.
"""

from __future__ import annotations

import copy
import enum
import json
import pkgutil
from pathlib import Path
from typing import Any

import pytest

from local_stack.stack import LocalStack
from local_stack.stepfunctions.engine import LocalEngine
from local_stack.stepfunctions.json_copy import json_deepcopy
from local_stack.stepfunctions.moto_patches import PATCHES, READS, MotoPatches, parsed_program
from state_machines.history import entered
from tests.events import load_event

pytestmark = [pytest.mark.statemachine, pytest.mark.timeout(180)]

#: The history of a known user's interaction, as recorded from moto's interpreter without the speed-ups.
SYNCED_PATH = [
    ("ExecutionStarted", ""),
    ("TaskStateEntered", "Validate"),
    ("LambdaFunctionScheduled", ""),
    ("LambdaFunctionStarted", ""),
    ("LambdaFunctionSucceeded", ""),
    ("TaskStateExited", "Validate"),
    ("ChoiceStateEntered", "IsInteraction"),
    ("ChoiceStateExited", "IsInteraction"),
    ("TaskStateEntered", "Track"),
    ("LambdaFunctionScheduled", ""),
    ("LambdaFunctionStarted", ""),
    ("LambdaFunctionSucceeded", ""),
    ("TaskStateExited", "Track"),
    ("ChoiceStateEntered", "ShouldRecommend"),
    ("ChoiceStateExited", "ShouldRecommend"),
    ("TaskStateEntered", "Recommend"),
    ("LambdaFunctionScheduled", ""),
    ("LambdaFunctionStarted", ""),
    ("LambdaFunctionSucceeded", ""),
    ("TaskStateExited", "Recommend"),
    ("TaskStateEntered", "FilterTraits"),
    ("LambdaFunctionScheduled", ""),
    ("LambdaFunctionStarted", ""),
    ("LambdaFunctionSucceeded", ""),
    ("TaskStateExited", "FilterTraits"),
    ("TaskStateEntered", "SyncProfile"),
    ("LambdaFunctionScheduled", ""),
    ("LambdaFunctionStarted", ""),
    ("LambdaFunctionSucceeded", ""),
    ("TaskStateExited", "SyncProfile"),
    ("SucceedStateEntered", "Synced"),
    ("SucceedStateExited", "Synced"),
    ("ExecutionSucceeded", ""),
]

#: What the speed-ups (``fast``) replace.
FAST_TARGETS = {patch.target for patch in PATCHES if patch.switch == "fast"}

#: (name, message factory, Personalize faults queued before it): every path of the workflow.
CASES = [
    ("synced", "order_completed", []),
    ("anonymous", "anonymous_only", []),
    ("identify", "identify_traits", []),
    ("malformed", "malformed_bad_timestamp", []),
    ("retried", "track_sku", [("PutEvents", "ThrottlingException", 3)]),
    ("dead-lettered", "track_sku", [("GetRecommendations", "InvalidInputException", 1)]),
]


def shape(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, state name) of each event: what differs between two runs of the same message is only
    timestamps, ids of requests and the recommendation id."""
    out = []
    for event in history:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
        out.append((event["type"], details.get("name", "")))
    return out


def run_cases(data_dir: Path, *, fast: bool) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    with LocalStack(data_dir, skip_retry_waits=True, fast=fast) as stack:
        assert stack.engine is not None
        assert stack.personalize is not None
        patches = stack.engine._moto_patches
        assert (patches is not None and FAST_TARGETS.issubset(patches.installed)) is fast
        for index, (name, fixture, faults) in enumerate(CASES):
            message = load_event(fixture)
            message["messageId"] = f"speed-{index}-{name}"
            for operation, error, count in faults:
                stack.personalize.faults.add(operation, error, count=count)
            stack.send_to_segment(message)
            arn = stack.engine.start(message)
            description = stack.engine.wait(arn, timeout=60)
            stack.personalize.faults.clear()
            # read both ways: in process (fast) and through the API
            history = stack.engine.history(arn)
            api_history = stack.engine._sfn.get_execution_history(executionArn=arn)["events"]
            api_description = stack.engine._sfn.describe_execution(executionArn=arn)
            results[name] = {
                "status": description["status"],
                "shape": shape(history),
                "equal_to_api": history == api_history,
                "description_keys": sorted(description),
                "api_description_keys": sorted(set(api_description) - {"ResponseMetadata"}),
                "waits": len(stack.engine.retry_waits),
            }
    return results


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    slow = run_cases(tmp_path_factory.mktemp("as-it-comes"), fast=False)
    fast = run_cases(tmp_path_factory.mktemp("fast"), fast=True)
    return slow, fast


def test_every_path_has_the_same_history_events_with_and_without_the_speed_ups(
    both: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    slow, fast = both
    for name, _, _ in CASES:
        assert fast[name]["shape"] == slow[name]["shape"], name
        assert fast[name]["status"] == slow[name]["status"], name
    # the paths are the ones this test means to cover
    assert slow["synced"]["shape"] == SYNCED_PATH
    assert entered_names(slow["anonymous"])[-1] == "Tracked"
    assert entered_names(slow["identify"])[-1] == "Ignored"
    assert entered_names(slow["malformed"])[-1] == "Rejected"
    assert entered_names(slow["retried"]).count("Track") == 1
    assert [t for t, _ in slow["retried"]["shape"]].count("LambdaFunctionFailed") >= 1
    assert slow["dead-lettered"]["status"] == "FAILED"
    assert "SendToDeadLetterQueue" in entered_names(slow["dead-lettered"])


def entered_names(result: dict[str, Any]) -> list[str]:
    return entered([{"type": t, "stateEnteredEventDetails": {"name": n}} for t, n in result["shape"]])


def test_reads_in_process_equal_the_api_answers(both: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, fast = both
    for name, result in fast.items():
        assert result["equal_to_api"], name
        assert result["description_keys"] == result["api_description_keys"], name


def test_json_deepcopy_is_deepcopy_shared_objects_included() -> None:
    class Colour(enum.Enum):
        RED = 1

    shared = {"items": [1, 2.5, "x", None, True]}
    value = {"a": shared, "b": shared, "c": [shared, (1, 2)], "d": Colour.RED, 3: "int key"}
    for original in (value, {"a": shared, "b": [shared, shared]}, [shared, {"k": shared}]):
        copied = json_deepcopy(original)
        assert copied == copy.deepcopy(original)
        assert copied is not original
    copied = json_deepcopy(value)
    assert copied["a"] is copied["b"] is copied["c"][0]
    assert copied["a"] is not shared
    assert copied["d"] is Colour.RED


def test_a_program_is_parsed_once_per_definition() -> None:
    with LocalEngine() as engine:
        definition = engine._sfn.describe_state_machine(stateMachineArn=engine.state_machine_arn)[
            "definition"
        ]
    assert parsed_program(definition) is parsed_program(definition)


_ABSENT = object()


def attribute_of_owner(target: str) -> Any:
    """What the owner of ``target`` itself holds under its name; _ABSENT when only its class has it."""
    owner, name = target.rsplit(".", 1)
    return vars(pkgutil.resolve_name(owner)).get(name, _ABSENT)


@pytest.mark.parametrize(
    ("skip_retry_waits", "fast"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_the_table_lists_exactly_what_each_switch_replaces_and_close_restores_every_target(
    skip_retry_waits: bool, fast: bool
) -> None:
    switched_on = {"skip_retry_waits": skip_retry_waits, "fast": fast, "always": True}
    expected = [patch.target for patch in PATCHES if switched_on[patch.switch]]
    before = {patch.target: attribute_of_owner(patch.target) for patch in PATCHES}

    with LocalEngine(skip_retry_waits=skip_retry_waits, fast=fast) as engine:
        assert engine._moto_patches is not None
        installed = list(engine._moto_patches.installed)
        replaced = [target for target, value in before.items() if attribute_of_owner(target) is not value]

    assert sorted(installed) == sorted(expected)
    assert replaced == expected
    assert [target for target, value in before.items() if attribute_of_owner(target) is not value] == []


def test_every_row_is_one_target_with_its_switch_and_reasons() -> None:
    targets = [row.target for row in (*PATCHES, *READS)]
    assert len(set(targets)) == len(targets)
    assert {row.switch for row in PATCHES} == {"skip_retry_waits", "fast", "always"}
    assert {row.switch for row in READS} <= {"fast", "always"}
    for row in (*PATCHES, *READS):
        assert all((row.replaces, row.why, row.breaks_on_upgrade)), row.target
        pkgutil.resolve_name(row.target.rsplit(".", 1)[0])  # the owner exists in the pinned versions


def test_a_patch_missing_from_the_table_is_refused() -> None:
    patches = MotoPatches(
        skip_retry_waits=True,
        fast=True,
        record_retry_wait=print,
        record_sdk_retry_wait=print,
        on_terminated=print,
    )
    dumps = json.dumps

    with pytest.raises(ValueError, match="not a row of moto_patches.PATCHES"):
        patches._replace("json.dumps", repr)

    assert json.dumps is dumps
    assert patches.installed == []
