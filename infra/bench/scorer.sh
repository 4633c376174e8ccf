#!/usr/bin/env bash
# Scorer Lambda benchmark: cold start and memory of the release binary, run under a stand-in
# for the Lambda Runtime API (infra/bench/runtime_api.py) against DynamoDB on moto.
#
#   bash infra/bench/scorer.sh [N=10000] [SEED=1] [STARTS=10]
#
# Reports: spawn -> first GET /next (init) and spawn -> first event answered, median of
# STARTS cold starts; peak RSS over N events of the generated stream; binary size, zipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-10000}
seed=${2:-1}
starts=${3:-10}
# shellcheck source=infra/bench/events.sh
source infra/bench/events.sh
events=$(events "$n" "$seed")

# shellcheck source=infra/bench/scorer_on_moto.sh
source infra/bench/scorer_on_moto.sh

table="bench-$$"
# (Re)created empty between batches of the long run too (see runtime_api.py).
make_table="$venv/bin/python infra/bench/make_table.py $table"
$make_table
accounts=$(python3 -c '
import json, sys
print(",".join(sorted({json.loads(l)["detail"]["configurationItem"]["awsAccountId"] for l in open(sys.argv[1])})))' "$events")
export RISK_TABLE="$table" ALLOWED_ACCOUNTS="$accounts" LOG_LEVEL=warn

one="infra/out/one-event.jsonl"
head -n 1 "$events" >"$one"
echo "== $starts cold starts, one event each"
results=()
for i in $(seq 1 "$starts"); do
    results+=("$(python3 infra/bench/runtime_api.py "$one" -- "$bin")")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
runs = [json.loads(l) for l in sys.stdin]
assert all(r["completed"] and r["errors"] == 0 for r in runs), runs
for k in ("init_ms", "first_event_ms"):
    v = [r[k] for r in runs]
    print(f"{k}: median {statistics.median(v):.1f} ms (min {min(v):.1f}, max {max(v):.1f})")'

echo "== $n events through one process"
python3 infra/bench/runtime_api.py "$events" --between 1000 "$make_table" -- "$bin" | python3 -c '
import json, sys
r = json.load(sys.stdin)
rss = r["peak_rss_kib"] / 1024
print("events %d, errors %d, wall %s s, peak RSS %.1f MiB" % (r["events"], r["errors"], r["wall_s"], rss))'

echo "== size"
zipdir=$(mktemp -d)
cp "$bin" "$zipdir/bootstrap"
(cd "$zipdir" && zip -q -9 bootstrap.zip bootstrap)
python3 -c 'import os, sys; b, z = (os.path.getsize(p) for p in sys.argv[1:]); print(f"binary {b / 2**20:.2f} MiB, zipped {z / 2**20:.2f} MiB")' "$bin" "$zipdir/bootstrap.zip"
rm -rf "$zipdir"
