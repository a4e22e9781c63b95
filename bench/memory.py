"""Peak memory of ``segment-personalize replay`` for two export sizes, each in a child process of its own.

The export is the seeded traffic of :mod:`local_stack.traffic` (60 known users, 20 anonymous visitors, so the
local model and the profiles stop growing after the first round), repeated with new messageIds until it has
the size asked for. Each size runs the real command line in a fresh interpreter with a fresh data folder.
Memory is flat in the number of messages when the larger replay's peak is within :data:`GOAL_RATIO` of the
smaller one's.

The peak is the largest total resident memory of the replay's processes (the command and every process it
starts, such as function sandboxes), read from ``/proc`` every :data:`SAMPLE_SECONDS` while it runs. Next to
it, the kernel's own figure for the largest single process: ``ru_maxrss`` as ``wait4`` reports it. The replay
is not a child of the bench itself but of a small waiting interpreter (:data:`_WAITER`): Linux carries the
high-water mark of the memory a process had before ``exec`` into its ``ru_maxrss``, and a child that
``subprocess`` starts (by ``vfork`` or ``fork``) had the bench's memory, some hundred MB after the throughput
runs, so every replay would read as the bench's own peak. The waiter is a fresh interpreter of a few MB.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Sizes of ``make bench`` (``--quick``: a fifth of them).
SIZES = (1000, 3000)
#: The larger replay's peak may be at most this times the smaller one's.
GOAL_RATIO = 1.10
ROOT = Path(__file__).resolve().parent.parent
#: How often the replay's process tree is read while it runs.
SAMPLE_SECONDS = 0.1
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
#: Runs ``argv[2:]`` as its child, waits for it with ``wait4`` and writes to ``argv[1]`` the child's exit
#: status, peak resident set size (KB) and CPU seconds, as JSON.
_WAITER = (
    "import json, os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "with open(sys.argv[1], 'w') as out:\n"
    "    json.dump({'exit': os.waitstatus_to_exitcode(status), 'maxrssKb': usage.ru_maxrss,\n"
    "               'cpuSeconds': usage.ru_utime + usage.ru_stime}, out)\n"
)


def export_lines(count: int, seed: int = 7) -> Iterator[str]:
    """``count`` lines of a Segment export: the seeded traffic over and over, each round with messageIds of
    its own (``-r1``, ``-r2``, ...); the malformed messages repeat as they are."""
    from local_stack.traffic import generate

    messages: list[Any] = generate(seed, users=60, anonymous=20, sessions_per_visitor=3).messages
    for index in range(count):
        message = messages[index % len(messages)]
        round_ = index // len(messages)
        if round_ and isinstance(message, dict) and isinstance(message.get("messageId"), str):
            message = {**message, "messageId": f"{message['messageId']}-r{round_}"}
        yield json.dumps(message) if not isinstance(message, str) else message


@dataclass
class Peak:
    """A command's exit status, CPU and memory, as the kernel accounted them."""

    exit_status: int
    #: the largest total resident memory of the command's process tree, sampled (KB)
    tree_peak_kb: int
    #: processes in the tree when it was largest
    processes: int
    #: {role: [processes, KB]} when the tree was largest (a role: the module a process runs)
    by_role: dict[str, list[int]]
    #: ``ru_maxrss`` of the command: its largest single process (KB)
    largest_process_kb: int
    #: user and system CPU of the command and the descendants it waited for
    cpu_seconds: float


@dataclass
class Replay:
    """One replay in a child process: its size, how it ended, its peak memory."""

    messages: int
    seconds: float
    peak: Peak
    outcomes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "seconds": round(self.seconds, 1),
            "cpuSeconds": round(self.peak.cpu_seconds, 1),
            "peakMb": round(self.peak.tree_peak_kb / 1024, 1),
            "processes": self.peak.processes,
            "atPeakMb": {
                role: {"processes": count, "mb": round(kb / 1024, 1)}
                for role, (count, kb) in sorted(self.peak.by_role.items())
            },
            "largestProcessPeakMb": round(self.peak.largest_process_kb / 1024, 1),
            "exitStatus": self.peak.exit_status,
            "outcomes": self.outcomes,
        }


