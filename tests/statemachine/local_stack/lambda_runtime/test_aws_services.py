"""The moto process of the functions' DynamoDB and Secrets Manager keeps what a long run needs only."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import boto3
import pytest

from local_stack.lambda_runtime.aws_services import MotoProcess

pytestmark = pytest.mark.statemachine


@pytest.fixture
def services() -> Iterator[MotoProcess]:
    process = MotoProcess()
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_the_idempotency_records_items_are_not_tracked_for_good(services: MotoProcess) -> None:
    # moto appends every model instance it makes to its class's instances_tracked, which only moto-api's
    # data.json reads; in this process, as in the engine's, a DynamoDB Item is not (forgetting.CHURNED_MODELS)
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=services.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.create_table(
        TableName="idempotency",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(5):
        dynamodb.put_item(TableName="idempotency", Item={"id": {"S": f"record-{n}"}})
    dynamodb.update_item(
        TableName="idempotency",
        Key={"id": {"S": "record-0"}},
        UpdateExpression="SET s = :s",
        ExpressionAttributeValues={":s": {"S": "COMPLETED"}},
    )
    assert len(dynamodb.scan(TableName="idempotency")["Items"]) == 5  # the records are all there
    with urllib.request.urlopen(f"{services.url}/moto-api/data.json", timeout=10) as answer:  # noqa: S310
        tracked = json.loads(answer.read())["dynamodb"]
    assert len(tracked["Table"]) == 1
    assert tracked["Item"] == []
    assert services.cpu_seconds() > 0
