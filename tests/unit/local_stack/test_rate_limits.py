"""The one token-bucket limiter of the local services, on a clock the test turns."""

from __future__ import annotations

import pytest

from local_stack.personalize.limits import DEFAULT_RATE_LIMITS as PERSONALIZE_LIMITS
from local_stack.personalize.limits import counted
from local_stack.rate_limits import Rate, RateLimiter, answer_admin, parse_limits, scaled, whole_seconds
from local_stack.segment.limits import DEFAULT_RATE_LIMITS as SEGMENT_LIMITS

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(**limits: Rate | None) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter({"a": Rate(10), "b": Rate(10)}, limits, clock=clock), clock


def test_a_full_bucket_lets_its_burst_through_then_refuses_until_it_refills() -> None:
    limits, clock = limiter(a=Rate(2, burst=3))
    assert [limits.take(("a", "k")) for _ in range(3)] == [None, None, None]
    # the fourth waits for one token at 2 a second
    assert limits.take(("a", "k")) == pytest.approx(0.5)
    clock.now += 0.25
    assert limits.take(("a", "k")) == pytest.approx(0.25)
    clock.now += 0.25
    assert limits.take(("a", "k")) is None
    assert limits.take(("a", "k")) == pytest.approx(0.5)
    assert limits.refused() == {"a": {"k": 3}}


def test_below_the_rate_nothing_is_ever_refused() -> None:
    limits, clock = limiter(a=Rate(10, burst=1))
    for _ in range(100):
        assert limits.take(("a", "k")) is None
        clock.now += 0.1  # exactly the rate
    assert limits.refused() == {}


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    limits, clock = limiter(a=Rate(5, burst=2))
    clock.now += 3600  # an idle hour does not save up 18,000 requests
    assert [limits.take(("a", "k")) is None for _ in range(3)] == [True, True, False]


def test_each_key_has_a_bucket_of_its_own() -> None:
    limits, _ = limiter(a=Rate(1, burst=2))
    assert [limits.take(("a", "space-1")) is None for _ in range(3)] == [True, True, False]
    assert [limits.take(("a", "space-2")) is None for _ in range(3)] == [True, True, False]
    assert limits.refused() == {"a": {"space-1": 1, "space-2": 1}}


def test_a_request_counted_by_two_limits_takes_from_both_or_from_neither() -> None:
    limits, _ = limiter(a=Rate(1, burst=5), b=Rate(1, burst=2))
    assert limits.take(("a", "campaign"), ("b", "account")) is None
    assert limits.take(("a", "campaign"), ("b", "account")) is None
    # b is empty: refused, and a keeps the token it would have given
    assert limits.take(("a", "campaign"), ("b", "account")) == pytest.approx(1.0)
    assert [limits.take(("a", "campaign")) is None for _ in range(4)] == [True, True, True, False]


def test_a_limit_that_is_off_or_not_named_passes_everything() -> None:
    limits, _ = limiter(a=None)
    assert all(limits.take(("a", "k"), ("unknown", "k")) is None for _ in range(1000))


def test_the_default_burst_is_one_second_of_the_rate() -> None:
    assert Rate(100).capacity == 100
    assert Rate(0.5).capacity == 1  # at least one request
    assert Rate(100, burst=7).capacity == 7


def test_configure_changes_a_limit_with_a_full_bucket_and_reset_restores_the_start() -> None:
    limits, _ = limiter(a=Rate(1, burst=1))
    assert limits.take(("a", "k")) is None
    assert limits.take(("a", "k")) is not None
    limits.configure({"a": Rate(1, burst=3)})
    assert [limits.take(("a", "k")) is None for _ in range(4)] == [True, True, True, False]
    limits.reset()
    assert limits.limits()["a"] == Rate(1, burst=1)
    assert limits.refused() == {}
    with pytest.raises(ValueError, match="unknown limit"):
        limits.configure({"c": Rate(1)})
    with pytest.raises(ValueError, match="unknown limit"):
        RateLimiter({"a": Rate(1)}, {"c": None})


@pytest.mark.parametrize(
    ("per_second", "burst"), [(0, None), (-1, None), (float("inf"), None), (True, None), (1, 0.5), (1, "2")]
)
def test_rates_must_be_positive_numbers(per_second: object, burst: object) -> None:
    with pytest.raises(ValueError, match="must be a number"):
        Rate(per_second, burst)  # type: ignore[arg-type]


def test_scaled_multiplies_rates_and_bursts_and_keeps_what_is_off() -> None:
    assert scaled({"a": Rate(100), "b": Rate(10, burst=50), "c": None}, 0.05) == {
        "a": Rate(5, burst=5),
        "b": Rate(0.5, burst=2.5),
        "c": None,
    }
    assert scaled({"a": Rate(10)}, 0.01) == {"a": Rate(0.1, burst=1)}


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [whole_seconds(w) for w in (0.001, 0.5, 1.0, 1.01, 7.9)] == [1, 1, 1, 2, 8]


def test_the_admin_path_lists_sets_turns_off_and_restores() -> None:
    limits, _ = limiter(a=Rate(1, burst=1))
    limits.take(("a", "k"))
    limits.take(("a", "k"))
    assert answer_admin(limits, "GET", None) == {
        "limits": {"a": {"per_second": 1, "burst": 1}, "b": {"per_second": 10, "burst": None}},
        "refused": {"a": {"k": 1}},
    }
    answer = answer_admin(limits, "POST", {"a": None, "b": {"per_second": 2, "burst": 4}})
    assert answer["limits"] == {"a": None, "b": {"per_second": 2, "burst": 4}}
    assert answer_admin(limits, "DELETE", None)["limits"]["a"] == {"per_second": 1, "burst": 1}


@pytest.mark.parametrize(
    "body", [[], {"a": 5}, {"a": {"burst": 2}}, {"a": {"per_second": 1, "rate": 2}}, {"a": {"per_second": 0}}]
)
def test_the_admin_path_refuses_a_limit_it_cannot_read(body: object) -> None:
    with pytest.raises(ValueError, match="must be"):
        parse_limits(body)


def test_the_services_limits_are_the_documented_quotas() -> None:
    # https://segment.com/docs/unify/profile-api/ (100/s per space), the HTTP API page (1,000/s per workspace)
    assert dict(SEGMENT_LIMITS) == {"profile": Rate(100), "tracking": Rate(1000)}
    # https://docs.aws.amazon.com/personalize/latest/dg/limits.html
    assert dict(PERSONALIZE_LIMITS) == {
        "GetRecommendations": Rate(500),
        "GetPersonalizedRanking": Rate(500),
        "inference": Rate(2500),
        "PutEvents": Rate(1000),
    }


def test_personalize_counts_inference_per_campaign_or_recommender_and_account_events_per_tracker() -> None:
    assert counted("GetRecommendations", {"campaignArn": "c1", "userId": "u"}) == (
        ("GetRecommendations", "c1"),
        ("inference", "account"),
    )
    assert counted("GetRecommendations", {"recommenderArn": "r1"})[0] == ("GetRecommendations", "r1")
    assert counted("GetPersonalizedRanking", {"campaignArn": "c2"})[0] == ("GetPersonalizedRanking", "c2")
    assert counted("PutEvents", {"trackingId": "t1"}) == (("PutEvents", "t1"),)
    assert counted("PutItems", {"datasetArn": "d"}) == ()
