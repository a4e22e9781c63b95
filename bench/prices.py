"""AWS list prices (us-east-1, on-demand, no free tier) and the cost of one event under each design.

Prices are stated in the output next to the figures they produce. Durations and counts come from the
measured run: state transitions from the execution histories (retries count as transitions), Lambda
invocations and their durations from the invoke server, Express durations from the histories.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

#: Step Functions Standard: per state transition ($0.025 per 1,000).
STANDARD_PER_TRANSITION = 0.025 / 1_000
#: Step Functions Express: per request ($1.00 per million) ...
EXPRESS_PER_REQUEST = 1.00 / 1_000_000
#: ... and per GB-second of duration (first 1,000 GB-hours a month: $0.06 per GB-hour), billed in 100 ms
#: increments, memory in 64 MB chunks (at least one).
EXPRESS_PER_GB_SECOND = 0.06 / 3_600
EXPRESS_DURATION_INCREMENT_MS = 100
EXPRESS_MEMORY_CHUNK_MB = 64
#: Lambda on arm64: per request ($0.20 per million) and per GB-second, billed per millisecond.
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334

PRICES = {
    "region": "us-east-1",
    "stepFunctionsStandardPerThousandTransitions": 0.025,
    "stepFunctionsExpressPerMillionRequests": 1.00,
    "stepFunctionsExpressPerGbSecond": round(EXPRESS_PER_GB_SECOND, 10),
    "stepFunctionsExpressBilling": "duration rounded up to 100 ms, memory in 64 MB chunks",
    "lambdaArm64PerMillionRequests": 0.20,
    "lambdaArm64PerGbSecond": LAMBDA_ARM_PER_GB_SECOND,
    "lambdaBilling": "duration rounded up to 1 ms, at the function's configured memory",
}


@dataclass(frozen=True)
class Invocation:
    """One Lambda invocation of an event: configured memory and measured duration."""

    memory_mb: int
    duration_ms: float


def lambda_cost(invocations: list[Invocation]) -> float:
    """Requests plus GB-seconds (each duration rounded up to the millisecond) of one event's invocations."""
    total = 0.0
    for call in invocations:
        billed_ms = max(1, math.ceil(call.duration_ms))
        total += LAMBDA_PER_REQUEST + call.memory_mb / 1024 * billed_ms / 1000 * LAMBDA_ARM_PER_GB_SECOND
    return total


def express_billed_ms(duration_ms: float) -> int:
    """The duration an Express execution is billed for: rounded up to 100 ms increments."""
    return max(1, math.ceil(duration_ms / EXPRESS_DURATION_INCREMENT_MS)) * EXPRESS_DURATION_INCREMENT_MS


def express_cost(duration_ms: float, memory_mb: float = EXPRESS_MEMORY_CHUNK_MB) -> float:
    """One Express request and its duration at the memory it used (64 MB chunks, 100 ms increments)."""
    billed_ms = express_billed_ms(duration_ms)
    chunks = max(1, math.ceil(memory_mb / EXPRESS_MEMORY_CHUNK_MB))
    gb = chunks * EXPRESS_MEMORY_CHUNK_MB / 1024
    return EXPRESS_PER_REQUEST + gb * billed_ms / 1000 * EXPRESS_PER_GB_SECOND


@dataclass(frozen=True)
class EventCost:
    """Dollars per million events, and what they are made of."""

    design: str
    orchestration: float
    lambda_: float
    total: float
    basis: str

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["lambda"] = data.pop("lambda_")
        return {key: round(value, 2) if isinstance(value, float) else value for key, value in data.items()}


def per_million(
    *,
    transitions: float,
    workflow_invocations: list[Invocation],
    express_duration_ms: float,
    baseline_invocations: list[Invocation],
) -> list[EventCost]:
    """Cost per million events for STANDARD, EXPRESS and the baseline, from one event's measured figures."""
    million = 1_000_000
    workflow_lambda = lambda_cost(workflow_invocations) * million
    standard = transitions * STANDARD_PER_TRANSITION * million
    express = express_cost(express_duration_ms) * million
    baseline = lambda_cost(baseline_invocations) * million
    calls = len(workflow_invocations)
    return [
        EventCost(
            "STANDARD",
            standard,
            workflow_lambda,
            standard + workflow_lambda,
            f"{transitions:g} state transitions + {calls} Lambda invocations per event",
        ),
        EventCost(
            "EXPRESS",
            express,
            workflow_lambda,
            express + workflow_lambda,
            f"1 request of {express_duration_ms:.1f} ms (billed {express_billed_ms(express_duration_ms)} ms "
            f"at {EXPRESS_MEMORY_CHUNK_MB} MB) "
            f"+ {calls} Lambda invocations per event",
        ),
        EventCost(
            "baseline",
            0.0,
            baseline,
            baseline,
            f"{len(baseline_invocations)} Lambda invocation per event",
        ),
    ]


def mean_invocations(
    durations_ms: Mapping[str, list[float]], memory_mb: Mapping[str, int]
) -> list[Invocation]:
    """One invocation per function, at its mean measured duration."""
    return [
        Invocation(memory_mb[name], sum(values) / len(values))
        for name, values in durations_ms.items()
        if values
    ]
