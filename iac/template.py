"""The SAM template ``iac/template.yaml`` as the offline checks of ``tests/iac`` see it: no AWS account, no
network.

Loaded as CloudFormation reads it, packaged as ``sam package`` leaves it, translated by ``samtranslator``
(stubbed managed-policy loader, fake region), and seen with given parameter values (:class:`Resolved`:
conditions evaluated, parameter references replaced). Beside it: the IAM statements of a translated
template, the parameter sets the checks deploy, and what they expect. ``iac/moto_stack.py`` creates the
translated template in moto; ``make validate`` (``pytest -m iac``) runs the checks.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import functions as function_names
from functions import FUNCTIONS as ALL_FUNCTIONS
from state_machines import ASL_PATH

ROOT = Path(__file__).resolve().parent.parent
IAC = ROOT / "iac"
TEMPLATE = IAC / "template.yaml"
ASL = ASL_PATH  # state_machines' own path of the ASL file

# samtranslator warns about its own unpublished metrics when its translator is garbage-collected.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
PARTITION = "aws"
ARTIFACT_BUCKET = "segment-personalize-artifacts"  # stands in for the bucket `sam deploy` uploads to
STACK_NAME = "segment-personalize"

SEGMENT_PRINCIPAL = "arn:aws:iam::595280932656:role/customer-personalize-prod-destination-access"
POWERTOOLS_PARAMETER = "/aws/service/powertools/python/arm64/python3.12/latest"
RUNTIME = "python3.12"
ARCHITECTURE = "arm64"

#: function folder -> logical id in the template
FUNCTIONS = {function: function_names.logical_id(function) for function in ALL_FUNCTIONS}
#: ASL placeholder -> what DefinitionSubstitutions must give it
PLACEHOLDERS: dict[str, Any] = {
    **{
        function_names.placeholder(function): {"Fn::GetAtt": [function_names.logical_id(function), "Arn"]}
        for function in function_names.STEPS
    },
    "DeadLetterQueueUrl": {"Ref": "DeadLetterQueue"},
}
OUTPUTS = {"EntryFunctionArn", "SegmentRoleArn", "StateMachineArn", "DeadLetterQueueUrl"}

#: Set on every function by Globals; read by Powertools, not by config.py.
GLOBAL_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}
#: Variables a function reads besides its settings model in config.py (none today: keep it that way).
EXTRA_ENV: dict[str, set[str]] = {}
#: Settings that hold a secret for local runs; deployed, the template passes the secret's ARN instead.
SECRET_SETTINGS = {
    "SEGMENT_WRITE_KEY": "SEGMENT_WRITE_KEY_SECRET_ARN",
    "SEGMENT_PROFILE_TOKEN": "SEGMENT_PROFILE_TOKEN_SECRET_ARN",
}

#: The only actions granted on Resource "*", and why the service requires it.
STAR_RESOURCE_ALLOWLIST = {
    action: "CloudWatch Logs log delivery (state machine logging) supports no resource-level permissions"
    for action in (
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    )
}
#: The only managed policies attached (by SAM), and why.
MANAGED_POLICY_ALLOWLIST = {
    f"arn:{PARTITION}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "functions write their logs",
    f"arn:{PARTITION}:iam::aws:policy/AWSXrayWriteOnlyAccess": "X-Ray tracing (Tracing: Active / Enabled)",
}
#: Managed-policy names the translator may ask for; the stub loader answers from here, never from IAM.
MANAGED_POLICY_MAP = {arn.rsplit("/", 1)[1]: arn for arn in MANAGED_POLICY_ALLOWLIST}

#: What BASE_PARAMETERS deploy (type -> count), checked on the translated JSON and, except for the types
#: moto's CloudFormation cannot create, on the stack moto creates. FULL_PARAMETERS add FULL_EXTRA_RESOURCES.
EXPECTED_RESOURCE_TYPES = {
    "AWS::Lambda::Function": 6,
    "AWS::Lambda::LayerVersion": 1,
    "AWS::IAM::Role": 8,  # six functions, the state machine, Segment's role
    "AWS::StepFunctions::StateMachine": 1,
    "AWS::SQS::Queue": 1,
    "AWS::CloudWatch::Alarm": 1,
    "AWS::DynamoDB::Table": 1,
    "AWS::SecretsManager::Secret": 1,
    "AWS::Logs::LogGroup": 2,
}
FULL_EXTRA_RESOURCES = {"AWS::SecretsManager::Secret": 1, "AWS::SNS::Topic": 1, "AWS::SNS::Subscription": 1}


def expected_resource_types(parameter_set: str) -> Counter[str]:
    """What a parameter set deploys (type -> count): the base resources, plus the full set's extras."""
    extra = FULL_EXTRA_RESOURCES if parameter_set == "full" else {}
    return Counter(EXPECTED_RESOURCE_TYPES) + Counter(extra)


