"""The process environment a local engine sets while it runs, and puts back when it closes."""

from __future__ import annotations

import os
from collections.abc import Mapping


class SavedEnvironment:
    """Sets variables in ``os.environ``, remembering what each was, so that :meth:`restore` puts it back."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str], unset: tuple[str, ...] = ()) -> None:
        """Set ``values`` and remove ``unset`` (unless given a value), remembering what was there."""
        for key in (*unset, *values):
            if key not in self._saved:
                self._saved[key] = os.environ.get(key)
        for key in unset:
            if key not in values:
                os.environ.pop(key, None)
        os.environ.update(values)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()
