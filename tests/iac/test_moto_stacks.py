"""The translated template created as CloudFormation stacks in moto, and what was created read back.

moto ignores DefinitionSubstitutions, creates EXPRESS state machines as STANDARD and cannot create
``MOTO_UNSUPPORTED`` resources: those are checked on the translated JSON (test_wiring, test_permissions).
"""

from __future__ import annotations

from collections import Counter

import pytest

from iac.moto_stack import MOTO_UNSUPPORTED, MotoStack
from iac.policies import as_list
from iac.template import (
    FUNCTIONS,
    OUTPUTS,
    PARAMETER_SETS,
    RUNTIME,
    SEGMENT_PRINCIPAL,
    STAR_RESOURCE_ALLOWLIST,
    expected_resource_types,
)

pytestmark = pytest.mark.iac


def test_moto_creates_both_stacks_with_the_expected_resources(moto_stacks: dict[str, MotoStack]) -> None:
    for name, stack in moto_stacks.items():
        assert stack.status == "CREATE_COMPLETE", (name, stack.reason)
        counts = Counter(r["ResourceType"] for r in stack.resources)
        for kind, count in expected_resource_types(name).items():
            if kind not in MOTO_UNSUPPORTED:
                assert counts.get(kind) == count, f"{name}: {counts.get(kind, 0)} {kind}, expected {count}"
        kinds = {r["ResourceType"] for r in stack.resources}
        assert {
            "AWS::Lambda::Function",
            "AWS::Lambda::LayerVersion",
            "AWS::IAM::Role",
            "AWS::StepFunctions::StateMachine",
            "AWS::SQS::Queue",
            "AWS::DynamoDB::Table",
            "AWS::Logs::LogGroup",
        } <= kinds
        assert set(stack.outputs) == OUTPUTS
        entry = stack.functions["EntryFunction"]
        assert stack.outputs["EntryFunctionArn"] == entry["FunctionArn"], name
        assert (
            stack.outputs["StateMachineArn"]
            == stack.state_machine.get("stateMachineArn")
            == entry["Environment"]["Variables"]["STATE_MACHINE_ARN"]
        ), f"{name}: entry's STATE_MACHINE_ARN is not the stack's state machine"
        assert stack.outputs["SegmentRoleArn"] == stack.roles["SegmentDestinationRole"]["arn"], name
        assert "/" in stack.outputs["DeadLetterQueueUrl"], name
        # (moto's CloudFormation drops Architectures and Layers of a function: checked on the JSON instead)
        for logical_id, function in stack.functions.items():
            assert function["Runtime"] == RUNTIME, f"{name}: {logical_id}"
            assert function["Handler"] == "app.lambda_handler", f"{name}: {logical_id}"
        assert stack.queue_attributes.get("MessageRetentionPeriod") == "1209600", f"{name}: DLQ retention"
        assert stack.queue_attributes.get("SqsManagedSseEnabled") == "true", f"{name}: DLQ not encrypted"
        assert stack.table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST", name
        assert stack.table.get("KeySchema") == [{"AttributeName": "id", "KeyType": "HASH"}], name


def test_moto_iam_as_created(moto_stacks: dict[str, MotoStack]) -> None:
    """Segment's trust policy and single permission, and no '*' grants, as created."""
    for name, stack in moto_stacks.items():
        segment = stack.roles["SegmentDestinationRole"]
        (trust,) = segment["trust"]["Statement"]
        assert trust["Principal"] == {"AWS": SEGMENT_PRINCIPAL}, name
        assert trust["Condition"] == {
            "StringEquals": {"sts:ExternalId": PARAMETER_SETS[name]["SegmentExternalId"]}
        }, name
        assert not segment["managed"], f"{name}: Segment role has managed policies {segment['managed']}"
        documents = list(segment["policies"].values())
        assert len(documents) == 1, f"{name}: Segment role has {len(documents)} policies"
        (statement,) = as_list(documents[0]["Statement"])
        assert as_list(statement["Action"]) == ["lambda:InvokeFunction"], name
        assert as_list(statement["Resource"]) == [stack.functions["EntryFunction"]["FunctionArn"]], name
        for logical_id, role in stack.roles.items():
            for document in role["policies"].values():
                for s in as_list(document["Statement"]):
                    assert all(a != "*" for a in as_list(s["Action"])), f"{name}: {logical_id} allows '*'"
                    if "*" in as_list(s["Resource"]):
                        assert set(as_list(s["Action"])) <= set(STAR_RESOURCE_ALLOWLIST), (
                            f"{name}: {logical_id} grants {s['Action']} on '*'"
                        )
    segment = moto_stacks["base"].roles["SegmentDestinationRole"]
    assert segment["trust"]["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": "ws_validate"}
    }


def test_created_environment_loads_every_settings_model(moto_stacks: dict[str, MotoStack]) -> None:
    """The deployed environment of each function is a valid configuration for its settings model."""
    from segment_personalize.config import ALL_SETTINGS, load

    for name, stack in moto_stacks.items():
        for function, logical_id in FUNCTIONS.items():
            variables = stack.functions[logical_id]["Environment"]["Variables"]
            try:
                load(ALL_SETTINGS[function], variables)
            except Exception as error:  # noqa: BLE001 - reported with the function's name
                pytest.fail(f"{name}: {function} would fail at cold start: {error}")
    entry = moto_stacks["base"].functions["EntryFunction"]["Environment"]["Variables"]
    assert entry["STATE_MACHINE_ARN"] == moto_stacks["base"].outputs["StateMachineArn"]
