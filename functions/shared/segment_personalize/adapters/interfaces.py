"""What each handler calls on its adapters, as one small ``typing.Protocol`` per adapter.

A handler module annotates its module-level adapter with its Protocol; the step logic takes the Protocol.
The real adapters of this package (and, for entry, a boto3 Step Functions client) implement them
structurally, and so do the fakes of ``tests/fakes``, which the tests and the local stack swap in
(``functions.track.app.personalize = ...``). The adapters' own types are imported for type checking only,
so that a handler loads no adapter it does not use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from segment_personalize.adapters.idempotency import Once, Work
    from segment_personalize.adapters.personalize import Recommendations


class ExecutionStarter(Protocol):
    """StartExecution of the workflow (entry): a boto3 ``stepfunctions`` client."""

    # boto3's own parameter names
    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Mapping[str, Any]: ...  # noqa: N803, A002


class LetterSender(Protocol):
    """SendMessage to the dead-letter queue (entry parks input there): a boto3 ``sqs`` client."""

    # boto3's own parameter names
    def send_message(self, *, QueueUrl: str, MessageBody: str) -> Mapping[str, Any]: ...  # noqa: N803


class EventTracker(Protocol):
    """PutEvents into an Amazon Personalize event tracker (track): ``personalize.PersonalizeEvents``."""

    def put_batch(
        self, *, tracking_id: str, session_id: str, user_id: str | None, events: Sequence[Mapping[str, Any]]
    ) -> None:
        """One call of at most 10 events that ``personalize.check_put_events`` has passed."""


class RecommendationSource(Protocol):
    """GetRecommendations from a campaign or a recommender (recommend):
    ``personalize.PersonalizeRecommendations``."""

    def get_recommendations(
        self,
        *,
        user_id: str,
        num_results: int,
        campaign_arn: str | None = None,
        recommender_arn: str | None = None,
        filter_arn: str | None = None,
        filter_values: Mapping[str, str] | None = None,
        metadata_columns: Sequence[str] = (),
    ) -> Recommendations: ...


class ProfileTraits(Protocol):
    """A visitor's traits from Segment's Profile API (filter_traits): ``profile_api.ProfileApi``."""

    def traits(
        self, user_id: str | None, anonymous_id: str | None, include: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """The profile's traits (only those in ``include``, when given), or None when there is no profile."""


class IdentifySender(Protocol):
    """One identify to Segment's tracking API, sent before returning (sync_profile):
    ``segment_identify.SegmentIdentify``."""

    def identify(
        self,
        *,
        user_id: str | None,
        anonymous_id: str | None,
        traits: dict[str, Any],
        message_id: str,
        timestamp: datetime,
    ) -> None: ...


class OncePerKey(Protocol):
    """Runs a unit of work at most once per key (track, sync_profile): ``idempotency.Idempotency``."""

    def register_lambda_context(self, context: Any) -> None:
        """Let a unit in progress expire at this invocation's deadline."""

    def once(self, key: Mapping[str, Any], work: Work) -> Once:
        """``work()``'s result the first time ``key`` is seen; the stored result after that."""
