"""The AWS Step Functions Data Science SDK, imported quietly and extended in one place.

Importing ``stepfunctions`` sets the root logger to ERROR, imports sagemaker (which logs its config
lookup to stdout and warns that v2 is deprecated) and, on Python 3.12+, compiles code that raises
``SyntaxWarning``. This module saves and restores the logging state around the import and silences
those warnings, so nothing outside this module notices. The SDK is a development dependency: only
``state_machines`` imports it, never ``functions/``.

The SDK predates some Amazon States Language fields; the subclasses below add them:
``Retry`` gains ``MaxDelaySeconds`` and ``JitterStrategy``, ``Fail`` gains ``ErrorPath`` and ``CausePath``.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _quiet_import() -> Iterator[None]:
    """Keep the root logger's level and handlers, hide import-time logs and warnings, restore it all."""
    root = logging.getLogger()
    saved_level, saved_handlers, saved_disable = root.level, list(root.handlers), logging.root.manager.disable
    logging.disable(logging.INFO)  # sagemaker logs "Not applying SDK defaults ..." at import
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(saved_disable)
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers


with _quiet_import():
    from stepfunctions.steps import Catch, Chain, Choice, ChoiceRule, Graph, Pass, Succeed, Task
    from stepfunctions.steps import Fail as _SdkFail
    from stepfunctions.steps import Retry as _SdkRetry

JITTER_STRATEGIES = ("FULL", "NONE")


class Retry(_SdkRetry):
    """A retrier with ``max_delay_seconds`` (MaxDelaySeconds) and ``jitter_strategy`` (JitterStrategy)."""

    _EXTRA_FIELDS = ("max_delay_seconds", "jitter_strategy")

    def __init__(self, **kwargs: Any) -> None:
        extra = {name: kwargs.pop(name) for name in self._EXTRA_FIELDS if name in kwargs}
        super().__init__(**kwargs)
        max_delay = extra.get("max_delay_seconds")
        if max_delay is not None and (not isinstance(max_delay, int) or not 0 < max_delay < 31622401):
            raise ValueError(f"max_delay_seconds must be an integer from 1 to 31622400, got {max_delay!r}")
        jitter = extra.get("jitter_strategy")
        if jitter is not None and jitter not in JITTER_STRATEGIES:
            raise ValueError(f"jitter_strategy must be one of {JITTER_STRATEGIES}, got {jitter!r}")
        self.fields.update(extra)

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name in self._EXTRA_FIELDS or bool(super().is_field_allowed(field_name))


class Fail(_SdkFail):
    """A Fail state that may take its Error and Cause from the input (``error_path``, ``cause_path``)."""

    _EXTRA_FIELDS = ("error_path", "cause_path")

    def __init__(self, state_id: str, **kwargs: Any) -> None:
        for literal, path in (("error", "error_path"), ("cause", "cause_path")):
            if kwargs.get(literal) is not None and kwargs.get(path) is not None:
                raise ValueError(f"set {literal} or {path}, not both")
            if kwargs.get(path) is not None and not str(kwargs[path]).startswith("$"):
                raise ValueError(f"{path} must be a path starting with '$', got {kwargs[path]!r}")
        super().__init__(state_id, **kwargs)

    def is_field_allowed(self, field_name: str) -> bool:
        return field_name in self._EXTRA_FIELDS or bool(super().is_field_allowed(field_name))


__all__ = ["Catch", "Chain", "Choice", "ChoiceRule", "Fail", "Graph", "Pass", "Retry", "Succeed", "Task"]
