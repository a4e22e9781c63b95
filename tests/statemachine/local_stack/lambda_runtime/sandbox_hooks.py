"""Sandbox hooks of the runtime tests (``LocalStack(sandbox_hooks=...)``): called in every sandbox of a
function with its module, they wrap its handler. They run in the sandbox processes, so what they see goes to
a file the test reads (:data:`RECORD_VARIABLE` names it in the functions' environment).

The wrapped handler records each invocation (the sandbox's process id, how many invocations that sandbox has
run, when it started and ended) and acts on a payload whose ``messageId`` is ``<action>.<function>.<any>``
(:func:`message_id`), in that function only, before the handler runs:

* ``slow``: sleeps :data:`SLOW_SECONDS`;
* ``hang``: never returns (until the runtime stops it at the function's timeout);
* ``hang-once``: hangs the first time that messageId arrives in any sandbox, then runs normally;
* ``hold``: waits until the file ``<record>.release`` exists (at most :data:`HOLD_SECONDS`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

RECORD_VARIABLE = "SANDBOX_TEST_RECORD"
SLOW_SECONDS = 0.8
HOLD_SECONDS = 8.0
HOOK = "tests.statemachine.local_stack.lambda_runtime.sandbox_hooks:record_invocations"

#: Invocations this sandbox has run: a module global of this process, so of this sandbox only.
calls = 0


def _write(record: Path, **fields: Any) -> None:
    with open(record, "a", encoding="utf-8") as file:
        file.write(json.dumps(fields) + "\n")


def message_id(action: str, function: str, rest: str) -> str:
    """A messageId that makes ``function``'s wrapped handler do ``action``."""
    return f"{action}.{function}.{rest}"


def _act(function: str, message_id: str, record: Path) -> None:
    action, _, rest = message_id.partition(".")
    if not rest.startswith(f"{function}."):
        return
    if action == "slow":
        time.sleep(SLOW_SECONDS)
    elif action == "hang-once":
        marker = record.with_name(f"{record.name}.{message_id}")
        if not marker.exists():
            marker.touch()
            time.sleep(3600)
    elif action == "hang":
        time.sleep(3600)
    elif action == "hold":
        release = record.with_name(f"{record.name}.release")
        deadline = time.monotonic() + HOLD_SECONDS
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)


def record_invocations(module: ModuleType) -> None:
    """Wrap ``module.lambda_handler`` (see the module docstring)."""
    handler = module.lambda_handler
    function = module.__name__.split(".")[1]

    def wrapped(event: Any, context: Any) -> Any:
        global calls
        calls += 1
        record = Path(os.environ[RECORD_VARIABLE])
        message_id = str(event.get("messageId", "")) if isinstance(event, dict) else ""
        started = time.time()
        _write(record, phase="start", function=function, pid=os.getpid(), calls=calls, messageId=message_id)
        _act(function, message_id, record)
        try:
            return handler(event, context)
        finally:
            _write(
                record,
                phase="end",
                function=function,
                pid=os.getpid(),
                calls=calls,
                messageId=message_id,
                started=started,
                ended=time.time(),
                requestId=context.aws_request_id,
            )

    setattr(module, "lambda_handler", wrapped)  # noqa: B010 - any function's module


def read_records(record: Path, phase: str = "end") -> list[dict[str, Any]]:
    """What the hooks wrote, of ``phase``, oldest first."""
    if not record.exists():
        return []
    lines = record.read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if entry["phase"] == phase]
