"""How the deployed pieces connect: the outputs, the workflow type with its tracing and logging, and the
DefinitionSubstitutions that fill the ASL file's placeholders."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iac.template import (
    ASL,
    OUTPUTS,
    PARAMETER_SETS,
    PLACEHOLDERS,
    CheckFailed,
    Validation,
    require,
)
from state_machines import placeholders_in
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac


# --- outputs


def check_outputs(v: Validation) -> None:
    """Exactly the four outputs, each described, each the value it names."""
    outputs = v.template.get("Outputs", {})
    require(set(outputs) == OUTPUTS, f"outputs are {sorted(outputs)}, expected exactly {sorted(OUTPUTS)}")
    for name, output in outputs.items():
        require(
            len(output.get("Description", "")) > 20, f"output {name} needs a description saying where it goes"
        )
    expected = {
        "EntryFunctionArn": {"Fn::GetAtt": ["EntryFunction", "Arn"]},
        "SegmentRoleArn": {"Fn::GetAtt": ["SegmentDestinationRole", "Arn"]},
        "StateMachineArn": {"Ref": "StateMachine"},
        "DeadLetterQueueUrl": {"Ref": "DeadLetterQueue"},
    }
    translated = v.translated["base"]["Outputs"]
    for name, value in expected.items():
        require(translated[name]["Value"] == value, f"output {name} is {translated[name]['Value']!r}")


def test_outputs_are_exactly_the_four(validation: Validation) -> None:
    check_outputs(validation)
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
        check_outputs(modified(add_output))


# --- workflow type, tracing, logging


def test_both_workflow_types_from_one_template_with_tracing(validation: Validation) -> None:
    spec = validation.template["Parameters"]["WorkflowType"]
    assert set(spec.get("AllowedValues", [])) == {"STANDARD", "EXPRESS"}, f"WorkflowType allows {spec!r}"
    for name in PARAMETER_SETS:
        for kind in ("STANDARD", "EXPRESS"):
            machine = validation.resolved(name, WorkflowType=kind).properties("StateMachine")
            assert machine.get("StateMachineType") == kind, f"{name}/{kind}"
            assert machine.get("TracingConfiguration") == {"Enabled": True}, f"{name}/{kind}: tracing is off"


def check_express_logging(v: Validation) -> None:
    """EXPRESS logs ALL with execution data by default (the console needs it), at ERROR without it, or not at
    all; STANDARD logs at ERROR without it, or not at all."""
    log_group = {"Fn::GetAtt": ["StateMachineLogGroup", "Arn"]}
    for name in PARAMETER_SETS:
        express = v.resolved(name, WorkflowType="EXPRESS", StandardWorkflowLogLevel="OFF")
        logging = express.properties("StateMachine").get("LoggingConfiguration")
        require(
            logging
            == {
                "Level": "ALL",
                "IncludeExecutionData": True,
                "Destinations": [{"CloudWatchLogsLogGroup": {"LogGroupArn": log_group}}],
            },
            f"{name}/EXPRESS: logging is {logging!r}; the console needs ALL with execution data",
        )
        require("StateMachineLogGroup" in express.resources, f"{name}/EXPRESS: no log group")
        for kind, level in (("EXPRESS", "Express"), ("STANDARD", "Standard")):
            _check_errors_only_and_off(v, name, kind, f"{level}WorkflowLogLevel")


def _check_errors_only_and_off(v: Validation, name: str, kind: str, parameter: str) -> None:
    """At ERROR a workflow of ``kind`` logs without execution data; OFF, it has no log and no log group."""
    errors_only = v.resolved(name, WorkflowType=kind, **{parameter: "ERROR"})
    logging = errors_only.properties("StateMachine").get("LoggingConfiguration")
    require(
        logging is not None and logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False,
        f"{name}/{kind}: logging is {logging!r}, expected level ERROR without execution data",
    )
    off = v.resolved(name, WorkflowType=kind, **{parameter: "OFF"})
    require(
        "LoggingConfiguration" not in off.properties("StateMachine")
        and "StateMachineLogGroup" not in off.resources,
        f"{name}/{kind} with logging OFF still logs",
    )


def test_express_logs_all_with_execution_data(validation: Validation) -> None:
    check_express_logging(validation)
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
        check_express_logging(modified(no_data))


# --- DefinitionSubstitutions


def check_definition_substitutions(v: Validation) -> None:
    """The ASL's placeholders are exactly those the template substitutes, each with its resource."""
    placeholders = placeholders_in(v.asl_text)
    require(placeholders == set(PLACEHOLDERS), f"the ASL has the placeholders {sorted(placeholders)}")
    for label, resolved in v.all_resolved().items():
        substitutions = resolved.properties("StateMachine").get("DefinitionSubstitutions", {})
        require(
            set(substitutions) == placeholders,
            f"{label}: substitutions {sorted(substitutions)} != placeholders {sorted(placeholders)}",
        )
        for key, value in PLACEHOLDERS.items():
            require(substitutions[key] == value, f"{label}: {key} is substituted with {substitutions[key]!r}")


def test_definition_substitutions_are_the_asl_placeholders(validation: Validation) -> None:
    check_definition_substitutions(validation)
    substitutions = validation.resolved("base").properties("StateMachine")["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders_in(ASL.read_text())


def test_an_unsubstituted_placeholder_is_refused(validation: Validation) -> None:
    asl = json.loads(validation.asl_text)
    asl["States"]["Validate"]["Parameters"]["table"] = "${IdempotencyTableName}"
    with pytest.raises(CheckFailed, match="placeholders"):
        check_definition_substitutions(Validation(asl_text=json.dumps(asl)))


def test_a_substitution_without_placeholder_is_refused() -> None:
    def extra(t: dict[str, Any]) -> None:
        props(t, "StateMachine")["DefinitionSubstitutions"]["TableName"] = {"Ref": "IdempotencyTable"}

    with pytest.raises(CheckFailed, match="substitutions"):
        check_definition_substitutions(modified(extra))
