"""moto in server mode, with two divergences from AWS corrected.

1. moto serves requests on many threads and checks the conditions of a write before making
it, unlocked: two S3 PUTs with the same `If-Match` ETag, or two conditional DynamoDB writes,
can both succeed when they arrive together (seen under load: a lost tasks.json update, and a
blast-radius budget granted twice). In AWS each conditional write is atomic. This launcher
serves one request at a time, so every condition is checked and acted on atomically.

2. AWS Config's JSON API (awsJson1_1) sends timestamps such as `configurationItemCaptureTime` as
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
import threading

from moto.config import responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
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


_one_at_a_time = threading.Lock()
_dispatch = DomainDispatcherApplication.__call__


def _serialized(self, environ, start_response):
    # The whole response is built under the lock (moto builds it in memory anyway).
    with _one_at_a_time:
        return list(_dispatch(self, environ, start_response))


DomainDispatcherApplication.__call__ = _serialized


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
