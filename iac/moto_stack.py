"""The translated template created as CloudFormation stacks in moto (``mock_aws``), and what was created read
back: functions, roles and their policies, the state machine, the queue, the table, the outputs.

moto ignores DefinitionSubstitutions and creates EXPRESS state machines as STANDARD, and it cannot create
every resource type (``MOTO_UNSUPPORTED``): those are checked on the translated JSON instead.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import logging
import re
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.template import (
    ACCOUNT,
    ARCHITECTURE,
    ARTIFACT_BUCKET,
    FUNCTIONS,
    PARAMETER_SETS,
    POWERTOOLS_PARAMETER,
    REGION,
    RUNTIME,
    STACK_NAME,
    Resolved,
    Validation,
    aws_context,
    require,
    translate,
)

#: moto 5.2 has no CloudFormation support for these: they are left out of the stacks given to moto, and a
#: reference to one becomes a made-up ARN (checked on the translated JSON instead).
MOTO_UNSUPPORTED = {"AWS::CloudWatch::Alarm", "AWS::SecretsManager::Secret", "AWS::SNS::Subscription"}


@dataclass
class MotoStack:
    status: str
    reason: str
    outputs: dict[str, str]
    resources: list[dict[str, Any]]
    functions: dict[str, dict[str, Any]]  # logical id -> GetFunctionConfiguration
    roles: dict[
        str, dict[str, Any]
    ]  # logical id -> {"trust": ..., "policies": {name: document}, "managed": [...]}
    state_machine: dict[str, Any]
    queue_attributes: dict[str, str]
    table: dict[str, Any]


def moto_stacks(validation: Validation) -> dict[str, MotoStack]:
    """One stack per parameter set, from the template packaged with its ASL inline (moto reads only
    DefinitionString) and seen with that set's values (moto does not drop ``AWS::NoValue`` from lists)."""
    templates = {
        name: Resolved(translate(validation.packaged_inline, params), params).as_template()
        for name, params in PARAMETER_SETS.items()
    }
    return create_moto_stacks(templates, validation.code, PARAMETER_SETS)


def create_moto_stacks(
    translated: Mapping[str, Mapping[str, Any]],
    code: Mapping[str, Path],
    parameters: Mapping[str, Mapping[str, str]],
) -> dict[str, MotoStack]:
    """Create one stack per parameter set (translated[name] with parameters[name]) in one mocked account."""
    from moto import mock_aws

    stacks: dict[str, MotoStack] = {}
    with _quiet_moto(), aws_context(), mock_aws():
        account = _Account()
        for logical_id, folder in code.items():
            account.s3.put_object(Bucket=ARTIFACT_BUCKET, Key=f"{logical_id}.zip", Body=zip_folder(folder))
        powertools = account.publish_powertools_stand_in()
        for name, template in translated.items():
            stack_name = STACK_NAME if name == "base" else f"{STACK_NAME}-{name}"
            body = replace_dynamic_references(
                stand_in_unsupported(template), {POWERTOOLS_PARAMETER: powertools}
            )
            account.cloudformation.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(body),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters[name].items()],
                Capabilities=["CAPABILITY_IAM"],
            )
            stacks[name] = account.read_stack(stack_name)
    return stacks


