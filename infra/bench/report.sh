#!/usr/bin/env bash
# Report benchmark: `justice report` over a local store of at least 10,000 resources with
# open findings (the generated stream, every resource missing a required tag), from the store
# to the written page: every run's wall time, their median, and the page's size.
#
#   bash infra/bench/report.sh [N=10200] [SEED=1] [RUNS=5]   # N events: about 10,000 resources
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-10200}
seed=${2:-1}
runs=${3:-5}
mkdir -p infra/out
events="infra/out/report-events-$n-$seed.jsonl"
# Every resource untagged: each has an open finding, so each is on the page.
[ -s "$events" ] || python3 infra/bench/gen_events.py --n "$n" --seed "$seed" --untagged-ratio 1 -o "$events"

cargo build --release --locked -p justice >/dev/null
bin=target/release/justice
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
"$bin" replay "$events" --state "$state" --fresh --json >"$state/replay.json"
python3 - "$bin" "$state" "$runs" <<'PY'
import json, statistics, subprocess, sys, time
bin, state, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
page = f"{state}/report.html"
times = []
for _ in range(runs):
    t = time.perf_counter()
    out = subprocess.run([bin, "report", "--state", state, "-o", page, "--now", "2026-12-01T00:00:00Z"],
                         check=True, capture_output=True, text=True)
    times.append(time.perf_counter() - t)
line = out.stderr.strip().splitlines()[0] if out.stderr.strip() else out.stdout.strip()
print(line)
import os
html = open(page, encoding="utf-8").read()
rows = html.count('<tbody class="r"')
print(f"resources on the page: {rows}, page {os.path.getsize(page) / 1e6:.1f} MB")
print("runs (s): " + " ".join(f"{t:.3f}" for t in times))
print(f"median: {statistics.median(times):.3f} s for {rows} resources")
PY
