"""Security: the logs of a full local run hold no secret and, at INFO and above, no personal data (``e2e``).

The run is the local stack with generated traffic, the fixture events (an identify with a name, an e-mail
address, an address and an IP), injected faults so that retries, rejections and a dead letter happen, and a
redrive. What is audited is what CloudWatch Logs would get: every line the functions print (``functions.log``:
Powertools' JSON log lines and EMF metrics), and the records that libraries log at WARNING or above (the
Lambda runtime's root logger level).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cli.redrive import redrive
from local_stack.destination import replay
from local_stack.resources import DEFAULT_REGION
from local_stack.stack import PROFILE_TOKEN, WRITE_KEY, LocalStack
from local_stack.traffic import generate
from tests.events import event_names, load_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

#: Levels whose lines must hold no personal data (DEBUG may: LogLevel DEBUG is documented to log user ids).
AUDITED_LEVELS = {"INFO", "WARNING", "ERROR", "CRITICAL"}
#: Loggers of the local stand-ins for AWS and Segment: not part of what the deployed functions log.
LOCAL_LOGGERS = ("local_stack", "moto", "werkzeug")


def secrets() -> dict[str, str]:
    """The credentials of the local run, and how they would appear on the wire."""
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    token_basic = base64.b64encode(f"{PROFILE_TOKEN}:".encode()).decode()
    return {
        "Segment write key": WRITE_KEY,
        "Profile API token": PROFILE_TOKEN,
        "write key as basic auth": basic,
        "token as basic auth": token_basic,
        "an Authorization header": "Authorization",
        "a basic auth header": "Basic ",
    }


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def personal_data(messages: Iterable[Any]) -> dict[str, str]:
    """value -> what it is: user ids, anonymous ids, IP addresses and every string trait value (names,
    e-mail addresses, departments, address parts) of the messages. Item ids (``purchased_products``) are
    catalog ids, not personal on their own, and short values (``CA``) would match by chance."""
    found: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict):
            continue
        for key in ("userId", "anonymousId"):
            if isinstance(message.get(key), str) and message[key]:
                found[message[key]] = key
        ip = (message.get("context") or {}).get("ip")
        if isinstance(ip, str):
            found[ip] = "context.ip"
        traits = dict(message.get("traits") or {})
        traits.pop("purchased_products", None)
        for name, value in traits.items():
            for text in _strings(value):
                if len(text) >= 4:
                    found[text] = f"trait {name}"
    return found


def leaks(lines: Iterable[str], secret: dict[str, str], personal: dict[str, str]) -> list[str]:
    """One finding per (line, leaked value): secrets on any line, personal data on lines at INFO or above
    (a line without a level, such as an EMF metrics line, is audited too)."""
    patterns = {
        value: re.compile(r"(?<![A-Za-z0-9_-])" + re.escape(value) + r"(?![A-Za-z0-9_-])")
        for value in personal
    }
    findings = []
    for number, line in enumerate(lines, 1):
        for what, value in secret.items():
            if value in line:
                findings.append(f"line {number}: {what}: {line[:300]}")
        try:
            level = json.loads(line).get("level")
        except (ValueError, AttributeError):
            level = None
        if level is not None and str(level).upper() not in AUDITED_LEVELS:
            continue
        for value, pattern in patterns.items():
            if pattern.search(line):
                findings.append(f"line {number}: {personal[value]} {value!r}: {line[:300]}")
    return findings


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str], Path]:
    data_dir = tmp_path_factory.mktemp("audit")
    traffic = generate(13, users=3, anonymous=1, sessions_per_visitor=2)
    fixtures = [load_event(name) for name in event_names() if name != "track_sku"]
    dead_letter = load_event("track_sku")
    # an interaction event without an item id: the one kind of message that still ends Ignored (entry skips
    # the identifies and pages that can never be interactions)
    no_item = load_event("track_sku")
    no_item["messageId"] = "audit-no-item-id"
    no_item["properties"] = {k: v for k, v in no_item["properties"].items() if k not in ("sku", "product_id")}
    messages: list[Any] = [*fixtures, no_item, *traffic.messages, dead_letter]
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if not record.name.startswith(LOCAL_LOGGERS):
                records.append(record)

    capture = Capture(level=logging.WARNING)
    logging.getLogger().addHandler(capture)
    try:
        with LocalStack(data_dir, items=traffic.items_catalog(), skip_retry_waits=True) as stack:
            assert stack.personalize is not None
            assert stack.segment is not None
            assert stack.engine is not None
            # retries on every kind of failure, then one event dead-lettered and redriven
            stack.personalize.faults.add("PutEvents", "ThrottlingException", count=2)
            stack.personalize.faults.add("GetRecommendations", "InternalServerError", count=1)
            stack.segment.faults.add("profile", status=503, count=2)
            stack.segment.faults.add("tracking", status=503, count=2)
            outcomes = replay(stack, messages[:-1])
            stack.personalize.faults.add("PutEvents", "InternalServerError", count=10**6)
            outcomes += replay(stack, [dead_letter])
            stack.personalize.faults.clear()
            session = boto3.session.Session(region_name=DEFAULT_REGION)
            report = redrive(
                session.client("sqs"),
                session.client("stepfunctions"),
                stack.engine.dead_letter_queue_url,
                stack.engine.state_machine_arn,
                wait_seconds=0,
            )
            for redriven in report.started:
                assert redriven.executionArn is not None
                stack.engine.wait(redriven.executionArn, timeout=30)
            kinds = {o.outcome for o in outcomes}
            assert {"tracked", "ignored", "skipped", "rejected", "dead-lettered"} <= kinds, kinds
            assert report.started
    finally:
        logging.getLogger().removeHandler(capture)
    lines = (data_dir / "functions.log").read_text(encoding="utf-8").splitlines()
    lines += [f"{r.levelname} {r.name}: {r.getMessage()}" for r in records]
    return lines, personal_data(messages), data_dir


def test_the_audit_saw_every_function_log_at_info(
    audited_run: tuple[list[str], dict[str, str], Path],
) -> None:
    lines, personal, _ = audited_run
    logged = [json.loads(line) for line in lines if line.startswith('{"level"')]
    functions = {line.get("function_name") for line in logged if line["level"] == "INFO"}
    assert functions == {
        f"segment-personalize-{name}"
        for name in ("entry", "validate", "track", "recommend", "filter-traits", "sync-profile")
    }
    messages = {line["message"] for line in logged}
    assert {"Segment message rejected", "tracked interactions", "synced profile"} <= messages
    # and the traffic had personal data to leak: ids, e-mail addresses, names, an IP
    kinds = set(personal.values())
    assert {"userId", "anonymousId", "context.ip", "trait email", "trait name", "trait first_name"} <= kinds


def test_no_secret_and_no_personal_data_at_info(audited_run: tuple[list[str], dict[str, str], Path]) -> None:
    lines, personal, _ = audited_run
    findings = leaks(lines, secrets(), personal)
    assert findings == [], "\n".join(findings[:20])


def test_the_audit_finds_a_leak_when_there_is_one() -> None:
    personal = {"user-0001": "userId", "shopper0001@example.com": "trait email"}
    info = json.dumps({"level": "INFO", "message": "synced", "userId": "user-0001"})
    debug = json.dumps({"level": "DEBUG", "message": "identities", "userId": "user-0001"})
    warning = json.dumps({"level": "WARNING", "message": "bad address shopper0001@example.com"})
    secret_at_debug = json.dumps({"level": "DEBUG", "headers": {"Authorization": "Basic abc"}})
    lookalike = json.dumps({"level": "INFO", "message": "user-00012 is another id"})
    found = leaks([info, debug, warning, secret_at_debug, lookalike], secrets(), personal)
    assert [f.split(":")[0] for f in found] == ["line 1", "line 3", "line 4", "line 4"]
