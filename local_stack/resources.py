"""The local account and region, and the names and ARNs of what the local stack creates in them.

One place for them: the Lambda runtime names its functions with them, the Step Functions engine creates its
state machine and queue under them, and :mod:`local_stack.stack` configures the functions from
:func:`default_environment`.
"""

from __future__ import annotations

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
STATE_MACHINE_NAME = "segment-personalize"
DEAD_LETTER_QUEUE_NAME = "segment-personalize-dead-letters"
FUNCTION_PREFIX = "segment-personalize-"


def function_name(function: str) -> str:
    """The Lambda function name of ``function`` (a folder of ``functions/``): segment-personalize-track."""
    return FUNCTION_PREFIX + function.replace("_", "-")


def function_arn(function: str, region: str = DEFAULT_REGION, account: str = ACCOUNT_ID) -> str:
    """The ARN the engine substitutes for the function's ASL placeholder."""
    return f"arn:aws:lambda:{region}:{account}:function:{function_name(function)}"


def state_machine_arn(
    name: str = STATE_MACHINE_NAME, region: str = DEFAULT_REGION, account: str = ACCOUNT_ID
) -> str:
    """The ARN moto gives the state machine ``name``."""
    return f"arn:aws:states:{region}:{account}:stateMachine:{name}"


def dead_letter_queue_url(region: str = DEFAULT_REGION, account: str = ACCOUNT_ID) -> str:
    """The URL moto gives the dead-letter queue (the entry function parks input there)."""
    return f"https://sqs.{region}.amazonaws.com/{account}/{DEAD_LETTER_QUEUE_NAME}"


def default_environment(
    region: str = DEFAULT_REGION, machine_name: str = STATE_MACHINE_NAME
) -> dict[str, str]:
    """Settings that let every function import with no AWS account and no network.

    Personalize and Segment addresses are left at their defaults or point nowhere useful: tests swap the
    adapters for fakes, the local stack overrides them with its own services.
    """
    return {
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "STATE_MACHINE_ARN": state_machine_arn(machine_name, region),
        "DEAD_LETTER_QUEUE_URL": dead_letter_queue_url(region),
        "PERSONALIZE_TRACKING_ID": "local-tracking-id",
        "PERSONALIZE_CAMPAIGN_ARN": f"arn:aws:personalize:{region}:{ACCOUNT_ID}:campaign/segment-personalize",
        "SEGMENT_WRITE_KEY": "local-write-key",
        "SEGMENT_HOST": "http://127.0.0.1:9",  # the discard port: nothing answers unless overridden
        "POWERTOOLS_SERVICE_NAME": "segment-personalize",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
