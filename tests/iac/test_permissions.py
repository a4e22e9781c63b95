"""Who may do what: Segment's role, least privilege of every role, '*' only where a service requires it.

Each check is a helper run on the real template and, to prove it can fail, on a modified copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from iac.policies import (
    ARN_PREFIX,
    REGION_ACCOUNT,
    allowed,
    as_list,
    flatten_sub,
    role_statements,
    statements,
)
from iac.template import (
    FULL_PARAMETERS,
    FUNCTIONS,
    MANAGED_POLICY_ALLOWLIST,
    SEGMENT_PRINCIPAL,
    STAR_RESOURCE_ALLOWLIST,
    CheckFailed,
    Resolved,
    Validation,
    require,
)
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac


# --- Segment's role


def check_trust_policy(v: Validation) -> None:
    """Only Segment's principal, with the external id, may assume Segment's role; every other role trusts
    only its AWS service."""
    for label, resolved in v.all_resolved().items():
        trust = resolved.properties("SegmentDestinationRole")["AssumeRolePolicyDocument"]
        expected = {
            "Effect": "Allow",
            "Principal": {"AWS": SEGMENT_PRINCIPAL},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": resolved.parameters["SegmentExternalId"]}},
        }
        require(trust.get("Statement") == [expected], f"{label}: Segment trust policy is {trust!r}")
    for label, resolved in v.all_resolved().items():
        for logical_id, role in resolved.of_type("AWS::IAM::Role").items():
            if logical_id == "SegmentDestinationRole":
                continue
            for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
                principal = statement.get("Principal", {})
                require(
                    set(principal) == {"Service"}
                    and all(
                        p in ("lambda.amazonaws.com", "states.amazonaws.com")
                        for p in as_list(principal["Service"])
                    ),
                    f"{label}: {logical_id} trusts {principal!r}",
                )


def test_segment_trust_policy_is_segments_principal_with_the_external_id(validation: Validation) -> None:
    check_trust_policy(validation)
    trust = validation.resolved("base").properties("SegmentDestinationRole")["AssumeRolePolicyDocument"]
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {
        "AWS": "arn:aws:iam::595280932656:role/customer-personalize-prod-destination-access"
    }
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ws_validate"}}
    assert statement["Action"] == "sts:AssumeRole"


def test_trust_policy_without_external_id_is_refused() -> None:
    def drop_condition(t: dict[str, Any]) -> None:
        del props(t, "SegmentDestinationRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]

    with pytest.raises(CheckFailed, match="Segment trust policy"):
        check_trust_policy(modified(drop_condition))


def check_segment_role_permissions(v: Validation) -> None:
    """Segment's role may invoke the entry function, nothing else."""
    for label, resolved in v.all_resolved().items():
        role = resolved.properties("SegmentDestinationRole")
        require(not role.get("ManagedPolicyArns"), f"{label}: Segment's role has managed policies")
        granted = [s for s in statements(resolved) if s.owner == "SegmentDestinationRole"]
        require(len(granted) == 1, f"{label}: Segment's role has {len(granted)} statements, expected one")
        s = granted[0]
        require(
            s.effect == "Allow"
            and s.actions == ("lambda:InvokeFunction",)
            and s.resources == ({"Fn::GetAtt": ["EntryFunction", "Arn"]},)
            and "Condition" not in s.raw,
            f"{label}: Segment's role may {s.actions} on {s.resources}",
        )
        for other in resolved.of_type("AWS::IAM::Policy").values():
            require(
                {"Ref": "SegmentDestinationRole"} not in as_list(other["Properties"].get("Roles", [])),
                f"{label}: another policy is attached to Segment's role",
            )


def test_segment_role_may_only_invoke_the_entry_function(validation: Validation) -> None:
    check_segment_role_permissions(validation)
    granted = [s for s in statements(validation.resolved("full")) if s.owner == "SegmentDestinationRole"]
    assert [(s.actions, s.resources) for s in granted] == [
        (("lambda:InvokeFunction",), ({"Fn::GetAtt": ["EntryFunction", "Arn"]},))
    ]


def test_segment_role_with_a_second_permission_is_refused() -> None:
    def add_action(t: dict[str, Any]) -> None:
        statement = props(t, "SegmentDestinationRole")["Policies"][0]["PolicyDocument"]["Statement"][0]
        statement["Action"] = ["lambda:InvokeFunction", "lambda:GetFunction"]

    with pytest.raises(CheckFailed, match="Segment's role may"):
        check_segment_role_permissions(modified(add_action))


# --- least privilege


def extra_statement(action: str, resource: str) -> Callable[[dict[str, Any]], None]:
    def add(t: dict[str, Any]) -> None:
        props(t, "TrackFunction")["Policies"].append(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}],
            }
        )

    return add


