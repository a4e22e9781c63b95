"""Send what one thread prints somewhere else, and leave every other thread's prints where they were.

``contextlib.redirect_stdout`` swaps ``sys.stdout`` for the whole process: while an in-process handler ran,
a CLI's own output (printed by another thread) went into ``functions.log`` with the handler's lines.
:class:`ThreadStdout` is installed as ``sys.stdout`` once and writes, for each thread, to the stream that
thread was routed to (:func:`routed_stdout`), else to the stream that was ``sys.stdout`` before it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import threading
from collections.abc import Iterator
from typing import Any, TextIO


class ThreadStdout(io.TextIOBase):
    """A ``sys.stdout`` that writes each thread's text to the stream routed for that thread."""

    def __init__(self, default: TextIO) -> None:
        super().__init__()
        self.default = default
        self._local = threading.local()

    def _target(self) -> TextIO:
        stream: TextIO | None = getattr(self._local, "stream", None)
        return stream if stream is not None else self.default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.default, "encoding", "utf-8") or "utf-8"

    def isatty(self) -> bool:
        return self._target().isatty()

    def fileno(self) -> int:
        return self._target().fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target(), name)

    @contextlib.contextmanager
    def routing(self, stream: TextIO) -> Iterator[None]:
        previous = getattr(self._local, "stream", None)
        self._local.stream = stream
        try:
            yield
        finally:
            self._local.stream = previous


_install_lock = threading.Lock()


def installed() -> ThreadStdout:
    """The :class:`ThreadStdout` that is ``sys.stdout`` now, installed over the current one if need be (a
    test framework may have replaced it since)."""
    with _install_lock:
        current = sys.stdout
        if isinstance(current, ThreadStdout):
            return current
        router = ThreadStdout(current)
        sys.stdout = router
        return router


@contextlib.contextmanager
def routed_stdout(stream: TextIO | None) -> Iterator[None]:
    """While the block runs, this thread's prints go to ``stream`` (None: nothing changes)."""
    if stream is None:
        yield
        return
    with installed().routing(stream):
        yield


def uninstall() -> None:
    """Put back the stream the installed :class:`ThreadStdout` stands in front of (if it is still
    ``sys.stdout``)."""
    with _install_lock:
        current = sys.stdout
        if isinstance(current, ThreadStdout):
            sys.stdout = current.default
