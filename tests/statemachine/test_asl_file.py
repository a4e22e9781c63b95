"""Offline checks of the committed ASL file against its generator, docs/contract.md and errors.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_stack.resources import function_arn
from segment_personalize.errors import LAMBDA_TRANSIENT, REJECTING, RETRYABLE, TIMEOUTS
from state_machines import (
    ASL_PATH,
    FUNCTION_PLACEHOLDERS,
    PLACEHOLDERS,
    load_definition,
    placeholders_in,
    read_definition,
    substitute,
)
from state_machines.__main__ import WORKFLOW_DOC, main, stale_files
from state_machines.diagram import BEGIN_MARKER, END_MARKER, markdown_block, mermaid
from state_machines.graph import reachable, targets
from state_machines.workflow import render

pytestmark = pytest.mark.statemachine

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
DEFINITION = load_definition()
STATES: dict[str, Any] = DEFINITION["States"]
LAMBDA_TASKS = {
    name: state
    for name, state in STATES.items()
    if state["Type"] == "Task" and str(state["Resource"]).endswith("FunctionArn}")
}


def contract_section(title: str) -> str:
    """The text of ``## title`` in docs/contract.md, up to the next ``##`` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", CONTRACT, re.M | re.S)
    assert match, f"docs/contract.md has no section {title!r}"
    return match.group(1)


def contract_rows(title: str) -> list[list[str]]:
    """The body rows of the first table of a contract section, cells split on unescaped pipes."""
    rows = []
    for line in contract_section(title).splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    assert rows, f"no table rows in section {title!r}"
    return rows


def substituted() -> str:
    values = {placeholder: function_arn(function) for placeholder, function in FUNCTION_PLACEHOLDERS.items()}
    values["DeadLetterQueueUrl"] = "https://sqs.us-east-1.amazonaws.com/123456789012/dead-letters"
    return substitute(read_definition(), values)


# --- the file is generated -----------------------------------------------------------------------------
def test_the_committed_asl_file_is_the_generators_output() -> None:
    assert read_definition() == render()
    assert read_definition().endswith("}\n")


def test_the_diagram_in_docs_workflow_md_is_the_generators_output() -> None:
    document = WORKFLOW_DOC.read_text(encoding="utf-8")
    assert markdown_block(json.loads(render())) in document
    assert document.count(BEGIN_MARKER) == document.count(END_MARKER) == 1


def test_check_passes_on_the_committed_files_and_fails_on_a_stale_one(tmp_path: Path) -> None:
    assert main(["--check"]) == 0
    stale = tmp_path / "segment_personalize.asl.json"
    stale.write_text(read_definition().replace('"Synced"', '"Done"'), encoding="utf-8")
    assert stale_files(asl_path=stale, doc_paths=(WORKFLOW_DOC,)) == [stale]


def test_mermaid_draws_every_state_and_every_transition() -> None:
    chart = mermaid(DEFINITION)
    for name, state in STATES.items():
        assert re.search(rf"^    {name}\W", chart, re.M), name
        for target in targets(state):
            assert re.search(rf"^    {name} -[.-]*>(\|[^|]*\|)? {target}$", chart, re.M), (name, target)


# --- the graph is sound --------------------------------------------------------------------------------
def test_every_transition_target_exists() -> None:
    assert DEFINITION["StartAt"] in STATES
    for name, state in STATES.items():
        for target in targets(state):
            assert target in STATES, f"{name} -> {target}"


def test_every_state_is_reachable_from_start_at() -> None:
    assert reachable(DEFINITION) == set(STATES)


def test_only_end_states_lack_a_next_state() -> None:
    for name, state in STATES.items():
        if state["Type"] in ("Succeed", "Fail"):
            assert not targets(state), name
        elif state["Type"] != "Choice":
            assert "Next" in state, name
            assert "End" not in state, name


def test_moto_accepts_the_definition_for_standard_and_express_workflows() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.static_analyser.express_static_analyser import ExpressStaticAnalyser
    from moto.stepfunctions.parser.asl.static_analyser.static_analyser import StaticAnalyser

    definition = substituted()
    program, _ = AmazonStateLanguageParser.parse(definition)
    assert program is not None
    StaticAnalyser().analyse(definition)
    ExpressStaticAnalyser().analyse(definition)


# --- retries and error branches come from errors.py ----------------------------------------------------
def test_every_lambda_task_retries_transient_errors_with_max_delay_and_full_jitter() -> None:
    assert set(LAMBDA_TASKS) == {"Validate", "Track", "Recommend", "FilterTraits", "SyncProfile"}
    expected = {error.__name__ for error in RETRYABLE} | set(LAMBDA_TRANSIENT) | set(TIMEOUTS)
    for name, state in LAMBDA_TASKS.items():
        retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
        assert retried == expected, name
        for retrier in state["Retry"]:
            assert retrier["JitterStrategy"] == "FULL", name
            assert 1 <= retrier["MaxDelaySeconds"] <= 60, name
            assert retrier["IntervalSeconds"] >= 1, name
            assert retrier["BackoffRate"] >= 1.0, name
            assert retrier["MaxAttempts"] >= 2, name
            assert "States.ALL" not in retrier["ErrorEquals"], name


