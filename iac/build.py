"""Build the Lambda packages for python3.12 on arm64, whatever Python and CPU this machine has.

``python -m iac.build`` (``make build``) writes what ``sam build`` would, into ``.aws-sam/build``: one folder
per function (its code and its requirements), the shared layer under ``SharedLayer/python``, and
``template.yaml`` pointing at them, so ``sam deploy`` deploys it as is. Dependencies are installed by pip for
the Lambda runtime's interpreter and CPU (``--platform manylinux2014_aarch64 --implementation cp
--python-version 3.12 --only-binary=:all:``), never for the build machine's.

A package leaves out what its function already has at run time: boto3 and botocore come with the Lambda
runtime, Powertools (with pydantic and aws-xray-sdk) with its public layer, and what the shared layer
installed with the shared layer. Each package's size is printed zipped and unzipped.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IAC = ROOT / "iac"
TEMPLATE = IAC / "template.yaml"
BUILD = ROOT / ".aws-sam" / "build"

PYTHON_VERSION = "3.12"
#: The python3.12 runtime is Amazon Linux 2023 (glibc 2.34) on Graviton: manylinux2014 (glibc 2.17) wheels
#: run there, and so do manylinux_2_28 ones, which some projects publish instead for aarch64.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")

#: Distributions a package never carries, and what provides them at run time.
PROVIDED = {
    "boto3": "Lambda runtime",
    "botocore": "Lambda runtime",
    "s3transfer": "Lambda runtime",
    "jmespath": "Lambda runtime",
    "aws-lambda-powertools": "Powertools layer",
    "aws-xray-sdk": "Powertools layer",
    "wrapt": "Powertools layer",
    "pydantic": "Powertools layer",
    "pydantic-core": "Powertools layer",
    "annotated-types": "Powertools layer",
    "typing-inspection": "Powertools layer",
    "typing-extensions": "Powertools layer",
}
#: Distributions a package leaves out because nothing the functions run imports them, and why.
#: segment-analytics-python requires ``PyJWT[crypto]`` for Segment's OAuth, which this project does not use;
#: ``segment.analytics`` imports ``jwt``, and ``jwt`` imports ``cryptography`` only if it is there. Leaving
#: the cryptography stack out takes sync_profile's package from ~15 MB to well under 1 MB (and ~0.1 s off
#: its import); :func:`check_imports` proves the package still imports.
UNUSED = {
    "cryptography": "only Segment OAuth (PyJWT's crypto extra) needs it",
    "cffi": "only cryptography needs it",
    "pycparser": "only cffi needs it",
}
#: Lambda's limit for a function with all its layers, unzipped.
UNZIPPED_LIMIT = 250 * 1024 * 1024
SKIP = {"__pycache__", ".pytest_cache", ".mypy_cache", "tests"}


@dataclass
class Package:
    logical_id: str
    kind: str  # "function" or "layer"
    source: Path
    folder: Path  # what is zipped and uploaded
    installed: list[str]
    excluded: list[str]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_of(path: Path) -> list[str]:
    """The requirement lines of a requirements.txt (comments and blanks dropped); none if it is absent."""
    if not path.is_file():
        return []
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def copy_source(source: Path, target: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith((".pyc", ".pyo"))}

    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)


def pip_install(requirements: list[str], target: Path) -> None:
    """Install for the Lambda runtime's Python and CPU (wheels only: nothing is compiled here)."""
    if not requirements:
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--target",
        str(target),
        *requirements,
    ]
    print("  pip install " + " ".join(requirements))
    subprocess.run(command, check=True)  # noqa: S603 - fixed command, requirements from our own files


def distributions(folder: Path) -> dict[str, Path]:
    """Normalized distribution name -> its .dist-info folder, for what pip installed into ``folder``."""
    found = {}
    for info in folder.glob("*.dist-info"):
        name = info.name[: -len(".dist-info")].rsplit("-", 1)[0]
        found[normalize(name)] = info
    return found


