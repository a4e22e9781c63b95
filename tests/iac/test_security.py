"""Security of the template (marker ``iac``): checkov finds nothing unjustified, and Segment's role cannot be
assumed without the external id.

Who may assume the role is decided by evaluating the trust policy of the translated template with
``iac.security.evaluate``, not with moto: moto 5.2.5's evaluator treats a condition key missing from the
request as a match, so it would let Segment in without an external id (see the module docstring of
``iac/security.py``). Where moto's evaluator is sound (the key present, principals compared exactly), the two
are checked to agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iac import security
from iac.moto_stack import MotoStack
from iac.security import Request, evaluate
from iac.template import PARAMETER_SETS, SEGMENT_CALLER, SEGMENT_PRINCIPAL, TEMPLATE, CheckFailed, Validation

pytestmark = [pytest.mark.iac, pytest.mark.timeout(180)]


# --- checkov


#: Every finding the template suppresses, by check: (check id, resource type) -> how many resources.
EXPECTED_SKIPS = {
    ("CKV_AWS_115", "AWS::Serverless::Function"): 6,  # reserved concurrency
    ("CKV_AWS_116", "AWS::Serverless::Function"): 6,  # a DLQ for asynchronous invokes
    ("CKV_AWS_117", "AWS::Serverless::Function"): 6,  # VPC
    ("CKV_AWS_173", "AWS::Serverless::Function"): 6,  # a customer key for environment variables
    ("CKV_AWS_158", "AWS::Logs::LogGroup"): 2,  # a customer key for log groups
    ("CKV_AWS_27", "AWS::SQS::Queue"): 1,  # KmsMasterKeyId (the queue uses SSE-SQS)
    ("CKV_AWS_26", "AWS::SNS::Topic"): 1,  # alarms cannot publish to an encrypted topic
    ("CKV_AWS_119", "AWS::DynamoDB::Table"): 1,  # a customer key for the idempotency table
    ("CKV_AWS_149", "AWS::SecretsManager::Secret"): 2,  # a customer key for the secrets
}


@pytest.fixture(scope="module")
def scan() -> security.ScanResult:
    return security.run_checkov()


def test_checkov_fails_no_check_and_every_skip_is_justified(scan: security.ScanResult) -> None:
    assert security.verdict(scan).startswith("checkov ")
    assert scan.parsing_errors == 0
    assert scan.failed == []
    assert scan.passed >= 20
    assert security.unjustified(scan) == []
    skips: dict[tuple[str, str], int] = {}
    for finding in scan.skipped:
        key = (finding.check_id, finding.resource.split(".")[0])
        skips[key] = skips.get(key, 0) + 1
    # a new finding, or a skip that no longer applies, must be looked at
    assert skips == EXPECTED_SKIPS


def test_checkov_reports_the_findings_once_the_skips_are_gone(tmp_path: Path) -> None:
    stripped = tmp_path / "template.yaml"
    lines = TEMPLATE.read_text().splitlines(keepends=True)
    stripped.write_text("".join(line for line in lines if "checkov:skip=" not in line))
    result = security.run_checkov(stripped)
    assert {f.check_id for f in result.failed} == {check for check, _ in EXPECTED_SKIPS}
    assert result.skipped == []
    with pytest.raises(CheckFailed, match="checkov: 31 failed"):
        security.verdict(result, stripped)


def test_a_skip_without_a_reason_is_refused() -> None:
    bare = security.Finding("CKV_AWS_27", "AWS::SQS::Queue.DeadLetterQueue", "", "No comment provided")
    short = security.Finding("CKV_AWS_27", "AWS::SQS::Queue.DeadLetterQueue", "", "fine")
    scan = security.ScanResult(
        passed=1, failed=[], skipped=[bare, short], parsing_errors=0, resources=1, version="x"
    )
    assert security.unjustified(scan) == [bare, short]


# --- Segment's role and the external id


def refused_requests(external_id: str) -> dict[str, Request]:
    """Requests every Segment role must refuse, with a parameter set's external id filled in."""
    other_account = "arn:aws:sts::111122223333:assumed-role/segment-destinations/centrifuge"
    return {
        "Segment without an external id": Request(SEGMENT_CALLER),
        "Segment with an empty external id": Request(SEGMENT_CALLER, context={"sts:ExternalId": ""}),
        "Segment with another workspace's id": Request(
            SEGMENT_CALLER, context={"sts:ExternalId": "ws_other"}
        ),
        "Segment with the id in another case": Request(
            SEGMENT_CALLER, context={"sts:ExternalId": external_id.swapcase()}
        ),
        "Segment with the id as a prefix": Request(
            SEGMENT_CALLER, context={"sts:ExternalId": external_id + "-and-more"}
        ),
        "another account's role with the id": Request(other_account, context={"sts:ExternalId": external_id}),
        "Segment tagging a session with the id": Request(
            SEGMENT_CALLER, action="sts:TagSession", context={"sts:ExternalId": external_id}
        ),
    }


def segment_trust_policies(validation: Validation) -> dict[str, tuple[dict[str, Any], str]]:
    """Parameter set -> (the trust policy of Segment's role as translated, the external id it was given)."""
    return {
        name: (
            validation.resolved(name).properties("SegmentDestinationRole")["AssumeRolePolicyDocument"],
            params["SegmentExternalId"],
        )
        for name, params in PARAMETER_SETS.items()
    }


