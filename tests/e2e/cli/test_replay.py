"""The CLI's replay of a Segment export: a file, a gzipped file or standard input, streamed, each execution
kept in runs.sqlite and forgotten by moto; and the local model's quality (marker ``e2e``)."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

import cli.main as cli
from local_stack.destination import replay, replay_lazily
from local_stack.personalize.recommender import fit, hit_rate_at_k, split_last_interaction
from local_stack.stack import LocalStack
from local_stack.traffic import generate, interactions
from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def _export_lines() -> list[str]:
    track = load_event("track_sku")
    return [
        json.dumps(load_event("identify_traits")),
        json.dumps(track),
        json.dumps(load_event("order_completed")),
        json.dumps(track),  # Segment redelivers: the same messageId again
        "{not json",
        json.dumps(load_event("malformed_bad_timestamp")),
        json.dumps(load_event("page")),
    ]


def _replay_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], Any]:
    """Run ``replay --json``; its records (one JSON line each) and its totals (the last line)."""
    assert cli.main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return lines[:-1], lines[-1]["totals"]


def test_replay_json_streams_one_record_per_line_in_input_order_then_the_totals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _export_lines()
    order = load_event("order_completed")
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["--data-dir", str(tmp_path / "data"), "replay", str(export), "--json"]
    records, totals = _replay_json(argv, capsys)
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    outcomes = [r["outcome"] for r in records]
    # the identify and the page can never be interactions: skipped by the entry function, no execution
    assert outcomes == ["skipped", "tracked", "tracked", "tracked", "rejected", "rejected", "skipped"]
    assert records[0]["executionName"] is None
    assert records[0]["reason"] == "identify messages are not interactions"
    assert records[6]["reason"] == "page messages are not interactions"
    assert records[1]["itemsTracked"] == 1
    assert records[1]["executionName"] == load_event("track_sku")["messageId"]
    assert records[2]["itemsTracked"] == len(order["properties"]["products"])
    assert records[3]["duplicate"] is True
    assert records[3]["itemsTracked"] == 0
    assert "timestamp" in records[5]["reason"]
    assert records[4]["reason"] == (
        "parked by entry: input: expected a Segment message (a JSON object) or a list of them, got string"
    )
    assert totals["tracked"] == 2
    assert totals["duplicates"] == 1
    assert totals["rejected"] == 2
    assert totals["skipped"] == 2
    assert totals["accepted"] == 3  # executions started: the track, the order, the bad timestamp
    assert totals["items_tracked"] == 1 + len(order["properties"]["products"])


def test_a_gzipped_export_and_standard_input_replay_like_the_plain_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ("\n".join(_export_lines()) + "\n").encode()
    plain, gzipped = tmp_path / "export.jsonl", tmp_path / "export.jsonl.gz"
    plain.write_bytes(data)
    gzipped.write_bytes(gzip.compress(data))
    argv = ["replay", str(plain), "--json", "--data-dir", str(tmp_path / "a")]
    expected, expected_totals = _replay_json(argv, capsys)
    assert _replay_json(["replay", str(gzipped), "--json", "--data-dir", str(tmp_path / "b")], capsys) == (
        expected,
        expected_totals,
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(data))))
    assert _replay_json(["--data-dir", str(tmp_path / "c"), "replay", "-", "--json"], capsys) == (
        expected,
        expected_totals,
    )


def _personalize_event_ids(stack: LocalStack) -> list[str]:
    assert stack.personalize is not None
    return [row["event_id"] for row in stack.personalize.query("SELECT event_id FROM events")]


def test_a_finished_execution_is_forgotten_by_moto_and_its_name_stays_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = load_event("track_sku")
    with LocalStack(tmp_path, skip_retry_waits=True) as stack:
        assert stack.engine is not None
        assert stack.runs is not None
        # given one replay of a message: moto holds nothing after it, runs.sqlite holds the execution
        [first] = replay(stack, [track])
        assert (first.outcome, first.itemsTracked, first.duplicate) == ("tracked", 1, False)
        assert stack.engine.executions() == []
        record = stack.runs.execution_named(track["messageId"])
        assert record is not None
        assert record.status == "SUCCEEDED"
        assert record.arn in stack.engine.forgotten
        with pytest.raises(ClientError, match="ExecutionDoesNotExist"):
            stack.engine.describe(record.arn)
        # when Segment redelivers it in a later replay
        [again] = replay(stack, [track])
        # then the entry function finds the name taken: the first one's outcome, nothing tracked twice
        assert (again.outcome, again.duplicate, again.itemsTracked) == ("tracked", True, 0)
        assert again.synced is False
        assert _personalize_event_ids(stack).count(track["messageId"]) == 1
        with pytest.raises(ClientError, match="ExecutionAlreadyExists"):
            stack.engine.start(track)
        assert stack.engine.executions() == []
    # and trace reads the forgotten execution from the data folder
    assert cli.main(["trace", track["messageId"], "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"execution {track['messageId']}: SUCCEEDED")


def test_the_replay_keeps_a_bounded_window_of_executions_and_answers_in_input_order(tmp_path: Path) -> None:
    # given generated traffic, then a redelivery of every fourth message, and a window of 3 executions
    traffic: list[Any] = generate(5, users=3, anonymous=1, sessions_per_visitor=1).messages
    first = [index for index in range(0, len(traffic), 4) if isinstance(traffic[index], dict)]
    messages = traffic + [traffic[index] for index in first]
    held: list[int] = []
    with LocalStack(tmp_path, skip_retry_waits=True) as stack:
        assert stack.engine is not None
        lines = []
        for outcome in replay_lazily(stack, messages, max_in_flight=3):
            lines.append(outcome)
            held.append(len(stack.engine.executions()))  # what moto holds while the replay goes on
        assert stack.engine.executions() == []
        tracked_ids = _personalize_event_ids(stack)
    # then each line is answered once, in input order, with at most 3 executions in moto at any time
    assert [line.line for line in lines] == list(range(1, len(messages) + 1))
    assert max(held) <= 3
    assert all(line.outcome in {"tracked", "ignored", "rejected", "skipped"} for line in lines)
    # a redelivery of a message that started an execution is a duplicate with that execution's outcome
    redelivered = lines[len(traffic) :]
    assert [line.duplicate for line in redelivered] == [lines[i].executionName is not None for i in first]
    assert [line.outcome for line in redelivered] == [lines[i].outcome for i in first]
    assert any(line.duplicate for line in redelivered)
    # and every interaction reached Personalize once
    assert len(tracked_ids) == len(set(tracked_ids)) == sum(line.itemsTracked for line in lines) > 0


def test_the_local_model_beats_popularity_on_a_held_out_split() -> None:
    traffic = generate(11, users=120, anonymous=20, sessions_per_visitor=3)
    train, held_out = split_last_interaction(interactions(traffic))
    assert len(held_out) > 100
    model = hit_rate_at_k(fit(train), held_out, k=10)
    popularity = hit_rate_at_k(fit(train, popularity_only=True), held_out, k=10)
    assert model > popularity
