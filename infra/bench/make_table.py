"""(Re)creates an empty risk table on moto, shaped as template.yaml's RiskTable, for the
benchmarks: `python make_table.py NAME`. No stream: moto keeps every stream record in memory,
and the scorer never reads it."""

import sys

import boto3

ddb = boto3.client("dynamodb")
name = sys.argv[1]
if name in ddb.list_tables()["TableNames"]:
    ddb.delete_table(TableName=name)
ddb.create_table(
    TableName=name,
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[
        {"AttributeName": n, "AttributeType": t}
        for n, t in [("pk", "S"), ("sk", "S"), ("risky", "S"), ("evaluated_at", "N")]
    ],
    KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    GlobalSecondaryIndexes=[
        {
            "IndexName": "risky-by-evaluated-at",
            "KeySchema": [
                {"AttributeName": "risky", "KeyType": "HASH"},
                {"AttributeName": "evaluated_at", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
)
