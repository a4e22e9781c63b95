"""Modified copies of the template, for the tests that prove a check refuses what it should."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from iac.template import Validation, load_template


def modified(change: Callable[[dict[str, Any]], None]) -> Validation:
    """A validation of a copy of the template with ``change`` applied."""
    template = copy.deepcopy(load_template())
    change(template)
    return Validation(template=template)


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]
