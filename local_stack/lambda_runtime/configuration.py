"""What each local function is: its module, and the timeout, memory and concurrency Lambda would give it.

Timeout and memory come from ``iac/template.yaml`` as deployed: ``Globals.Function`` first, then the
function's own ``Timeout`` and ``MemorySize`` (read once per process). A caller may override a timeout (a
test makes a step time out in a fraction of a second) and set a per-function concurrency: past it, the
Invoke API answers ``TooManyRequestsException`` as Lambda does when a function's concurrency is used up.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from functions import FUNCTIONS, logical_id

#: Invocations of one function in flight at once before the Invoke API answers 429. Above anything a local
#: run asks for (``replay`` and the soak keep 24 executions in flight, each in one step at a time; the bench
#: sends from 16 threads), far below Lambda's default of 1,000 concurrent executions per account and Region
#: (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, "Concurrent executions").
DEFAULT_CONCURRENCY = 32

#: Lambda's defaults when a template sets neither (https://docs.aws.amazon.com/lambda/latest/dg/
#: configuration-timeout.html: "The default value for this setting is 3 seconds"; memory 128 MB).
LAMBDA_DEFAULT_TIMEOUT = 3.0
LAMBDA_DEFAULT_MEMORY_MB = 128


@dataclass(frozen=True)
class FunctionConfig:
    """One function as the local runtimes run it."""

    function: str  # the folder name: ``track``
    module: str  # what a sandbox imports: ``functions.track.app``
    timeout_seconds: float
    memory_mb: int
    concurrency: int


@functools.cache
def template_limits() -> dict[str, tuple[float, int]]:
    """(Timeout in seconds, MemorySize in MB) of every function of ``iac/template.yaml``, and of ``""``:
    the ``Globals`` that a function outside the template (the bench's baseline) gets."""
    from iac.template import load_template

    template = load_template()
    defaults = template.get("Globals", {}).get("Function", {})
    timeout = float(defaults.get("Timeout", LAMBDA_DEFAULT_TIMEOUT))
    memory = int(defaults.get("MemorySize", LAMBDA_DEFAULT_MEMORY_MB))
    limits = {"": (timeout, memory)}
    for function in FUNCTIONS:
        properties = template["Resources"][logical_id(function)]["Properties"]
        limits[function] = (
            float(properties.get("Timeout", timeout)),
            int(properties.get("MemorySize", memory)),
        )
    return limits


def _per_function(value: int | Mapping[str, int] | None, function: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, int):
        return value
    return int(value.get(function, default))


def function_configs(
    modules: Mapping[str, str],
    *,
    timeouts: Mapping[str, float] | None = None,
    concurrency: int | Mapping[str, int] | None = None,
) -> dict[str, FunctionConfig]:
    """A :class:`FunctionConfig` per function of ``modules`` (name -> module to import)."""
    limits = template_limits()
    configs = {}
    for function, module in modules.items():
        timeout, memory = limits.get(function, limits[""])
        if timeouts and function in timeouts:
            timeout = float(timeouts[function])
        if timeout <= 0:
            raise ValueError(f"the timeout of {function} must be positive, got {timeout}")
        limit = _per_function(concurrency, function, DEFAULT_CONCURRENCY)
        if limit < 1:
            raise ValueError(f"the concurrency of {function} must be at least 1, got {limit}")
        configs[function] = FunctionConfig(function, module, timeout, memory, limit)
    return configs


def default_modules(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every function of the project (``functions.<name>.app``), and ``extra`` ones (name -> module)."""
    return {**{function: f"functions.{function}.app" for function in FUNCTIONS}, **dict(extra or {})}
