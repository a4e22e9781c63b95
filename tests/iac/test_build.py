"""iac/build.py without the network: pip is replaced by a fake that "installs" dist-info folders."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from iac import build
from iac.template import ASL, FUNCTIONS, ROOT

pytestmark = pytest.mark.iac

#: what the fake pip installs for each requirement line's project
FAKE_DISTRIBUTIONS = {
    "requests": ["requests", "urllib3", "certifi"],
    "segment-analytics-python": [
        "segment_analytics_python",
        "pyjwt",
        "requests",
        "urllib3",
        "certifi",
        "boto3",
        "cryptography",
        "cffi",
        "pycparser",
    ],
}


def fake_install(requirements: list[str], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for requirement in requirements:
        project = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        for dist in FAKE_DISTRIBUTIONS[project]:
            package = target / dist
            package.mkdir(exist_ok=True)
            (package / "__init__.py").write_text("x = 1\n" * 100)
            info = target / f"{dist}-1.0.dist-info"
            info.mkdir(exist_ok=True)
            (info / "RECORD").write_text(f"{dist}/__init__.py,,\n{info.name}/RECORD,,\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[build.Package]]:
    out = tmp_path_factory.mktemp("build")
    return out, build.build(out, install=fake_install)


def test_every_function_and_the_layer_is_built(built: tuple[Path, list[build.Package]]) -> None:
    out, packages = built
    assert {p.logical_id for p in packages} == set(FUNCTIONS.values()) | {"SharedLayer"}
    for folder in FUNCTIONS:
        assert (out / FUNCTIONS[folder] / "app.py").is_file()
    # a Python layer's code is under python/
    assert (out / "SharedLayer" / "python" / "segment_personalize" / "config.py").is_file()
    assert not list(out.rglob("__pycache__"))


def test_packages_leave_out_what_the_runtime_and_layers_provide(
    built: tuple[Path, list[build.Package]],
) -> None:
    out, packages = built
    sync = next(p for p in packages if p.logical_id == "SyncProfileFunction")
    assert (out / "SyncProfileFunction" / "segment_analytics_python").is_dir()
    # boto3 (runtime) and requests & co (shared layer) are not carried twice; the cryptography stack that
    # PyJWT[crypto] pulls in for Segment OAuth (unused) is not carried at all
    assert sorted(sync.excluded) == [
        "boto3",
        "certifi",
        "cffi",
        "cryptography",
        "pycparser",
        "requests",
        "urllib3",
    ]
    assert (out / "SyncProfileFunction" / "pyjwt").is_dir()
    for dist in ("boto3", "requests", "urllib3", "certifi", "cryptography", "cffi", "pycparser"):
        assert not (out / "SyncProfileFunction" / dist).exists()
        assert not list((out / "SyncProfileFunction").glob(f"{dist}-*.dist-info"))
    layer = next(p for p in packages if p.logical_id == "SharedLayer")
    assert layer.excluded == []
    assert (out / "SharedLayer" / "python" / "requests").is_dir()


def test_built_template_points_at_the_built_folders(built: tuple[Path, list[build.Package]]) -> None:
    out, _ = built
    template: dict[str, Any] = json.loads((out / "template.yaml").read_text())
    for logical_id in FUNCTIONS.values():
        code = template["Resources"][logical_id]["Properties"]["CodeUri"]
        assert (out / code / "app.py").is_file()
    layer = template["Resources"]["SharedLayer"]
    assert (out / layer["Properties"]["ContentUri"] / "python").is_dir()
    assert "BuildMethod" not in layer.get("Metadata", {})  # built already: sam deploy must not rebuild
    definition = template["Resources"]["StateMachine"]["Properties"]["DefinitionUri"]
    assert (out / definition).resolve() == ASL.resolve()


def test_pip_installs_for_the_lambda_runtime_not_this_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    build.pip_install(["segment-analytics-python>=2.3,<3"], tmp_path)
    (command,) = calls
    flags = " ".join(command)
    assert "--platform manylinux2014_aarch64" in flags
    assert "--implementation cp" in flags
    assert "--python-version 3.12" in flags
    assert "--only-binary=:all:" in command
    assert command[command.index("--target") + 1] == str(tmp_path)
    build.pip_install([], tmp_path)
    assert len(calls) == 1  # nothing to install: pip is not run


def test_requirements_files_are_read_without_comments(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("# only comments\n\nrequests>=2.31,<3  # inline\n")
    assert build.requirements_of(path) == ["requests>=2.31,<3"]
    assert build.requirements_of(tmp_path / "missing.txt") == []
    # the committed files: the Segment library only in sync_profile, requests in the shared layer
    functions = ROOT / "functions"
    assert any(
        r.startswith("segment-analytics-python")
        for r in build.requirements_of(functions / "sync_profile" / "requirements.txt")
    )
    assert any(
        r.startswith("requests") for r in build.requirements_of(functions / "shared" / "requirements.txt")
    )
    for name in ("entry", "validate", "track", "recommend", "filter_traits"):
        assert build.requirements_of(functions / name / "requirements.txt") == [], name


def test_sizes_are_reported_zipped_and_unzipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.py").write_text("print('hello')\n" * 1000)
    unzipped, zipped = build.sizes(tmp_path)
    assert unzipped == 15_000
    assert 0 < zipped < unzipped
    package = build.Package("ValidateFunction", "function", tmp_path, tmp_path, [], [])
    build.report([package], tmp_path)
    out = capsys.readouterr().out
    assert "ValidateFunction" in out
    assert "14.6 KB" in out


def test_built_template_is_still_a_valid_sam_template(built: tuple[Path, list[build.Package]]) -> None:
    from cfnlint.api import lint_file

    out, _ = built
    problems = [f"{m.rule.id} {m.message}" for m in lint_file(out / "template.yaml")]
    assert problems == []


def test_built_packages_import_on_their_own(built: tuple[Path, list[build.Package]]) -> None:
    # given the (fake) built packages, when their distributions are imported in a clean interpreter
    _, packages = built
    results = build.check_imports(packages)

    # then each package that carries distributions imports them with only itself and the layer on the path
    assert set(results) == {"SharedLayer", "SyncProfileFunction"}
    assert results["SyncProfileFunction"]["modules"] == ["pyjwt", "segment_analytics_python"]
    assert all(result["ok"] for result in results.values()), results


def test_the_import_check_fails_when_a_needed_distribution_was_left_out(tmp_path: Path) -> None:
    package = tmp_path / "SyncProfileFunction"
    fake_install(["segment-analytics-python>=2.3,<3"], package)
    (package / "segment_analytics_python" / "__init__.py").write_text("import cryptography\n")
    build.remove_distributions(package, build.UNUSED)
    installed = sorted(build.distributions(package))
    result = build.check_imports(
        [build.Package("SyncProfileFunction", "function", package, package, installed, [])]
    )
    assert result["SyncProfileFunction"]["ok"] is False
    assert "cryptography" in result["SyncProfileFunction"]["detail"]


def test_top_level_modules_of_a_namespace_package_are_its_packages(tmp_path: Path) -> None:
    (tmp_path / "segment" / "analytics").mkdir(parents=True)
    info = tmp_path / "segment_analytics_python-2.3.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(
        "segment/analytics/__init__.py,,\nsegment/analytics/client.py,,\nsix.py,,\n"
        f"{info.name}/RECORD,,\n../../bin/tool,,\n"
    )
    assert build.top_level_modules(tmp_path, "segment-analytics-python") == ["segment.analytics", "six"]
    assert build.top_level_modules(tmp_path, "absent") == []
