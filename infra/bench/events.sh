# Sourced by the benchmarks: `events N SEED` prints the path of the generated stream of N
# AWS Config events (the stream Cloud Custodian was measured on), generating it once.
events() {
    local out=infra/out
    local file="$out/events-$1-$2.jsonl"
    mkdir -p "$out"
    [ -s "$file" ] || python3 infra/bench/gen_events.py --n "$1" --seed "$2" -o "$file"
    echo "$file"
}
