"""Offline validation of ``iac/template.yaml``: no AWS account, no network.

``python -m iac.template`` (``make validate``) runs every check below and exits non-zero if one fails;
``tests/iac`` runs the same checks one test each. What is checked:

1. cfn-lint on the SAM template (it runs the SAM transform itself).
2. The SAM transform (``samtranslator``) of the packaged template, as ``sam package`` leaves it, for both
   workflow types, with a stubbed managed-policy loader and a fake region, so no AWS call is made.
3. On the translated JSON, with conditions evaluated for a given set of parameter values: the IAM trust
   policy and permissions (least privilege, every ``Resource: "*"`` on the allowlist below), the outputs,
   the workflow type and its logging, the DefinitionSubstitutions against the ASL placeholders, and each
   function's environment against its settings model in ``segment_personalize.config``.
4. The translated template created as CloudFormation stacks in moto (``mock_aws``), then the created
   resources read back: functions, roles and their policies, the state machine, the outputs. moto ignores
   DefinitionSubstitutions and creates EXPRESS state machines as STANDARD: those are checked in (3).
5. The ASL file: structure (targets, reachability, contract state names, task resources) and moto's parser.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import functions as function_names
from functions import FUNCTIONS as ALL_FUNCTIONS
from state_machines import ASL_PATH, placeholders_in, substitute

if TYPE_CHECKING:
    from iac.moto_stack import MotoStack

ROOT = Path(__file__).resolve().parent.parent
IAC = ROOT / "iac"
TEMPLATE = IAC / "template.yaml"
ASL = ASL_PATH  # state_machines' own path of the ASL file

if str(ROOT / "functions" / "shared") not in sys.path:  # segment_personalize, as the layer provides it
    sys.path.insert(0, str(ROOT / "functions" / "shared"))

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


# ------------------------------------------------------------------------------------------------------------
# Loading, packaging, translating
# ------------------------------------------------------------------------------------------------------------


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The SAM template as a dict, short-form intrinsics (``!Ref``) expanded as CloudFormation reads them."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text())


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


# ------------------------------------------------------------------------------------------------------------
# Evaluating conditions and parameter references of a translated template
# ------------------------------------------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------------------
# The validation: inputs computed once, checks below
# ------------------------------------------------------------------------------------------------------------


class Validation:
    """Everything the checks look at, computed lazily and once. Pass ``template``/``asl`` to check
    modified copies (the tests do, to prove each check can fail)."""

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

    @cached_property
    def moto(self) -> dict[str, MotoStack]:
        from iac.moto_stack import moto_stacks

        return moto_stacks(self)


# --- 1. cfn-lint


def check_cfn_lint(v: Validation) -> str:
    from cfnlint.api import lint, lint_file

    # the file itself when it is the one checked (line numbers), else the modified copy
    matches = lint_file(TEMPLATE) if v._template is None else lint(json.dumps(v.template), regions=[REGION])
    problems = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]
    require(not problems, "cfn-lint: " + "; ".join(problems))
    return "no errors or warnings"


# --- 2. the transform


def check_transform(v: Validation) -> str:
    for name, template in v.translated.items():
        kinds = {r["Type"] for r in template["Resources"].values()}
        leftovers = sorted(k for k in kinds if k.startswith("AWS::Serverless::"))
        require(not leftovers, f"{name}: untranslated resources {leftovers}")
        require("Transform" not in template, f"{name}: Transform left in the output")
    for name in PARAMETER_SETS:
        expected = expected_resource_types(name)
        counts = Counter(resource["Type"] for resource in v.resolved(name).resources.values())
        require(counts == expected, f"{name}: resources {dict(counts)}, expected {dict(expected)}")
    machine = v.resolved("base").properties("StateMachine")
    require(
        machine.get("DefinitionS3Location") == {"Bucket": ARTIFACT_BUCKET, "Key": ASL.name},
        f"the state machine does not deploy the packaged ASL file: {machine.get('DefinitionS3Location')!r}",
    )
    return f"{len(v.translated)} parameter sets x STANDARD/EXPRESS translated"


# --- 3. security


def check_trust_policy(v: Validation) -> str:
    for label, resolved in v.all_resolved().items():
        trust = resolved.properties("SegmentDestinationRole")["AssumeRolePolicyDocument"]
        expected = {
            "Effect": "Allow",
            "Principal": {"AWS": SEGMENT_PRINCIPAL},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": resolved.parameters["SegmentExternalId"]}},
        }
        require(trust.get("Statement") == [expected], f"{label}: Segment trust policy is {trust!r}")
    # and every other role trusts only its AWS service
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
    return f"only {SEGMENT_PRINCIPAL} with sts:ExternalId"


def check_segment_role_permissions(v: Validation) -> str:
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
    return "lambda:InvokeFunction on the entry function only"


def check_no_star_actions(v: Validation) -> str:
    count = 0
    for label, resolved in v.all_resolved().items():
        for s in statements(resolved):
            count += 1
            for action in s.actions:
                require(
                    isinstance(action, str) and action != "*" and not action.endswith(":*"),
                    f"{label}: {s.owner}/{s.policy} allows every action of a service: {action!r}",
                )
            require(s.effect == "Allow", f"{label}: {s.owner}/{s.policy} has Effect {s.effect!r}")
    return f"{count} statements, none with a '*' action"


def check_star_resources(v: Validation) -> str:
    stars = 0
    for label, resolved in v.all_resolved().items():
        for s in statements(resolved):
            if "*" in s.resources:
                stars += 1
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
    return f"{stars} statements on '*', all log-delivery actions on the allowlist"


def check_function_permissions(v: Validation) -> str:
    """Each role can do what its code needs, on its own resources."""
    for label, resolved in v.all_resolved().items():
        params = resolved.parameters
        # entry: start executions of this state machine only
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
        # track: PutEvents on the event tracker(s), idempotency records
        track = role_statements(resolved, "TrackFunction")
        put = allowed(track, "personalize:PutEvents")
        tracker = (
            params["PersonalizeEventTrackerArn"]
            or f"{ARN_PREFIX}:personalize:{REGION_ACCOUNT}:event-tracker/*"
        )
        require(
            len(put) == 1 and [flatten_sub(r) for r in put[0].resources] == [tracker],
            f"{label}: track's PutEvents resources are {[p.resources for p in put]}",
        )
        # recommend: GetRecommendations on the campaign or recommender, and the filter
        recommend = role_statements(resolved, "RecommendFunction")
        get = allowed(recommend, "personalize:GetRecommendations")
        source = params["PersonalizeCampaignArn"] or params["PersonalizeRecommenderArn"]
        targets = [source] + ([params["PersonalizeFilterArn"]] if params["PersonalizeFilterArn"] else [])
        require(
            len(get) == 1 and list(get[0].resources) == targets,
            f"{label}: recommend may GetRecommendations on {[g.resources for g in get]}, expected {targets}",
        )
        # secrets: each function reads only its own secret
        for function, secret, needed in (
            ("SyncProfileFunction", "SegmentWriteKeySecret", True),
            ("FilterTraitsFunction", "SegmentProfileTokenSecret", bool(params["SegmentSpaceId"])),
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
        # idempotency table: track and sync_profile only, item actions only
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
    return "entry, track, recommend, filter_traits, sync_profile: own resources only"


def check_state_machine_permissions(v: Validation) -> str:
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
    return "invokes the five step functions, sends to the dead-letter queue, delivers its logs"


# --- 3. outputs, workflow type, logging, tracing


def check_outputs(v: Validation) -> str:
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
    return ", ".join(sorted(OUTPUTS))


def check_workflow_types(v: Validation) -> str:
    spec = v.template["Parameters"]["WorkflowType"]
    require(set(spec.get("AllowedValues", [])) == {"STANDARD", "EXPRESS"}, f"WorkflowType allows {spec!r}")
    for name in PARAMETER_SETS:
        for kind in ("STANDARD", "EXPRESS"):
            machine = v.resolved(name, WorkflowType=kind).properties("StateMachine")
            require(
                machine.get("StateMachineType") == kind,
                f"{name}/{kind}: type is {machine.get('StateMachineType')!r}",
            )
            require(
                machine.get("TracingConfiguration") == {"Enabled": True},
                f"{name}/{kind}: tracing is not enabled",
            )
    return "STANDARD and EXPRESS from one template, tracing enabled"


def check_express_logging(v: Validation) -> str:
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
        standard = v.resolved(name, WorkflowType="STANDARD", StandardWorkflowLogLevel="ERROR")
        logging = standard.properties("StateMachine").get("LoggingConfiguration")
        require(
            logging is not None and logging["Level"] == "ERROR" and logging["IncludeExecutionData"] is False,
            f"{name}/STANDARD: logging is {logging!r}, expected level ERROR without execution data",
        )
        off = v.resolved(name, WorkflowType="STANDARD", StandardWorkflowLogLevel="OFF")
        require(
            "LoggingConfiguration" not in off.properties("StateMachine")
            and "StateMachineLogGroup" not in off.resources,
            f"{name}/STANDARD with logging OFF still logs",
        )
    return "EXPRESS: ALL + execution data; STANDARD: ERROR or OFF"


def check_functions(v: Validation) -> str:
    """Runtime, architecture, tracing, layers and log group of every function."""
    for label, resolved in v.all_resolved().items():
        layers = resolved.of_type("AWS::Lambda::LayerVersion")
        require(len(layers) == 1, f"{label}: {len(layers)} layers, expected the shared one")
        ((layer_id, layer),) = layers.items()
        require(
            layer["Properties"].get("CompatibleRuntimes") == [RUNTIME]
            and layer["Properties"].get("CompatibleArchitectures") == [ARCHITECTURE],
            f"{label}: shared layer is for {layer['Properties'].get('CompatibleRuntimes')}",
        )
        for folder, logical_id in FUNCTIONS.items():
            props = resolved.properties(logical_id)
            require(props.get("Runtime") == RUNTIME, f"{label}: {logical_id} runs {props.get('Runtime')}")
            require(
                props.get("Architectures") == [ARCHITECTURE],
                f"{label}: {logical_id} is {props.get('Architectures')}",
            )
            require(
                props.get("Handler") == "app.lambda_handler",
                f"{label}: {logical_id} handler {props.get('Handler')}",
            )
            require(props.get("TracingConfig") == {"Mode": "Active"}, f"{label}: {logical_id} is not traced")
            require(
                props.get("Layers") == [f"{{{{resolve:ssm:{POWERTOOLS_PARAMETER}}}}}", {"Ref": layer_id}],
                f"{label}: {logical_id} layers are {props.get('Layers')}",
            )
            require(
                props.get("LoggingConfig", {}).get("LogGroup") == {"Ref": "FunctionLogGroup"},
                f"{label}: {logical_id} logs to {props.get('LoggingConfig')}",
            )
            require(
                (ROOT / "functions" / folder / "app.py").is_file(), f"functions/{folder}/app.py is missing"
            )
    return f"{len(FUNCTIONS)} functions on {RUNTIME} {ARCHITECTURE}, traced, Powertools + shared layers"


# --- 3. configuration


def expected_environment(function: str) -> set[str]:
    """The variables a function's settings model reads, secrets by ARN, plus its documented extras."""
    from segment_personalize.config import ALL_SETTINGS

    model = ALL_SETTINGS[function]
    aliases = {field.alias or name for name, field in model.model_fields.items()}
    return {alias for alias in aliases if alias not in SECRET_SETTINGS} | EXTRA_ENV.get(function, set())


