"""Property tests: whatever arrives, the edge functions answer with the contract or a named, reasoned error.

Arbitrary JSON (hypothesis ``st.recursive``) and the fixtures of ``events/`` mutated one field at a time
(wrong types, missing fields, huge strings, odd code points, bad timestamps, deep nesting, ~1 MB) go into
``segment_personalize.segment_events.parse_message``, the validate handler and the entry handler. The only
exceptions allowed out are ``InvalidSegmentEvent`` (with a short reason that names the field or the
problem) and, from entry, ``StartExecutionFailed`` when the faked Step Functions client fails.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from segment_personalize.adapters.personalize import check_put_events
from segment_personalize.config import DEFAULT_INTERACTION_EVENTS
from segment_personalize.contract import Interaction
from segment_personalize.dead_letters import MAX_MESSAGE_BYTES
from segment_personalize.errors import InvalidSegmentEvent, StartExecutionFailed
from segment_personalize.executions import MAX_EXECUTION_INPUT_BYTES, execution_name
from segment_personalize.segment_events import MAX_REASON_LENGTH, parse_message, show
from tests.contract import INTERACTION_KEYS, RESULT_KEYS
from tests.events import event_names, load_event
from tests.fakes import LambdaContext

pytestmark = pytest.mark.unit

STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:segment-personalize"
VALID_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
#: A reason starts with the field it is about (``properties.products[2].sku: ...``, ``message [3]: ...``)
#: or says which identity is missing.
NAMES_A_FIELD = re.compile(
    r"^(?:[^\s:;]+(?: \[\d+\])?: \S"
    r"|(?:track|page|screen|identify|group|alias) message needs userId or anonymousId)"
)
CONTEXT = LambdaContext(timeout_ms=5_000)
# Every example reuses the module a fixture loaded; each builds its own fakes, so no state leaks across.
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FEWER = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- strategies ------------------------------------------------------------------------------------------
#: Text without surrogates (JSON from Segment is UTF-8) but with every other odd code point.
odd_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | odd_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(odd_text, children, max_size=5),
    max_leaves=25,
)
#: Values a JSON parser can produce that are not JSON: Python's json module reads NaN and Infinity.
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
wrong_types = st.sampled_from([None, True, False, 0, -1, 2**70, 1.5, "", " ", [], {}, ["x"], {"a": 1}, "x"])
bad_timestamps = st.sampled_from(
    [
        "",
        "not a date",
        "2024-13-45T99:99:99Z",
        "2024-03-10T24:00:00Z",
        "2024-03-10T02:20:11.950+24:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T23:59:59.9999999Z",
        "2024-03-10",
        "1710037211",
        "２０２４-03-10T02:20:11Z",
        "2024-03-10T02:20:11.950\x00Z",
        "2024-03-10T02:20:11Z" * 4,
        "+002024-03-10T00:00:00Z",
        "2024-W10-7T00:00:00Z",
    ]
) | st.builds(lambda d: d.isoformat(), st.datetimes())  # naive: read as UTC
offsets = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)
good_timestamps = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
).map(lambda d: d.isoformat(timespec="milliseconds"))


# Large values are drawn as small specifications and built inside the test, so that hypothesis can print
# (and shrink) an example without walking a megabyte or 3,000 levels of nesting.
@dataclass(frozen=True)
class Huge:
    char: str
    size: int

    def build(self) -> str:
        return self.char * self.size


@dataclass(frozen=True)
class Deep:
    depth: int

    def build(self) -> Any:
        value: Any = "leaf"
        for level in range(self.depth):
            value = {"n": value} if level % 2 else [value]
        return value


huge_strings = st.builds(
    Huge,
    st.sampled_from(["x", "é", "😀", "\u200b", "\U0010fffd"]),
    st.sampled_from([41, 257, 5_000, 70_000, 1_000_000]),
)
#: The Lambda runtime parses the event with ``json.loads``, which stops short of 1,000 levels.
deep_values = st.builds(Deep, st.sampled_from([50, 900]))
replacements = json_values | wrong_types | non_finite | huge_strings | odd_text | bad_timestamps | deep_values

FIXTURES = {name: load_event(name) for name in event_names()}
#: Fields a Segment message may have and the fixtures may lack, so that "set" reaches them too.
EXTRA_FIELDS = ("event", "name", "groupId", "previousId", "traits", "properties", "userId", "anonymousId")


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (object keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths_of(child, (*prefix, index))
    return found


@dataclass(frozen=True)
class Mutation:
    """A fixture of ``events/`` with the value at ``path`` replaced (or added), or deleted."""

    fixture: str
    path: tuple[Any, ...]
    replacement: Any = None
    delete: bool = False

    def message(self) -> dict[str, Any]:
        copy = json.loads(json.dumps(FIXTURES[self.fixture]))
        holder: Any = copy
        for part in self.path[:-1]:
            holder = holder[part]
        if self.delete:
            del holder[self.path[-1]]
        else:
            holder[self.path[-1]] = build(self.replacement)
        return copy


def build(value: Any) -> Any:
    """``value`` with every specification (Huge, Deep, Mutation) built."""
    if isinstance(value, Huge | Deep):
        return value.build()
    if isinstance(value, Mutation):
        return value.message()
    if isinstance(value, list):
        return [build(item) for item in value]
    return value


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    fixture = draw(st.sampled_from(sorted(FIXTURES)))
    message = FIXTURES[fixture]
    candidates = paths_of(message) + [(name,) for name in EXTRA_FIELDS if name not in message]
    path = draw(st.sampled_from(candidates))
    if path[0] in message and draw(st.booleans()):
        return Mutation(fixture, path, delete=True)
    return Mutation(fixture, path, draw(replacements))


@st.composite
def retimed_messages(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid interaction fixture whose event time is a well-formed ISO-8601 time at any offset."""
    message = dict(FIXTURES[draw(st.sampled_from(["track_sku", "order_completed", "timestamp_offset"]))])
    stamp = draw(good_timestamps)
    message["timestamp"] = stamp
    return message, stamp