def check_no_star_actions(v: Validation) -> None:
    """No statement allows every action, or every action of a service; every statement allows."""
    for label, resolved in v.all_resolved().items():
        for s in statements(resolved):
            for action in s.actions:
                require(
                    isinstance(action, str) and action != "*" and not action.endswith(":*"),
                    f"{label}: {s.owner}/{s.policy} allows every action of a service: {action!r}",
                )
            require(s.effect == "Allow", f"{label}: {s.owner}/{s.policy} has Effect {s.effect!r}")


def test_no_statement_allows_every_action(validation: Validation) -> None:
    check_no_star_actions(validation)
    for resolved in validation.all_resolved().values():
        for statement in statements(resolved):
            assert "*" not in statement.actions


@pytest.mark.parametrize("action", ["*", "personalize:*"])
def test_a_star_action_is_refused(action: str) -> None:
    arn = "arn:aws:personalize:us-east-1:123456789012:campaign/x"
    with pytest.raises(CheckFailed, match="allows every action"):
        check_no_star_actions(modified(extra_statement(action, arn)))


def check_star_resources(v: Validation) -> None:
    """Every action on Resource '*' and every managed policy is on its allowlist."""
    for label, resolved in v.all_resolved().items():
        for s in statements(resolved):
            if "*" in s.resources:
                unexplained = sorted(set(s.actions) - set(STAR_RESOURCE_ALLOWLIST))
                require(
                    not unexplained,
                    f"{label}: {s.owner}/{s.policy} grants {unexplained} on Resource '*' (not allowlisted)",
                )
        for logical_id, role in resolved.of_type("AWS::IAM::Role").items():
            for arn in role["Properties"].get("ManagedPolicyArns", []):
                require(
                    arn in MANAGED_POLICY_ALLOWLIST, f"{label}: {logical_id} has the managed policy {arn!r}"
                )


def test_every_star_resource_is_on_the_allowlist(validation: Validation) -> None:
    check_star_resources(validation)
    on_star = {
        action
        for resolved in validation.all_resolved().values()
        for s in statements(resolved)
        if "*" in s.resources
        for action in s.actions
    }
    assert on_star
    assert on_star <= set(STAR_RESOURCE_ALLOWLIST)
    assert all(action.startswith("logs:") for action in on_star)


def test_a_star_resource_off_the_allowlist_is_refused() -> None:
    with pytest.raises(CheckFailed, match=r"grants \['personalize:PutEvents'\] on Resource '\*'"):
        check_star_resources(modified(extra_statement("personalize:PutEvents", "*")))


def _check_entry(label: str, resolved: Resolved) -> None:
    """entry: start executions of this state machine only."""
    entry = role_statements(resolved, "EntryFunction")
    entry_actions = {a for s in entry for a in s.actions}
    name = '{"Fn::GetAtt": ["StateMachine", "Name"]}'
    starts = allowed(entry, "states:StartExecution")
    require(starts, f"{label}: entry cannot states:StartExecution")
    for s in starts:
        require(
            [flatten_sub(r) for r in s.resources]
            == [f"{ARN_PREFIX}:states:{REGION_ACCOUNT}:stateMachine:{name}"],
            f"{label}: entry may start {[flatten_sub(r) for r in s.resources]}",
        )
    require(
        entry_actions == {"states:StartExecution"},
        f"{label}: entry may also {sorted(entry_actions - {'states:StartExecution'})}",
    )


def _check_personalize(label: str, resolved: Resolved) -> None:
    """track: PutEvents on the event tracker(s); recommend: GetRecommendations on the campaign or
    recommender, and the filter."""
    params = resolved.parameters
    put = allowed(role_statements(resolved, "TrackFunction"), "personalize:PutEvents")
    tracker = (
        params["PersonalizeEventTrackerArn"] or f"{ARN_PREFIX}:personalize:{REGION_ACCOUNT}:event-tracker/*"
    )
    require(
        len(put) == 1 and [flatten_sub(r) for r in put[0].resources] == [tracker],
        f"{label}: track's PutEvents resources are {[p.resources for p in put]}",
    )
    get = allowed(role_statements(resolved, "RecommendFunction"), "personalize:GetRecommendations")
    source = params["PersonalizeCampaignArn"] or params["PersonalizeRecommenderArn"]
    targets = [source] + ([params["PersonalizeFilterArn"]] if params["PersonalizeFilterArn"] else [])
    require(
        len(get) == 1 and list(get[0].resources) == targets,
        f"{label}: recommend may GetRecommendations on {[g.resources for g in get]}, expected {targets}",
    )


def _check_secrets(label: str, resolved: Resolved) -> None:
    """Each function reads only its own secret, and only when it needs one."""
    for function, secret, needed in (
        ("SyncProfileFunction", "SegmentWriteKeySecret", True),
        ("FilterTraitsFunction", "SegmentProfileTokenSecret", bool(resolved.parameters["SegmentSpaceId"])),
    ):
        reads = allowed(role_statements(resolved, function), "secretsmanager:GetSecretValue")
        if needed:
            require(
                len(reads) == 1
                and [flatten_sub(r) for r in reads[0].resources] == [json.dumps({"Ref": secret})],
                f"{label}: {function} reads secrets {[r.resources for r in reads]}",
            )
        else:
            require(not reads, f"{label}: {function} reads a secret it does not need")
    for logical_id in FUNCTIONS.values():
        if logical_id in ("SyncProfileFunction", "FilterTraitsFunction"):
            continue
        require(
            not allowed(role_statements(resolved, logical_id), "secretsmanager:GetSecretValue"),
            f"{label}: {logical_id} can read secrets",
        )