def check_environment_matches_settings(v: Validation) -> str:
    from segment_personalize.config import ALL_SETTINGS

    require(set(ALL_SETTINGS) == set(FUNCTIONS), f"config.py has settings for {sorted(ALL_SETTINGS)}")
    for label, resolved in v.all_resolved().items():
        for function, logical_id in FUNCTIONS.items():
            variables = resolved.properties(logical_id).get("Environment", {}).get("Variables", {})
            missing = GLOBAL_ENV - set(variables)
            require(not missing, f"{label}: {logical_id} lacks {sorted(missing)} (Globals)")
            names = set(variables) - GLOBAL_ENV
            expected = expected_environment(function)
            require(
                names == expected,
                f"{label}: {function} gets {sorted(names - expected)} it does not read, "
                f"lacks {sorted(expected - names)}",
            )
            model = ALL_SETTINGS[function]
            for name, field in model.model_fields.items():
                alias = field.alias or name
                if field.is_required() and alias in variables:
                    require(variables[alias] != "", f"{label}: required {alias} of {function} is empty")
            for plain, by_arn in SECRET_SETTINGS.items():
                require(
                    plain not in variables, f"{label}: {function} gets the secret {plain} as a plain value"
                )
                if by_arn in variables and variables[by_arn] != "":
                    ref = variables[by_arn]
                    require(
                        isinstance(ref, dict)
                        and resolved.resources.get(ref.get("Ref", ""), {}).get("Type")
                        == "AWS::SecretsManager::Secret",
                        f"{label}: {function}'s {by_arn} is {ref!r}, not a secret of this stack",
                    )
    return "every function gets exactly its settings; secrets by ARN"


