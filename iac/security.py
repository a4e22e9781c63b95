"""Security of ``iac/template.yaml``, offline: the checkov scanner, and an evaluator of trust policies.

``tests/iac/test_security.py`` (part of ``make validate``) runs checkov and asks the evaluator who may assume
Segment's role.

1. **checkov** (an IaC security scanner from PyPI; it reads SAM templates) with the CloudFormation
   framework: no failed check. Every finding that remains is suppressed in the template by an inline
   ``# checkov:skip=CKV_...:<why>`` comment inside the resource, and every skip must give its reason.
   checkov pins boto3/botocore 1.35 and packaging 23, which the dev venv cannot take (moto and the stubs want
   newer), so ``make checkov`` installs it in a venv of its own, ``.venv/checkov``, as ``make deploy`` does
   for aws-sam-cli. ``CHECKOV`` overrides the executable.
2. **Segment's role needs the external id.** The trust policy of ``SegmentDestinationRole``, taken from the
   translated template for each parameter set, is evaluated for ``sts:AssumeRole`` requests: Segment's
   principal with the external id is allowed; without it, with another id, or another principal, denied.

   The evaluator (:func:`evaluate`) is small and written here because no offline evaluator gets this case
   right: moto's (``moto.iam.access_control.IAMPolicy``, pinned 5.2.5) treats a condition key that is absent
   from the request as satisfied, so it *allows* an AssumeRole without an external id, and it compares
   principals as exact strings. :func:`evaluate` follows AWS's documented evaluation logic for the parts a
   trust policy uses: an explicit Deny wins, else an Allow whose Principal, Action and every Condition match,
   else an implicit deny; a condition on a key the request lacks does not match (except the negated
   operators and ``...IfExists``); an operator it does not know makes it raise rather than guess.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iac.policies import as_list
from iac.template import ROOT, TEMPLATE, CheckFailed

CHECKOV_VENV = ROOT / ".venv" / "checkov"
#: A skip whose reason is shorter than this is not a justification.
MIN_JUSTIFICATION = 20


# ------------------------------------------------------------------------------------------------------------
# 1. checkov
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    name: str
    comment: str = ""


@dataclass(frozen=True)
class ScanResult:
    passed: int
    failed: list[Finding]
    skipped: list[Finding]
    parsing_errors: int
    resources: int
    version: str


def checkov_executable() -> str:
    """``$CHECKOV``, else ``.venv/checkov/bin/checkov`` (``make checkov``), else ``checkov`` on PATH."""
    configured = os.environ.get("CHECKOV")
    if configured:
        return configured
    local = CHECKOV_VENV / "bin" / "checkov"
    if local.exists():
        return str(local)
    found = shutil.which("checkov")
    if found:
        return found
    raise CheckFailed(
        "checkov is not installed: `make checkov` installs it in .venv/checkov (or set CHECKOV)"
    )


def run_checkov(template: Path = TEMPLATE, timeout: float = 300) -> ScanResult:
    """checkov's CloudFormation checks on ``template``, offline: no Prisma Cloud key, no policy download, no
    update check."""
    command = [
        checkov_executable(),
        "--file",
        str(template),
        "--framework",
        "cloudformation",
        "--output",
        "json",
        "--compact",
        "--skip-download",  # no policy metadata fetched from the network
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_"))}
    env["CKV_SKIP_PACKAGE_UPDATE_CHECK"] = "true"  # no PyPI version check at start-up
    completed = subprocess.run(  # noqa: S603 - a fixed command line
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if completed.returncode not in (0, 1):  # 1: some check failed
        raise CheckFailed(f"checkov exited {completed.returncode}: {completed.stderr.strip()[-500:]}")
    try:
        report = json.loads(completed.stdout)
    except ValueError as error:
        raise CheckFailed(f"checkov printed no JSON report: {completed.stdout[:300]!r}") from error
    if isinstance(report, list):  # one report per framework
        (report,) = [r for r in report if r.get("check_type") == "cloudformation"]
    if not report.get("results"):  # checkov's empty report: {"passed": 0, "failed": 0, ...}
        raise CheckFailed(f"checkov found no CloudFormation resources in {template}")
    summary, results = report["summary"], report["results"]

    def findings(kind: str) -> list[Finding]:
        return [
            Finding(
                check_id=r["check_id"],
                resource=r["resource"],
                name=r.get("check_name", ""),
                comment=((r.get("check_result") or {}).get("suppress_comment") or "").strip(),
            )
            for r in results.get(kind, [])
        ]

    return ScanResult(
        passed=int(summary["passed"]),
        failed=findings("failed_checks"),
        skipped=findings("skipped_checks"),
        parsing_errors=int(summary.get("parsing_errors", 0)),
        resources=int(summary.get("resource_count", 0)),
        version=str(summary.get("checkov_version", "?")),
    )


def unjustified(result: ScanResult) -> list[Finding]:
    """Skips without a reason (checkov says "No comment provided") or with one too short to be one."""
    return [
        f for f in result.skipped if f.comment == "No comment provided" or len(f.comment) < MIN_JUSTIFICATION
    ]


def verdict(result: ScanResult, template: Path = TEMPLATE) -> str:
    """The one-line summary of a clean scan; CheckFailed for a failed check, a parse error or a bare skip."""
    if result.parsing_errors:
        raise CheckFailed(f"checkov could not parse {template}")
    if result.failed:
        listed = "; ".join(f"{f.check_id} {f.resource} ({f.name})" for f in result.failed)
        raise CheckFailed(f"checkov: {len(result.failed)} failed: {listed}")
    bare = unjustified(result)
    if bare:
        raise CheckFailed("checkov skips without a justification: " + "; ".join(f.check_id for f in bare))
    return (
        f"checkov {result.version}: {result.passed} passed, 0 failed, {len(result.skipped)} skipped with a "
        f"reason, {result.resources} resources"
    )


# ------------------------------------------------------------------------------------------------------------
# 2. The trust policy of Segment's role
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """An ``sts:AssumeRole`` call as IAM sees it: who asks, for what, and the request's condition keys."""

    principal: str  # the caller's ARN: a role's ARN stands for its sessions
    action: str = "sts:AssumeRole"
    context: Mapping[str, str] | None = None  # e.g. {"sts:ExternalId": "ws_1"}


