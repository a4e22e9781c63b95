"""The IAM policies of a translated template, as statements the checks can read: who may do what, on which
resources (``tests/iac/test_permissions.py``, ``iac/moto_stack.py``, ``iac/security.py``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iac.template import CheckFailed, Resolved, require


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    owner: str  # logical id of the role or policy resource
    policy: str
    effect: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    raw: Mapping[str, Any]


def statements(resolved: Resolved) -> list[Statement]:
    """Every identity-policy statement of every role and policy resource."""
    found: list[Statement] = []

    def add(owner: str, policy: str, document: Mapping[str, Any]) -> None:
        for statement in as_list(document.get("Statement", [])):
            require("NotAction" not in statement, f"{owner}/{policy} uses NotAction")
            require("NotResource" not in statement, f"{owner}/{policy} uses NotResource")
            found.append(
                Statement(
                    owner=owner,
                    policy=policy,
                    effect=statement.get("Effect", ""),
                    actions=tuple(as_list(statement.get("Action", []))),
                    resources=tuple(as_list(statement.get("Resource", []))),
                    raw=statement,
                )
            )

    for logical_id, resource in resolved.resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                add(logical_id, policy.get("PolicyName", "?"), policy["PolicyDocument"])
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            add(logical_id, props.get("PolicyName", logical_id), props["PolicyDocument"])
    return found


def role_of(resolved: Resolved, logical_id: str) -> str:
    """The logical id of the execution role SAM made for a function or state machine."""
    props = resolved.properties(logical_id)
    role = props.get("Role", props.get("RoleArn"))
    if not (isinstance(role, dict) and "Fn::GetAtt" in role):
        raise CheckFailed(f"{logical_id} has no generated role (Role={role!r})")
    return str(role["Fn::GetAtt"][0])


def role_statements(resolved: Resolved, logical_id: str) -> list[Statement]:
    role = role_of(resolved, logical_id)
    return [s for s in statements(resolved) if s.owner == role]


def allowed(stmts: list[Statement], action: str) -> list[Statement]:
    return [s for s in stmts if s.effect == "Allow" and action in s.actions]


ARN_PREFIX = "arn:${AWS::Partition}"
REGION_ACCOUNT = "${AWS::Region}:${AWS::AccountId}"


def flatten_sub(node: Any) -> str:
    """A readable form of a resource (``Fn::Sub`` pattern with its variables filled where known)."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and "Fn::Sub" in node:
        value = node["Fn::Sub"]
        if isinstance(value, list):
            pattern, variables = value
            for name, replacement in variables.items():
                pattern = pattern.replace("${" + name + "}", json.dumps(replacement, sort_keys=True))
            return str(pattern)
        return str(value)
    return json.dumps(node, sort_keys=True)
