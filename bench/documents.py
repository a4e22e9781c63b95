"""The bench's figures in README.md and docs/performance.md: a generated block in each, from the results.

``python -m bench`` measures, writes ``bench/results.json`` and rewrites both blocks from it;
``python -m bench --render`` rewrites them from the committed file without measuring. The test
(``tests/unit/bench/test_bench.py``) checks that each block is what the committed results render to, so a
new measurement never leaves the documents quoting old figures.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.prices import express_billed_ms
from bench.report import render

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PERFORMANCE = ROOT / "docs" / "performance.md"
BEGIN_MARKER = "<!-- BEGIN GENERATED BENCH FIGURES: python -m bench --render -->"
END_MARKER = "<!-- END GENERATED BENCH FIGURES -->"
#: The role of a function's sandbox process in ``bench.memory``'s figures, and every role's name here.
SANDBOX = "local_stack.lambda_runtime.sandbox"
ROLES = {
    "cli.main": "the command",
    "local_stack.lambda_runtime.aws_services": "the functions' DynamoDB (moto)",
    SANDBOX: "sandboxes",
}


def _function_name(logical_id: str) -> str:
    """``SyncProfileFunction`` -> ``sync_profile``."""
    name = logical_id.removesuffix("Function")
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _extremes(functions: dict[str, Any], key: str) -> tuple[tuple[str, float], tuple[str, float]]:
    """The (function, ratio) with the lowest and the highest ``key`` ratio."""
    ratios = [(name, float(entry[key]["ratio"])) for name, entry in functions.items() if key in entry]
    return min(ratios, key=lambda r: r[1]), max(ratios, key=lambda r: r[1])


def _memory_row(results: dict[str, Any]) -> str:
    if "memory" not in results:
        return "| peak memory of `replay` | not in `bench/results.json` yet (`make bench` measures it) | |"
    m = results["memory"]
    sizes = " / ".join(f"{r['messages']:,}" for r in m["replays"])
    peaks = " / ".join(f"{r['peakMb']:.1f}" for r in m["replays"])
    verdict = "meets" if m["meetsGoal"] else "misses"
    return (
        f"| peak memory of `replay`, {sizes} messages | {peaks} MB: x{m['largestToSmallest']:.2f} "
        f"({verdict} the goal of x{m['goalRatio']:.2f} at most){_memory_split(m['replays'])} | |"
    )


def _memory_split(replays: list[dict[str, Any]]) -> str:
    """What the peaks were made of: each kind of process, one figure per replay."""
    if not all("atPeakMb" in replay for replay in replays):
        return ""
    parts = []
    for role, name in ROLES.items():
        entries = [replay["atPeakMb"].get(role, {"processes": 0, "mb": 0.0}) for replay in replays]
        if not any(entry["processes"] for entry in entries):
            continue
        each = " / ".join(f"{entry['mb'] / max(entry['processes'], 1):.0f}" for entry in entries)
        if role == SANDBOX:
            counts = " / ".join(str(entry["processes"]) for entry in entries)
            parts.append(f"{counts} {name} of {each} MB")
        else:
            parts.append(f"{name} {each} MB")
    return "; " + ", ".join(parts) if parts else ""


def _of_ceiling(cpu: dict[str, Any]) -> str:
    """``, 62% of the CPU ceiling (goal 80%; other processes took 33% of the cores)``, when measured."""
    if "concurrentToCeiling" not in cpu:
        return ""
    others = cpu.get("sharesOfCores", {}).get("otherProcesses")
    busy = f"; other processes took {others:.0%} of the cores" if others is not None else ""
    return f", {cpu['concurrentToCeiling']:.0%} of the CPU ceiling (goal {cpu['ceilingGoal']:.0%}{busy})"


def _measures(results: dict[str, Any]) -> list[str]:
    """The table of measures, workflow next to baseline."""
    t = results["throughput"]
    runs, cpu, ack = t["runs"], t["cpu"], results["acknowledgement"]
    rows = [
        f"The run in `bench/results.json`, on a {results['machine']['cpus']}-core machine:",
        "",
        "| Measure | Workflow | Single-function baseline (the original workshop Lambda) |",
        "|---|---|---|",
        "| throughput on the local stack, concurrent | "
        f"{runs['workflowConcurrent']['perSecond']} executions/s{_of_ceiling(cpu)} "
        f"(moto as it comes: {t['motoAsItComes']['perSecond']}) | "
        f"{round(runs['baselineConcurrent']['perSecond'])} invocations/s |",
        f"| CPU per event on the local stack | {cpu['workflowStackMsPerExecution']} ms ({cpu['cores']} cores "
        f"at most {cpu['ceilingPerSecond']}/s) | {cpu['baselineStackMsPerInvocation']} ms |",
        f"| Segment's invoke until the answer, median / p99 | {ack['entry']['medianMs']:.1f} / "
        f"{ack['entry']['p99Ms']:.1f} ms (entry starts the execution) | {ack['baseline']['medianMs']:.1f} / "
        f"{ack['baseline']['p99Ms']:.1f} ms (does everything synchronously) |",
        _memory_row(results),
    ]
    if "coldStart" in results:
        functions = results["coldStart"]["functions"]
        (low, low_ratio), (high, high_ratio) = _extremes(functions, "tracingOff")
        (_, floor_low), (_, floor_high) = _extremes(functions, "floor")
        rows.append(
            f"| cold start: import time vs `import boto3`, tracing off | {low_ratio:.2f}x ({low}) to "
            f"{high_ratio:.2f}x ({high}); floor with the same clients {floor_low:.2f}x to "
            f"{floor_high:.2f}x | |"
        )
    if "functions" in results.get("packages", {}):
        sizes = results["packages"]["functions"]
        largest = max(sizes, key=lambda name: sizes[name]["withSharedLayer"])
        rows.append(
            f"| largest package with the shared layer (arm64, no boto3) | "
            f"{sizes[largest]['withSharedLayer'] / 1024 / 1024:.2f} MB ({_function_name(largest)}) | |"
        )
    traffic = results["quality"]["traffic"]
    rows.append(
        f"| hit rate at {results['quality']['k']} of the local model, held-out split | "
        f"{traffic['model']:.2f} (popularity alone: {traffic['popularity']:.2f}) | |"
    )
    return rows


def _costs(results: dict[str, Any]) -> list[str]:
    """The cost table and which workflow type to deploy."""
    cost, prices = results["cost"], results["prices"]
    designs = cost["perMillionEvents"]
    standard, express, baseline = designs["STANDARD"], designs["EXPRESS"], designs["baseline"]
    invocations = sum(1 for name in cost["meanDurationMs"] if name != "baseline")
    transitions = cost["stateTransitionsPerEvent"]
    billed_ms = express_billed_ms(cost["expressDurationMs"])
    share = round(express["total"] / standard["total"] * 100) if standard["total"] else 0
    per_event = (standard["total"] - express["total"]) / 1e6
    return [
        *textwrap.wrap(
            "Cost per million events at us-east-1 list prices (Standard "
            f"${prices['stepFunctionsStandardPerThousandTransitions']} per 1,000 state transitions; Express "
            f"${prices['stepFunctionsExpressPerMillionRequests']:.2f} per million requests plus duration; "
            f"Lambda arm64 ${prices['lambdaArm64PerMillionRequests']:.2f} per million plus duration):",
            width=110,
        ),
        "",
        "| | orchestration | Lambda | total |",
        "|---|---|---|---|",
        f"| STANDARD ({transitions:g} state transitions, {invocations} invocations an event) | "
        f"${standard['orchestration']:.2f} | ${standard['lambda']:.2f} | **${standard['total']:.2f}** |",
        f"| EXPRESS (1 request, billed 64 MB / {billed_ms} ms, {invocations} invocations) | "
        f"${express['orchestration']:.2f} | ${express['lambda']:.2f} | **${express['total']:.2f}** |",
        f"| single-function baseline | – | ${baseline['lambda']:.2f} | ${baseline['total']:.2f} |",
        "",
        *textwrap.wrap(
            f"**Which workflow type:** deploy `WorkflowType=EXPRESS` for production volumes. It costs about "
            f"{share}% of Standard, and Express's at-least-once execution is safe here because Track and "
            "SyncProfile are idempotent (`make soak` shows zero tracked twice for Express: "
            "[docs/soak.md](docs/soak.md)). Keep the default `STANDARD` while you set the destination up or "
            "for low volumes: exactly-once executions named after the messageId and 90 days of history in "
            f"the console are worth ${per_event:.4f} an event there.",
            width=110,
            break_on_hyphens=False,
        ),
    ]


def readme_block(results: dict[str, Any]) -> str:
    """README's figures: the measures next to the baseline, the costs, which workflow type."""
    return "\n".join([*_measures(results), "", *_costs(results)])