def check_parameter_defaults_match_config(v: Validation) -> str:
    """A parameter's default is the setting's default in config.py, so the docs describe both."""
    from segment_personalize import config

    pairs = {
        "InteractionEvents": config.DEFAULT_INTERACTION_EVENTS,
        "ItemIdPaths": config.DEFAULT_ITEM_ID_PATHS,
        "FilterRules": config.DEFAULT_FILTER_RULES,
    }
    fields = {(f.alias or n): f for m in config.ALL_SETTINGS.values() for n, f in m.model_fields.items()}
    by_env = {
        "SegmentHost": "SEGMENT_HOST",
        "SegmentTimeout": "SEGMENT_TIMEOUT",
        "PersonalizeTimeout": "PERSONALIZE_TIMEOUT",
        "RecommendationTrait": "RECOMMENDATION_TRAIT",
        "SegmentProfileApiUrl": "SEGMENT_PROFILE_API_URL",
        "SegmentProfileApiTimeout": "SEGMENT_PROFILE_API_TIMEOUT",
        "RecommendationCount": "RECOMMENDATION_COUNT",
        "RecommendForAnonymous": "RECOMMEND_FOR_ANONYMOUS",
    }
    parameters = v.template["Parameters"]
    for parameter, default in pairs.items():
        require(
            str(parameters[parameter].get("Default")) == default,
            f"{parameter} defaults to {parameters[parameter].get('Default')!r}, config.py to {default!r}",
        )
    for parameter, alias in by_env.items():
        default = fields[alias].default
        as_text = str(default).lower() if isinstance(default, bool) else str(default)
        ours = str(parameters[parameter].get("Default"))
        require(
            ours == as_text or (_is_number(ours) and _is_number(as_text) and float(ours) == float(as_text)),
            f"{parameter} defaults to {ours!r}, config.py's {alias} to {as_text!r}",
        )
    return f"{len(pairs) + len(by_env)} defaults agree with config.py"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_observability_names(v: Validation) -> str:
    from segment_personalize import observability

    variables = v.template["Globals"]["Function"]["Environment"]["Variables"]
    require(
        variables.get("POWERTOOLS_SERVICE_NAME") == observability.SERVICE
        and variables.get("POWERTOOLS_METRICS_NAMESPACE") == observability.NAMESPACE,
        f"Globals set {variables}, observability.py uses {observability.SERVICE}/{observability.NAMESPACE}",
    )
    return f"{observability.SERVICE} / {observability.NAMESPACE}"