def _string_equals(value: str, pattern: str) -> bool:
    return value == pattern


def _string_like(value: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _ignore_case(value: str, pattern: str) -> bool:
    return value.lower() == pattern.lower()


#: Operator -> (string comparison, negated). Anything else raises.
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False),
    "ArnLike": (_string_like, False),
}


def _condition_matches(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Every operator, every key of it: the condition block holds (AWS: AND across, OR within values)."""
    keys = {k.lower(): v for k, v in context.items()}  # condition keys are case-insensitive
    for operator, tests in condition.items():
        if operator.startswith(("ForAnyValue:", "ForAllValues:")):
            raise ValueError(f"condition set operator {operator} is not supported by this evaluator")
        if_exists = operator.endswith("IfExists")
        base = operator.removesuffix("IfExists")
        if base == "Null":
            for key, wanted in tests.items():
                absent = key.lower() not in keys
                if absent != (str(wanted).lower() == "true"):
                    return False
            continue
        if base not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not supported by this evaluator")
        compare, negated = _OPERATORS[base]
        for key, wanted in tests.items():
            actual = keys.get(key.lower())
            if actual is None:
                if if_exists or negated:
                    continue  # AWS: an absent key satisfies ...IfExists and the negated operators
                return False
            matched = any(compare(actual, str(value)) for value in as_list(wanted))
            if matched == negated:
                return False
    return True


def _principal_matches(principal: Any, caller: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        raise ValueError(f"a Principal must be '*' or an object, got {principal!r}")
    for entry in as_list(principal.get("AWS", [])):
        entry = str(entry)
        if entry == "*" or entry == caller:
            return True
        account = entry.split(":")[4] if entry.startswith("arn:") else entry
        if (entry.endswith(":root") or entry.isdigit()) and caller.split(":")[4:5] == [account]:
            return True  # the account as principal: any principal of that account
    return False  # Service, Federated and CanonicalUser principals are not AWS callers


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(
            fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(statement["NotAction"])
        )
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(statement.get("Action", [])))


def evaluate(policy: Mapping[str, Any], request: Request) -> str:
    """``"allow"`` or ``"deny"`` for ``request`` under the trust policy ``policy`` (see the module doc)."""
    allowed = False
    for statement in as_list(policy.get("Statement", [])):
        if "NotPrincipal" in statement:
            raise ValueError("NotPrincipal is not supported by this evaluator")
        if not _principal_matches(statement.get("Principal"), request.principal):
            continue
        if not _action_matches(statement, request.action):
            continue
        if not _condition_matches(statement.get("Condition", {}), request.context or {}):
            continue
        if statement.get("Effect") == "Deny":
            return "deny"
        if statement.get("Effect") == "Allow":
            allowed = True
    return "allow" if allowed else "deny"