def check_segment_role_needs_external_id(validation: Validation) -> None:
    """Segment assumes its role with the external id, and every request of ``refused_requests`` is denied."""
    for name, (policy, external_id) in segment_trust_policies(validation).items():
        granted = Request(SEGMENT_CALLER, context={"sts:ExternalId": external_id})
        if evaluate(policy, granted) != "allow":
            raise CheckFailed(f"{name}: Segment cannot assume its role even with the external id")
        for what, request in refused_requests(external_id).items():
            if evaluate(policy, request) != "deny":
                raise CheckFailed(f"{name}: Segment's role can be assumed by {what}")


def test_segment_assumes_its_role_only_with_the_external_id(validation: Validation) -> None:
    check_segment_role_needs_external_id(validation)
    for name, (policy, external_id) in segment_trust_policies(validation).items():
        assert external_id == PARAMETER_SETS[name]["SegmentExternalId"]
        with_id = Request(SEGMENT_CALLER, context={"sts:ExternalId": external_id})
        assert evaluate(policy, with_id) == "allow", name
        # any principal of Segment's account, as its docs' trust policy has it, but only with the id
        root = Request(SEGMENT_PRINCIPAL, context={"sts:ExternalId": external_id})
        assert evaluate(policy, root) == "allow", name
        assert evaluate(policy, Request(SEGMENT_CALLER)) == "deny", name
        assert evaluate(policy, Request(SEGMENT_CALLER, context={"sts:ExternalId": "ws_other"})) == "deny"
        for what, request in refused_requests(external_id).items():
            assert evaluate(policy, request) == "deny", f"{name}: {what}"


def test_the_role_as_moto_creates_it_has_the_same_trust(moto_stacks: dict[str, MotoStack]) -> None:
    created = moto_stacks["base"].roles["SegmentDestinationRole"]["trust"]
    external_id = PARAMETER_SETS["base"]["SegmentExternalId"]
    assert evaluate(created, Request(SEGMENT_CALLER, context={"sts:ExternalId": external_id})) == "allow"
    assert evaluate(created, Request(SEGMENT_CALLER)) == "deny"


def test_a_trust_policy_without_the_condition_is_refused(validation: Validation) -> None:
    def drop_condition(template: dict[str, Any]) -> None:
        role = template["Resources"]["SegmentDestinationRole"]["Properties"]
        del role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]

    template = json.loads(json.dumps(validation.template))
    drop_condition(template)
    with pytest.raises(CheckFailed, match="can be assumed by Segment without an external id"):
        check_segment_role_needs_external_id(Validation(template=template))


def test_a_trust_policy_for_any_external_id_is_refused(validation: Validation) -> None:
    template = json.loads(json.dumps(validation.template))
    statement = template["Resources"]["SegmentDestinationRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"
    ]
    statement[0]["Condition"] = {"StringLike": {"sts:ExternalId": "*"}}
    with pytest.raises(CheckFailed, match="can be assumed by Segment with an"):
        check_segment_role_needs_external_id(Validation(template=template))


# --- the evaluator itself


#: A role (not an account) as principal: the evaluator must tell it from another role of its account.
ROLE = "arn:aws:iam::595280932656:role/destination"
POLICY: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "ws_1"}},
        }
    ],
}


@pytest.mark.parametrize(
    ("request_", "decision"),
    [
        (Request(ROLE, context={"sts:ExternalId": "ws_1"}), "allow"),
        (
            Request(ROLE, context={"STS:EXTERNALID": "ws_1"}),
            "allow",
        ),  # keys are case-insensitive
        (Request(ROLE, context={"sts:ExternalId": "WS_1"}), "deny"),  # values are not
        (Request(ROLE), "deny"),
        (Request("arn:aws:iam::595280932656:role/other", context={"sts:ExternalId": "ws_1"}), "deny"),
        (
            Request(ROLE, action="sts:AssumeRoleWithWebIdentity", context={"sts:ExternalId": "ws_1"}),
            "deny",
        ),
    ],
)
def test_evaluate_follows_aws_rules(request_: Request, decision: str) -> None:
    assert evaluate(POLICY, request_) == decision


def test_evaluate_deny_wins_and_negated_operators_hold_on_missing_keys() -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sts:*",
        "Condition": {"StringNotEquals": {"aws:x": "1"}},
    }
    policy = {"Statement": [*POLICY["Statement"], deny]}
    allowed = Request(ROLE, context={"sts:ExternalId": "ws_1", "aws:x": "1"})
    assert evaluate(policy, allowed) == "allow"
    # aws:x missing: StringNotEquals holds, so the Deny applies
    assert evaluate(policy, Request(ROLE, context={"sts:ExternalId": "ws_1"})) == "deny"
    account = {"Statement": [{**POLICY["Statement"][0], "Principal": {"AWS": "595280932656"}}]}
    assert evaluate(account, Request(ROLE, context={"sts:ExternalId": "ws_1"})) == "allow"
    unknown = {"Statement": [{**POLICY["Statement"][0], "Condition": {"NumericEquals": {"a": "1"}}}]}
    with pytest.raises(ValueError, match="not supported"):
        evaluate(unknown, Request(ROLE))


def test_evaluate_agrees_with_moto_where_motos_evaluator_is_sound() -> None:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    moto_policy = IAMPolicy(json.dumps(POLICY))
    role = "arn:aws:iam::123456789012:role/segment"
    for principal in (ROLE, "arn:aws:iam::111122223333:role/other"):
        for external_id in ("ws_1", "ws_2"):
            ours = evaluate(POLICY, Request(principal, context={"sts:ExternalId": external_id}))
            theirs = moto_policy.is_action_permitted(
                "sts:AssumeRole", role, principal, {"sts:ExternalId": external_id}
            )
            assert (ours == "allow") == (theirs == PermissionResult.PERMITTED), (principal, external_id)
