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


class PermissionDenied(ConfigurationError):
    """An AWS call was refused with AccessDeniedException: this function's execution role lacks a permission,
    which the message names. An operator must fix the role (``iac/template.yaml`` grants what each function
    calls), so it is not retried: the event is dead-lettered with this cause, to be redriven once fixed. The
    event itself was fine: it is not rejected."""


#: Error codes of an AWS call the caller's IAM policies refused.
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})


def permission_denied(action: str, code: str, message: str) -> PermissionDenied:
    """The PermissionDenied of an AWS call refused with ``code``: names the IAM ``action`` the role needs."""
    return PermissionDenied(
        f"{action} was denied ({code}): this function's execution role needs it; fix the role "
        f"(iac/template.yaml) and redrive the dead letters. AWS said: {message[:200]}"
    )


# --- input ---------------------------------------------------------------------------------------------
class InvalidSegmentEvent(SegmentPersonalizeError):
    """The Segment message cannot be processed; the message says which field and what was wrong."""


# --- entry ---------------------------------------------------------------------------------------------
class StartExecutionFailed(SegmentPersonalizeError):
    """The entry function could not start a workflow execution; raised so that Segment retries."""


class DeadLetterQueueUnavailable(SegmentPersonalizeError):
    """The entry function could not park an input in the dead-letter queue; raised so that Segment retries
    (the input is not dropped)."""


# --- Amazon Personalize --------------------------------------------------------------------------------
class PersonalizeThrottled(SegmentPersonalizeError):
    """Amazon Personalize throttled the call (ThrottlingException, TooManyRequests)."""


class PersonalizeUnavailable(SegmentPersonalizeError):
    """Amazon Personalize answered 5xx or could not be reached."""


class PersonalizeRejected(SegmentPersonalizeError):
    """Amazon Personalize rejected the request (InvalidInputException, ResourceNotFoundException, ...)."""


# --- Segment -------------------------------------------------------------------------------------------
class ProfileApiThrottled(SegmentPersonalizeError):
    """Segment's Profile API answered 429 (``rate_limit_error``: over the space's 100 requests/s,
    https://segment.com/docs/unify/profile-api/). Back-pressure, not an outage: apart from
    ``ProfileApiUnavailable`` so that the state machine can give it a longer, jittered retry."""


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


# --- time ----------------------------------------------------------------------------------------------
class StepOutOfTime(SegmentPersonalizeError):
    """The invocation has too little time left for one more unit of its work (a PutEvents batch with its
    idempotency records) at worst; stopped before it, so that a retry carries on from the last unit done
    (each answers from its idempotency record) instead of the Lambda timing out mid-call. Transient."""


#: Errors the state machine retries with backoff before dead-lettering.
RETRYABLE: tuple[type[SegmentPersonalizeError], ...] = (
    PersonalizeThrottled,
    PersonalizeUnavailable,
    ProfileApiThrottled,
    ProfileApiUnavailable,
    SegmentUnavailable,
    StepAlreadyInProgress,
    IdempotencyStoreUnavailable,
    StepOutOfTime,
)

#: Errors that reject the event: the execution ends as Rejected with the reason.
REJECTING: tuple[type[SegmentPersonalizeError], ...] = (InvalidSegmentEvent,)

#: Lambda service errors that Step Functions raises around an invoke; always retried. The first four are the
#: best-practice retrier's ("invoking Lambda results in a 500 error, such as ClientExecutionTimeoutException,
#: ServiceException, AWSLambdaException, or SdkClientException",
#: https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html); the last is Lambda
#: throttling ("When Lambda exceeds the maximum number of invocations, the reported error will be
#: Lambda.TooManyRequestsException", https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html).
LAMBDA_TRANSIENT: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
)

#: An invocation that ran out of time or memory, and a Task past its TimeoutSeconds: retried a bounded number
#: of times. "Unhandled errors in Lambda runtimes were historically reported only as Lambda.Unknown. In newer
#: runtimes, timeouts are reported as Sandbox.Timedout in the error output" and States.Timeout is "reported
#: when a Task state runs longer than the TimeoutSeconds value"
#: (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html); Lambda.Unknown also
#: covers "out-of-memory errors and function timeouts" (the best-practice page above).
TIMEOUTS: tuple[str, ...] = ("Lambda.Unknown", "Sandbox.Timedout", "States.Timeout")
