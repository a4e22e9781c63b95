"""cfn-lint on the template, the SAM transform of the packaged template, and the functions it deploys."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from iac.template import (
    ARCHITECTURE,
    ARTIFACT_BUCKET,
    ASL,
    FUNCTIONS,
    PARAMETER_SETS,
    POWERTOOLS_PARAMETER,
    REGION,
    ROOT,
    RUNTIME,
    TEMPLATE,
    CheckFailed,
    Validation,
    expected_resource_types,
    require,
)
from tests.iac.templates import modified, props

pytestmark = pytest.mark.iac


def check_cfn_lint(v: Validation) -> None:
    """cfn-lint finds no error and no warning (it runs the SAM transform itself)."""
    from cfnlint.api import lint, lint_file

    # the file itself when it is the one checked (line numbers), else the modified copy
    matches = lint(json.dumps(v.template), regions=[REGION]) if v.template_modified else lint_file(TEMPLATE)
    problems = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches]
    require(not problems, "cfn-lint: " + "; ".join(problems))


def test_cfn_lint_finds_nothing(validation: Validation) -> None:
    check_cfn_lint(validation)


def test_cfn_lint_reports_a_broken_template() -> None:
    broken = modified(lambda t: props(t, "TrackFunction").update(MemorySize=1))
    with pytest.raises(CheckFailed, match="cfn-lint: E3034"):
        check_cfn_lint(broken)


def test_both_workflow_types_translate_and_deploy_the_packaged_asl(validation: Validation) -> None:
    for name, template in validation.translated.items():
        kinds = {r["Type"] for r in template["Resources"].values()}
        assert "AWS::StepFunctions::StateMachine" in kinds, name
        leftovers = sorted(k for k in kinds if k.startswith("AWS::Serverless::"))
        assert not leftovers, f"{name}: untranslated resources {leftovers}"
        assert "Transform" not in template, f"{name}: Transform left in the output"
    for name in PARAMETER_SETS:
        expected = expected_resource_types(name)
        counts = Counter(resource["Type"] for resource in validation.resolved(name).resources.values())
        assert counts == expected, f"{name}: resources {dict(counts)}, expected {dict(expected)}"
    for kind in ("STANDARD", "EXPRESS"):
        machine = validation.resolved("base", WorkflowType=kind).properties("StateMachine")
        assert machine["StateMachineType"] == kind
        assert machine["DefinitionS3Location"] == {"Bucket": ARTIFACT_BUCKET, "Key": ASL.name}


def test_functions_run_python312_on_arm64_with_both_layers(validation: Validation) -> None:
    """Runtime, architecture, tracing, layers and log group of every function."""
    for label, resolved in validation.all_resolved().items():
        layers = resolved.of_type("AWS::Lambda::LayerVersion")
        assert len(layers) == 1, f"{label}: {len(layers)} layers, expected the shared one"
        ((layer_id, layer),) = layers.items()
        assert layer["Properties"].get("CompatibleRuntimes") == [RUNTIME], label
        assert layer["Properties"].get("CompatibleArchitectures") == [ARCHITECTURE], label
        for folder, logical_id in FUNCTIONS.items():
            function = resolved.properties(logical_id)
            assert function.get("Runtime") == RUNTIME, f"{label}: {logical_id}"
            assert function.get("Architectures") == [ARCHITECTURE], f"{label}: {logical_id}"
            assert function.get("Handler") == "app.lambda_handler", f"{label}: {logical_id}"
            assert function.get("TracingConfig") == {"Mode": "Active"}, f"{label}: {logical_id} is not traced"
            assert function.get("Layers") == [
                f"{{{{resolve:ssm:{POWERTOOLS_PARAMETER}}}}}",
                {"Ref": layer_id},
            ], f"{label}: {logical_id}"
            assert function.get("LoggingConfig", {}).get("LogGroup") == {"Ref": "FunctionLogGroup"}, (
                f"{label}: {logical_id} logs to {function.get('LoggingConfig')}"
            )
            assert (ROOT / "functions" / folder / "app.py").is_file(), f"functions/{folder}/app.py is missing"
    layers = validation.resolved("base").properties("TrackFunction")["Layers"]
    assert layers[0] == "{{resolve:ssm:/aws/service/powertools/python/arm64/python3.12/latest}}"