def rules_broken(template: Mapping[str, Any], parameters: Mapping[str, str]) -> list[str]:
    """The Rules whose assertions fail for these parameter values (CloudFormation refuses to deploy)."""
    resolved = Resolved(template, parameters)
    broken = []
    for name, rule in template.get("Rules", {}).items():
        require("RuleCondition" not in rule, f"rule {name}: RuleCondition is not evaluated here")
        if not all(resolved.truth(a["Assert"]) for a in rule["Assertions"]):
            broken.append(name)
    return broken


def check_rules(v: Validation) -> str:
    """Settings that config.py would reject at cold start are refused at deploy time instead."""
    for name, parameters in PARAMETER_SETS.items():
        broken = rules_broken(v.template, parameters)
        require(not broken, f"{name}: the parameter set breaks the rules {broken}")
    campaign, recommender = (
        BASE_PARAMETERS["PersonalizeCampaignArn"],
        FULL_PARAMETERS["PersonalizeRecommenderArn"],
    )
    bad = {
        "OneRecommendationSource": [
            {"PersonalizeCampaignArn": campaign, "PersonalizeRecommenderArn": recommender},
            {"PersonalizeCampaignArn": "", "PersonalizeRecommenderArn": ""},
        ],
        "FilterValuesNeedFilter": [{"PersonalizeFilterValues": '{"A": ["b"]}', "PersonalizeFilterArn": ""}],
        "ProfileApiNeedsToken": [{"SegmentSpaceId": "spa_x", "SegmentProfileToken": ""}],
    }
    for rule, cases in bad.items():
        for case in cases:
            broken = rules_broken(v.template, {**BASE_PARAMETERS, **case})
            require(broken == [rule], f"{case} should break only {rule}, breaks {broken}")
    return f"{len(v.template.get('Rules', {}))} rules: exactly one recommendation source, filter, token"


