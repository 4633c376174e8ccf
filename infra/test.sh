#!/usr/bin/env bash
# Every test of the project, as CI runs it: formatting, lints, then the whole workspace's tests.
# The AWS adapters' tests run over the wire against moto in server mode, started here (and
# installed into ./.venv on first use); they fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
bash infra/template.sh
# shellcheck source=infra/moto.sh
source infra/moto.sh
echo "== cargo test"
log=$(mktemp)
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$log" "$moto_log"' EXIT
cargo test --workspace --all-targets --all-features --locked 2>&1 | tee "$log"
# One closing line for the whole suite.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f; exit (f > 0 || p == 0) }' "$log"
# The Lambda functions as SAM builds them: arm64, zipped, with their sizes.
bash infra/lambda_build.sh
