"""The CLI's replay of a Segment export, and the local model's quality (marker ``e2e``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cli.main as cli
from local_stack.personalize.recommender import fit, hit_rate_at_k, split_last_interaction
from local_stack.traffic import generate, interactions
from tests.events import load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


def test_replay_json_gives_one_record_per_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    track = load_event("track_sku")
    order = load_event("order_completed")
    lines = [
        json.dumps(load_event("identify_traits")),
        json.dumps(track),
        json.dumps(order),
        json.dumps(track),  # Segment redelivers: the same messageId again
        "{not json",
        json.dumps(load_event("malformed_bad_timestamp")),
        json.dumps(load_event("page")),
    ]
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli.main(["--data-dir", str(tmp_path / "data"), "replay", str(export), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    records = result["records"]
    assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
    outcomes = [r["outcome"] for r in records]
    # the identify and the page can never be interactions: skipped by the entry function, no execution
    assert outcomes == ["skipped", "tracked", "tracked", "tracked", "rejected", "rejected", "skipped"]
    assert records[0]["executionName"] is None
    assert records[0]["reason"] == "identify messages are not interactions"
    assert records[6]["reason"] == "page messages are not interactions"
    assert records[1]["itemsTracked"] == 1
    assert records[1]["executionName"] == track["messageId"]
    assert records[2]["itemsTracked"] == len(order["properties"]["products"])
    assert records[3]["duplicate"] is True
    assert records[3]["itemsTracked"] == 0
    assert "timestamp" in records[5]["reason"]
    assert records[4]["reason"] == (
        "parked by entry: input: expected a Segment message (a JSON object) or a list of them, got string"
    )
    totals = result["totals"]
    assert totals["tracked"] == 2
    assert totals["duplicates"] == 1
    assert totals["rejected"] == 2
    assert totals["skipped"] == 2
    assert totals["accepted"] == 3  # executions started: the track, the order, the bad timestamp
    assert totals["items_tracked"] == 1 + len(order["properties"]["products"])


def test_the_local_model_beats_popularity_on_a_held_out_split() -> None:
    traffic = generate(11, users=120, anonymous=20, sessions_per_visitor=3)
    train, held_out = split_last_interaction(interactions(traffic))
    assert len(held_out) > 100
    model = hit_rate_at_k(fit(train), held_out, k=10)
    popularity = hit_rate_at_k(fit(train, popularity_only=True), held_out, k=10)
    assert model > popularity