# --- 3. the state machine's wiring


def check_definition_substitutions(v: Validation) -> str:
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
    return ", ".join(sorted(placeholders))


# --- 4. moto


def check_moto_stacks(v: Validation) -> str:
    from iac.moto_stack import MOTO_UNSUPPORTED

    for name, stack in v.moto.items():
        require(stack.status == "CREATE_COMPLETE", f"{name}: stack is {stack.status}: {stack.reason}")
        counts = Counter(r["ResourceType"] for r in stack.resources)
        for kind, count in expected_resource_types(name).items():
            if kind not in MOTO_UNSUPPORTED:
                require(counts.get(kind) == count, f"{name}: {counts.get(kind, 0)} {kind}, expected {count}")
        require(set(stack.outputs) == OUTPUTS, f"{name}: outputs {sorted(stack.outputs)}")
        entry = stack.functions["EntryFunction"]
        require(stack.outputs["EntryFunctionArn"] == entry["FunctionArn"], f"{name}: EntryFunctionArn output")
        require(
            stack.outputs["StateMachineArn"]
            == stack.state_machine.get("stateMachineArn")
            == entry["Environment"]["Variables"]["STATE_MACHINE_ARN"],
            f"{name}: entry's STATE_MACHINE_ARN is not the stack's state machine",
        )
        require(
            stack.outputs["SegmentRoleArn"] == stack.roles["SegmentDestinationRole"]["arn"],
            f"{name}: SegmentRoleArn",
        )
        require(
            "/" in stack.outputs["DeadLetterQueueUrl"],
            f"{name}: DeadLetterQueueUrl {stack.outputs['DeadLetterQueueUrl']}",
        )
        # (moto's CloudFormation drops Architectures and Layers of a function: checked on the JSON instead)
        for logical_id, config in stack.functions.items():
            require(
                config["Runtime"] == RUNTIME and config["Handler"] == "app.lambda_handler",
                f"{name}: {logical_id} is {config['Runtime']} {config['Handler']}",
            )
        require(stack.queue_attributes.get("MessageRetentionPeriod") == "1209600", f"{name}: DLQ retention")
        require(stack.queue_attributes.get("SqsManagedSseEnabled") == "true", f"{name}: DLQ not encrypted")
        require(
            stack.table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST",
            f"{name}: table billing",
        )
        require(
            stack.table.get("KeySchema") == [{"AttributeName": "id", "KeyType": "HASH"}], f"{name}: table key"
        )
    return ", ".join(f"{n}: {len(s.resources)} resources" for n, s in v.moto.items())


