"""What ``replay`` reads (a file, a gzipped file, standard input; lazily) and how it counts what became of
each line (counters, not a list)."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.summary import MAX_REASONS, OTHER_REASONS, Summary
from local_stack.destination import read_jsonl
from local_stack.run_store import Outcome

pytestmark = pytest.mark.unit

LINES = [
    json.dumps({"messageId": "m-1", "type": "track", "event": "Product Viewed", "userId": "u1"}),
    "{not json",
    "",
    json.dumps({"messageId": "m-2", "type": "page", "name": "Home"}),
    json.dumps([{"messageId": "m-3"}]),
]
EXPECTED: list[Any] = [
    {"messageId": "m-1", "type": "track", "event": "Product Viewed", "userId": "u1"},
    "{not json",
    "",
    {"messageId": "m-2", "type": "page", "name": "Home"},
    [{"messageId": "m-3"}],
]


def _export(tmp_path: Path, name: str = "export.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def test_a_plain_file_gives_one_value_per_line_and_keeps_what_is_not_json_as_text(tmp_path: Path) -> None:
    assert list(read_jsonl(str(_export(tmp_path)))) == EXPECTED


def test_a_gzipped_export_is_read_by_its_magic_bytes_whatever_its_name(tmp_path: Path) -> None:
    # Segment's S3 destination writes gzipped JSON lines; the name need not say so
    data = ("\n".join(LINES) + "\n").encode()
    for name in ("export.jsonl.gz", "segment-logs-part-0000"):
        (tmp_path / name).write_bytes(gzip.compress(data))
        assert list(read_jsonl(str(tmp_path / name))) == EXPECTED


def test_a_dash_reads_standard_input_and_leaves_it_open(monkeypatch: pytest.MonkeyPatch) -> None:
    for data in (("\n".join(LINES)).encode(), gzip.compress("\n".join(LINES).encode())):
        stdin = io.TextIOWrapper(io.BufferedReader(io.BytesIO(data)), encoding="utf-8")
        monkeypatch.setattr(sys, "stdin", stdin)
        assert list(read_jsonl("-")) == EXPECTED  # the last line has no newline: read all the same
        assert not stdin.closed


def test_a_line_that_is_not_utf8_is_kept_as_text_for_the_entry_function_to_reject(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"messageId": "caf\xe9"}\n' + LINES[0].encode() + b"\r\n")
    assert list(read_jsonl(str(path))) == ['{"messageId": "caf\ufffd"}', EXPECTED[0]]


class _CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.read_bytes += len(chunk)
        return len(chunk)


def test_the_export_is_read_as_it_is_needed_not_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # given an export of 20 MB on standard input
    line = json.dumps({"messageId": "m", "type": "track", "event": "E", "userId": "u", "pad": "x" * 900})
    raw = _CountingReader((line + "\n").encode() * 20_000)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(raw, 64 * 1024)))
    # when the first three messages are taken
    messages = read_jsonl("-")
    first = [next(messages) for _ in range(3)]
    # then only a buffer's worth of it has been read
    assert first[2]["messageId"] == "m"
    assert raw.read_bytes <= 128 * 1024
    messages.close()


def _line(number: int, outcome: str, **fields: Any) -> Outcome:
    return Outcome(number, f"m-{number}", outcome, **fields)


def test_the_totals_are_counted_line_by_line() -> None:
    lines = [
        _line(1, "tracked", itemsTracked=2, synced=True, executionName="m-1"),
        _line(2, "tracked", itemsTracked=2, duplicate=True, executionName="m-1"),
        _line(3, "ignored", reason="page messages are not interactions", executionName="m-3"),
        _line(4, "rejected", reason="InvalidSegmentEvent: bad"),
        _line(5, "dead-lettered", cause="PersonalizeThrottled: slow", executionName="m-5"),
        _line(6, "tracked", itemsTracked=1, executionName="m-6"),
    ]
    summary = Summary()
    for line in lines:
        summary.add(line)
    assert summary == Summary.of(lines)
    assert (summary.messages, summary.accepted, summary.duplicates) == (6, 4, 1)
    assert (summary.tracked, summary.items_tracked, summary.synced) == (2, 3, 1)
    assert summary.rejected_reasons == {"InvalidSegmentEvent: bad": 1}
    assert summary.dead_letter_causes == {"PersonalizeThrottled: slow": 1}


def test_distinct_reasons_are_capped_so_many_bad_lines_do_not_grow_the_totals() -> None:
    # a reason quotes the bad value: every malformed line of a big export could bring a new one
    summary = Summary()
    for number in range(MAX_REASONS + 50):
        summary.add(_line(number, "rejected", reason=f"timestamp: '{number}' is not an ISO-8601 date-time"))
    summary.add(_line(0, "rejected", reason="timestamp: '0' is not an ISO-8601 date-time"))
    assert len(summary.rejected_reasons) == MAX_REASONS + 1
    assert summary.rejected_reasons[OTHER_REASONS] == 50
    # a reason already kept still counts as itself
    assert summary.rejected_reasons["timestamp: '0' is not an ISO-8601 date-time"] == 2
    assert sum(summary.rejected_reasons.values()) == summary.rejected == MAX_REASONS + 51
