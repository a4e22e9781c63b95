"""``segment-personalize soak`` exits 1 when a soak's figures fail, 0 when every one passes (``unit``)."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest

import cli.soak

pytestmark = pytest.mark.unit


class Result:
    def __init__(self, failures: list[str]) -> None:
        self.failures = failures

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_json(self) -> dict[str, Any]:
        return {"failures": self.failures, "ok": self.ok}


def run(
    monkeypatch: pytest.MonkeyPatch, *results: Result
) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    called: dict[str, Any] = {}

    def fake_soak(workflows: Any, **kwargs: Any) -> list[Result]:
        called.update(kwargs, workflows=list(workflows))
        return list(results)

    monkeypatch.setattr(cli.soak, "soak", fake_soak)
    args = argparse.Namespace(
        workflow="both", quiet=True, events=40, seconds=60.0, seed=5, data_dir="/tmp/x", json=True
    )
    out = io.StringIO()
    code = cli.soak.command(args, out)
    return code, json.loads(out.getvalue()), called


def test_the_command_exits_1_when_either_workflow_type_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    code, printed, called = run(
        monkeypatch, Result([]), Result(["identify repeats no late answer explains: 3"])
    )
    assert code == 1
    assert [r["ok"] for r in printed] == [True, False]
    assert called["workflows"] == ["STANDARD", "EXPRESS"]
    assert run(monkeypatch, Result([]), Result([]))[0] == 0