def check_moto_iam(v: Validation) -> str:
    for name, stack in v.moto.items():
        segment = stack.roles["SegmentDestinationRole"]
        statements_ = segment["trust"]["Statement"]
        require(len(statements_) == 1, f"{name}: Segment role trust has {len(statements_)} statements")
        trust = statements_[0]
        require(
            trust["Principal"] == {"AWS": SEGMENT_PRINCIPAL}, f"{name}: trust principal {trust['Principal']}"
        )
        require(
            trust["Condition"]
            == {"StringEquals": {"sts:ExternalId": PARAMETER_SETS[name]["SegmentExternalId"]}},
            f"{name}: trust condition {trust.get('Condition')}",
        )
        require(not segment["managed"], f"{name}: Segment role has managed policies {segment['managed']}")
        documents = list(segment["policies"].values())
        require(len(documents) == 1, f"{name}: Segment role has {len(documents)} policies")
        (statement,) = as_list(documents[0]["Statement"])
        require(
            as_list(statement["Action"]) == ["lambda:InvokeFunction"]
            and as_list(statement["Resource"]) == [stack.functions["EntryFunction"]["FunctionArn"]],
            f"{name}: Segment may {statement['Action']} on {statement['Resource']}",
        )
        for logical_id, role in stack.roles.items():
            for document in role["policies"].values():
                for s in as_list(document["Statement"]):
                    require(all(a != "*" for a in as_list(s["Action"])), f"{name}: {logical_id} allows '*'")
                    if "*" in as_list(s["Resource"]):
                        require(
                            set(as_list(s["Action"])) <= set(STAR_RESOURCE_ALLOWLIST),
                            f"{name}: {logical_id} grants {s['Action']} on '*'",
                        )
    return "trust policy, Segment's single permission and no '*' grants, as created"


def check_moto_configuration_loads(v: Validation) -> str:
    """The deployed environment of each function is a valid configuration for its settings model."""
    from segment_personalize.config import ALL_SETTINGS, load

    for name, stack in v.moto.items():
        for function, logical_id in FUNCTIONS.items():
            variables = stack.functions[logical_id]["Environment"]["Variables"]
            try:
                load(ALL_SETTINGS[function], variables)
            except Exception as error:  # noqa: BLE001 - reported with the function's name
                raise CheckFailed(f"{name}: {function} would fail at cold start: {error}") from error
    return "all six settings models load from the created environment"


# --- 5. the ASL

CONTRACT_STATES = {
    "Validate": "Task",
    "Track": "Task",
    "Recommend": "Task",
    "FilterTraits": "Task",
    "SyncProfile": "Task",
    "Ignored": "Succeed",
    "Tracked": "Succeed",
    "Synced": "Succeed",
    "Rejected": "Succeed",
    "Failed": "Fail",
}
SQS_SEND = "arn:aws:states:::sqs:sendMessage"


def _targets(state: Mapping[str, Any]) -> list[str]:
    found = [state["Next"]] if "Next" in state else []
    found += [c["Next"] for c in state.get("Choices", [])]
    found += [state["Default"]] if "Default" in state else []
    found += [c["Next"] for c in state.get("Catch", [])]
    return found


def check_asl_structure(v: Validation) -> str:
    asl = v.asl
    states = asl.get("States", {})
    require(asl.get("StartAt") in states, f"StartAt {asl.get('StartAt')!r} is not a state")
    for name, state in states.items():
        for target in _targets(state):
            require(target in states, f"{name} goes to the missing state {target!r}")
        terminal = state["Type"] in ("Succeed", "Fail") or state.get("End") is True
        require(terminal or state["Type"] == "Choice" or "Next" in state, f"{name} neither ends nor goes on")
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_targets(states[name]))
    require(seen == set(states), f"unreachable states {sorted(set(states) - seen)}")
    for name, kind in CONTRACT_STATES.items():
        require(states.get(name, {}).get("Type") == kind, f"the contract's state {name} ({kind}) is missing")
    lambda_placeholders = {p for p in PLACEHOLDERS if p.endswith("FunctionArn")}
    used: set[str] = set()
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        resource = state["Resource"]
        require(
            not resource.endswith((".sync", ".waitForTaskToken", ".sync:2")),
            f"{name} uses {resource}, which an EXPRESS workflow cannot run",
        )
        if resource == SQS_SEND:
            queue = state.get("Parameters", {}).get("QueueUrl")
            require(queue == "${DeadLetterQueueUrl}", f"{name} sends to {queue!r}, not the dead-letter queue")
            continue
        match = re.fullmatch(r"\$\{([A-Za-z]+)\}", resource)
        require(
            match is not None and match.group(1) in lambda_placeholders,
            f"{name} has the resource {resource!r}: the state machine role may only invoke the step "
            "functions (direct ARN form) and send to the dead-letter queue",
        )
        used.add(match.group(1))  # type: ignore[union-attr]
    require(
        used == lambda_placeholders, f"step functions never invoked: {sorted(lambda_placeholders - used)}"
    )
    return f"{len(states)} states, all reachable; tasks invoke the five functions and the dead-letter queue"


