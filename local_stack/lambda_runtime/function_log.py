"""``functions.log``: every line the functions print, one line per record, as CloudWatch Logs would get it.

Lines are written whole, under one lock, so lines of sandboxes that run at once never mix within a line;
the lines of one invocation (START to REPORT) are written together, so a record's invocation is the START
line above it.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TextIO


class FunctionLog:
    """Where the functions' lines go: ``stream``, or this process's standard output when it is None."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def write_lines(self, lines: Iterable[str]) -> None:
        text = "".join(f"{line}\n" for line in lines)
        if not text:
            return
        with self._lock:
            stream = self.stream if self.stream is not None else sys.stdout
            stream.write(text)
            stream.flush()