MEGABYTE = Mutation("order_completed", ("properties", "blob"), Huge("x", 1_000_000))
DEEP = Mutation("track_sku", ("properties", "deep"), Deep(900))


# --- checks ----------------------------------------------------------------------------------------------
def attempt(
    function: Callable[..., Any], *args: Any, allowed: tuple[type[Exception], ...] = (InvalidSegmentEvent,)
) -> tuple[Any, Exception | None]:
    """``(result, None)``, or ``(None, error)`` for an allowed error; any other exception fails the test."""
    try:
        return function(*args), None
    except allowed as error:
        return None, error


def assert_reason(error: Exception) -> str:
    reason = str(error)
    assert reason.strip(), "an InvalidSegmentEvent without a reason"
    assert len(reason) <= MAX_REASON_LENGTH, reason[:400]
    assert NAMES_A_FIELD.match(reason), reason
    return reason


def assert_validate_result(result: Any, message_id: str | None = None) -> None:
    """The contract's Validate result, and one that Track can send as it is."""
    assert isinstance(result, dict)
    assert set(result) == RESULT_KEYS
    assert json.loads(json.dumps(result, allow_nan=False)) == result  # what Step Functions stores
    assert isinstance(result["messageId"], str)
    assert result["messageId"]
    if message_id is not None:
        assert result["messageId"] == message_id
    assert result["status"] in ("accepted", "ignored")
    assert (result["reason"] is None) == (result["status"] == "accepted")
    assert result["reason"] is None or (isinstance(result["reason"], str) and result["reason"])
    assert result["type"] in ("track", "page", "screen", "identify", "group", "alias")
    for key in ("event", "userId", "anonymousId"):
        assert result[key] is None or isinstance(result[key], str)
    assert isinstance(result["sessionId"], str)
    assert result["sessionId"]
    assert result["sessionId"] == (result["anonymousId"] or result["userId"])
    assert isinstance(result["recommend"], bool)
    assert isinstance(result["interactions"], list)
    assert bool(result["interactions"]) == (result["status"] == "accepted")
    for interaction in result["interactions"]:
        assert set(interaction) == INTERACTION_KEYS
        assert interaction["eventId"].startswith(result["messageId"])
        assert interaction["eventType"] == result["event"]
        assert isinstance(interaction["itemId"], str)
        assert interaction["itemId"]
        assert isinstance(interaction["sentAt"], float)
        assert math.isfinite(interaction["sentAt"])
        value = interaction["eventValue"]
        assert value is None or (isinstance(value, float) and math.isfinite(value))
        assert interaction["impression"] is None or 1 <= len(interaction["impression"]) <= 25
    if result["status"] == "accepted":
        # Track takes it as it is: the PutEvents events build and pass Personalize's field limits
        events = [Interaction.model_validate(i).to_put_event() for i in result["interactions"]]
        check_put_events(result["sessionId"], result["userId"], events)


# --- parse_message -------------------------------------------------------------------------------------
@FAST
@given(raw=json_values | non_finite | huge_strings)
def test_parse_message_takes_any_json_and_raises_only_invalid_segment_event(raw: Any) -> None:
    message, error = attempt(parse_message, build(raw))
    if error is not None:
        assert_reason(error)
    else:
        assert message.user_id or message.anonymous_id
        assert message.message_id


@FAST
@given(mutation=mutations())
@example(mutation=MEGABYTE)
@example(mutation=DEEP)
def test_parse_message_of_a_mutated_fixture_names_the_field(mutation: Mutation) -> None:
    _, error = attempt(parse_message, mutation.message())
    if error is not None:
        assert_reason(error)


