"""Error names: the contract between the Lambda functions and the state machine.

A Lambda function's exception class name is the ``Error`` that Step Functions sees, so each class here is
named for what happened. The state machine (``state_machines/``) retries the classes in ``RETRYABLE`` and
routes the rest to its error branches: ``InvalidSegmentEvent`` to *Rejected*, everything else to the
dead-letter queue. ``state_machines`` imports these tuples, so the ASL cannot drift from the code.
"""

from __future__ import annotations


class SegmentPersonalizeError(Exception):
    """Base class; never raised itself."""


# --- configuration -------------------------------------------------------------------------------------
class ConfigurationError(SegmentPersonalizeError):
    """A setting is missing or malformed; raised at cold start and names the setting."""


# --- input ---------------------------------------------------------------------------------------------
class InvalidSegmentEvent(SegmentPersonalizeError):
    """The Segment message cannot be processed; the message says which field and what was wrong."""


# --- entry ---------------------------------------------------------------------------------------------
class StartExecutionFailed(SegmentPersonalizeError):
    """The entry function could not start a workflow execution; raised so that Segment retries."""


# --- Amazon Personalize --------------------------------------------------------------------------------
class PersonalizeThrottled(SegmentPersonalizeError):
    """Amazon Personalize throttled the call (ThrottlingException, TooManyRequests)."""


class PersonalizeUnavailable(SegmentPersonalizeError):
    """Amazon Personalize answered 5xx or could not be reached."""


class PersonalizeRejected(SegmentPersonalizeError):
    """Amazon Personalize rejected the request (InvalidInputException, ResourceNotFoundException, ...)."""


# --- Segment -------------------------------------------------------------------------------------------
class ProfileApiThrottled(SegmentPersonalizeError):
    """Segment's Profile API answered 429."""


class ProfileApiUnavailable(SegmentPersonalizeError):
    """Segment's Profile API answered 5xx or could not be reached."""


class ProfileApiRejected(SegmentPersonalizeError):
    """Segment's Profile API refused the request (401/403/400): a configuration problem, not transient."""


class SegmentUnavailable(SegmentPersonalizeError):
    """Segment's tracking API did not accept the identify call (5xx, 429, network)."""


# --- idempotency (IDEMPOTENCY_TABLE) -------------------------------------------------------------------
class StepAlreadyInProgress(SegmentPersonalizeError):
    """Another invocation holds the idempotency record of the same work right now (a concurrent duplicate:
    Express runs a state at least once, and a redelivered message may start a second execution). Transient:
    a retry finds the stored result, or takes over once the holder's Lambda deadline has passed."""


class IdempotencyStoreUnavailable(SegmentPersonalizeError):
    """The idempotency table could not be read or written (throttling, 5xx, network). Transient."""


#: Errors the state machine retries with backoff before dead-lettering.
RETRYABLE: tuple[type[SegmentPersonalizeError], ...] = (
    PersonalizeThrottled,
    PersonalizeUnavailable,
    ProfileApiThrottled,
    ProfileApiUnavailable,
    SegmentUnavailable,
    StepAlreadyInProgress,
    IdempotencyStoreUnavailable,
)

#: Errors that reject the event: the execution ends as Rejected with the reason.
REJECTING: tuple[type[SegmentPersonalizeError], ...] = (InvalidSegmentEvent,)

#: Lambda service errors that Step Functions raises around an invoke; always retried.
LAMBDA_TRANSIENT: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
)
