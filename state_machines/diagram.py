"""A Mermaid flowchart of an ASL document, for the README and docs/workflow.md (no SDK needed)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from state_machines.graph import Transition, transitions

_SHAPES = {
    "Task": ('["', '"]'),
    "Choice": ('{"', '"}'),
    "Pass": ('[/"', '"/]'),
    "Succeed": ('(["', '"])'),
    "Fail": ('(["', '"])'),
    "Wait": ('[["', '"]]'),
}
_OPERATORS = {
    "StringEquals": "==",
    "NumericEquals": "==",
    "BooleanEquals": "==",
    "NumericGreaterThan": ">",
    "NumericLessThan": "<",
    "IsPresent": "present:",
    "IsNull": "null:",
}

BEGIN_MARKER = "<!-- BEGIN GENERATED DIAGRAM: python -m state_machines generate -->"
END_MARKER = "<!-- END GENERATED DIAGRAM -->"


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def _rule(choice: Mapping[str, Any]) -> str:
    variable = str(choice.get("Variable", "?")).removeprefix("$.")
    for operator, value in choice.items():
        if operator in ("Variable", "Next"):
            continue
        symbol = _OPERATORS.get(operator, operator)
        shown = value if isinstance(value, str) else json.dumps(value)
        return _label(f"{variable} {symbol} {shown}")
    return _label(variable)


def _arrow(transition: Transition) -> str:
    """A Choice rule, the Default and Next are solid arrows; a Catcher is dotted, labelled by its errors."""
    rule = transition.rule or {}
    if transition.kind == "choice":
        return f'-->|"{_rule(rule)}"|'
    if transition.kind == "default":
        return '-->|"otherwise"|'
    if transition.kind == "catch":
        return f'-.->|"{_label(", ".join(rule["ErrorEquals"]))}"|'
    return "-->"


def mermaid(definition: dict[str, Any]) -> str:
    """The flowchart: solid arrows for the flow, dotted arrows for Catch branches (labelled by error)."""
    states: dict[str, Any] = definition["States"]
    lines = ["flowchart TD", f"    start((start)) --> {_node_id(definition['StartAt'])}"]
    for name, state in states.items():
        left, right = _SHAPES.get(state["Type"], ('["', '"]'))
        lines.append(f"    {_node_id(name)}{left}{_label(name)}{right}")
    for name, state in states.items():
        for transition in transitions(state):
            lines.append(f"    {_node_id(name)} {_arrow(transition)} {_node_id(transition.target)}")
    succeeded = [_node_id(name) for name, state in states.items() if state["Type"] == "Succeed"]
    failed = [_node_id(name) for name, state in states.items() if state["Type"] == "Fail"]
    lines.append("    classDef succeed fill:#e6f4ea,stroke:#2e7d32")
    lines.append("    classDef fail fill:#fdecea,stroke:#c62828")
    if succeeded:
        lines.append(f"    class {','.join(succeeded)} succeed")
    if failed:
        lines.append(f"    class {','.join(failed)} fail")
    return "\n".join(lines) + "\n"


def markdown_block(definition: dict[str, Any]) -> str:
    """The fenced Mermaid block between its markers, as it appears in docs/workflow.md."""
    return f"{BEGIN_MARKER}\n```mermaid\n{mermaid(definition)}```\n{END_MARKER}"


def replace_block(document: str, definition: dict[str, Any]) -> str:
    """``document`` with the text between the markers replaced by the current diagram."""
    begin, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if begin < 0 or end < begin:
        raise ValueError(f"the document lacks the markers {BEGIN_MARKER!r} ... {END_MARKER!r}")
    return document[:begin] + markdown_block(definition) + document[end + len(END_MARKER) :]
