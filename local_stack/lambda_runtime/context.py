"""Lambda's context object, as the local runtime and the tests hand it to the handlers.

The one stand-in for ``awslambdaric``'s context: the attributes Powertools' logger reads
(``function_name``, ``memory_limit_in_mb``, ``invoked_function_arn``, ``aws_request_id``) and
``get_remaining_time_in_millis``, counted down from the invocation's timeout as Lambda does (Powertools'
idempotency sets an in-progress record to expire at that deadline).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from local_stack.resources import function_arn, function_name

DEFAULT_FUNCTION_NAME = function_name("test")


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that Powertools and the handlers read; the deadline is
    ``timeout_ms`` after the context is made."""

    function_name: str = DEFAULT_FUNCTION_NAME
    invoked_function_arn: str = function_arn("test")
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_ms: int = 30_000
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