#: A deployment with a campaign, no Profile API, STANDARD logging at ERROR: the smallest valid answers.
BASE_PARAMETERS = {
    "SegmentExternalId": "ws_validate",
    "SegmentWriteKey": "write-key-validate",
    "PersonalizeTrackingId": "0f0e0d0c-0b0a-0908-0706-050403020100",
    "PersonalizeCampaignArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:campaign/shop",
}
#: Every optional feature on: recommender, filter, Profile API, event tracker ARN, alarm e-mail, EXPRESS.
FULL_PARAMETERS = {
    **BASE_PARAMETERS,
    "WorkflowType": "EXPRESS",
    "PersonalizeCampaignArn": "",
    "PersonalizeRecommenderArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:recommender/shop",
    "PersonalizeEventTrackerArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:event-tracker/shop",
    "PersonalizeFilterArn": f"arn:aws:personalize:{REGION}:{ACCOUNT}:filter/not-purchased",
    "PersonalizeFilterValues": '{"CATEGORY": ["shoes", "bags"]}',
    "PersonalizeMetadataColumns": "CATEGORY_L1,PRICE",
    "PersonalizeNumResults": "50",
    "SegmentSpaceId": "spa_validate",
    "SegmentProfileToken": "profile-token-validate",
    "AlarmEmail": "ops@example.com",
    "RecommendForAnonymous": "true",
}
PARAMETER_SETS = {"base": BASE_PARAMETERS, "full": FULL_PARAMETERS}


class CheckFailed(AssertionError):
    """A validation check found a problem; the message says what and where."""