# --- validate --------------------------------------------------------------------------------------------
@pytest.fixture
def validate(load_app: Callable[..., ModuleType]) -> ModuleType:
    return load_app("validate")


@FAST
@given(payload=json_values)
def test_validate_takes_any_json_input(validate: ModuleType, payload: Any) -> None:
    result, error = attempt(validate.lambda_handler, payload, CONTEXT)
    if error is not None:
        assert_reason(error)
    else:
        assert_validate_result(result)


@FAST
@given(mutation=mutations())
@example(mutation=MEGABYTE)
@example(mutation=DEEP)
def test_validate_of_a_mutated_fixture_answers_the_contract_or_names_the_field(
    validate: ModuleType, mutation: Mutation
) -> None:
    message = mutation.message()
    result, error = attempt(validate.lambda_handler, {"messageId": "wrapper-id", "event": message}, CONTEXT)
    if error is not None:
        reason = assert_reason(error)
        if not mutation.fixture.startswith("malformed"):
            # the reason is about the field that changed, unless the change made another one required
            # (a new ``type`` needs its own fields; a missing id needs the other id)
            top = str(mutation.path[0])
            identity = top in ("userId", "anonymousId") and "userId" in reason
            assert top in reason or top == "type" or identity, (mutation.path, reason)
    else:
        assert_validate_result(result, message_id=message["messageId"])


TIME_FIELDS = ("timestamp", "sentAt", "originalTimestamp", "receivedAt")


@FAST
@given(
    fixture=st.sampled_from(["track_sku", "order_completed", "anonymous_only", "page"]),
    field=st.sampled_from(TIME_FIELDS),
    value=bad_timestamps | good_timestamps | wrong_types | non_finite,
)
@example(fixture="track_sku", field="timestamp", value="0001-01-01T00:00:00+01:00")
@example(fixture="track_sku", field="timestamp", value="9999-12-31T23:59:59.9999999Z")
def test_any_event_time_is_rejected_by_name_or_gives_a_time_track_can_send(
    validate: ModuleType, fixture: str, field: str, value: Any
) -> None:
    message = FIXTURES[fixture] | {field: value}
    payload = {"messageId": message["messageId"], "event": message}
    result, error = attempt(validate.lambda_handler, payload, CONTEXT)
    if error is not None:
        assert assert_reason(error).startswith(f"{field}: "), str(error)
    else:
        assert_validate_result(result, message_id=message["messageId"])


@FEWER
@given(case=retimed_messages())
def test_sent_at_is_the_utc_epoch_of_any_iso_timestamp(
    validate: ModuleType, case: tuple[dict[str, Any], str]
) -> None:
    message, stamp = case
    result = validate.lambda_handler({"messageId": message["messageId"], "event": message}, CONTEXT)
    assert_validate_result(result, message_id=message["messageId"])
    expected = datetime.fromisoformat(stamp).astimezone(UTC).timestamp()
    assert {i["sentAt"] for i in result["interactions"]} == {expected}


# --- entry -----------------------------------------------------------------------------------------------
class FakeStepFunctions:
    """The entry module's ``sfn`` client: records start_execution calls, refuses a name seen before, and
    fails the ``fail_at``-th call (0-based) with ``failure``."""

    def __init__(self, failure: Exception | None = None, fail_at: int = 0) -> None:
        self.calls: list[dict[str, str]] = []
        self.names: set[str] = set()
        self.failure = failure
        self.fail_at = fail_at

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803, A002
        if self.failure is not None and len(self.calls) == self.fail_at:
            self.calls.append({"name": name, "input": input, "failed": "yes"})
            raise self.failure
        self.calls.append({"stateMachineArn": stateMachineArn, "name": name, "input": input})
        if name in self.names:
            raise ClientError(
                {"Error": {"Code": "ExecutionAlreadyExists", "Message": name}}, "StartExecution"
            )
        self.names.add(name)
        return {"executionArn": f"{STATE_MACHINE_ARN.replace('stateMachine', 'execution')}:{name}"}


class FakeDeadLetterQueue:
    """The entry module's ``sqs`` client: records the parked letters."""

    def __init__(self) -> None:
        self.letters: list[dict[str, Any]] = []

    def send_message(self, *, QueueUrl: str, MessageBody: str) -> dict[str, Any]:  # noqa: N803
        assert len(MessageBody.encode()) <= MAX_MESSAGE_BYTES
        self.letters.append(json.loads(MessageBody))
        return {"MessageId": f"sqs-{len(self.letters)}"}


