"""Workflow execution names and inputs, as docs/contract.md defines them.

Used by the entry function, the local stack and redrive, so that a redelivered Segment message always maps
to the same execution name (Step Functions refuses a second execution of that name: the dedupe).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

#: Step Functions' limit on an execution's input, in UTF-8 bytes.
MAX_EXECUTION_INPUT_BYTES = 256 * 1024
MAX_NAME_LENGTH = 80
_KEPT_LENGTH = 63
_HASH_DIGITS = 16
_VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def execution_name(message_id: str) -> str:
    """The messageId when it is a valid name, else its allowed characters (≤ 63), ``-`` and 16 hex digits
    of its SHA-256: at most 80 characters of ``A-Z a-z 0-9 - _``, deterministic."""
    if _VALID_NAME.fullmatch(message_id):
        return message_id
    kept = _NOT_ALLOWED.sub("", message_id)[:_KEPT_LENGTH]
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_DIGITS]
    return f"{kept}-{digest}"


def suffixed_execution_name(message_id: str, suffix: str) -> str:
    """:func:`execution_name` cut so that ``suffix`` fits after it within the 80 characters of a name."""
    return execution_name(message_id)[: MAX_NAME_LENGTH - len(suffix)] + suffix


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN of the Standard workflow execution ``name`` of ``state_machine_arn``."""
    prefix, _, machine = state_machine_arn.partition(":stateMachine:")
    return f"{prefix}:execution:{machine}:{name}"


def execution_input(message_id: str, event: Mapping[str, Any]) -> str:
    """The execution input ``{"messageId", "event"}`` as compact JSON (ValueError, TypeError or
    RecursionError when ``event`` is not JSON, e.g. holds NaN)."""
    return json.dumps(
        {"messageId": message_id, "event": event}, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
