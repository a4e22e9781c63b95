"""moto's parsed program of a state machine definition, parsed once and shared by every execution (the
``fast`` row ``ExecutionWorker._get_evaluation_entrypoint`` of :mod:`local_stack.stepfunctions.moto_patches`).
"""

from __future__ import annotations

import threading
from typing import Any


def evaluation_entrypoint(worker: Any) -> Any:
    """``ExecutionWorker._get_evaluation_entrypoint``: the program of the worker's definition, parsed once."""
    return parsed_program(worker._evaluation_details.state_machine_details.definition)


#: Parsed programs by definition text, shared by every engine of the process.
_PROGRAMS: dict[str, Any] = {}
_PROGRAMS_LOCK = threading.Lock()
_PROGRAMS_KEPT = 16


def parsed_program(definition: str) -> Any:
    """moto's evaluation entry point for ``definition``: parsed once per process, then shared.

    Sound because moto's evaluation components are immutable after parsing: everything an execution changes
    lives in its own ``Environment`` (stack, heap, states, event history). Parse errors are not cached.
    """
    with _PROGRAMS_LOCK:
        program = _PROGRAMS.get(definition)
        if program is None:
            from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

            program = AmazonStateLanguageParser.parse(definition)[0]
            _touch_heap_keys(program, set())
            if len(_PROGRAMS) >= _PROGRAMS_KEPT:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            _PROGRAMS[definition] = program
        return program


def _touch_heap_keys(component: Any, seen: set[int]) -> None:
    """Give every component of a parsed program its heap key now, while one thread holds it.

    moto keeps per-execution evaluation state (retry attempt counts, backoff multipliers) in the execution's
    own ``env.heap`` under each component's ``heap_key``, a uid made lazily on first use. A program shared
    by concurrent executions must not have two threads make that uid at once.
    """
    from moto.stepfunctions.parser.asl.component.component import Component
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EvalComponent):
        _ = component.heap_key
    children: list[Any] = []
    for value in vars(component).values() if hasattr(component, "__dict__") else ():
        children.extend(
            value
            if isinstance(value, list | tuple)
            else value.values()
            if isinstance(value, dict)
            else [value]
        )
    for child in children:
        if isinstance(child, Component):
            _touch_heap_keys(child, seen)
