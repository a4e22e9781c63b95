"""What docs/contract.md promises, as data the tests share."""

from __future__ import annotations

from segment_personalize.errors import PersonalizeRejected, PersonalizeThrottled, PersonalizeUnavailable

#: Every key of the Validate result, always present.
RESULT_KEYS = {
    "messageId", "status", "reason", "type", "event", "userId", "anonymousId", "sessionId", "recommend",
    "interactions",
}  # fmt: skip
#: Every key of one interaction of the Validate result, always present.
INTERACTION_KEYS = {
    "eventId", "eventType", "itemId", "sentAt", "eventValue", "recommendationId", "impression",
}  # fmt: skip
#: GetRecommendations failures (error code, HTTP status) and the named error each becomes.
RECOMMENDATION_ERRORS = [
    ("ThrottlingException", 400, PersonalizeThrottled),
    ("InternalServerError", 500, PersonalizeUnavailable),
    ("ResourceNotFoundException", 404, PersonalizeRejected),
    ("InvalidInputException", 400, PersonalizeRejected),
]
