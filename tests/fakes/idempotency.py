"""The idempotency table as ``iac/template.yaml`` creates it, in moto's DynamoDB: for the real adapter."""

from __future__ import annotations

from typing import Any

#: The table name the tests give ``IDEMPOTENCY_TABLE``.
TABLE = "segment-personalize-idempotency"


def create_table(dynamodb: Any, name: str = TABLE) -> None:
    """Create the table (string partition key ``id``, on demand) with a boto3 ``dynamodb`` client."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
