#!/usr/bin/env bash
# Every test of the project, as CI runs it: formatting, lints, then the whole workspace's tests.
# Tests that need a local AWS (moto in server mode) will start it from here once the AWS
# adapters land; today the suite needs nothing but cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --all-targets --locked
# Doc tests are not covered by --all-targets.
cargo test --workspace --doc --locked