def check_asl_parses(v: Validation) -> str:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    fakes = {
        placeholder: f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/dlq"
        if placeholder == "DeadLetterQueueUrl"
        else f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{placeholder[: -len('Arn')]}"
        for placeholder in PLACEHOLDERS
    }
    try:
        text = substitute(v.asl_text, fakes)
    except KeyError as error:
        raise CheckFailed(f"the ASL has placeholders the template does not substitute: {error}") from error
    try:
        AmazonStateLanguageParser.parse(text)
    except Exception as error:  # noqa: BLE001 - the parser's own exception types vary
        raise CheckFailed(f"moto's ASL parser rejects the definition: {error}") from error
    return "moto's Amazon States Language parser accepts it"


def express_worst_case_seconds(asl: Mapping[str, Any], function_timeout: int) -> int:
    """Rough upper bound of one task step's duration, every retry used (EXPRESS stops at 5 minutes)."""
    worst = 0
    for state in asl.get("States", {}).values():
        if state.get("Type") != "Task":
            continue
        timeout = state.get("TimeoutSeconds", function_timeout)
        total = timeout
        for retrier in state.get("Retry", []):
            interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
            cap = retrier.get("MaxDelaySeconds", 10**9)
            for attempt in range(retrier.get("MaxAttempts", 3)):
                total += min(cap, interval * rate**attempt) + timeout
        worst = max(worst, int(total))
    return worst


Check = Callable[[Validation], str]

CHECKS: dict[str, Check] = {
    "cfn-lint": check_cfn_lint,
    "SAM transform (STANDARD, EXPRESS)": check_transform,
    "Segment trust policy": check_trust_policy,
    "Segment role permissions": check_segment_role_permissions,
    "no '*' actions": check_no_star_actions,
    "'*' resources allowlisted": check_star_resources,
    "function permissions": check_function_permissions,
    "state machine permissions": check_state_machine_permissions,
    "outputs": check_outputs,
    "workflow types and tracing": check_workflow_types,
    "workflow logging": check_express_logging,
    "functions": check_functions,
    "environment == settings": check_environment_matches_settings,
    "parameter defaults == config.py": check_parameter_defaults_match_config,
    "Powertools names == observability.py": check_observability_names,
    "parameter rules": check_rules,
    "DefinitionSubstitutions == ASL placeholders": check_definition_substitutions,
    "ASL structure": check_asl_structure,
    "ASL parses (moto)": check_asl_parses,
    "moto stacks created": check_moto_stacks,
    "moto IAM as created": check_moto_iam,
    "moto configuration loads": check_moto_configuration_loads,
}


def run_checks(checks: Mapping[str, Callable[[Validation], str]], validation: Validation) -> int:
    """Run each check, print one line each (``ok``/``FAIL``); how many failed."""
    failed = 0
    for name, check in checks.items():
        t0 = time.monotonic()
        try:
            detail = check(validation)
        except CheckFailed as error:
            failed += 1
            print(f"FAIL {name}: {error}")
            continue
        print(f"ok   {name} ({time.monotonic() - t0:.1f}s): {detail}")
    return failed


def main(argv: list[str] | None = None) -> int:
    """Run every check, print one line each, exit 1 if any failed."""
    started = time.monotonic()
    validation = Validation()
    failed = run_checks(CHECKS, validation)
    timeout = int(validation.template["Globals"]["Function"]["Timeout"])
    worst = express_worst_case_seconds(validation.asl, timeout)
    print(
        f"note worst case of one task step with every retry used: ~{worst}s "
        "(an EXPRESS execution stops after 300s, before its dead-letter branch runs)"
    )
    print(f"{len(CHECKS) - failed}/{len(CHECKS)} checks passed in {time.monotonic() - started:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
