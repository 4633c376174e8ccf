#!/usr/bin/env bash
# Side-by-side replay benchmark: several builds of `justice` take turns on the same generated
# stream, each run on an empty state directory removed (and the disk synced) outside the
# timing. This machine's speed swings from day to day and within a sitting, so only ratios
# taken this way compare.
#
#   bash infra/bench/side_by_side.sh [--no-judge] N ROUNDS BIN...
#   e.g. bash infra/bench/side_by_side.sh --no-judge 10000 9 /tmp/old/justice target/release/justice
set -euo pipefail
cd "$(dirname "$0")/../.."

mode=()
if [ "${1:-}" = "--no-judge" ]; then
    mode=(--no-judge)
    shift
fi
if [ $# -lt 3 ]; then
    echo "usage: $0 [--no-judge] N ROUNDS BIN..." >&2
    exit 2
fi
n=$1
rounds=$2
shift 2
# shellcheck source=infra/bench/events.sh
source infra/bench/events.sh
events=$(events "$n" 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for round in $(seq "$rounds"); do
    line="turn $round:"
    for i in $(seq 0 $(($# - 1))); do
        bin=${*:$((i + 1)):1}
        rm -rf "$work/state"
        sync
        /usr/bin/time -f '%e %M' -o "$work/time" "$bin" replay "$events" --state "$work/state" \
            --fresh "${mode[@]}" >/dev/null 2>&1 || true
        read -r secs kb <"$work/time"
        echo "$secs $kb" >>"$work/runs-$i"
        line="$line  $secs s $((kb / 1024)) MiB"
    done
    echo "$line"
done
i=0
for bin in "$@"; do
    python3 - "$bin" "$n" "$work/runs-$i" <<'PY'
import statistics, sys
bin, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [tuple(map(float, l.split())) for l in open(path)]
secs = statistics.median(s for s, _ in runs)
rss = statistics.median(k for _, k in runs) / 1024
print(f"{bin}: median {secs:.2f} s = {int(n / secs)} events/s, peak RSS {rss:.1f} MiB")
PY
    i=$((i + 1))
done
