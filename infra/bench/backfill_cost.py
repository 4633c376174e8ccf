"""Reads the risk table after the back-fill benchmark and prints, as JSON, what the back-fill
stored: states and history records, their average sizes as DynamoDB bills them, and the write
and read units each resource cost (a consistent GetItem of the state; the state and its record
in one TransactWriteItems, which bills each item twice).

    python backfill_cost.py TABLE
"""

import json
import math
import sys

import boto3


def size(value):
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return len(v.lstrip("-").replace(".", "")) // 2 + 2
    if kind == "B":
        return len(v)
    if kind == "BOOL" or kind == "NULL":
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(size({kind[0]: x}) for x in v)
    raise ValueError(kind)


def main():
    ddb = boto3.client("dynamodb")
    sizes = {"STATE": [], "H": []}
    for page in ddb.get_paginator("scan").paginate(TableName=sys.argv[1]):
        for item in page["Items"]:
            kind = "STATE" if item["sk"]["S"] == "STATE" else "H"
            sizes[kind].append(sum(len(k.encode()) + size(v) for k, v in item.items()))
    states, records = sizes["STATE"], sizes["H"]
    units = lambda xs: sum(math.ceil(x / 1024) for x in xs)
    print(
        json.dumps(
            {
                "states": len(states),
                "records": len(records),
                "state_bytes_avg": round(sum(states) / max(len(states), 1)),
                "record_bytes_avg": round(sum(records) / max(len(records), 1)),
                # Transactional writes bill twice.
                "write_units_per_resource": round(2 * (units(states) + units(records)) / max(len(states), 1), 2),
                "read_units_per_resource": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
