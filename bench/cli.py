"""``python -m bench``: measure, print the table, write ``bench/results.json``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import memory

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"


def template_memory_mb() -> int:
    """Lambda memory of every function (``iac/template.yaml`` Globals), and of the baseline for comparison."""
    from iac.template import load_template

    return int(load_template()["Globals"]["Function"]["MemorySize"])


def _prepare_path() -> None:
    for folder in (ROOT, ROOT / "functions" / "shared"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    from cli.main import quiet_logging

    quiet_logging()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the workflow next to a single-function baseline; print a table, save JSON.",
    )
    parser.add_argument("--quick", action="store_true", help="small runs, one repetition, no package build")
    parser.add_argument("--sequential", type=int, default=150, help="events per sequential run (150)")
    parser.add_argument("--concurrent", type=int, default=300, help="events per concurrent run (300)")
    parser.add_argument("--concurrency", type=int, default=16, help="senders at once in concurrent runs (16)")
    parser.add_argument("--unpatched", type=int, default=20, help="events through moto as it comes (20)")
    parser.add_argument("--repeat", type=int, default=7, help="fresh interpreters per import time (7)")
    parser.add_argument("--seed", type=int, default=7, help="traffic seed (7)")
    parser.add_argument("--skip-packages", action="store_true", help="do not build packages (needs PyPI)")
    parser.add_argument("--skip-cold-start", action="store_true", help="do not measure import times")
    parser.add_argument(
        "--memory-sizes",
        type=int,
        nargs=2,
        default=list(memory.SIZES),
        metavar=("SMALLER", "LARGER"),
        help="messages of the two replays whose peak memory is compared (1000 3000)",
    )
    parser.add_argument("--skip-memory", action="store_true", help="do not measure replay peak memory")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON file (bench/results.json)")
    parser.add_argument(
        "--no-save", action="store_true", help="print only: neither the JSON file nor the documents"
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: print the results file's table, rewrite the documents' figures from it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    _prepare_path()
    args = build_parser().parse_args(argv)
    if args.quick:
        args.sequential, args.concurrent, args.unpatched, args.repeat = 30, 60, 6, 1
        args.memory_sizes = [size // 5 for size in memory.SIZES]
        args.skip_packages = True
    from bench import documents
    from bench.report import problems, render

    results = json.loads(args.output.read_text(encoding="utf-8")) if args.render else run(args)
    print(render(results))
    if not args.no_save:
        if not args.render:
            args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
            print(f"\nsaved {_shown(args.output)}")
        for path in documents.write(results):
            print(f"rewrote the figures of {_shown(path)}")
    found = problems(results)
    for problem in found:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if found else 0


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def _say(text: str) -> None:
    print(f"  ... {text}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench import coldstart, prices, quality, workflow
    from functions import FUNCTIONS

    started = time.monotonic()
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
            "machine": platform.machine(),
        },
        "options": {
            "sequential": args.sequential,
            "concurrent": args.concurrent,
            "concurrency": args.concurrency,
            "unpatched": args.unpatched,
            "repeat": args.repeat,
            "seed": args.seed,
        },
        "prices": prices.PRICES,
    }
    load = workflow.workload(args.sequential, args.concurrent, args.concurrency, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        _say("moto as it comes (the engine's speed-ups off)")
        unpatched = workflow.measure_unpatched(Path(folder) / "unpatched", load, args.unpatched)
        _say("the workflow and the baseline, each on a fresh local stack")
        measured = workflow.measure(Path(folder), load, concurrency=args.concurrency, progress=_say)
        if not args.skip_memory:
            sizes = tuple(args.memory_sizes)
            _say(f"peak memory of segment-personalize replay, {sizes[0]} and {sizes[1]} lines")
            results["memory"] = memory.peak_memory(Path(folder) / "memory", sizes, args.seed)
    results["throughput"] = _throughput(args, measured, unpatched)
    results["acknowledgement"] = _acknowledgement(measured)
    results["cost"] = _cost(measured)
    if not args.skip_cold_start:
        _say("import times in fresh interpreters")
        results["coldStart"] = coldstart.import_times(list(FUNCTIONS), args.repeat)
    if not args.skip_packages:
        _say("building the packages with iac.build (pip, python3.12/arm64)")
        try:
            results["packages"] = coldstart.package_sizes()
        except Exception as error:  # noqa: BLE001 - no PyPI, say so and go on
            results["packages"] = {"error": f"{type(error).__name__}: {error}"}
    _say("recommendation quality")
    results["quality"] = quality.hit_rates()
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def _throughput(args: argparse.Namespace, measured: Any, unpatched: Any) -> dict[str, Any]:
    runs = measured.runs
    warm_ups = {**measured.warm_ups, "motoAsItComesWarmUp": unpatched.warm_up}
    return {
        "runs": {name: run.as_json() for name, run in runs.items()},
        # the warm-ups count for their failed sends only: nothing else of them is measured
        "warmUps": {
            name: {key: run.as_json()[key] for key in ("events", "seconds", "failures", "errors")}
            for name, run in warm_ups.items()
        },
        "motoAsItComes": unpatched.run.as_json(),
        "speedUpOverMotoAsItComes": _ratio(runs["workflowSequential"].per_second, unpatched.run.per_second),
        "workflowToBaseline": {
            "sequential": _ratio(
                runs["workflowSequential"].per_second, runs["baselineSequential"].per_second
            ),
            "concurrent": _ratio(
                runs["workflowConcurrent"].per_second, runs["baselineConcurrent"].per_second
            ),
        },
        "goalPerSecond": 100,
        "cpu": _cpu(measured),
        "historyCheck": history_check(unpatched.histories, measured.sequential_histories, args.unpatched),
    }


def history_check(
    unpatched: dict[str, list[tuple[str, str]]], fast: dict[str, list[tuple[str, str]]], expected: int
) -> dict[str, Any]:
    """The histories of the same messages (by messageId) with the speed-ups off and on: identical when all
    ``expected`` messages ran both ways and every pair has the same events."""
    compared = [message_id for message_id in unpatched if message_id in fast]
    different = [message_id for message_id in compared if unpatched[message_id] != fast[message_id]]
    lengths = sorted({len(fast[message_id]) for message_id in compared})
    return {
        "identical": len(compared) == expected > 0 and not different,
        "comparedExecutions": len(compared),
        "expectedExecutions": expected,
        "different": different,
        "eventsPerExecution": lengths[0] if len(lengths) == 1 else lengths,
        "method": "event types and state names of the execution of each message, engine speed-ups on vs "
        "off, the same messages after the same warm-up",
    }


#: Share of the CPU ceiling the concurrent workflow run should reach (issue 13): both cores kept busy.
CEILING_GOAL = 0.8


def _cpu(measured: Any) -> dict[str, Any]:
    """CPU per event, the throughput the machine's cores could give at that cost, and how close the
    concurrent run came to it.

    A ceiling is ``cores x 1000 / CPU ms per execution``: every core busy with nothing but executions,
    none waiting. Below the goal, no engine that runs these handlers can reach it on this machine. CPU
    per execution is this process's (moto, the emulators, the invoke server; without the senders), the
    functions' sandbox processes' (their cold starts during the run included) and the moto process of
    their DynamoDB and Secrets Manager. What the cores did meanwhile (the stack, the senders, other
    processes, idle) says why a run stays below its ceiling.
    """
    from bench.workflow import BASELINE

    runs = measured.runs
    cores = os.cpu_count() or 1
    executions = runs["workflowSequential"].events
    handlers = {k: v for k, v in measured.handler_cpu_ms.items() if k != BASELINE}
    handlers_ms = sum(sum(v) for v in handlers.values()) / executions if executions else 0.0
    stack_ms = runs["workflowConcurrent"].stack_cpu_ms
    ceiling = cores * 1000 / stack_ms if stack_ms else 0.0
    concurrent = runs["workflowConcurrent"]
    split = concurrent.as_json()
    return {
        "cores": cores,
        "workflowStackMsPerExecution": round(stack_ms, 1),
        "baselineStackMsPerInvocation": round(runs["baselineConcurrent"].stack_cpu_ms, 1),
        "handlersMsPerExecution": round(handlers_ms, 1),
        "handlerMsPerInvocation": {k: round(sum(v) / len(v), 2) for k, v in sorted(handlers.items()) if v},
        "splitMsPerExecution": {
            "mainProcess": split["mainProcessCpuMsPerEvent"],
            "sandboxes": split["sandboxCpuMsPerEvent"],
            "servicesProcess": split["servicesCpuMsPerEvent"],
        },
        "sandboxesStartedDuringRun": split["sandboxesStarted"],
        "sharesOfCores": split["sharesOfCores"],
        "ceilingPerSecond": round(ceiling, 1),
        "handlersOnlyCeilingPerSecond": round(cores * 1000 / handlers_ms, 1) if handlers_ms else 0.0,
        "concurrentToCeiling": round(concurrent.per_second / ceiling, 2) if ceiling else 0.0,
        "ceilingGoal": CEILING_GOAL,
        "method": "CPU over the concurrent run: this process's without the senders' threads, plus the "
        "sandbox processes' and the services process's (/proc/PID/stat); the cores' shares from /proc/stat; "
        "handler CPU is each invocation's in its sandbox, in the sequential run",
    }


def _acknowledgement(measured: Any) -> dict[str, Any]:
    from bench.workflow import median, percentile

    out: dict[str, Any] = {}
    for key, run in (("entry", "workflowSequential"), ("baseline", "baselineSequential")):
        values = measured.runs[run].ack_ms
        out[key] = {
            "medianMs": round(median(values), 2),
            "p99Ms": round(percentile(values, 0.99), 2),
            "samples": len(values),
        }
    out["baselineToEntry"] = _ratio(out["baseline"]["medianMs"], out["entry"]["medianMs"])
    return out


def _cost(measured: Any) -> dict[str, Any]:
    from bench import prices
    from bench.workflow import BASELINE, median

    workflow_ms = {k: v for k, v in measured.durations_ms.items() if k != BASELINE}
    baseline_ms = {BASELINE: measured.durations_ms.get(BASELINE, [])}
    memory_mb = template_memory_mb()
    memory = {name: memory_mb for name in measured.durations_ms}
    transitions = median([float(t) for t in measured.transitions])
    express_ms = median(measured.execution_ms)
    costs = prices.per_million(
        transitions=transitions,
        workflow_invocations=prices.mean_invocations(workflow_ms, memory),
        express_duration_ms=express_ms,
        baseline_invocations=prices.mean_invocations(baseline_ms, memory),
    )
    return {
        "perMillionEvents": {cost.design: cost.as_json() for cost in costs},
        "stateTransitionsPerEvent": transitions,
        "expressDurationMs": round(express_ms, 1),
        "memoryMb": memory_mb,
        "meanDurationMs": {
            k: round(sum(v) / len(v), 2) for k, v in sorted(measured.durations_ms.items()) if v
        },
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else 0.0
