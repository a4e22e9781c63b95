"""The SAM template, checked offline by iac/template.py: one test per check, each also proven able to fail.

The ``validation`` fixture translates the real template once (both parameter sets) and creates its moto
stacks once; the tests that prove a check can fail run it on a modified copy of the template or ASL.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from iac import template as validate
from iac.template import CheckFailed, Validation

pytestmark = pytest.mark.iac


@pytest.fixture(scope="module")
def validation() -> Validation:
    return Validation()


def modified(change: Callable[[dict[str, Any]], None]) -> Validation:
    """A validation of a copy of the template with ``change`` applied."""
    template = copy.deepcopy(validate.load_template())
    change(template)
    return Validation(template=template)


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


# --- cfn-lint and the transform


def test_cfn_lint_finds_nothing(validation: Validation) -> None:
    assert validate.check_cfn_lint(validation) == "no errors or warnings"


def test_cfn_lint_reports_a_broken_template() -> None:
    broken = modified(lambda t: props(t, "TrackFunction").update(MemorySize=1))
    with pytest.raises(CheckFailed, match="cfn-lint: E3034"):
        validate.check_cfn_lint(broken)


def test_both_workflow_types_translate_and_deploy_the_packaged_asl(validation: Validation) -> None:
    validate.check_transform(validation)
    for name, template in validation.translated.items():
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert "AWS::StepFunctions::StateMachine" in kinds, name
        assert not any(k.startswith("AWS::Serverless::") for k in kinds), name
    for kind in ("STANDARD", "EXPRESS"):
        machine = validation.resolved("base", WorkflowType=kind).properties("StateMachine")
        assert machine["StateMachineType"] == kind
        assert machine["DefinitionS3Location"] == {
            "Bucket": validate.ARTIFACT_BUCKET,
            "Key": validate.ASL.name,
        }


# --- Segment's role


def test_segment_trust_policy_is_segments_principal_with_the_external_id(validation: Validation) -> None:
    validate.check_trust_policy(validation)
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
        validate.check_trust_policy(modified(drop_condition))


def test_segment_role_may_only_invoke_the_entry_function(validation: Validation) -> None:
    validate.check_segment_role_permissions(validation)
    granted = [
        s for s in validate.statements(validation.resolved("full")) if s.owner == "SegmentDestinationRole"
    ]
    assert [(s.actions, s.resources) for s in granted] == [
        (("lambda:InvokeFunction",), ({"Fn::GetAtt": ["EntryFunction", "Arn"]},))
    ]


def test_segment_role_with_a_second_permission_is_refused() -> None:
    def add_action(t: dict[str, Any]) -> None:
        statement = props(t, "SegmentDestinationRole")["Policies"][0]["PolicyDocument"]["Statement"][0]
        statement["Action"] = ["lambda:InvokeFunction", "lambda:GetFunction"]

    with pytest.raises(CheckFailed, match="Segment's role may"):
        validate.check_segment_role_permissions(modified(add_action))


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


def test_no_statement_allows_every_action(validation: Validation) -> None:
    detail = validate.check_no_star_actions(validation)
    assert "none with a '*' action" in detail
    for resolved in validation.all_resolved().values():
        for statement in validate.statements(resolved):
            assert "*" not in statement.actions


@pytest.mark.parametrize("action", ["*", "personalize:*"])
def test_a_star_action_is_refused(action: str) -> None:
    arn = "arn:aws:personalize:us-east-1:123456789012:campaign/x"
    with pytest.raises(CheckFailed, match="allows every action"):
        validate.check_no_star_actions(modified(extra_statement(action, arn)))


def test_every_star_resource_is_on_the_allowlist(validation: Validation) -> None:
    validate.check_star_resources(validation)
    on_star = {
        action
        for resolved in validation.all_resolved().values()
        for s in validate.statements(resolved)
        if "*" in s.resources
        for action in s.actions
    }
    assert on_star
    assert on_star <= set(validate.STAR_RESOURCE_ALLOWLIST)
    assert all(action.startswith("logs:") for action in on_star)


def test_a_star_resource_off_the_allowlist_is_refused() -> None:
    with pytest.raises(CheckFailed, match=r"grants \['personalize:PutEvents'\] on Resource '\*'"):
        validate.check_star_resources(modified(extra_statement("personalize:PutEvents", "*")))


def test_each_function_reaches_only_its_own_resources(validation: Validation) -> None:
    validate.check_function_permissions(validation)
    full = validation.resolved("full")
    (get,) = validate.allowed(
        validate.role_statements(full, "RecommendFunction"), "personalize:GetRecommendations"
    )
    assert list(get.resources) == [
        validate.FULL_PARAMETERS["PersonalizeRecommenderArn"],
        validate.FULL_PARAMETERS["PersonalizeFilterArn"],
    ]
    (put,) = validate.allowed(validate.role_statements(full, "TrackFunction"), "personalize:PutEvents")
    assert put.resources == (validate.FULL_PARAMETERS["PersonalizeEventTrackerArn"],)


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
        validate.check_function_permissions(modified(widen))


def test_state_machine_invokes_the_five_steps_and_sends_to_the_dlq(validation: Validation) -> None:
    validate.check_state_machine_permissions(validation)
    granted = validate.role_statements(validation.resolved("base"), "StateMachine")
    invoked = {
        validate.flatten_sub(r)
        for s in validate.allowed(granted, "lambda:InvokeFunction")
        for r in s.resources
    }
    assert len(invoked) == 5
    assert not any("EntryFunction" in arn for arn in invoked)


def test_state_machine_invoking_the_entry_function_is_refused() -> None:
    def add_entry(t: dict[str, Any]) -> None:
        props(t, "StateMachine")["Policies"].append(
            {"LambdaInvokePolicy": {"FunctionName": {"Ref": "EntryFunction"}}}
        )

    with pytest.raises(CheckFailed, match="the state machine may invoke"):
        validate.check_state_machine_permissions(modified(add_entry))


# --- outputs, workflow type, logging


def test_outputs_are_exactly_the_four(validation: Validation) -> None:
    validate.check_outputs(validation)
    assert set(validation.template["Outputs"]) == {
        "EntryFunctionArn",
        "SegmentRoleArn",
        "StateMachineArn",
        "DeadLetterQueueUrl",
    }


def test_a_fifth_output_is_refused() -> None:
    def add_output(t: dict[str, Any]) -> None:
        t["Outputs"]["TableName"] = {
            "Description": "the idempotency table, for debugging",
            "Value": {"Ref": "X"},
        }

    with pytest.raises(CheckFailed, match="expected exactly"):
        validate.check_outputs(modified(add_output))


def test_both_workflow_types_from_one_template_with_tracing(validation: Validation) -> None:
    validate.check_workflow_types(validation)


def test_express_logs_all_with_execution_data(validation: Validation) -> None:
    validate.check_express_logging(validation)
    logging = validation.resolved("base", WorkflowType="EXPRESS").properties("StateMachine")[
        "LoggingConfiguration"
    ]
    assert logging["Level"] == "ALL"
    assert logging["IncludeExecutionData"] is True
    standard = validation.resolved("base", WorkflowType="STANDARD").properties("StateMachine")[
        "LoggingConfiguration"
    ]
    assert standard["Level"] == "ERROR"


def test_express_without_execution_data_is_refused() -> None:
    def no_data(t: dict[str, Any]) -> None:
        props(t, "StateMachine")["Logging"]["Fn::If"][1]["IncludeExecutionData"] = False

    with pytest.raises(CheckFailed, match="EXPRESS: logging is"):
        validate.check_express_logging(modified(no_data))


# --- configuration


def test_each_function_gets_exactly_its_settings(validation: Validation) -> None:
    validate.check_environment_matches_settings(validation)
    variables = validation.resolved("full").properties("SyncProfileFunction")["Environment"]["Variables"]
    assert "SEGMENT_WRITE_KEY" not in variables
    assert variables["SEGMENT_WRITE_KEY_SECRET_ARN"] == {"Ref": "SegmentWriteKeySecret"}
    entry = validation.resolved("base").properties("EntryFunction")["Environment"]["Variables"]
    assert set(entry) - validate.GLOBAL_ENV == {"STATE_MACHINE_ARN"}


def test_a_missing_setting_is_refused() -> None:
    def drop(t: dict[str, Any]) -> None:
        del props(t, "RecommendFunction")["Environment"]["Variables"]["RECOMMENDATION_COUNT"]

    with pytest.raises(
        CheckFailed, match=r"recommend gets \[\] it does not read, lacks \['RECOMMENDATION_COUNT'\]"
    ):
        validate.check_environment_matches_settings(modified(drop))


def test_a_plain_secret_is_refused() -> None:
    def plain(t: dict[str, Any]) -> None:
        variables = props(t, "SyncProfileFunction")["Environment"]["Variables"]
        del variables["SEGMENT_WRITE_KEY_SECRET_ARN"]
        variables["SEGMENT_WRITE_KEY"] = {"Ref": "SegmentWriteKey"}

    with pytest.raises(CheckFailed, match="SEGMENT_WRITE_KEY"):
        validate.check_environment_matches_settings(modified(plain))


def test_parameter_defaults_are_config_defaults(validation: Validation) -> None:
    validate.check_parameter_defaults_match_config(validation)


def test_a_drifted_default_is_refused() -> None:
    def drift(t: dict[str, Any]) -> None:
        t["Parameters"]["RecommendationCount"]["Default"] = 12

    with pytest.raises(CheckFailed, match="RecommendationCount"):
        validate.check_parameter_defaults_match_config(modified(drift))


def test_powertools_names_match_observability(validation: Validation) -> None:
    assert validate.check_observability_names(validation) == "segment-personalize / SegmentPersonalize"


def test_rules_refuse_settings_config_would_refuse(validation: Validation) -> None:
    validate.check_rules(validation)
    both = {
        **validate.BASE_PARAMETERS,
        "PersonalizeRecommenderArn": validate.FULL_PARAMETERS["PersonalizeRecommenderArn"],
    }
    assert validate.rules_broken(validation.template, both) == ["OneRecommendationSource"]


def test_functions_run_python312_on_arm64_with_both_layers(validation: Validation) -> None:
    validate.check_functions(validation)
    layers = validation.resolved("base").properties("TrackFunction")["Layers"]
    assert layers[0] == "{{resolve:ssm:/aws/service/powertools/python/arm64/python3.12/latest}}"


# --- the state machine's wiring


def test_definition_substitutions_are_the_asl_placeholders(validation: Validation) -> None:
    validate.check_definition_substitutions(validation)
    substitutions = validation.resolved("base").properties("StateMachine")["DefinitionSubstitutions"]
    assert set(substitutions) == validate.placeholders_in(validate.ASL.read_text())


def test_an_unsubstituted_placeholder_is_refused(validation: Validation) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"]["Validate"]["Parameters"]["table"] = "${IdempotencyTableName}"
    with pytest.raises(CheckFailed, match="placeholders"):
        validate.check_definition_substitutions(Validation(asl_text=json.dumps(asl)))


def test_a_substitution_without_placeholder_is_refused() -> None:
    def extra(t: dict[str, Any]) -> None:
        props(t, "StateMachine")["DefinitionSubstitutions"]["TableName"] = {"Ref": "IdempotencyTable"}

    with pytest.raises(CheckFailed, match="substitutions"):
        validate.check_definition_substitutions(modified(extra))


def test_asl_structure(validation: Validation) -> None:
    validate.check_asl_structure(validation)


@pytest.mark.parametrize(
    ("state", "change", "message"),
    [
        ("Track", {"Next": "Nowhere"}, "missing state 'Nowhere'"),
        (
            "Track",
            {"Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"},
            "EXPRESS workflow cannot run",
        ),
        ("Recommend", {"Resource": "arn:aws:lambda:us-east-1:123456789012:function:x"}, "may only invoke"),
    ],
)
def test_asl_structure_problems_are_refused(
    validation: Validation, state: str, change: dict[str, str], message: str
) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"][state].update(change)
    with pytest.raises(CheckFailed, match=message):
        validate.check_asl_structure(Validation(asl_text=json.dumps(asl)))


def test_asl_parses_with_motos_parser(validation: Validation) -> None:
    validate.check_asl_parses(validation)


def test_asl_syntax_error_is_refused(validation: Validation) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"]["Validate"]["Type"] = "Taks"
    with pytest.raises(CheckFailed, match="moto's ASL parser"):
        validate.check_asl_parses(Validation(asl_text=json.dumps(asl)))


# --- moto


def test_moto_creates_both_stacks_with_the_expected_resources(validation: Validation) -> None:
    validate.check_moto_stacks(validation)
    for name, stack in validation.moto.items():
        assert stack.status == "CREATE_COMPLETE", (name, stack.reason)
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
        assert set(stack.outputs) == validate.OUTPUTS


def test_moto_iam_as_created(validation: Validation) -> None:
    validate.check_moto_iam(validation)
    segment = validation.moto["base"].roles["SegmentDestinationRole"]
    assert segment["trust"]["Statement"][0]["Condition"] == {
        "StringEquals": {"sts:ExternalId": "ws_validate"}
    }


def test_created_environment_loads_every_settings_model(validation: Validation) -> None:
    validate.check_moto_configuration_loads(validation)
    entry = validation.moto["base"].functions["EntryFunction"]["Environment"]["Variables"]
    assert entry["STATE_MACHINE_ARN"] == validation.moto["base"].outputs["StateMachineArn"]


def test_every_check_has_a_test() -> None:
    source = Path(__file__).read_text()
    untested = [c.__name__ for c in validate.CHECKS.values() if f"validate.{c.__name__}(" not in source]
    assert not untested