def test_the_errors_the_contract_retries_are_retried() -> None:
    paragraph = contract_section("Errors (the `Error` Step Functions sees)").split("Rejected:")[0]
    names = set(re.findall(r"`([A-Za-z.]+)`", paragraph)) - {"segment_personalize/errors.py"}
    assert names == {error.__name__ for error in RETRYABLE} | set(LAMBDA_TRANSIENT) | set(TIMEOUTS)


def test_every_lambda_task_catches_everything_into_its_own_failed_pass() -> None:
    for name, state in LAMBDA_TASKS.items():
        last = state["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        assert last["ResultPath"] == "$.error", name
        record = STATES[last["Next"]]
        assert record["Type"] == "Pass", name
        assert record["Result"] == name
        assert record["ResultPath"] == "$.failedState"
        assert record["Next"] == "SendToDeadLetterQueue"


def test_validate_rejects_invalid_events_with_the_reason() -> None:
    first = STATES["Validate"]["Catch"][0]
    assert first["ErrorEquals"] == [error.__name__ for error in REJECTING]
    parse = STATES[first["Next"]]
    assert parse["Parameters"] == {"cause.$": "States.StringToJson($.error.Cause)"}
    build = STATES[parse["Next"]]
    assert build["Parameters"] == {
        "messageId.$": "$.messageId",
        "outcome": "rejected",
        "reason.$": f"{parse['ResultPath']}.cause.errorMessage",
    }
    assert build["Next"] == "Rejected"
    assert STATES["Rejected"]["Type"] == "Succeed"
    for name in set(LAMBDA_TASKS) - {"Validate"}:
        assert all(catch["ErrorEquals"] == ["States.ALL"] for catch in STATES[name]["Catch"]), name


def test_the_dead_letter_path_sends_the_contracts_message_then_fails_with_the_steps_error() -> None:
    send = STATES["SendToDeadLetterQueue"]
    assert send["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert send["ResultPath"] is None
    assert send["Parameters"]["QueueUrl"] == "${DeadLetterQueueUrl}"
    keys = {key.removesuffix(".$") for key in send["Parameters"]["MessageBody"]}
    assert keys == {"messageId", "event", "failedState", "error"}
    example = contract_section("Errors (the `Error` Step Functions sees)").split("```json")[1].split("```")[0]
    assert all(f'"{key}":' in example for key in keys)
    assert all(path.startswith("$.") for path in send["Parameters"]["MessageBody"].values())
    assert send["Retry"][0]["ErrorEquals"] == ["States.ALL"]
    assert send["Retry"][0]["JitterStrategy"] == "FULL"
    assert "Catch" not in send  # if even the dead-letter queue fails, the execution fails with that error
    failed = STATES[send["Next"]]
    assert failed == {**failed, "Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


# --- names, payloads and placeholders follow docs/contract.md ------------------------------------------
def test_the_placeholders_are_exactly_those_of_the_contract() -> None:
    documented = re.findall(r"\$\{(\w+)\}", contract_section("ASL placeholders"))
    assert len(documented) == 6
    assert set(documented) == set(PLACEHOLDERS) == placeholders_in(ASL_PATH.read_text(encoding="utf-8"))
    for placeholder, function in FUNCTION_PLACEHOLDERS.items():
        assert (ROOT / "functions" / function / "app.py").exists(), placeholder


def test_each_step_has_the_contracts_name_input_and_result_path() -> None:
    rows = contract_rows("States and payloads")
    assert [row[0].strip("`") for row in rows] == list(LAMBDA_TASKS)
    for name_cell, input_cell, result_cell, _ in rows:
        state = STATES[name_cell.strip("`")]
        assert state["Resource"] == "${" + name_cell.strip("`") + "FunctionArn}"
        assert state["ResultPath"] == result_cell.strip("`")
        assert {key.removesuffix(".$") for key in state["Parameters"]} == set(
            re.findall(r'"(\w+)"', input_cell)
        )
        for key, path in state["Parameters"].items():
            assert key.endswith(".$"), (name_cell, key)
            assert path.startswith("$."), (name_cell, key)
            source = path.split(".")[1]
            assert source in {"messageId", "event", "validated", "recommendations", "filtered"}, path


def test_the_end_states_are_those_of_the_contract() -> None:
    ends = {row[0].strip("`"): row[1] for row in contract_rows("Ends of an execution")}
    assert ends == {
        name: state["Type"] for name, state in STATES.items() if state["Type"] in ("Succeed", "Fail")
    }


def test_the_choices_route_ignored_messages_and_visitors_without_recommendations() -> None:
    (ignored,) = STATES["IsInteraction"]["Choices"]
    assert ignored == {"Variable": "$.validated.status", "StringEquals": "ignored", "Next": "Ignored"}
    assert STATES["IsInteraction"]["Default"] == "Track"
    (no_recommendation,) = STATES["ShouldRecommend"]["Choices"]
    assert no_recommendation == {
        "Variable": "$.validated.recommend",
        "BooleanEquals": False,
        "Next": "Tracked",
    }
    assert STATES["ShouldRecommend"]["Default"] == "Recommend"


def test_every_state_has_a_comment_for_workflow_studio() -> None:
    assert DEFINITION["Comment"]
    assert [name for name, state in STATES.items() if not state.get("Comment")] == []
