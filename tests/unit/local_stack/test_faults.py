"""The fault injector every local service shares, without a server."""

from __future__ import annotations

import threading

import pytest

from local_stack.faults import ANY, Fault, FaultInjector, answer_admin

pytestmark = pytest.mark.unit


def injector() -> FaultInjector:
    return FaultInjector(("profile", "tracking"), target_alias="api")


def test_faults_are_taken_in_order_each_for_its_count_and_target() -> None:
    faults = injector()
    faults.add("profile", status=429, count=2, retry_after=1)
    faults.add("tracking", error="Outage", delay_seconds=0.5)
    faults.add("profile", delay_seconds=0.1)

    taken = [faults.take("profile") for _ in range(4)]

    assert taken == [
        Fault("profile", status=429, retry_after=1),
        Fault("profile", status=429, retry_after=1),
        Fault("profile", delay_seconds=0.1),
        None,
    ]
    assert faults.pending() == [
        {
            "target": "tracking",
            "error": "Outage",
            "status": None,
            "delay_seconds": 0.5,
            "retry_after": None,
            "message": None,
            "count": 1,
        }
    ]


def test_a_fault_for_every_target_matches_each_and_only_fails_with_an_error_or_a_status() -> None:
    faults = injector()
    faults.add(ANY, delay_seconds=0.2, count=2)

    slow = [faults.take("tracking"), faults.take("profile")]

    assert [fault.fails if fault else None for fault in slow] == [False, False]
    assert faults.take("tracking") is None
    assert Fault("x", status=503).fails
    assert Fault("x", error="ThrottlingException").fails


@pytest.mark.parametrize(
    "arguments",
    [
        {"target": "nope", "status": 500},
        {"target": "profile", "error": 503},  # a status given as the error name
        {"target": "profile", "error": "not a name"},
        {"target": "profile", "status": 200},
        {"target": "profile", "status": 500, "count": 0},
        {"target": "profile", "delay_seconds": -1},
        {"target": "profile", "delay_seconds": "1"},
        {"target": "profile", "status": 429, "retry_after": -1},
        {"target": "profile", "status": 429, "message": 5},
        {"target": "profile"},  # neither an error, a status nor a delay
    ],
)
def test_a_fault_that_is_not_valid_is_refused(arguments: dict[str, object]) -> None:
    faults = injector()

    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        faults.add(**arguments)  # type: ignore[arg-type]

    assert faults.pending() == []


def test_the_admin_path_takes_the_services_word_for_the_target_and_queues_all_or_none() -> None:
    faults = injector()

    queued = answer_admin(
        faults, "POST", [{"api": "profile", "status": 503}, {"target": "tracking", "status": 500}]
    )
    with pytest.raises(ValueError, match="unknown fault field"):
        answer_admin(faults, "POST", [{"api": "tracking", "status": 429}, {"api": "profile", "code": 1}])
    with pytest.raises(ValueError, match="not both"):
        answer_admin(faults, "POST", {"api": "tracking", "target": "profile", "status": 429})
    with pytest.raises(ValueError, match="JSON object"):
        answer_admin(faults, "POST", None)

    assert [(fault["target"], fault["status"]) for fault in queued] == [("profile", 503), ("tracking", 500)]
    assert answer_admin(faults, "GET", None) == queued
    assert answer_admin(faults, "DELETE", None) == []


def test_concurrent_takes_hand_out_each_use_of_a_fault_once() -> None:
    faults = injector()
    faults.add("tracking", status=503, count=500)
    taken: list[Fault | None] = []
    lock = threading.Lock()

    def take_many() -> None:
        for _ in range(100):
            fault = faults.take("tracking")
            with lock:
                taken.append(fault)

    threads = [threading.Thread(target=take_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(fault is not None for fault in taken) == 500
    assert faults.pending() == []