def remove_distributions(folder: Path, names: Iterable[str]) -> list[str]:
    """Delete the files (per RECORD) of the installed distributions named; return the ones removed."""
    installed = distributions(folder)
    removed = []
    for name in sorted(set(names) & set(installed)):
        info = installed[name]
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text().splitlines():
                relative = line.split(",", 1)[0]
                path = (folder / relative).resolve()
                if path.is_file() and folder.resolve() in path.parents:
                    path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        removed.append(name)
    # drop the package folders RECORD emptied
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def sizes(folder: Path) -> tuple[int, int]:
    """(unzipped, zipped) bytes of a folder, zipped as sam deploy zips it (deflate)."""
    unzipped = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                unzipped += path.stat().st_size
                archive.write(path, path.relative_to(folder).as_posix())
    return unzipped, len(buffer.getvalue())


def human(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def built_template(template: dict[str, Any], locations: dict[str, str], out: Path) -> dict[str, Any]:
    """The template with each CodeUri/ContentUri on its built folder and DefinitionUri re-rooted, as
    ``sam build`` writes ``.aws-sam/build/template.yaml``."""
    built = json.loads(json.dumps(template))
    for logical_id, resource in built["Resources"].items():
        props = resource.get("Properties", {})
        if logical_id in locations:
            key = "ContentUri" if resource["Type"] == "AWS::Serverless::LayerVersion" else "CodeUri"
            props[key] = locations[logical_id]
            resource.get("Metadata", {}).pop("BuildMethod", None)
            resource.get("Metadata", {}).pop("BuildArchitecture", None)
        if "DefinitionUri" in props and isinstance(props["DefinitionUri"], str):
            absolute = (IAC / props["DefinitionUri"]).resolve()
            props["DefinitionUri"] = os.path.relpath(absolute, out)
    return built


Installer = Callable[[list[str], Path], None]


def build(out: Path = BUILD, install: Installer = pip_install) -> list[Package]:
    """Build every layer and function of the template into ``out`` (emptied first)."""
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(TEMPLATE.read_text())
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    packages: list[Package] = []
    locations: dict[str, str] = {}
    layer_provided: set[str] = set()
    resources = template["Resources"]
    layers = [(lid, r) for lid, r in resources.items() if r["Type"] == "AWS::Serverless::LayerVersion"]
    functions = [(lid, r) for lid, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
    for logical_id, resource in layers + functions:
        is_layer = resource["Type"] == "AWS::Serverless::LayerVersion"
        source = (IAC / resource["Properties"]["ContentUri" if is_layer else "CodeUri"]).resolve()
        folder = out / logical_id
        print(f"{logical_id} <- {source.relative_to(ROOT)}")
        code = folder / "python" if is_layer else folder  # a Python layer's code lives under python/
        copy_source(source, code)
        requirements = requirements_of(source / "requirements.txt")
        install(requirements, code)
        installed = sorted(distributions(code))
        excluded = remove_distributions(
            code, set(PROVIDED) | set(UNUSED) | (set() if is_layer else layer_provided)
        )
        if is_layer:
            layer_provided |= set(installed) - set(excluded)
        for name in excluded:
            if name in UNUSED:
                print(f"  left out {name} (unused: {UNUSED[name]})")
            else:
                print(f"  left out {name} (provided by the {PROVIDED.get(name, 'shared layer')})")
        locations[logical_id] = logical_id
        packages.append(
            Package(logical_id, "layer" if is_layer else "function", source, folder, installed, excluded)
        )

    # JSON is YAML: sam deploy reads this as it reads sam build's output.
    (out / "template.yaml").write_text(json.dumps(built_template(template, locations, out), indent=2) + "\n")
    return packages


def top_level_modules(folder: Path, distribution: str) -> list[str]:
    """The importable top-level modules a distribution installed into ``folder`` (from its RECORD); for a
    namespace package (no ``__init__.py``, like ``segment``), its packages (``segment.analytics``)."""
    info = distributions(folder).get(normalize(distribution))
    record = info / "RECORD" if info else None
    if record is None or not record.is_file():
        return []
    files = [line.split(",", 1)[0] for line in record.read_text().splitlines()]
    names = set()
    for path in files:
        parts = path.split("/")
        head = parts[0]
        if not head or head.endswith((".dist-info", ".data")) or head in ("..", "bin", "__pycache__"):
            continue
        if len(parts) == 1 and head.endswith(".py"):
            names.add(head[: -len(".py")])
        elif f"{head}/__init__.py" in files:
            names.add(head)
        elif len(parts) == 3 and parts[2] == "__init__.py":
            names.add(f"{head}.{parts[1]}")
    return sorted(names)


def check_imports(packages: list[Package]) -> dict[str, Any]:
    """Import what each function package carries in a clean interpreter (no site-packages; only the package
    and the shared layer on the path), so a dependency left out (:data:`UNUSED`) that is needed fails here.

    The wheels are for python3.12/arm64, this interpreter may be another: pure-Python code imports, compiled
    extensions do not (none of the carried distributions needs one: they are pure, or fall back to Python).
    """
    layer = next((p for p in packages if p.kind == "layer"), None)
    layer_path = [str(layer.folder / "python")] if layer else []
    results: dict[str, Any] = {}
    for package in packages:
        kept = [d for d in package.installed if d not in package.excluded]
        code = package.folder / "python" if package.kind == "layer" else package.folder
        modules = sorted({m for d in kept for m in top_level_modules(code, d)})
        if not modules:
            continue
        path = [str(code)] + ([] if package.kind == "layer" else layer_path)
        script = (
            "import importlib, importlib.util, sys\n"
            "for name in sys.argv[1:]:\n"
            "    importlib.import_module(name)\n"
            f"absent = [n for n in {sorted(UNUSED)!r} if importlib.util.find_spec(n) is not None]\n"
            "print('present: ' + ','.join(absent) if absent else 'ok')\n"
        )
        done = subprocess.run(  # noqa: S603 - this interpreter, our script, module names from RECORD files
            [sys.executable, "-S", "-s", "-c", script, *modules],
            env={"PYTHONPATH": os.pathsep.join(path), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            check=False,
        )
        output = (done.stdout + done.stderr).strip().splitlines()
        results[package.logical_id] = {
            "modules": modules,
            "ok": done.returncode == 0 and output[-1:] == ["ok"],
            "detail": output[-1] if output else "",
        }
    return results


def report(packages: list[Package], out: Path = BUILD) -> None:
    print()
    print(f"{'package':<24} {'kind':<9} {'unzipped':>10} {'zipped':>10}  dependencies")
    layer_unzipped = 0
    rows = []
    for package in packages:
        unzipped, zipped = sizes(package.folder)
        if package.kind == "layer":
            layer_unzipped += unzipped
        kept = [d for d in package.installed if d not in package.excluded]
        rows.append((package, unzipped, zipped, kept))
    for package, unzipped, zipped, kept in rows:
        deps = ", ".join(kept) or "-"
        print(f"{package.logical_id:<24} {package.kind:<9} {human(unzipped):>10} {human(zipped):>10}  {deps}")
    largest = max(u for p, u, _, _ in rows if p.kind == "function")
    print(
        f"largest function + shared layer: {human(largest + layer_unzipped)} unzipped of Lambda's "
        f"{human(UNZIPPED_LIMIT)} (the Powertools layer comes on top)"
    )
    print(f"built into {out}; `sam deploy` reads {out / 'template.yaml'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD, help="build folder (default: .aws-sam/build)")
    args = parser.parse_args(argv)
    packages = build(args.out.resolve())
    report(packages, args.out.resolve())
    failed = {k: v for k, v in check_imports(packages).items() if not v["ok"]}
    for logical_id, result in failed.items():
        print(f"{logical_id}: its dependencies do not import on their own: {result['detail']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
