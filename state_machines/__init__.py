"""The segment-personalize workflow: authored in ``workflow.py``, committed as an ASL file.

This module knows the committed ASL file and its ``${...}`` placeholders without importing the Step
Functions Data Science SDK, so the local engine and the tests can use it cheaply.
Regenerate the file with ``python -m state_machines`` (``make asl``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from functions import STEPS, placeholder

ASL_PATH = Path(__file__).with_name("segment_personalize.asl.json")

#: Placeholder of each Lambda task's ARN -> the folder of its function under ``functions/``.
FUNCTION_PLACEHOLDERS: dict[str, str] = {placeholder(function): function for function in STEPS}
DEAD_LETTER_QUEUE_PLACEHOLDER = "DeadLetterQueueUrl"

#: Every placeholder of the ASL file, as listed in docs/contract.md.
PLACEHOLDERS: tuple[str, ...] = (*FUNCTION_PLACEHOLDERS, DEAD_LETTER_QUEUE_PLACEHOLDER)

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders_in(text: str) -> set[str]:
    """The names of the ``${Name}`` placeholders that occur in ``text``."""
    return set(_PLACEHOLDER.findall(text))


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each ``${Name}`` in ``text`` by ``values[Name]``, as DefinitionSubstitutions do.

    Raises KeyError naming the placeholders that ``values`` lacks.
    """
    missing = placeholders_in(text) - set(values)
    if missing:
        raise KeyError(f"no value for placeholder(s): {', '.join(sorted(missing))}")
    # Values land inside JSON strings: escape them as JSON would.
    return _PLACEHOLDER.sub(lambda match: json.dumps(str(values[match.group(1)]))[1:-1], text)


def read_definition(path: Path = ASL_PATH) -> str:
    """The committed ASL file's text, with its placeholders."""
    return path.read_text(encoding="utf-8")


def load_definition(path: Path = ASL_PATH) -> dict[str, Any]:
    """The committed ASL file as a dict, with its placeholders."""
    definition: dict[str, Any] = json.loads(read_definition(path))
    return definition


__all__ = [
    "ASL_PATH",
    "DEAD_LETTER_QUEUE_PLACEHOLDER",
    "FUNCTION_PLACEHOLDERS",
    "PLACEHOLDERS",
    "load_definition",
    "placeholders_in",
    "read_definition",
    "substitute",
]
