"""The one helper that loads the Segment event fixtures in ``events/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``events/<name>.json``."""
    event = json.loads((EVENTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    if not isinstance(event, dict):
        raise TypeError(f"events/{name}.json does not hold a JSON object")
    return event


def event_names(prefix: str = "") -> list[str]:
    """The names of the fixtures that start with ``prefix``, sorted."""
    return sorted(path.stem for path in EVENTS_DIR.glob(f"{prefix}*.json"))