def _check_idempotency_table(label: str, resolved: Resolved) -> None:
    """The idempotency table: track and sync_profile only, item actions only."""
    for logical_id in FUNCTIONS.values():
        dynamo = [
            s
            for s in role_statements(resolved, logical_id)
            if any(a.startswith("dynamodb:") for a in s.actions)
        ]
        if logical_id in ("TrackFunction", "SyncProfileFunction"):
            require(
                len(dynamo) == 1
                and set(dynamo[0].actions)
                == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
                and dynamo[0].resources == ({"Fn::GetAtt": ["IdempotencyTable", "Arn"]},),
                f"{label}: {logical_id} may {[(d.actions, d.resources) for d in dynamo]}",
            )
        else:
            require(not dynamo, f"{label}: {logical_id} can use DynamoDB")


def check_function_permissions(v: Validation) -> None:
    """Each function's role can do what its code needs, on its own resources."""
    for label, resolved in v.all_resolved().items():
        _check_entry(label, resolved)
        _check_personalize(label, resolved)
        _check_secrets(label, resolved)
        _check_idempotency_table(label, resolved)


def test_each_function_reaches_only_its_own_resources(validation: Validation) -> None:
    check_function_permissions(validation)
    full = validation.resolved("full")
    (get,) = allowed(role_statements(full, "RecommendFunction"), "personalize:GetRecommendations")
    assert list(get.resources) == [
        FULL_PARAMETERS["PersonalizeRecommenderArn"],
        FULL_PARAMETERS["PersonalizeFilterArn"],
    ]
    (put,) = allowed(role_statements(full, "TrackFunction"), "personalize:PutEvents")
    assert put.resources == (FULL_PARAMETERS["PersonalizeEventTrackerArn"],)


def test_entry_starting_any_state_machine_is_refused() -> None:
    def widen(t: dict[str, Any]) -> None:
        props(t, "EntryFunction")["Policies"] = [
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "states:StartExecution",
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:states:*:*:stateMachine:*"},
                    }
                ],
            }
        ]

    with pytest.raises(CheckFailed, match="entry may start"):
        check_function_permissions(modified(widen))


def check_state_machine_permissions(v: Validation) -> None:
    """The state machine invokes the five step functions, sends to the dead-letter queue, delivers its
    logs when it logs, and nothing else."""
    for label, resolved in v.all_resolved().items():
        granted = role_statements(resolved, "StateMachine")
        invoked = {flatten_sub(r) for s in allowed(granted, "lambda:InvokeFunction") for r in s.resources}
        expected = {
            f'{ARN_PREFIX}:lambda:{REGION_ACCOUNT}:function:{{"Ref": "{FUNCTIONS[f]}"}}*'
            for f in FUNCTIONS
            if f != "entry"
        }
        require(invoked == expected, f"{label}: the state machine may invoke {sorted(invoked)}")
        sends = {
            flatten_sub(r)
            for s in granted
            for r in s.resources
            if any(a.startswith("sqs:") for a in s.actions)
        }
        require(
            sends
            == {f'{ARN_PREFIX}:sqs:{REGION_ACCOUNT}:{{"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}'},
            f"{label}: the state machine may use the queues {sorted(sends)}",
        )
        logs = allowed(granted, "logs:CreateLogDelivery")
        logging_on = "LoggingConfiguration" in resolved.properties("StateMachine")
        require(
            bool(logs) == logging_on,
            f"{label}: log delivery permission {bool(logs)} but logging {logging_on}",
        )
        other = {
            a
            for s in granted
            for a in s.actions
            if not (a == "lambda:InvokeFunction" or a.startswith("sqs:") or a in STAR_RESOURCE_ALLOWLIST)
        }
        require(not other, f"{label}: the state machine may also {sorted(other)}")


def test_state_machine_invokes_the_five_steps_and_sends_to_the_dlq(validation: Validation) -> None:
    check_state_machine_permissions(validation)
    granted = role_statements(validation.resolved("base"), "StateMachine")
    invoked = {flatten_sub(r) for s in allowed(granted, "lambda:InvokeFunction") for r in s.resources}
    assert len(invoked) == 5
    assert not any("EntryFunction" in arn for arn in invoked)


def test_state_machine_invoking_the_entry_function_is_refused() -> None:
    def add_entry(t: dict[str, Any]) -> None:
        props(t, "StateMachine")["Policies"].append(
            {"LambdaInvokePolicy": {"FunctionName": {"Ref": "EntryFunction"}}}
        )

    with pytest.raises(CheckFailed, match="the state machine may invoke"):
        check_state_machine_permissions(modified(add_entry))