def _never_an_interaction(message: Any) -> str | None:
    """Why entry must skip ``message`` under the default INTERACTION_EVENTS: it parses, and is not a track
    or is a track of another event; None otherwise."""
    try:
        parsed = parse_message(message)
    except InvalidSegmentEvent:
        return None
    if parsed.type != "track":
        return f"{parsed.type} messages are not interactions"
    event = getattr(parsed, "event", None)
    if event in DEFAULT_INTERACTION_EVENTS.split(","):
        return None
    return f"event {show(event)} is not in INTERACTION_EVENTS"


@pytest.fixture
def entry(load_app: Callable[..., ModuleType]) -> Any:
    return load_app(
        "entry", STATE_MACHINE_ARN=STATE_MACHINE_ARN, DEAD_LETTER_QUEUE_URL="https://sqs.local/dlq"
    )


message_ids = odd_text.filter(bool) | st.sampled_from(["m1", "a" * 80, "a" * 81, "é/😀 ", "x" * 300])
valid_messages = st.builds(
    lambda fixture, message_id: FIXTURES[fixture] | {"messageId": message_id},
    st.sampled_from(sorted(FIXTURES)),
    message_ids,
)
redelivered = st.builds(
    lambda fixture, message_id: FIXTURES[fixture] | {"messageId": message_id},
    st.sampled_from(sorted(FIXTURES)),
    st.sampled_from(["d1", "d2"]),
)
entry_inputs = (
    json_values
    | non_finite
    | valid_messages
    | mutations()
    | st.lists(valid_messages | mutations() | json_values, min_size=1, max_size=4)
    | st.lists(redelivered, min_size=2, max_size=4)  # the same messageId twice: a duplicate
)
sfn_failures = st.sampled_from(
    [
        None,
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"),
        ClientError({"Error": {"Code": "StateMachineDoesNotExist", "Message": "gone"}}, "StartExecution"),
        EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com"),
    ]
)


@FAST
@given(payload=entry_inputs, failure=sfn_failures, fail_at=st.integers(0, 3))
@example(payload=MEGABYTE, failure=None, fail_at=0)
@example(payload=DEEP, failure=None, fail_at=0)
@example(payload=[MEGABYTE, FIXTURES["track_sku"]], failure=None, fail_at=0)
def test_entry_starts_one_execution_per_message_or_names_the_problem(
    entry: Any, payload: Any, failure: Exception | None, fail_at: int
) -> None:
    sfn, queue = FakeStepFunctions(failure, fail_at), FakeDeadLetterQueue()
    entry.sfn, entry.sqs = sfn, queue
    payload = build(payload)
    messages = payload if isinstance(payload, list) and payload else [payload]
    answer, error = attempt(entry.lambda_handler, payload, CONTEXT, allowed=(StartExecutionFailed,))
    if isinstance(error, StartExecutionFailed):
        assert failure is not None, "StartExecutionFailed though the client did not fail"
        assert sfn.calls[-1].get("failed") == "yes"
        assert str(error).startswith("StartExecution ")
        assert queue.letters == []  # executions start before anything is parked: a retry parks once
        return
    started = answer["started"]
    assert len(started) == len(messages)
    skipped = [item for item in started if item["status"] == "skipped"]
    assert len(sfn.calls) + len(queue.letters) + len(skipped) == len(messages)
    seen: set[str] = set()
    calls, letters = iter(sfn.calls), iter(queue.letters)
    for message, item in zip(messages, started, strict=True):
        if item["status"] != "rejected":
            # skipped exactly when the message is valid and can never be an interaction (default settings)
            assert (item["status"] == "skipped") == (_never_an_interaction(message) is not None), item
        if item["status"] == "skipped":
            assert item == {
                "messageId": message["messageId"],
                "status": "skipped",
                "reason": _never_an_interaction(message),
            }
            continue
        if item["status"] == "rejected":  # parked with its reason, never started
            letter = next(letters)
            assert item["reason"] == letter["reason"] == assert_reason(InvalidSegmentEvent(item["reason"]))
            assert item["reason"].startswith(("input:", "message:", "message [")), item["reason"]
            assert letter["parked"] is True
            assert ("input" in letter) or letter["truncated"] or letter.get("inputNotJson")
            continue
        call = next(calls)
        assert item["messageId"] == message["messageId"]
        assert item["executionName"] == call["name"] == execution_name(message["messageId"])
        assert VALID_NAME.fullmatch(item["executionName"])
        assert item["executionArn"].endswith(":" + item["executionName"])
        assert item["status"] == ("duplicate" if item["executionName"] in seen else "started")
        seen.add(item["executionName"])
        assert call["stateMachineArn"] == STATE_MACHINE_ARN
        assert len(call["input"].encode()) <= MAX_EXECUTION_INPUT_BYTES
        assert json.loads(call["input"]) == {"messageId": message["messageId"], "event": message}
