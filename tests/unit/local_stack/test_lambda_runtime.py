"""Parts of the local Lambda runtimes on their own: the functions' limits from the template, Lambda's log
lines, and the in-process runtime's stdout, which takes only its own thread's prints."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from iac.template import load_template
from local_stack.lambda_runtime import stdout
from local_stack.lambda_runtime.configuration import (
    DEFAULT_CONCURRENCY,
    default_modules,
    function_configs,
    template_limits,
)
from local_stack.lambda_runtime.reports import InvocationReport, report_line, timed_out_payload

pytestmark = pytest.mark.unit


def test_timeouts_and_memory_come_from_the_template_globals_then_each_function() -> None:
    template = load_template()
    globals_ = template["Globals"]["Function"]
    entry = template["Resources"]["EntryFunction"]["Properties"]

    limits = template_limits()

    assert limits[""] == (float(globals_["Timeout"]), int(globals_["MemorySize"]))
    assert limits["entry"] == (float(entry["Timeout"]), int(entry.get("MemorySize", globals_["MemorySize"])))
    assert set(limits) == {"", *default_modules()}


def test_a_timeout_and_a_concurrency_can_be_overridden_per_function() -> None:
    configs = function_configs(
        default_modules({"baseline": "bench.baseline"}),
        timeouts={"track": 0.25},
        concurrency={"recommend": 2},
    )

    assert configs["track"].timeout_seconds == 0.25
    assert configs["validate"].timeout_seconds == template_limits()["validate"][0]
    assert configs["recommend"].concurrency == 2
    assert configs["track"].concurrency == DEFAULT_CONCURRENCY
    assert configs["baseline"].timeout_seconds == template_limits()[""][0]  # not in the template: Globals
    assert configs["baseline"].module == "bench.baseline"
    with pytest.raises(ValueError, match="concurrency"):
        function_configs(default_modules(), concurrency=0)
    with pytest.raises(ValueError, match="timeout"):
        function_configs(default_modules(), timeouts={"track": 0})


def test_report_lines_are_lambdas() -> None:
    report = InvocationReport("track", "r-1", 12.341, memory_mb=256, max_memory_mb=71, init_ms=402.5)
    assert report_line(report) == (
        "REPORT RequestId: r-1\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
        "Max Memory Used: 71 MB\tInit Duration: 402.50 ms"
    )
    report.status, report.init_ms = "timeout", None
    assert report_line(report).endswith("Max Memory Used: 71 MB\tStatus: timeout")
    assert timed_out_payload("r-1", 3) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: r-1 Error: Task timed out after 3.00 seconds",
    }


def test_a_routed_thread_prints_to_its_stream_and_other_threads_print_where_they_did() -> None:
    before = sys.stdout
    terminal, function_log = io.StringIO(), io.StringIO()
    sys.stdout = terminal
    try:
        inside, outside = threading.Event(), threading.Event()

        def handler() -> None:
            with stdout.routed_stdout(function_log):
                print("handler line")
                inside.set()
                outside.wait(5)
            print("after the handler")

        thread = threading.Thread(target=handler)
        thread.start()
        inside.wait(5)
        print("the CLI's own output")  # another thread, while the handler runs
        outside.set()
        thread.join(5)
        stdout.uninstall()
        assert sys.stdout is terminal
    finally:
        sys.stdout = before
    assert function_log.getvalue() == "handler line\n"
    assert terminal.getvalue() == "the CLI's own output\nafter the handler\n"
