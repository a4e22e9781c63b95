"""The whole local stack in one process, on loopback: what ``make run`` and ``segment-personalize`` use.

* Amazon Personalize: :class:`local_stack.personalize.PersonalizeService` (personalize-events and
  personalize-runtime REST-JSON), found by the functions through ``AWS_ENDPOINT_URL_PERSONALIZE_*``.
* Segment: :class:`local_stack.segment.SegmentService` (tracking API and Profile API), found through
  ``SEGMENT_HOST`` and ``SEGMENT_PROFILE_API_URL``.
* Both enforce the real request-rate quotas (:mod:`local_stack.rate_limits`; ``rate_limits=`` scales them).
* Step Functions, SQS, DynamoDB and Secrets Manager: moto, with the real ASL file run by moto's interpreter
  and the real handlers behind a Lambda Invoke server
  (:class:`local_stack.stepfunctions.engine.LocalEngine`), each function in sandbox processes as Lambda
  runs it (``runtime="process"``: concurrent invocations in parallel, the template's timeouts enforced),
  reaching moto through its server on loopback. The Segment write key and Profile API token live in
  Secrets Manager, read by the functions as they are when deployed.

State lives in SQLite files under the data folder: ``personalize.sqlite``, ``segment.sqlite`` and
``runs.sqlite`` (outcomes and execution histories, read by ``trace``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from local_stack.personalize import PersonalizeService
from local_stack.rate_limits import Limits
from local_stack.resources import ACCOUNT_ID, DEFAULT_REGION, default_environment
from local_stack.run_store import RunStore
from local_stack.segment import SegmentService
from local_stack.stepfunctions.engine import LocalEngine

TRACKING_ID = "local-tracking-id"
CAMPAIGN_ARN = default_environment()["PERSONALIZE_CAMPAIGN_ARN"]
WRITE_KEY = "local-write-key"
SPACE_ID = "local-space"
PROFILE_TOKEN = "local-profile-token"  # noqa: S105 - the local Segment service's own token
IDEMPOTENCY_TABLE = "segment-personalize-idempotency"
DATA_FILES = ("personalize.sqlite", "segment.sqlite", "runs.sqlite", "functions.log")

#: Trait rules of the local run: never recommend what a user bought; stay in the user's departments.
LOCAL_FILTER_RULES = [
    {"exclude": "purchased_products"},
    {"keep_if": "category", "in_trait": "favorite_departments"},
]


class LocalStack:
    """Personalize, Segment, moto and the workflow, started together; a context manager."""

    def __init__(
        self,
        data_dir: Path | str = ".data",
        *,
        fresh: bool = True,
        items: Mapping[str, Mapping[str, Any]] | None = None,
        env: Mapping[str, str] | None = None,
        skip_retry_waits: bool = False,
        fast: bool = True,
        runtime: str = "process",
        sandbox_hooks: Mapping[str, Sequence[str]] | None = None,
        function_timeouts: Mapping[str, float] | None = None,
        concurrency: int | Mapping[str, int] | None = None,
        extra_functions: Mapping[str, str] | None = None,
        warm_sandboxes: int = 1,
        workflow_type: str = "STANDARD",
        rate_limits: Mapping[str, Limits] | None = None,
    ) -> None:
        """``runtime``, ``sandbox_hooks``, ``function_timeouts``, ``concurrency``, ``extra_functions``,
        ``warm_sandboxes`` and ``workflow_type`` go to the engine
        (:class:`~local_stack.stepfunctions.engine.LocalEngine`); ``rate_limits`` to the services, by name
        (``{"segment": {"profile": Rate(5)}, "personalize": {...}}``; every quota is at its real value unless
        given, :mod:`local_stack.rate_limits`)."""
        unknown = set(rate_limits or {}) - {"personalize", "segment"}
        if unknown:
            raise ValueError(f"rate_limits are for 'personalize' and 'segment', not {sorted(unknown)}")
        self.rate_limits = dict(rate_limits or {})
        self.data_dir = Path(data_dir)
        self.engine_options: dict[str, Any] = {
            "runtime": runtime,
            "sandbox_hooks": sandbox_hooks,
            "function_timeouts": function_timeouts,
            "concurrency": concurrency,
            "extra_functions": extra_functions,
            "warm_sandboxes": warm_sandboxes,
            "workflow_type": workflow_type,
        }
        self.fresh = fresh
        self.items = dict(items or {})
        self.extra_env = dict(env or {})
        self.skip_retry_waits = skip_retry_waits
        self.fast = fast  # the engine's speed-ups (LocalEngine ``fast``); off only to compare with moto as is
        self.personalize: PersonalizeService | None = None
        self.segment: SegmentService | None = None
        self.engine: LocalEngine | None = None
        self.runs: RunStore | None = None
        self.function_log: TextIO | None = None
        self._source: Any = None

    # --- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> LocalStack:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def _open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.fresh:
            for name in DATA_FILES:
                (self.data_dir / name).unlink(missing_ok=True)
        self.personalize = PersonalizeService(
            self.data_dir / "personalize.sqlite",
            tracking_ids=[TRACKING_ID],
            campaigns=[CAMPAIGN_ARN],
            items=self.items,
            rate_limits=self.rate_limits.get("personalize"),
        )
        self.personalize.start()
        self.segment = SegmentService(
            str(self.data_dir / "segment.sqlite"),
            write_keys=(WRITE_KEY,),
            space_id=SPACE_ID,
            access_token=PROFILE_TOKEN,
            rate_limits=self.rate_limits.get("segment"),
        )
        self.segment.start()
        self.runs = RunStore(self.data_dir / "runs.sqlite")
        self.function_log = open(self.data_dir / "functions.log", "a", encoding="utf-8")  # noqa: SIM115
        env = {
            **self.personalize.endpoint_env(),
            "PERSONALIZE_TRACKING_ID": TRACKING_ID,
            "PERSONALIZE_CAMPAIGN_ARN": CAMPAIGN_ARN,
            "SEGMENT_HOST": self.segment.url,
            "SEGMENT_WRITE_KEY": "",  # read from Secrets Manager, as deployed
            "SEGMENT_SPACE_ID": SPACE_ID,
            "SEGMENT_PROFILE_API_URL": self.segment.url,
            "FILTER_RULES": json.dumps(LOCAL_FILTER_RULES if self.items else LOCAL_FILTER_RULES[:1]),
            "PERSONALIZE_METADATA_COLUMNS": "CATEGORY" if self.items else "",
            # the department rule keeps a user's one or two categories of eight: ask for as many as
            # GetRecommendations gives with metadata
            "PERSONALIZE_NUM_RESULTS": "50" if self.items else "",
            "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
            "POWERTOOLS_LOG_LEVEL": "INFO",  # what CloudWatch Logs would get; see functions.log
            **self.extra_env,
        }
        self.engine = LocalEngine(
            env=env,
            skip_retry_waits=self.skip_retry_waits,
            fast=self.fast,
            prepare=self._create_resources,
            function_log=self.function_log,
            **self.engine_options,
        )
        self.engine.open()

    def _create_resources(self, session: Any) -> dict[str, str]:
        """In moto, before the functions import: the secrets and the idempotency table."""
        secrets = session.client("secretsmanager")
        write_key = secrets.create_secret(
            Name="segment-personalize/segment-write-key", SecretString=WRITE_KEY
        )
        token = secrets.create_secret(
            Name="segment-personalize/profile-api-token", SecretString=PROFILE_TOKEN
        )
        session.client("dynamodb").create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return {
            "SEGMENT_WRITE_KEY_SECRET_ARN": write_key["ARN"],
            "SEGMENT_PROFILE_TOKEN_SECRET_ARN": token["ARN"],
        }

    def close(self) -> None:
        """Stop everything, even when one part fails to stop (that failure is raised after); the SQLite
        files stay for inspection."""
        failures: list[BaseException] = []
        for part in (self.engine, self.personalize, self.segment, self.runs, self.function_log):
            if part is None:
                continue
            try:
                part.close()
            except Exception as error:  # noqa: BLE001 - the others must still close; raised below
                failures.append(error)
        self.engine = None
        self.personalize = None
        self.segment = None
        self.runs = None
        self.function_log = None
        if failures:
            raise failures[0]

    def send_to_segment(self, message: Any) -> str | None:
        """What a website's Segment source does before Segment calls the destination: POST the message to the
        tracking API (so identify traits reach the profile). None when accepted, else Segment's refusal."""
        assert self.segment is not None
        if not isinstance(message, dict):
            return None  # not JSON: a source library would never send it; the entry function says why
        if self._source is None:
            import requests

            self._source = requests.Session()
            self._source.auth = (WRITE_KEY, "")
            self._source.trust_env = False  # loopback: no proxy settings to read from the environment
        response = self._source.post(f"{self.segment.url}/v1/batch", json={"batch": [message]}, timeout=10)
        if response.ok:
            return None
        return f"Segment refused the message: HTTP {response.status_code} {response.text[:200]}"

    # --- views -----------------------------------------------------------------------------------------
    def endpoints(self) -> dict[str, str]:
        assert self.engine is not None
        assert self.personalize is not None
        assert self.segment is not None
        return {
            "lambda (Invoke API)": self.engine.server.url,
            "moto (Step Functions, SQS), for the functions": self.engine.moto_url or "in process",
            "moto (DynamoDB, Secrets Manager), for the functions": self.engine.aws_services.url or "-",
            "personalize-events / personalize-runtime": self.personalize.url,
            "segment tracking + Profile API": self.segment.url,
            "state machine": self.engine.state_machine_arn,
            "dead-letter queue": self.engine.dead_letter_queue_url,
            "entry function": self.engine.function_arns["entry"],
            "function logs": str(self.data_dir / "functions.log"),
            "segment write key": WRITE_KEY,
            "segment space / profile token": f"{SPACE_ID} / {PROFILE_TOKEN}",
            "region / account": f"{DEFAULT_REGION} / {ACCOUNT_ID}",
        }
