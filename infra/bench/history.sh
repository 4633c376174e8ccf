#!/usr/bin/env bash
# Does an event's cost depend on its resource's history? N items of one security group against
# the same N items over N distinct groups, replayed side by side (scorer only), 5 runs each.
#
#   bash infra/bench/history.sh [N=8000]
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-8000}
out=infra/out
# shellcheck source=infra/bench/events.sh
source infra/bench/events.sh
events=$(events $((n * 3)) 1)
python3 infra/bench/one_resource.py "$events" "$n" "$out/one-$n.jsonl" "$out/distinct-$n.jsonl"
# JUSTICE_BIN measures another build (an older commit's, side by side) instead of this one's.
if [ -z "${JUSTICE_BIN:-}" ]; then
    cargo build --release --locked -p justice >/dev/null
fi
bin=${JUSTICE_BIN:-target/release/justice}
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

run() {
    /usr/bin/time -f '%e' "$bin" replay "$1" --state "$state/s" --fresh --no-judge 2>&1 >/dev/null | tail -n 1
}
one=""
distinct=""
for i in 1 2 3 4 5; do
    a=$(run "$out/one-$n.jsonl")
    b=$(run "$out/distinct-$n.jsonl")
    echo "run $i: one resource ${a}s, distinct resources ${b}s"
    one="$one $a"
    distinct="$distinct $b"
done
python3 - "$n" "$one" "$distinct" <<'PY'
import statistics, sys
n = int(sys.argv[1])
one = statistics.median(map(float, sys.argv[2].split()))
distinct = statistics.median(map(float, sys.argv[3].split()))
print("%d items: one resource %.2fs (%d/s), distinct %.2fs (%d/s), ratio %.2f (goal <= 2)"
      % (n, one, n / one, distinct, n / distinct, one / distinct))
PY
