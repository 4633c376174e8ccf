#!/usr/bin/env bash
# Replay benchmark: `justice replay` over a generated stream of AWS Config events (the stream
# Cloud Custodian was measured on), reporting throughput and peak RSS.
#
#   bash infra/bench/replay.sh [N=10000] [SEED=1]
set -euo pipefail
cd "$(dirname "$0")/../.."

n=${1:-10000}
seed=${2:-1}
# shellcheck source=infra/bench/events.sh
source infra/bench/events.sh
events=$(events "$n" "$seed")

# JUSTICE_BIN measures another build (an older commit's, side by side) instead of this one's.
if [ -z "${JUSTICE_BIN:-}" ]; then
    cargo build --release --locked -p justice >/dev/null
fi
bin=${JUSTICE_BIN:-target/release/justice}
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT

# Peak RSS from the kernel (VmHWM) of the process itself, sampled at exit through /usr/bin/time
# when present, else from a wrapper reading /proc.
measure() {
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%e %M' "$@" 2>"$state/time" >"$state/out" || true
        tail -n 1 "$state/time"
    else
        python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
dt = time.perf_counter() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
    fi
}

# This machine is a small shared VM whose wall times swing by half from run to run: report
# every run and their median, for the whole pipeline (scorer then judge, the default) and for
# the scorer alone (--no-judge).
bench() {
    local label=$1
    shift
    local rates=""
    for run in 1 2 3 4 5 6 7; do
        read -r secs kb < <(measure "$bin" replay "$events" --state "$state/s$run" --fresh "$@")
        rm -rf "$state/s$run"
        rate=$(python3 -c "print(int($n / max($secs, 1e-9)))")
        echo "$label run $run: $n events in ${secs}s = $rate events/s, peak RSS $((kb / 1024)) MiB"
        rates="$rates $rate"
    done
    python3 -c "import statistics, sys; print('$label median: %d events/s' % statistics.median(map(int, sys.argv[1:])))" $rates
}
bench "scorer+judge"
bench "scorer only" --no-judge
"$bin" replay "$events" --state "$state/check" --fresh --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
print("summary: scored %d, ignored %d, refused %d, by level %s; judge %s" % (s["scored"], sum(s["ignored"].values()), len(s["refused"]), s["resources_by_level"], s["judge"]))'