def performance_block(results: dict[str, Any]) -> str:
    """docs/performance.md's figures: the whole table ``make bench`` prints, and which workflow type."""
    designs = results["cost"]["perMillionEvents"]
    standard, express, baseline = designs["STANDARD"], designs["EXPRESS"], designs["baseline"]
    transitions = results["cost"]["stateTransitionsPerEvent"]
    share = round(standard["orchestration"] / standard["total"] * 100) if standard["total"] else 0
    times = express["total"] / baseline["total"] if baseline["total"] else 0.0
    per_event = (standard["total"] - express["total"]) / 1e6
    recommendation = textwrap.wrap(
        f"**Recommendation: deploy the EXPRESS workflow** for event volumes. Standard costs "
        f"${standard['total']:.2f} per million events, {share}% of it the {transitions:g} state transitions "
        f"of every event; Express costs ${express['total']:.2f} (its own ${express['orchestration']:.2f} "
        f"plus the same Lambda cost), {times:.1f} times the baseline but with validation, trait filtering, "
        "retries with backoff and a dead-letter queue. Express runs each state at least once and does not "
        "dedupe executions by name, which is why Track and SyncProfile are idempotent "
        "(`IDEMPOTENCY_TABLE`): a repeat sends nothing twice. Keep Standard for low volumes where its "
        "exactly-once executions, name dedupe and 90-day console history are worth "
        f"${per_event:.4f} an event.",
        width=110,
        break_on_hyphens=False,
    )
    return "\n".join([f"```text\n{render(results)}\n```", "", *recommendation])


