"""Run a step's side effect at most once per key: Powertools' idempotency utility on DynamoDB.

Why: Step Functions *Standard* dedupes executions by name, but a step can still run twice inside one
execution (the state machine retries a Track that sent call 1 of 3 and was throttled on call 2), and an
*Express* workflow runs each state at least once and has no execution-name dedupe, so a message that Segment
redelivers (for up to 4 hours) starts a second execution. Amazon Personalize does not dedupe PutEvents by
eventId. So each unit of work (one PutEvents call of up to 10 events, one identify) is wrapped in
``idempotent_function``: the first run stores its result under a hash of the unit's key, later runs with the
same key return that result without doing the work again.

Records (table with partition key ``id``, TTL attribute ``expiration``, as ``iac/template.yaml`` creates it):

* a *completed* record lives :data:`COMPLETED_RECORD_SECONDS`: longer than the longest way an event can come
  back (``segment_personalize.dead_letters.IDEMPOTENCY_RECORD_SECONDS``: Segment redelivers for 4 hours, and a
  dead letter waits up to the queue's 14 days for its redrive), so a redrive never tracks twice. What it costs
  is in the README (a few hundred bytes a record, deleted by TTL for free).
* an *in-progress* record, written before the work, expires at the Lambda's deadline (Powertools reads
  ``get_remaining_time_in_millis`` from the context the handler registers with
  :meth:`Idempotency.register_lambda_context`). A step that died mid-call (timeout, crash) is therefore
  retryable once its invocation could no longer be running; before that a duplicate gets
  :class:`StepAlreadyInProgress`, which the state machine retries. Without a registered context the
  in-progress record would block the key for the full 24 h.
* a unit whose work raised has its record deleted, so a retry does the work again.

``IDEMPOTENCY_TABLE`` unset turns all of this off (logged once at cold start): the work simply runs.
``POWERTOOLS_IDEMPOTENCY_DISABLED=true`` does the same for a development run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from botocore.exceptions import ClientError

from segment_personalize.adapters.clients import client
from segment_personalize.dead_letters import IDEMPOTENCY_RECORD_SECONDS
from segment_personalize.errors import (
    ACCESS_DENIED_CODES,
    ConfigurationError,
    IdempotencyStoreUnavailable,
    StepAlreadyInProgress,
    permission_denied,
)
from segment_personalize.observability import logger

#: How long a completed record answers repeats (see above).
COMPLETED_RECORD_SECONDS = IDEMPOTENCY_RECORD_SECONDS

#: DynamoDB error codes that mean the table is missing or misconfigured, not a passing failure.
_CONFIGURATION_CODES = frozenset({"ResourceNotFoundException", "ValidationException"})
#: What Powertools' DynamoDB persistence layer calls, and so what an AccessDeniedException refused.
_DYNAMODB_ACTIONS = "dynamodb:GetItem, PutItem, UpdateItem and DeleteItem"

Work = Callable[[], dict[str, Any]]


@dataclass(frozen=True)
class Once:
    """What :meth:`Idempotency.once` gives back: the unit's result and whether it came from a record."""

    result: dict[str, Any]
    replayed: bool


def _perform(*, key: dict[str, Any], work: Work) -> dict[str, Any]:
    """The function Powertools makes idempotent: ``key`` is hashed into the record id, ``work`` is run."""
    return work()


class Idempotency:
    """Idempotent units of work of one function, keyed by ``key_prefix`` and a hash of each unit's key.

    ``persistence`` None means idempotency is off. Tests and the local stack may swap a module's instance
    (``functions.track.app.idempotency``) for one built on another persistence layer. A persistence layer
    takes the configuration of the first instance that uses it: give each instance its own.
    """

    def __init__(
        self,
        persistence: BasePersistenceLayer | None,
        *,
        key_prefix: str,
        expires_after_seconds: int = COMPLETED_RECORD_SECONDS,
        table_name: str | None = None,
    ) -> None:
        self.persistence = persistence
        self.key_prefix = key_prefix
        self.table_name = table_name or getattr(persistence, "table_name", None) or "the idempotency store"
        self.config = IdempotencyConfig(
            expires_after_seconds=expires_after_seconds,
            raise_on_no_idempotency_key=True,
            hash_function="sha256",
        )
        self._once: Callable[..., dict[str, Any]] | None = (
            idempotent_function(
                _perform,
                data_keyword_argument="key",
                persistence_store=persistence,
                config=self.config,
                key_prefix=key_prefix,
            )
            if persistence is not None
            else None
        )

    @classmethod
    def from_table(cls, table_name: str | None, *, key_prefix: str, what: str) -> Idempotency:
        """On a DynamoDB table (a client with this project's timeouts), or off when ``table_name`` is unset;
        ``what`` names the work for the cold-start log line."""
        if not table_name:
            logger.info(
                f"IDEMPOTENCY_TABLE is unset: idempotency is off; a retried or redelivered step {what} again"
            )
            return cls(None, key_prefix=key_prefix)
        persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client("dynamodb"))
        return cls(persistence, key_prefix=key_prefix, table_name=table_name)

    @property
    def enabled(self) -> bool:
        return self._once is not None

    def register_lambda_context(self, context: Any) -> None:
        """Let in-progress records expire at this invocation's deadline (call it first in the handler)."""
        self.config.register_lambda_context(context)

    def once(self, key: Mapping[str, Any], work: Work) -> Once:
        """``work()``'s result the first time ``key`` is seen (or after its record expired); the stored
        result, without running ``work``, after that. ``work`` must return a non-empty JSON object.

        Raises what ``work`` raises; :class:`StepAlreadyInProgress` while another invocation holds the key;
        :class:`IdempotencyStoreUnavailable` or :class:`ConfigurationError` when the table fails.
        """
        ran: list[bool] = []

        def tracked_work() -> dict[str, Any]:
            ran.append(True)
            result = work()
            if not isinstance(result, dict) or not result:
                raise TypeError("an idempotent unit of work must return a non-empty JSON object")
            return result

        if self._once is None:
            return Once(tracked_work(), replayed=False)
        try:
            result = self._once(key=dict(key), work=tracked_work)
        except IdempotencyAlreadyInProgressError as error:
            raise StepAlreadyInProgress(
                f"{self.key_prefix}: the same work is in progress in another invocation; retry later"
            ) from error
        except IdempotencyInconsistentStateError as error:
            raise IdempotencyStoreUnavailable(
                f"{self.key_prefix}: the record in {self.table_name} changed while it was read; retry"
            ) from error
        except IdempotencyPersistenceLayerError as error:
            raise self._store_error(error) from error
        return Once(result, replayed=not ran)

    def _store_error(self, error: IdempotencyPersistenceLayerError) -> Exception:
        cause = error.__cause__
        details = cause.response.get("Error", {}) if isinstance(cause, ClientError) else {}
        code = str(details.get("Code", ""))
        if code in ACCESS_DENIED_CODES:
            message = str(details.get("Message", ""))
            return permission_denied(f"{_DYNAMODB_ACTIONS} on {self.table_name}", code, message)
        if code in _CONFIGURATION_CODES:
            return ConfigurationError(
                f"IDEMPOTENCY_TABLE {self.table_name}: {code}; the table must exist, be reachable by this "
                "function and have the string partition key `id`"
            )
        return IdempotencyStoreUnavailable(
            f"{self.key_prefix}: {error.message} ({code or type(cause).__name__})"
        )
