"""Amazon Personalize's request-rate quotas as the local Personalize enforces them
(:mod:`local_stack.rate_limits`), from "Amazon Personalize endpoints and quotas"
(https://docs.aws.amazon.com/personalize/latest/dg/limits.html):

* "Maximum number of ``GetRecommendations`` requests per second per campaign": 500/sec. The page gives no
  figure per recommender; a recommender's requests count against a bucket of their own at the campaign's 500.
* "Maximum number of ``GetPersonalizedRanking`` requests per second per campaign": 500/sec.
* "Maximum transaction rate for ``GetRecommendations``, ``GetActionRecommendations`` and
  ``GetPersonalizedRanking`` requests": 2500/sec, for the account (``inference``; one local service is one
  account in one region).
* "Maximum rate of ``PutEvents`` requests per dataset group": 1000/second. Per dataset group, not per event
  tracker; a dataset group has one event tracker ("Recording events" page), so the tracking id names its
  dataset group here.

Above a quota the answer is the throttling error of the AWS protocols: ``ThrottlingException``, HTTP 400
("The request was denied due to request throttling. HTTP Status Code: 400", Common Errors,
https://docs.aws.amazon.com/personalize/latest/dg/CommonErrors.html), message "Rate exceeded", the error name
in ``X-Amzn-ErrorType`` and as ``__type`` in the body
(:class:`~local_stack.personalize.exceptions.ThrottlingException`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from local_stack.rate_limits import Rate

#: Limit names: the operations, and ``inference`` for the account's GetRecommendations + ranking rate.
DEFAULT_RATE_LIMITS: dict[str, Rate | None] = {
    "GetRecommendations": Rate(500),
    "GetPersonalizedRanking": Rate(500),
    "inference": Rate(2500),
    "PutEvents": Rate(1000),
}
#: The key of the account-wide ``inference`` limit.
ACCOUNT = "account"


def counted(operation: str, request: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (limit, key) buckets a request of ``operation`` takes a token from."""
    if operation == "GetRecommendations":
        resource = request.get("campaignArn") or request.get("recommenderArn")
        return (("GetRecommendations", str(resource)), ("inference", ACCOUNT))
    if operation == "GetPersonalizedRanking":
        return (("GetPersonalizedRanking", str(request.get("campaignArn"))), ("inference", ACCOUNT))
    if operation == "PutEvents":
        return (("PutEvents", str(request.get("trackingId"))),)
    return ()