def replay_in_child(folder: Path, count: int, seed: int = 7) -> Replay:
    """Write an export of ``count`` lines and replay it with ``segment-personalize replay`` in a child."""
    folder.mkdir(parents=True, exist_ok=True)
    export = folder / f"export-{count}.jsonl"
    with export.open("w", encoding="utf-8") as file:
        for line in export_lines(count, seed):
            file.write(line + "\n")
    data_dir = folder / f"data-{count}"
    command = [sys.executable, "-m", "cli.main", "--data-dir", str(data_dir), "replay", str(export)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "functions" / "shared")]),
    }
    started = time.perf_counter()
    peak = measured(folder / f"replay-{count}.out", [*command, "--no-progress"], environment)
    return Replay(count, time.perf_counter() - started, peak, _outcomes_recorded(data_dir))


def measured(output: Path, command: list[str], environment: dict[str, str] | None = None) -> Peak:
    """Run ``command`` (its output to ``output``) under :data:`_WAITER`, sampling its process tree."""
    report = output.with_suffix(".rusage.json")
    with output.open("wb") as out:
        waiter = subprocess.Popen(  # noqa: S603 - this interpreter running the project's own command
            [sys.executable, "-c", _WAITER, str(report), *command],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        peak_kb, at_peak = 0, {}  # at_peak: {role: [processes, KB]} when the tree was largest
        while waiter.poll() is None:
            tree = {pid: resident_kb(pid) for pid in descendants(waiter.pid)}  # the waiter left out
            if sum(tree.values()) > peak_kb:  # a new peak: what each process is, while it runs
                peak_kb, at_peak = sum(tree.values()), _by_role(tree)
            time.sleep(SAMPLE_SECONDS)
    if waiter.returncode != 0:
        raise RuntimeError(f"the waiter of {command} ended {waiter.returncode}: see {output}")
    usage = json.loads(report.read_text(encoding="utf-8"))
    return Peak(
        exit_status=int(usage["exit"]),
        tree_peak_kb=max(peak_kb, int(usage["maxrssKb"])),  # the tree is never smaller than its largest
        processes=sum(count for count, _ in at_peak.values()),
        by_role=at_peak,
        largest_process_kb=int(usage["maxrssKb"]),
        cpu_seconds=float(usage["cpuSeconds"]),
    )


def _by_role(resident: dict[int, int]) -> dict[str, list[int]]:
    """{role: [processes, KB]} of ``resident`` (pid -> KB); a process's role is the module it runs
    (``python -m MODULE``), else its program's name."""
    roles: dict[str, list[int]] = {}
    for pid, kb in resident.items():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
        except OSError:
            argv = ["?"]
        role = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else Path(argv[0]).name
        role = role or "other"  # a process between fork and exec, or ending: no command line to read
        entry = roles.setdefault(role, [0, 0])
        entry[0], entry[1] = entry[0] + 1, entry[1] + kb
    return roles


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, theirs, ...), from ``/proc/PID/task/TID/children``."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except OSError:  # it has ended meanwhile
            continue
        for task in tasks:
            try:
                children = [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            pending.extend(children)
    return found


def resident_kb(pid: int) -> int:
    """The resident memory of ``pid`` in KB (``/proc/PID/statm``), 0 once it has ended."""
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * _PAGE_KB


def _outcomes_recorded(data_dir: Path) -> int:
    """Lines the replay recorded an outcome for in ``runs.sqlite`` (0 when it recorded none)."""
    path = data_dir / "runs.sqlite"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def peak_memory(folder: Path, sizes: tuple[int, ...] = SIZES, seed: int = 7) -> dict[str, Any]:
    """Each size replayed in a child of its own; the peaks, their ratio and whether it meets the goal."""
    runs = [replay_in_child(folder, size, seed) for size in sorted(sizes)]
    smallest, largest = runs[0], runs[-1]
    small_kb, large_kb = smallest.peak.tree_peak_kb, largest.peak.tree_peak_kb
    ratio = round(large_kb / small_kb, 3) if small_kb else 0.0
    failed = [run.messages for run in runs if run.peak.exit_status != 0 or run.outcomes != run.messages]
    return {
        "replays": [run.as_json() for run in runs],
        "largestToSmallest": ratio,
        "goalRatio": GOAL_RATIO,
        "meetsGoal": bool(ratio and ratio <= GOAL_RATIO and not failed),
        "failedSizes": failed,
        "method": "segment-personalize replay of the seeded traffic repeated with new messageIds, each size "
        f"in a fresh child process; peak = the largest total resident memory of its processes, read from "
        f"/proc every {SAMPLE_SECONDS} s; largest process = ru_maxrss from wait4 in a small waiting process",
    }
