"""The bench's arithmetic: prices, billing rounding, transitions, percentiles, and the table it prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import boto3  # noqa: F401 - imported at collection: urllib3's first import probes IPv6 with a socket
import pytest

from bench import prices
from bench.report import render
from bench.workflow import execution_ms, history_shape, percentile, transitions_of
from segment_personalize.adapters.personalize import Recommendations
from segment_personalize.contract import RecommendedItem
from tests.events import load_event

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


def test_cpu_per_execution_counts_the_sandboxes_and_the_services_process_and_shows_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench import cli
    from bench.probe import Reading
    from bench.workflow import Measurements, Run

    # given 100 executions in 10 s on 2 cores (20 CPU s): this process 4 s (1 s of it the senders), the
    # sandboxes 6 s (2 cold starts among them), the services process 2 s; the machine busy 18 s of 20
    outside = Reading(sandbox_cpu=6.0, services_cpu=2.0, sandboxes=2, machine_busy=18.0, machine_total=20.0)
    concurrent = Run("workflow", events=100, seconds=10.0, cpu_seconds=4.0, sender_cpu_seconds=1.0)
    concurrent.outside = outside
    assert concurrent.stack_cpu_ms == pytest.approx(110.0)
    shares = {"stack": 0.55, "senders": 0.05, "otherProcesses": 0.3, "idle": 0.1}
    assert concurrent.shares_of_cores() == pytest.approx(shares)
    measured = Measurements(
        runs={
            "workflowSequential": Run("workflow", events=10),
            "workflowConcurrent": concurrent,
            "baselineConcurrent": Run("baseline", events=100, cpu_seconds=1.0),
        }
    )
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)

    cpu = cli._cpu(measured)

    assert cpu["ceilingPerSecond"] == 18.2  # 2 x 1000 / 110
    assert cpu["concurrentToCeiling"] == 0.55
    assert cpu["splitMsPerExecution"] == {"mainProcess": 30.0, "sandboxes": 60.0, "servicesProcess": 20.0}
    assert cpu["sandboxesStartedDuringRun"] == 2
    text = _rendered_throughput(cpu)
    assert "of 18.2/s = 55% (goal >= 80%: misses goal)" in text
    from bench.documents import readme_block

    results = json.loads(RESULTS.read_text())
    results["throughput"]["cpu"] = cpu
    assert ", 55% of the CPU ceiling (goal 80%; other processes took 30% of the cores) (moto" in (
        readme_block(results)
    )
    assert "the sandboxes 60.0 ms (2 cold starts during the run)" in text
    assert "the stack 55%, Segment's side (the senders) 5%, other processes 30%, idle 10%" in text


def test_a_probe_reads_the_stacks_other_processes_and_the_machine() -> None:
    from types import SimpleNamespace

    from bench.probe import Reading, StackProbe, machine_seconds

    busy, total = machine_seconds()
    assert 0 < busy <= total  # from /proc/stat
    pools = {"track": SimpleNamespace(started=[1, 2]), "entry": SimpleNamespace(started=[3])}
    engine = SimpleNamespace(
        runtime=SimpleNamespace(cpu_seconds=lambda: 4.5, pools=pools),
        aws_services=SimpleNamespace(cpu_seconds=lambda: 1.5),
    )
    reading = StackProbe(SimpleNamespace(engine=engine))()
    assert (reading.sandbox_cpu, reading.services_cpu, reading.sandboxes) == (4.5, 1.5, 3)
    assert reading.machine_total >= total
    difference = reading - Reading(sandbox_cpu=4.0, services_cpu=1.0, sandboxes=1)
    assert (difference.sandbox_cpu, difference.services_cpu, difference.sandboxes) == (0.5, 0.5, 2)


def _rendered_throughput(cpu: dict[str, object]) -> str:
    results = json.loads(RESULTS.read_text())
    results["throughput"]["cpu"] = cpu
    return render(results)


def test_the_documents_carry_what_the_committed_results_render_to() -> None:
    # make bench rewrites bench/results.json and these blocks together; python -m bench --render rewrites the
    # blocks alone
    from bench import documents

    results = json.loads(RESULTS.read_text())
    assert set(documents.BLOCKS) == {documents.README, documents.PERFORMANCE}
    for path, render_block in documents.BLOCKS.items():
        stale = documents.block(path.read_text(encoding="utf-8")) != render_block(results)
        assert not stale, f"{path.name} does not show bench/results.json: run `python -m bench --render`"
    readme = documents.readme_block(results)
    runs = results["throughput"]["runs"]
    assert f"{runs['workflowConcurrent']['perSecond']} executions/s" in readme
    assert f"**${results['cost']['perMillionEvents']['STANDARD']['total']:.2f}**" in readme
    assert render(results) in documents.performance_block(results)


def test_a_block_is_rewritten_between_its_markers_and_nowhere_else(tmp_path: Path) -> None:
    from bench import documents

    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\n{documents.BEGIN_MARKER}\nold figures\n{documents.END_MARKER}\n\nprose\n")
    assert documents.write({}, {page: lambda _: "new figures"}) == [page]
    assert page.read_text() == (
        f"# Title\n\n{documents.BEGIN_MARKER}\nnew figures\n{documents.END_MARKER}\n\nprose\n"
    )
    assert documents.write({}, {page: lambda _: "new figures"}) == []  # unchanged: not rewritten
    with pytest.raises(ValueError, match="lacks the markers"):
        documents.replace_block("no markers here", "x")


def _results_with(**changes: object) -> dict[str, object]:
    results = json.loads(RESULTS.read_text())
    results.update(changes)
    return results


MEMORY = {
    "replays": [
        {
            "messages": 1000,
            "seconds": 50.0,
            "cpuSeconds": 60.0,
            "peakMb": 420.5,
            "processes": 8,
            "atPeakMb": {
                "cli.main": {"processes": 1, "mb": 220.5},
                "local_stack.lambda_runtime.sandbox": {"processes": 7, "mb": 200.0},
            },
            "largestProcessPeakMb": 220.5,
            "exitStatus": 0,
            "outcomes": 1000,
        },
        {
            "messages": 3000,
            "seconds": 150.0,
            "cpuSeconds": 180.0,
            "peakMb": 428.1,
            "processes": 8,
            "atPeakMb": {
                "cli.main": {"processes": 1, "mb": 228.1},
                "local_stack.lambda_runtime.sandbox": {"processes": 7, "mb": 200.0},
            },
            "largestProcessPeakMb": 228.1,
            "exitStatus": 0,
            "outcomes": 3000,
        },
    ],
    "largestToSmallest": 1.018,
    "goalRatio": 1.1,
    "meetsGoal": True,
    "failedSizes": [],
}


def test_peak_memory_is_shown_side_by_side_with_its_goal() -> None:
    from bench.documents import readme_block
    from bench.report import problems

    table = render(_results_with(memory=MEMORY))
    lines = table.splitlines()
    title = next(
        i for i, line in enumerate(lines) if line.startswith("Peak memory of segment-personalize replay")
    )
    assert "goal: the larger within 10% of the smaller" in lines[title]
    assert lines[title + 1].split() == ["messages", "1000", "3000"]
    assert lines[title + 2].split()[-5:] == ["420.5", "428.1", "x1.02", "(meets", "goal)"]
    assert lines[title + 4].split() == ["main", "(n", "x", "MB)", "1", "x", "220", "1", "x", "228"]
    assert lines[title + 5].split()[-6:] == ["7", "x", "29", "7", "x", "29"]  # sandboxes: 7 of 29 MB
    assert lines[title + 6].split()[-2:] == ["220.5", "228.1"]  # the largest single process
    assert (
        "| peak memory of `replay`, 1,000 / 3,000 messages | 420.5 / 428.1 MB: x1.02 (meets"
        in readme_block(_results_with(memory=MEMORY))
    )
    assert (
        "x1.02 (meets the goal of x1.10 at most); the command 220 / 228 MB, 7 / 7 sandboxes of 29 / 29 MB |"
        in (readme_block(_results_with(memory=MEMORY)))
    )
    assert problems(_results_with(memory=MEMORY)) == []
    # a results file from before the memory bench says so instead of inventing figures
    before = _results_with()
    before.pop("memory", None)
    assert "not in this results file" in render(before)


def test_a_failed_send_a_different_history_or_a_failed_replay_fails_the_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench import cli
    from bench.report import problems

    results = _results_with(memory=MEMORY)
    assert problems(results) == []
    throughput = results["throughput"]
    assert isinstance(throughput, dict)
    throughput["warmUps"] = {
        "baselineWarmUp": {"events": 10, "failures": 1, "errors": ["RuntimeError: baseline failed: Boom: x"]}
    }
    throughput["runs"]["workflowConcurrent"].update(failures=2, errors=["RuntimeError: arn ended FAILED"])
    throughput["historyCheck"] = {
        "identical": False,
        "comparedExecutions": 19,
        "expectedExecutions": 20,
        "eventsPerExecution": 33,
    }
    memory = json.loads(json.dumps(MEMORY))
    memory["replays"][1].update(exitStatus=1, outcomes=12)
    results["memory"] = memory
    found = problems(results)
    assert len(found) == 4
    assert "1 failed sends in baselineWarmUp: RuntimeError: baseline failed: Boom: x" in found
    assert "2 failed sends in workflowConcurrent: RuntimeError: arn ended FAILED" in found
    assert any("19 of 20 executions compared" in problem for problem in found)
    assert "replay of 3000 lines: exit status 1, 12 outcomes recorded" in found
    # the table shows each failure with its error
    table = render(results)
    assert "failed sends: 3" in table
    assert "    2  workflowConcurrent: RuntimeError: arn ended FAILED" in table
    # and python -m bench exits non-zero on them (--render: from a results file, nothing measured)
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results))
    assert cli.main(["--render", "--output", str(saved), "--no-save"]) == 1
    assert "FAILED: 2 failed sends in workflowConcurrent" in capsys.readouterr().err
    saved.write_text(RESULTS.read_text())
    assert cli.main(["--render", "--output", str(saved), "--no-save"]) == 0


def test_a_failed_send_is_counted_shown_and_not_throughput() -> None:
    from bench.workflow import drive

    def send(message: dict[str, object]) -> float:
        if message["n"] in (2, 5):
            raise RuntimeError(f"execution {message['n']} ended FAILED")
        return 1.0

    for concurrency in (1, 3):
        run = drive("workflow", send, [{"n": n} for n in range(8)], concurrency)
        assert (run.events, run.failures, len(run.ack_ms)) == (8, 2, 6)
        assert sorted(run.errors) == [
            "RuntimeError: execution 2 ended FAILED",
            "RuntimeError: execution 5 ended FAILED",
        ]
        assert run.per_second == pytest.approx(6 / run.seconds)
        assert run.as_json()["errors"] == run.errors


def test_the_history_check_compares_the_executions_of_the_same_messages() -> None:
    from bench.cli import history_check

    shape = [("ExecutionStarted", ""), ("TaskStateEntered", "Validate"), ("ExecutionSucceeded", "")]
    other = [("ExecutionStarted", ""), ("TaskStateEntered", "Validate"), ("ExecutionFailed", "")]
    fast = {"m-1": shape, "m-2": shape, "m-3": shape}
    assert history_check({"m-1": shape, "m-2": shape}, fast, expected=2)["identical"] is True
    # the same shapes, but of other messages than the fast run's, are not a comparison
    assert history_check({"m-8": shape, "m-9": shape}, fast, expected=2)["identical"] is False
    # a message that did not run unpatched (a failed send) leaves the check incomplete
    incomplete = history_check({"m-1": shape}, fast, expected=2)
    assert (incomplete["identical"], incomplete["comparedExecutions"]) == (False, 1)
    different = history_check({"m-1": shape, "m-2": other}, fast, expected=2)
    assert (different["identical"], different["different"]) == (False, ["m-2"])


def test_the_workflow_the_baseline_and_moto_as_it_comes_get_the_same_messages() -> None:
    from bench.workflow import workload

    load = workload(sequential=30, concurrent=40, concurrency=4, seed=7, warm_up=10)
    sizes = (len(load.warm_up), len(load.warm_up_concurrent), len(load.sequential), len(load.concurrent))
    assert sizes == (10, 12, 30, 40)  # the concurrent warm-up: 3 x concurrency
    ids = [message["messageId"] for message in load.messages]
    assert len(set(ids)) == 92  # every message its own execution
    assert load.messages[:10] == load.warm_up
    # seeded: the same each time
    assert load == workload(sequential=30, concurrent=40, concurrency=4, seed=7, warm_up=10)
    assert workload(sequential=30, concurrent=40, concurrency=1).warm_up_concurrent == []


def test_the_baseline_asks_for_the_numresults_recommend_asks_for(
    monkeypatch: pytest.MonkeyPatch, reload_module: Callable[[str], ModuleType]
) -> None:
    for key, value in {
        "PERSONALIZE_CAMPAIGN_ARN": "arn:aws:personalize:us-east-1:123456789012:campaign/shop",
        "PERSONALIZE_TRACKING_ID": "tracking",
        "PERSONALIZE_NUM_RESULTS": "50",
        "SEGMENT_WRITE_KEY": "key",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    baseline = reload_module("bench.baseline")
    recommend = reload_module("functions.recommend.app")
    asked: list[int] = []
    identified: list[dict[str, object]] = []

    class Runtime:
        def get_recommendations(self, *, num_results: int, **_: object) -> Recommendations:
            asked.append(num_results)
            return Recommendations("RID-1", [RecommendedItem(item_id=f"SKU-{n}") for n in range(num_results)])

    class Events:
        def put_events(self, **_: object) -> int:
            return 1

    class Segment:
        def identify(self, *, traits: dict[str, object], **_: object) -> None:
            identified.append(traits)

    monkeypatch.setattr(baseline, "runtime", Runtime())
    monkeypatch.setattr(baseline, "events", Events())
    monkeypatch.setattr(baseline, "segment", Segment())

    answer = baseline.lambda_handler(load_event("track_sku"), None)
    assert asked == [recommend.settings.effective_num_results] == [50]
    # with no trait filter, the count SyncProfile writes: RECOMMENDATION_COUNT
    assert answer["recommended"] == len(identified[0]["recommended_products"]) == 10  # type: ignore[arg-type]


def _holding(megabytes: int, child_megabytes: int = 0) -> list[str]:
    """A command that touches ``megabytes`` MB (and starts a child touching ``child_megabytes``), then
    holds them for a while."""
    hold = (
        "import sys, time\n"
        "block = bytearray(int(sys.argv[1]) * 1024 * 1024)\n"
        "for i in range(0, len(block), 4096): block[i] = 1\n"
        "time.sleep(1.0)\n"
    )
    if not child_megabytes:
        return [sys.executable, "-c", hold, str(megabytes)]
    parent = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen([sys.executable, '-c', {hold!r}, '{child_megabytes}'])\n"
        f"exec({hold!r})\n"
        "child.wait()\n"
    )
    return [sys.executable, "-c", parent, str(megabytes)]


def test_peak_memory_is_the_replays_own_not_the_bench_processes(tmp_path: Path) -> None:
    from bench.memory import measured

    # the bench has been busy: its own high-water mark is far above what a small command uses
    ballast = bytearray(200 * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    idle = measured(tmp_path / "idle.out", [sys.executable, "-c", "pass"])
    assert idle.exit_status == 0
    assert idle.largest_process_kb < 100 * 1024  # a child inheriting the bench's mark would read >= 200 MB
    assert idle.tree_peak_kb < 100 * 1024
    del ballast
    # two processes holding 60 and 120 MB at once: the tree's peak is their sum, the largest is one of them
    both = measured(tmp_path / "both.out", _holding(60, child_megabytes=120))
    assert both.exit_status == 0
    assert both.processes == 2
    assert 120 * 1024 <= both.largest_process_kb < 175 * 1024
    assert both.tree_peak_kb >= 180 * 1024
    assert both.cpu_seconds > 0
    failed = measured(tmp_path / "failed.out", [sys.executable, "-c", "raise SystemExit(3)"])
    assert failed.exit_status == 3