class _Account:
    """The mocked account's clients, the artifact bucket, and what a created stack holds."""

    def __init__(self) -> None:
        self.s3 = self._client("s3")
        self.s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        self.lambda_ = self._client("lambda")
        self.cloudformation = self._client("cloudformation")
        self.iam = self._client("iam")
        self.stepfunctions = self._client("stepfunctions")
        self.sqs = self._client("sqs")
        self.dynamodb = self._client("dynamodb")

    @staticmethod
    def _client(service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    def publish_powertools_stand_in(self) -> str:
        """Stands in for the public Powertools layer that the SSM parameter names: its version ARN."""
        return str(
            self.lambda_.publish_layer_version(
                LayerName="AWSLambdaPowertoolsPythonV3-python312-arm64",
                Content={"ZipFile": _empty_zip()},
                CompatibleRuntimes=[RUNTIME],
                CompatibleArchitectures=[ARCHITECTURE],
            )["LayerVersionArn"]
        )

    def read_stack(self, stack_name: str) -> MotoStack:
        stack = self.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        resources: list[dict[str, Any]] = []
        for page in self.cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
            resources.extend(page["StackResourceSummaries"])
        physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        functions = {
            lid: self.lambda_.get_function_configuration(FunctionName=physical[lid])
            for lid in FUNCTIONS.values()
            if lid in physical
        }
        roles = {
            r["LogicalResourceId"]: self.read_role(r["PhysicalResourceId"])
            for r in resources
            if r["ResourceType"] == "AWS::IAM::Role"
        }
        state_machine = (
            self.stepfunctions.describe_state_machine(stateMachineArn=physical["StateMachine"])
            if "StateMachine" in physical
            else {}
        )
        queue_attributes = (
            self.sqs.get_queue_attributes(QueueUrl=physical["DeadLetterQueue"], AttributeNames=["All"])[
                "Attributes"
            ]
            if "DeadLetterQueue" in physical
            else {}
        )
        table = (
            self.dynamodb.describe_table(TableName=physical["IdempotencyTable"])["Table"]
            if "IdempotencyTable" in physical
            else {}
        )
        return MotoStack(
            status=stack["StackStatus"],
            reason=stack.get("StackStatusReason", ""),
            outputs={o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
            resources=resources,
            functions=functions,
            roles=roles,
            state_machine=state_machine,
            queue_attributes=queue_attributes,
            table=table,
        )

    def read_role(self, role_name: str) -> dict[str, Any]:
        """A created role: its ARN, trust policy, inline policy documents and managed policy ARNs."""
        role = self.iam.get_role(RoleName=role_name)["Role"]
        policies = {
            p: _document(self.iam.get_role_policy(RoleName=role_name, PolicyName=p)["PolicyDocument"])
            for p in self.iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        }
        managed = [
            p["PolicyArn"]
            for p in self.iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
        ]
        return {
            "arn": role["Arn"],
            "trust": role["AssumeRolePolicyDocument"],
            "policies": policies,
            "managed": managed,
        }


@contextlib.contextmanager
def _quiet_moto() -> Iterator[None]:
    """Without moto's "No Moto CloudFormation support for ..." (see MOTO_UNSUPPORTED) and its parse
    warnings."""
    moto_log = logging.getLogger("moto")
    saved_level = moto_log.level
    moto_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Tried to parse .* not supported by moto")
            yield
    finally:
        moto_log.setLevel(saved_level)


def zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def replace_dynamic_references(node: Any, values: Mapping[str, str]) -> Any:
    """``{{resolve:ssm:NAME}}`` -> the value CloudFormation would read (moto does not resolve them)."""
    if isinstance(node, dict):
        return {k: replace_dynamic_references(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [replace_dynamic_references(v, values) for v in node]
    if isinstance(node, str):

        def lookup(match: re.Match[str]) -> str:
            require(match.group(1) in values, f"no fake value for SSM parameter {match.group(1)}")
            return values[match.group(1)]

        return re.sub(r"\{\{resolve:ssm:([^}:]+)\}\}", lookup, node)
    return node


def stand_in_unsupported(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template without MOTO_UNSUPPORTED resources; a ``Ref`` to one becomes a made-up ARN."""
    template = copy.deepcopy(dict(template))
    stand_ins: dict[str, str] = {}
    for logical_id, resource in list(template["Resources"].items()):
        if resource["Type"] in MOTO_UNSUPPORTED:
            service = resource["Type"].split("::")[1].lower()
            stand_ins[logical_id] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:stand-in:{logical_id}"
            del template["Resources"][logical_id]

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in stand_ins:
                return stand_ins[node["Ref"]]
            return {k: replace(v) for k, v in node.items()}
        if isinstance(node, list):
            return [replace(v) for v in node]
        return node

    return replace(template)


def _document(value: Any) -> dict[str, Any]:
    """A policy document as moto returns it: a dict, JSON, or (from CloudFormation) a Python repr."""
    if isinstance(value, dict):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return ast.literal_eval(value)


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/.keep", "")
    return buffer.getvalue()