#: Each document with a generated block, and what renders it.
BLOCKS: dict[Path, Callable[[dict[str, Any]], str]] = {README: readme_block, PERFORMANCE: performance_block}


def block(document: str) -> str:
    """The text between the markers of ``document`` (without them or the newlines next to them)."""
    begin, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if begin < 0 or end < begin:
        raise ValueError(f"the document lacks the markers {BEGIN_MARKER!r} ... {END_MARKER!r}")
    return document[begin + len(BEGIN_MARKER) : end].strip("\n")


def replace_block(document: str, text: str) -> str:
    """``document`` with the text between its markers replaced by ``text``."""
    block(document)  # the markers are there
    head, rest = document.split(BEGIN_MARKER, 1)
    tail = rest.split(END_MARKER, 1)[1]
    return f"{head}{BEGIN_MARKER}\n{text}\n{END_MARKER}{tail}"


def write(
    results: dict[str, Any], blocks: dict[Path, Callable[[dict[str, Any]], str]] = BLOCKS
) -> list[Path]:
    """Rewrite each document's block from ``results``; the documents that changed."""
    changed = []
    for path, render_block in blocks.items():
        document = path.read_text(encoding="utf-8")
        rewritten = replace_block(document, render_block(results))
        if rewritten != document:
            path.write_text(rewritten, encoding="utf-8")
            changed.append(path)
    return changed
