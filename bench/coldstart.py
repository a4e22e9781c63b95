"""Cold start: each function module's import time next to ``import boto3`` alone; package sizes.

Import times are measured in fresh interpreters (one subprocess per repetition, the median is kept), with
the settings a function needs to import without AWS
(``local_stack.resources.default_environment``), and what
the packages leave out (``iac.build.UNUSED``: cryptography) made unimportable, as in Lambda: the time
from before ``import functions.<name>.app`` to after it, which includes Powertools, pydantic, the settings
validation and the module-level clients, as a Lambda init does. Two configurations are measured: tracing
off (how the local stack and the tests run) and tracing on, as deployed (``Tracing: Active``), where
Powertools' Tracer loads the X-Ray SDK.

Next to each function, its floor: ``import boto3`` and then making the same boto3 clients the function
makes at init (found in the imported module's interpreter), and nothing else. A Lambda makes its SDK
clients at init, where they are reused by every invocation (AWS's own advice); whatever a function does
beyond that floor is its own cost (Powertools, pydantic, the settings, its models).

Package sizes come from ``iac.build`` itself (the same build ``make build`` makes, for python3.12/arm64),
into a temporary folder; then the sync_profile package is imported in a clean interpreter to prove that it
works without what it leaves out.
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Goal of the issue: a function's import at most this many times ``import boto3`` alone.
IMPORT_GOAL_RATIO = 1.3
#: Goal of the issue: a function's package (with the shared layer, without what the runtime and the
#: Powertools layer provide) at most this size, unzipped.
PACKAGE_GOAL_BYTES = 5 * 1024 * 1024

_TIMER = (
    "import importlib, os, sys, time\n"
    "for name in filter(None, os.environ.get('BENCH_ABSENT', '').split(',')):\n"
    "    sys.modules[name] = None  # left out of the package: importing it fails as if not installed\n"
    "started = time.perf_counter()\n"
    "importlib.import_module(sys.argv[1])\n"
    "elapsed = time.perf_counter() - started\n"
    "import gc\n"
    "clients = set()\n"
    "if 'botocore.client' in sys.modules:  # the boto3 clients the import made, by service\n"
    "    base = sys.modules['botocore.client'].BaseClient\n"
    "    clients = {o.meta.service_model.service_name for o in gc.get_objects() if isinstance(o, base)}\n"
    "print('clients=' + ','.join(sorted(clients)))\n"
    "print(elapsed)\n"
)

#: The floor of a function that makes boto3 clients at init: ``import boto3``, one session, its clients.
_FLOOR = (
    "import sys, time\n"
    "started = time.perf_counter()\n"
    "import boto3\n"
    "session = boto3.session.Session()\n"
    "for service in filter(None, sys.argv[1].split(',')):\n"
    "    session.client(service)\n"
    "print(time.perf_counter() - started)\n"
)


def import_environment(tracing: bool) -> dict[str, str]:
    """A clean environment in which every function imports without AWS and without network."""
    from iac.build import UNUSED
    from local_stack.resources import default_environment

    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(default_environment())
    # what the packages leave out (iac.build.UNUSED) is absent at run time, though this venv has it
    env["BENCH_ABSENT"] = ",".join(sorted(UNUSED))
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions" / "shared")]),
            "AWS_ACCESS_KEY_ID": "cold-start",
            "AWS_SECRET_ACCESS_KEY": "cold-start",
            "PYTHONDONTWRITEBYTECODE": "1",
            # as deployed: idempotency on, the Profile API configured (literal values: no AWS call at init)
            "IDEMPOTENCY_TABLE": "segment-personalize-idempotency",
            "SEGMENT_SPACE_ID": "cold-start",
            "SEGMENT_PROFILE_TOKEN": "cold-start",
        }
    )
    if tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "false"
        env["LAMBDA_TASK_ROOT"] = str(ROOT)  # Powertools traces only in Lambda (LAMBDA_TASK_ROOT set)
        env["AWS_LAMBDA_FUNCTION_NAME"] = "segment-personalize-cold-start"
        env["_X_AMZN_TRACE_ID"] = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"
    return env


def _fresh(script: str, argument: str, env: Mapping[str, str]) -> list[str]:
    """The lines ``script`` prints in a fresh interpreter."""
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script, argument],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argument} failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip().splitlines()


def timed_import(module: str, env: Mapping[str, str]) -> tuple[float, list[str]]:
    """Seconds to import ``module`` in a fresh interpreter, and the services of the boto3 clients it made."""
    *_, clients, seconds = _fresh(_TIMER, module, env)
    return float(seconds), [name for name in clients.removeprefix("clients=").split(",") if name]


def floor_seconds(services: list[str], env: Mapping[str, str]) -> float:
    """Seconds to ``import boto3`` and make a client of each of ``services`` in a fresh interpreter."""
    return float(_fresh(_FLOOR, ",".join(services), env)[-1])


def import_times(functions: list[str], repeat: int) -> dict[str, Any]:
    """Median import ms of boto3 and of each function module, tracing off and on; ratios to boto3.

    The repetitions are interleaved (boto3, then each function and its floor, ``repeat`` rounds), and a
    ratio is the median of its per-round ratios, so that a busy spell of the machine weighs on the baseline
    and the functions alike. The floor (``import boto3`` and the clients the function's import just made)
    is measured with tracing off.
    """
    result: dict[str, Any] = {"repeat": repeat, "goalRatio": IMPORT_GOAL_RATIO, "functions": {}}
    # A warm-up import fills the OS file cache, so the first measured module is not penalised.
    timed_import("boto3", import_environment(False))
    for tracing in (False, True):
        env = import_environment(tracing)
        key = "tracingOn" if tracing else "tracingOff"
        modules = ["boto3", *(f"functions.{function}.app" for function in functions)]
        seconds: dict[str, list[float]] = {module: [] for module in modules}
        floors: dict[str, list[float]] = {function: [] for function in functions}
        for _ in range(repeat):
            for module in modules:
                elapsed, clients = timed_import(module, env)
                seconds[module].append(elapsed)
                function = module.removeprefix("functions.").removesuffix(".app")
                if not tracing and function in floors:
                    floors[function].append(floor_seconds(clients, env))
                    result["functions"].setdefault(function, {"clients": clients})
        boto3_ms = statistics.median(seconds["boto3"]) * 1000
        result.setdefault("boto3Ms", {})[key] = round(boto3_ms, 1)
        for function in functions:
            entry = result["functions"][function]
            entry[key] = _timing(seconds[f"functions.{function}.app"], seconds["boto3"])
            if not tracing:
                entry["floor"] = _timing(floors[function], seconds["boto3"])
    return result


def _timing(own: list[float], boto3: list[float]) -> dict[str, float]:
    """Median ms, and the median of the per-round ratios to ``import boto3`` (timed moments apart)."""
    ratio = statistics.median(f / b for f, b in zip(own, boto3, strict=True))
    return {"ms": round(statistics.median(own) * 1000, 1), "ratio": round(ratio, 2)}


def package_sizes() -> dict[str, Any]:
    """Build every package with iac.build (pip for python3.12/arm64) and measure them; check the import."""
    from iac import build

    with tempfile.TemporaryDirectory(prefix="bench-build-") as folder:
        out = Path(folder) / "build"
        log = io.StringIO()
        with contextlib.redirect_stdout(log):
            packages = build.build(out)
        layer = next(p for p in packages if p.kind == "layer")
        layer_unzipped, layer_zipped = build.sizes(layer.folder)
        sizes: dict[str, Any] = {
            "goalBytes": PACKAGE_GOAL_BYTES,
            "sharedLayer": {"unzipped": layer_unzipped, "zipped": layer_zipped},
            "functions": {},
        }
        for package in packages:
            if package.kind != "function":
                continue
            unzipped, zipped = build.sizes(package.folder)
            sizes["functions"][package.logical_id] = {
                "unzipped": unzipped,
                "zipped": zipped,
                "withSharedLayer": unzipped + layer_unzipped,
                "dependencies": [d for d in package.installed if d not in package.excluded],
            }
        sizes["importCheck"] = build.check_imports(packages)
    return sizes
