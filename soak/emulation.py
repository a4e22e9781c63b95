"""EXPRESS emulated on the local engine, which runs Step Functions' STANDARD semantics only.

An Express workflow does not dedupe by name: "Idempotency is not automatically managed. Starting multiple
workflows with the same name results in concurrent executions."
(https://docs.aws.amazon.com/step-functions/latest/dg/express-at-least-once-execution.html). A STANDARD one
answers a second StartExecution of a name with the execution already there (the same ARN while it runs with
the same input, ``ExecutionAlreadyExists`` otherwise). The soak gives the entry function's Step Functions
client a wrapper (a sandbox hook: ``LocalStack(sandbox_hooks={"entry": [EXPRESS_HOOK]})``) that starts
every delivery under a name of its own, ``<name>-express-<8 hex>``: each copy of a message that reaches the
entry function starts an execution of its own, concurrent copies too, and only Track's and SyncProfile's
idempotency records stand between a redelivery and a second PutEvents or identify.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from segment_personalize.executions import MAX_NAME_LENGTH

EXPRESS_MARK = "-express-"
#: The hook of the entry function that emulates EXPRESS (``LocalStack(sandbox_hooks={"entry": [...]})``).
EXPRESS_HOOK = f"{__name__}:express_starts"


def express_name(name: str) -> str:
    """``name`` cut so that ``-express-`` and 8 random hex digits fit in 80 characters: unique per call, so
    that copies started in different sandboxes at the same moment never share a name."""
    suffix = f"{EXPRESS_MARK}{uuid.uuid4().hex[:8]}"
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


class ExpressStarts:
    """A Step Functions client whose StartExecution never finds an execution of the same name."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def start_execution(self, *, stateMachineArn: str, name: str, input: str) -> Mapping[str, Any]:  # noqa: N803, A002 - boto3's names
        own = express_name(name)
        return dict(self.client.start_execution(stateMachineArn=stateMachineArn, name=own, input=input))


def express_starts(module: Any) -> None:  # functions.entry.app
    """Sandbox hook of the entry function: its ``sfn`` starts every delivery as an execution of its own."""
    module.sfn = ExpressStarts(module.sfn)
