"""The bench's arithmetic: prices, billing rounding, transitions, percentiles, and the table it prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import prices
from bench.report import render
from bench.workflow import execution_ms, history_shape, percentile, transitions_of

pytestmark = pytest.mark.unit

RESULTS = Path(__file__).resolve().parents[3] / "bench" / "results.json"


def test_lambda_is_billed_per_request_and_per_millisecond_at_its_memory() -> None:
    # given a 256 MB function that ran 10.2 ms: 11 ms are billed
    cost = prices.lambda_cost([prices.Invocation(256, 10.2)])
    assert cost == pytest.approx(0.20 / 1e6 + 0.25 * 0.011 * 0.0000133334)
    # a sub-millisecond run still bills 1 ms
    assert prices.lambda_cost([prices.Invocation(1024, 0.1)]) == pytest.approx(
        0.20 / 1e6 + 0.001 * 0.0000133334
    )


def test_express_is_billed_per_request_and_per_100_ms_in_64_mb_chunks() -> None:
    one_step = prices.express_cost(1.0)  # rounds up to 100 ms at 64 MB
    assert one_step == pytest.approx(1e-6 + 64 / 1024 * 0.1 * 0.06 / 3600)
    assert prices.express_cost(100.0) == one_step
    assert prices.express_cost(100.1) == pytest.approx(1e-6 + 64 / 1024 * 0.2 * 0.06 / 3600)
    assert prices.express_cost(50.0, memory_mb=65) == pytest.approx(1e-6 + 128 / 1024 * 0.1 * 0.06 / 3600)


def test_cost_per_million_events_of_each_design() -> None:
    calls = [prices.Invocation(256, 5.0)] * 6
    costs = {
        c.design: c
        for c in prices.per_million(
            transitions=8,
            workflow_invocations=calls,
            express_duration_ms=60.0,
            baseline_invocations=[prices.Invocation(256, 12.0)],
        )
    }
    assert costs["STANDARD"].orchestration == pytest.approx(8 * 0.025 / 1000 * 1e6)  # $200
    assert costs["EXPRESS"].orchestration == pytest.approx(prices.express_cost(60.0) * 1e6)
    assert (
        costs["STANDARD"].lambda_
        == costs["EXPRESS"].lambda_
        == pytest.approx(prices.lambda_cost(calls) * 1e6)
    )
    assert costs["baseline"].orchestration == 0
    assert costs["baseline"].total < costs["EXPRESS"].total < costs["STANDARD"].total
    assert costs["STANDARD"].as_json()["lambda"] == round(costs["STANDARD"].lambda_, 2)


def _event(kind: str, name: str = "", seconds: float = 0.0) -> dict[str, object]:
    event: dict[str, object] = {
        "type": kind,
        "timestamp": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds),
    }
    if kind.endswith("StateEntered"):
        event["stateEnteredEventDetails"] = {"name": name}
    return event


def test_state_transitions_count_each_state_entered_and_each_retry() -> None:
    history = [
        _event("ExecutionStarted"),
        _event("TaskStateEntered", "Track"),
        _event("LambdaFunctionScheduled"),
        _event("LambdaFunctionFailed"),
        _event("LambdaFunctionScheduled"),  # the retry: one more transition
        _event("TaskStateExited"),
        _event("SucceedStateEntered", "Tracked"),
        _event("ExecutionSucceeded", seconds=0.25),
    ]
    assert transitions_of(history) == 3
    assert execution_ms(history) == pytest.approx(250.0)
    assert history_shape(history)[1] == ("TaskStateEntered", "Track")


def test_percentile_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    assert percentile([], 0.5) == 0.0


def test_the_committed_results_render_and_keep_their_keys() -> None:
    results = json.loads(RESULTS.read_text())
    for key in ("machine", "options", "prices", "throughput", "acknowledgement", "cost", "quality"):
        assert key in results
    table = render(results)
    assert "Throughput on the local stack" in table
    assert "Cost per million events" in table
    assert results["throughput"]["historyCheck"]["identical"] is True


def test_the_cost_model_bills_the_templates_memory() -> None:
    from bench.cli import template_memory_mb

    results = json.loads(RESULTS.read_text())
    assert template_memory_mb() == results["cost"]["memoryMb"] == 256


def test_cpu_per_execution_leaves_out_segments_side_and_bounds_the_throughput(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import cli
    from bench.workflow import BASELINE, Measurements, Run

    # given 100 executions that cost the process 8 s of CPU, 2 s of it in the senders (Segment's side)
    concurrent = Run("workflow", events=100, cpu_seconds=8.0, sender_cpu_seconds=2.0)
    assert concurrent.stack_cpu_ms == pytest.approx(60.0)
    measured = Measurements(
        runs={
            "workflowSequential": Run("workflow", events=10),
            "workflowConcurrent": concurrent,
            "baselineConcurrent": Run("baseline", events=100, cpu_seconds=1.0, sender_cpu_seconds=0.5),
        }
    )
    measured.handler_cpu_ms["track"] += [15.0] * 10
    measured.handler_cpu_ms["validate"] += [5.0] * 10
    measured.handler_cpu_ms[BASELINE] += [99.0] * 10  # not the workflow's
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)

    cpu = cli._cpu(measured)

    assert cpu["workflowStackMsPerExecution"] == 60.0
    assert cpu["baselineStackMsPerInvocation"] == 5.0
    assert cpu["handlersMsPerExecution"] == 20.0
    assert cpu["handlerMsPerInvocation"] == {"track": 15.0, "validate": 5.0}
    # 2 cores x 1000 ms / 60 ms: no engine running these executions gets past 33.3 a second here
    assert cpu["ceilingPerSecond"] == 33.3
    assert cpu["handlersOnlyCeilingPerSecond"] == 100.0
    assert "at most 33.3/s (handlers alone 100.0/s)" in _rendered_throughput(cpu)


def _rendered_throughput(cpu: dict[str, object]) -> str:
    results = json.loads(RESULTS.read_text())
    results["throughput"]["cpu"] = cpu
    return render(results)


def test_the_readme_quotes_the_committed_figures() -> None:
    # make bench rewrites bench/results.json; the README's table must be updated with it
    results = json.loads(RESULTS.read_text())
    readme = (RESULTS.parents[1] / "README.md").read_text()
    throughput = results["throughput"]
    runs, cpu = throughput["runs"], throughput["cpu"]
    ack = results["acknowledgement"]
    quoted = [
        f"{runs['workflowConcurrent']['perSecond']} executions/s",
        f"(moto as it comes: {throughput['motoAsItComes']['perSecond']})",
        f"{round(runs['baselineConcurrent']['perSecond'])} invocations/s",
        f"{cpu['workflowStackMsPerExecution']} ms (2 cores at most {cpu['ceilingPerSecond']}/s)",
        f"{cpu['baselineStackMsPerInvocation']} ms |",
        f"{ack['entry']['medianMs']:.1f} / {ack['entry']['p99Ms']:.1f} ms",
        f"{ack['baseline']['medianMs']:.1f} / {ack['baseline']['p99Ms']:.1f} ms",
        *(
            f"**${cost['total']:.2f}**"
            for name, cost in results["cost"]["perMillionEvents"].items()
            if name != "baseline"
        ),
    ]
    missing = [figure for figure in quoted if figure not in readme]
    assert not missing, f"README.md does not quote these figures of bench/results.json: {missing}"