def require(condition: object, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


# --- Loading, packaging, translating


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as a dict, short-form intrinsics (``!Ref``) expanded as CloudFormation reads them."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


def function_property(template: Mapping[str, Any], function: str, name: str) -> Any:
    """A function's property as deployed: its own ``Properties``, else ``Globals.Function``."""
    own = template["Resources"][function_names.logical_id(function)].get("Properties", {})
    return own.get(name, template.get("Globals", {}).get("Function", {}).get(name))


def function_timeouts(template: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Every function's ``Timeout`` in seconds, as deployed (the one place function timeouts are set)."""
    template = template if template is not None else load_template()
    return {function: int(function_property(template, function, "Timeout")) for function in ALL_FUNCTIONS}


def function_memory(template: Mapping[str, Any] | None = None) -> dict[str, int]:
    """Every function's ``MemorySize`` in MB, as deployed."""
    template = template if template is not None else load_template()
    return {function: int(function_property(template, function, "MemorySize")) for function in ALL_FUNCTIONS}


@contextlib.contextmanager
def aws_context() -> Iterator[None]:
    """Fake credentials and region, no endpoint overrides, and the translator's region pinned: nothing
    here may reach AWS or pick up the caller's profile."""
    from samtranslator.translator.arn_generator import ArnGenerator

    fake = {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    removed = {k: v for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL") or k == "AWS_PROFILE"}
    saved = {k: os.environ.get(k) for k in fake}
    saved_region = ArnGenerator.BOTO_SESSION_REGION_NAME
    for key in removed:
        del os.environ[key]
    os.environ.update(fake)
    ArnGenerator.BOTO_SESSION_REGION_NAME = REGION
    try:
        yield
    finally:
        ArnGenerator.BOTO_SESSION_REGION_NAME = saved_region
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ.update(removed)


def package(
    template: Mapping[str, Any], *, inline_definition: bool = False
) -> tuple[dict[str, Any], dict[str, Path]]:
    """What ``sam package`` does, offline: local CodeUri/ContentUri/DefinitionUri become S3 locations.

    Returns the packaged template and, per logical id, the local folder its code comes from (each must
    exist). With ``inline_definition`` the ASL file is put inline as ``Definition`` instead (moto reads
    only DefinitionString)."""
    packaged = copy.deepcopy(dict(template))
    code: dict[str, Path] = {}
    for logical_id, resource in packaged.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            kind
        )
        if key:
            local = props.get(key)
            require(isinstance(local, str), f"{logical_id}.{key} must be a local folder, got {local!r}")
            folder = (IAC / local).resolve()
            require(folder.is_dir(), f"{logical_id}.{key} {local} is not a folder (resolved to {folder})")
            code[logical_id] = folder
            props[key] = f"s3://{ARTIFACT_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::StateMachine":
            local = props.pop("DefinitionUri", None)
            require(
                isinstance(local, str),
                f"{logical_id}.DefinitionUri must be the local ASL file, got {local!r}",
            )
            path = (IAC / local).resolve()
            require(
                path == ASL.resolve(), f"{logical_id}.DefinitionUri {local} is not {ASL.relative_to(ROOT)}"
            )
            require(path.is_file(), f"{logical_id}.DefinitionUri {local} does not exist")
            if inline_definition:
                props["Definition"] = json.loads(path.read_text())
            else:
                props["DefinitionUri"] = {"Bucket": ARTIFACT_BUCKET, "Key": path.name}
    return packaged, code


def translate(sam_template: Mapping[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    """The SAM transform, offline: fake region and partition, managed policies from a fixed map."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class OfflineManagedPolicyLoader(ManagedPolicyLoader):
        def __init__(self) -> None:
            super().__init__(iam_client=None)

        def load(self) -> dict[str, str]:
            return dict(MANAGED_POLICY_MAP)

    values = {**parameters, "AWS::Region": REGION, "AWS::Partition": PARTITION, "AWS::AccountId": ACCOUNT}
    with aws_context():
        return transform(copy.deepcopy(dict(sam_template)), values, OfflineManagedPolicyLoader())


# --- Evaluating conditions and parameter references of a translated template

_NO_VALUE = object()


class Resolved:
    """A translated template seen with given parameter values: conditions evaluated, resources whose
    condition is false dropped, ``Fn::If`` and ``Ref`` to parameters replaced, ``AWS::NoValue`` removed.
    References to resources (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``) stay as they are."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        self.parameters: dict[str, str] = {}
        for name, spec in template.get("Parameters", {}).items():
            if "Default" in spec:
                self.parameters[name] = str(spec["Default"])
        self.parameters.update({k: str(v) for k, v in parameters.items()})
        missing = set(template.get("Parameters", {})) - set(self.parameters)
        require(not missing, f"no value for the parameters {sorted(missing)}")
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self.template.get("Conditions", {}).get(name)
            require(spec is not None, f"condition {name} is not defined")
            self._conditions[name] = self.truth(spec)
        return self._conditions[name]

    def truth(self, node: Any) -> bool:
        """The value of a condition function (``Fn::Equals``, ``Fn::And``, ...) in Conditions or Rules."""
        ((key, value),) = node.items()
        if key == "Condition":
            return self.condition(value)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in value)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.truth(value[0])
        if key == "Fn::And":
            return all(self.truth(v) for v in value)
        if key == "Fn::Or":
            return any(self.truth(v) for v in value)
        raise CheckFailed(f"cannot evaluate condition {node!r}")

    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                key, value = next(iter(node.items()))
                if key == "Fn::If":
                    name, when_true, when_false = value
                    return self.resolve(when_true if self.condition(name) else when_false)
                if key == "Ref" and value == "AWS::NoValue":
                    return _NO_VALUE
                if key == "Ref" and value in self.parameters:
                    return self.parameters[value]
            resolved = {k: self.resolve(v) for k, v in node.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        return node

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        out = {}
        for logical_id, resource in self.template.get("Resources", {}).items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[logical_id] = self.resolve(resource)
        return out

    def as_template(self) -> dict[str, Any]:
        """A template without conditions, as CloudFormation would see it with these parameter values (moto
        does not drop ``AWS::NoValue`` from lists, so it gets this form)."""
        resources = {
            lid: {k: v for k, v in res.items() if k != "Condition"} for lid, res in self.resources.items()
        }
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": self.template.get("Parameters", {}),
            "Resources": resources,
            "Outputs": self.resolve(self.template.get("Outputs", {})),
        }

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == kind}

    def properties(self, logical_id: str) -> dict[str, Any]:
        require(logical_id in self.resources, f"resource {logical_id} is missing")
        return self.resources[logical_id].get("Properties", {})


def rules_broken(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    """The Rules whose assertions fail for these parameter values (CloudFormation refuses to deploy)."""
    resolved = Resolved(template, parameters)
    broken = []
    for name, rule in template.get("Rules", {}).items():
        require("RuleCondition" not in rule, f"rule {name}: RuleCondition is not evaluated here")
        if not all(resolved.truth(a["Assert"]) for a in rule["Assertions"]):
            broken.append(name)
    return broken


# --- The validation: what the tests look at, computed once


class Validation:
    """Everything the tests of ``tests/iac`` look at, computed lazily and once. Pass ``template``/``asl_text``
    to look at modified copies (the tests do, to prove each check can fail)."""

    def __init__(self, template: Mapping[str, Any] | None = None, asl_text: str | None = None) -> None:
        self._template = copy.deepcopy(dict(template)) if template is not None else None
        self._asl_text = asl_text

    @cached_property
    def template(self) -> dict[str, Any]:
        return self._template if self._template is not None else load_template()

    @cached_property
    def asl_text(self) -> str:
        return self._asl_text if self._asl_text is not None else ASL.read_text()

    @cached_property
    def asl(self) -> dict[str, Any]:
        return json.loads(self.asl_text)

    @cached_property
    def _packaged(self) -> tuple[dict[str, Any], dict[str, Path]]:
        return package(self.template)

    @property
    def packaged(self) -> dict[str, Any]:
        return self._packaged[0]

    @property
    def code(self) -> dict[str, Path]:
        return self._packaged[1]

    @cached_property
    def packaged_inline(self) -> dict[str, Any]:
        packaged, _ = package(self.template, inline_definition=True)
        if self._asl_text is not None:  # a modified ASL replaces the file's
            for resource in packaged["Resources"].values():
                if resource["Type"] == "AWS::Serverless::StateMachine":
                    resource["Properties"]["Definition"] = json.loads(self._asl_text)
        return packaged

    @cached_property
    def translated(self) -> dict[str, dict[str, Any]]:
        """Parameter-set name -> translated packaged template (DefinitionUri kept as S3, like sam deploy)."""
        return {name: translate(self.packaged, params) for name, params in PARAMETER_SETS.items()}

    def resolved(self, name: str, **overrides: str) -> Resolved:
        return Resolved(self.translated[name], {**PARAMETER_SETS[name], **overrides})

    def all_resolved(self) -> dict[str, Resolved]:
        """Every combination the checks cover: both parameter sets, each with both workflow types."""
        return {
            f"{name}/{kind}": self.resolved(name, WorkflowType=kind)
            for name in PARAMETER_SETS
            for kind in ("STANDARD", "EXPRESS")
        }

    @property
    def template_modified(self) -> bool:
        """Whether the template is a modified copy rather than ``iac/template.yaml`` itself."""
        return self._template is not None
