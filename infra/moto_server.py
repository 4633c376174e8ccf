"""moto in server mode, with three divergences from AWS corrected.

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

3. moto's AWS Config aggregator serves only its own account and lacks
GetAggregateResourceConfig; this launcher serves the aggregator's source accounts (section 3).

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


# 3. AWS Config aggregators. moto 5 answers an aggregator's queries from the aggregator's own
# account only: it ignores the accounts the aggregator names and the SourceAccountId of a
# request (and labels everything with its own account), and it has no
# GetAggregateResourceConfig. In AWS an aggregator serves every source account it covers. This
# reads each source account's resources from moto's own backends, as moto's single-account
# code does for its own account; the items are those moto builds for that account.
from moto.config import models as config_models  # noqa: E402


def _source_accounts(backend, name):
    aggregator = backend.config_aggregators.get(name)
    if not aggregator:
        raise config_models.NoSuchConfigurationAggregatorException()
    accounts = []
    for source in aggregator.account_aggregation_sources or []:
        accounts.extend(a for a in source.account_ids if a not in accounts)
    return aggregator, accounts or [backend.account_id]


def _list_aggregate(self, aggregator_name, resource_type, filters, limit, next_token):
    aggregator, accounts = _source_accounts(self, aggregator_name)
    query = config_models.RESOURCE_MAP.get(resource_type)
    filters = filters or {}
    limit = limit or config_models.DEFAULT_PAGE_SIZE
    if limit > config_models.DEFAULT_PAGE_SIZE:
        raise config_models.InvalidLimitException(limit)
    if filters.get("AccountId"):
        accounts = [a for a in accounts if a == filters["AccountId"]]
    # The token is `<account index>|<moto's token within that account>`: one account a page.
    index, inner = 0, None
    if next_token:
        head, _, tail = next_token.partition("|")
        if not head.isdigit():
            raise config_models.InvalidNextTokenException()  # as AWS answers a token not its own
        index, inner = int(head), tail or None
    result = {"ResourceIdentifiers": []}
    if not query or index >= len(accounts):
        return result
    account = accounts[index]
    found, new_inner = query.list_config_service_resources(
        account,
        partition=self.partition,
        resource_ids=[filters["ResourceId"]] if filters.get("ResourceId") else None,
        resource_name=filters.get("ResourceName"),
        limit=limit,
        next_token=inner,
        resource_region=filters.get("Region"),
        aggregator=aggregator.__dict__,
    )
    for f in found:
        item = {
            "SourceAccountId": account,
            "SourceRegion": f["region"],
            "ResourceType": f["type"],
            "ResourceId": f["id"],
        }
        if f.get("name"):
            item["ResourceName"] = f["name"]
        result["ResourceIdentifiers"].append(item)
    if new_inner:
        result["NextToken"] = f"{index}|{new_inner}"
    elif index + 1 < len(accounts):
        result["NextToken"] = f"{index + 1}|"
    return result


def _aggregate_item(self, accounts, identifier):
    account = identifier.get("SourceAccountId")
    query = config_models.RESOURCE_MAP.get(identifier.get("ResourceType"))
    if account not in accounts or not query:
        return None
    item = query.get_config_resource(
        account,
        partition=self.partition,
        resource_id=identifier["ResourceId"],
        resource_name=identifier.get("ResourceName"),
        resource_region=identifier.get("SourceRegion"),
    )
    if item:
        item["accountId"] = account
    return item


def _batch_get_aggregate(self, aggregator_name, resource_identifiers):
    _, accounts = _source_accounts(self, aggregator_name)
    if len(resource_identifiers) > 100:
        raise config_models.TooManyResourceKeys(["identifier"] * len(resource_identifiers))
    found, not_found = [], []
    for identifier in resource_identifiers:
        item = _aggregate_item(self, accounts, identifier)
        if item:
            item.pop("tags", None)  # a BaseConfigurationItem has none
            found.append(item)
        else:
            not_found.append(identifier)
    return {"BaseConfigurationItems": found, "UnprocessedResourceIdentifiers": not_found}


def _get_aggregate_response(self):
    backend = self.config_backend
    _, accounts = _source_accounts(backend, self._get_param("ConfigurationAggregatorName"))
    identifier = self._get_param("ResourceIdentifier") or {}
    item = _aggregate_item(backend, accounts, identifier)
    if not item:
        raise config_models.ResourceNotDiscoveredException(
            identifier.get("ResourceType"), identifier.get("ResourceId")
        )
    return json.dumps({"ConfigurationItem": item})


config_models.ConfigBackend.list_aggregate_discovered_resources = _list_aggregate
config_models.ConfigBackend.batch_get_aggregate_resource_config = _batch_get_aggregate
responses.ConfigResponse.get_aggregate_resource_config = _get_aggregate_response
patch("get_aggregate_resource_config")

if __name__ == "__main__":
    sys.exit(main())
