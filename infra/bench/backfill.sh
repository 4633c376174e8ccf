#!/usr/bin/env bash
# Organization back-fill: ACCOUNTS accounts of PER_ACCOUNT S3 buckets each on moto, read by the
# scorer Lambda binary through an AWS Config aggregator (CONFIG_AGGREGATOR), one scheduled
# back-fill invocation after another (MAX_PAGES pages of 100 each, resumed from the saved
# cursor) until the job says it is done. Reports the time, the invocations and what each
# resource cost.
#
#   bash infra/bench/backfill.sh [ACCOUNTS=20] [PER_ACCOUNT=5000] [MAX_PAGES=20]
set -euo pipefail
cd "$(dirname "$0")/../.."

accounts=${1:-20}
per_account=${2:-5000}
max_pages=${3:-20}
# shellcheck source=infra/bench/scorer_on_moto.sh
source infra/bench/scorer_on_moto.sh

aggregator="justice-bench"
echo "== $accounts accounts x $per_account buckets into moto"
start=$(date +%s)
eval "$("$venv/bin/python" infra/bench/backfill_setup.py "$accounts" "$per_account" "$aggregator")"
echo "filled in $(($(date +%s) - start)) s"

table="bench-$$"
"$venv/bin/python" infra/bench/make_table.py "$table"
export RISK_TABLE="$table" CONFIG_AGGREGATOR="$aggregator" LOG_LEVEL=warn
export BACKFILL_MAX_PAGES="$max_pages"
job=$(mktemp)
echo '{"justice": "backfill", "resource_types": ["AWS::S3::Bucket"]}' >"$job"

echo "== back-fill through the aggregator"
run=$(python3 infra/bench/runtime_api.py "$job" --until-done -- "$bin")
rm -f "$job"
cost=$("$venv/bin/python" infra/bench/backfill_cost.py "$table")
python3 - "$run" "$cost" "$((accounts * per_account))" <<'PY'
import json, sys
run, cost, total = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
assert run["completed"] and run["errors"] == 0, run
print(f"resources {total}, states stored {cost['states']}, invocations {run['events']}, "
      f"wall {run['wall_s']} s ({1000 * run['wall_s'] / total:.2f} ms a resource), "
      f"peak RSS {run['peak_rss_kib'] / 1024:.1f} MiB")
print(f"state {cost['state_bytes_avg']} B, record {cost['record_bytes_avg']} B: "
      f"{cost['write_units_per_resource']} write units and {cost['read_units_per_resource']} read unit a resource")
# On-demand list prices (us-east-1): $0.625 per million write units, $0.125 per million read
# units; Lambda arm64 $0.0000133334 per GB-second at 256 MB, $0.20 per million requests. The
# Config reads through the aggregator are not billed per call.
ddb = cost["write_units_per_resource"] * 0.625e-6 + cost["read_units_per_resource"] * 0.125e-6
lam = run["wall_s"] / total * 0.25 * 0.0000133334 + run["events"] / total * 0.2e-6
print(f"cost a resource: DynamoDB ${ddb * 1e6:.2f} and Lambda ${lam * 1e6:.2f} per million resources "
      f"(the Lambda share at moto's speed; DynamoDB answers in single-digit ms)")
PY
