"""Where a run's CPU goes, read from outside the code under test: the functions' sandbox processes and the
moto process of their AWS services (``/proc/PID/stat``), how many sandboxes the runtime has started, and
what the whole machine did meanwhile (``/proc/stat``), so that a run's share of the cores can be told
apart from other work on the machine.

:func:`drive <bench.workflow.drive>` reads a probe before and after a run and keeps the difference; the
bench process's own CPU it reads itself (``time.process_time``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Reading:
    """CPU seconds used so far (or, as a difference, during a run)."""

    #: the functions' sandbox processes, every one started so far
    sandbox_cpu: float = 0.0
    #: the moto process that serves the functions' DynamoDB and Secrets Manager
    services_cpu: float = 0.0
    #: sandboxes started so far (each one a cold start)
    sandboxes: int = 0
    #: every process of the machine, and the CPU time its cores had (cores x seconds), from /proc/stat
    machine_busy: float = 0.0
    machine_total: float = 0.0

    def __sub__(self, other: Reading) -> Reading:
        return Reading(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})


def machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of every core since boot, from the first line of ``/proc/stat`` (user,
    nice, system, idle, iowait, irq, softirq, steal; guest time is in user already); (0, 0) without it."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            ticks = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = ticks[3] + ticks[4]
    return (sum(ticks) - idle) / _TICKS, sum(ticks) / _TICKS


def machine_only() -> Reading:
    """A reading of the machine alone (a stack without sandboxes)."""
    busy, total = machine_seconds()
    return Reading(machine_busy=busy, machine_total=total)


class StackProbe:
    """Reads a local stack's processes: its runtime's sandboxes and its engine's moto services process."""

    def __init__(self, stack: Any) -> None:
        self.engine = stack.engine

    def __call__(self) -> Reading:
        runtime, services = self.engine.runtime, self.engine.aws_services
        busy, total = machine_seconds()
        return Reading(
            sandbox_cpu=runtime.cpu_seconds(),
            services_cpu=services.cpu_seconds(),
            sandboxes=sum(len(pool.started) for pool in getattr(runtime, "pools", {}).values()),
            machine_busy=busy,
            machine_total=total,
        )
