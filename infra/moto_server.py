"""moto in server mode, with one divergence from AWS corrected.

AWS Config's JSON API (awsJson1_1) sends timestamps such as `configurationItemCaptureTime` as
epoch seconds. moto 5 writes them as text ("2026-11-26 19:18:43.101412+00:00"), which boto3
tolerates and the Rust SDK rightly rejects. This launcher rewrites those values in moto's
Config responses to epoch seconds and starts moto unchanged otherwise. It changes the fake,
never the code under test.

    python infra/moto_server.py -H 127.0.0.1 -p PORT
"""

import copy
import datetime
import json
import os
import sys

from moto.config import responses
from moto.server import main

TIME_KEYS = {"configurationItemCaptureTime", "resourceCreationTime"}


def epoch(value):
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    return value


def fix(obj):
    if isinstance(obj, dict):
        return {k: epoch(v) if k in TIME_KEYS else fix(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [fix(x) for x in obj]
    return obj


def patch(name):
    original = getattr(responses.ConfigResponse, name)

    def patched(self):
        return json.dumps(fix(json.loads(original(self))))

    setattr(responses.ConfigResponse, name, patched)


for operation in (
    "get_resource_config_history",
    "batch_get_resource_config",
    "batch_get_aggregate_resource_config",
):
    patch(operation)


# Benchmarks only (never the tests): moto backs up the whole table before every
# TransactWriteItems (a deep copy), which makes N writes cost O(N^2) time and gigabytes of
# memory. With JUSTICE_BENCH_NO_TXN_BACKUP=1 that backup is skipped: a transaction that fails
# half-way is then not rolled back. The benchmark writes each resource once from one writer, so
# no transaction fails there.
if os.environ.get("JUSTICE_BENCH_NO_TXN_BACKUP") == "1":
    from moto.dynamodb import models as dynamodb_models
    from moto.dynamodb.models.table import Table

    class _NoTableBackup:
        def deepcopy(self, obj, *args, **kwargs):
            if isinstance(obj, Table):
                return obj
            return copy.deepcopy(obj, *args, **kwargs)

        def __getattr__(self, name):
            return getattr(copy, name)

    dynamodb_models.copy = _NoTableBackup()

if __name__ == "__main__":
    sys.exit(main())
