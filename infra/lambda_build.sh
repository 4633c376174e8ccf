#!/usr/bin/env bash
# The three Lambda functions cross-built for arm64 as `sam build` builds them
# (`cargo lambda build --release --arm64`), with the release profile made small for Lambda
# through cargo's environment overrides, then zipped; prints each bootstrap's size.
#
#   bash infra/lambda_build.sh            # target/lambda-arm64/<function>/bootstrap(.zip)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-lambda/bin/cargo-lambda ]; then
    echo "== installing cargo-lambda and zig into .venv-lambda"
    python3 -m venv .venv-lambda
    .venv-lambda/bin/pip install --quiet cargo-lambda ziglang
fi
export PATH="$PWD/.venv-lambda/bin:$PATH"
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
    && ! rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
    # rustup's server is not a package registry: a machine that cannot reach it cannot
    # cross-build. Say so loudly; the template checks and every test have run already.
    echo "== arm64 cross-build NOT RUN: the aarch64-unknown-linux-gnu target is not installed and cannot be fetched here"
    exit 0
fi

# The same settings as the `lambda` profile: smaller binaries, faster cold starts.
export CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1
out=target/lambda-arm64
for f in scorer judge notifier; do
    echo "== cargo lambda build --release --arm64 --bin $f"
    cargo lambda build --release --arm64 --locked --bin "$f" --lambda-dir "$out" --output-format zip >/dev/null
done
for f in scorer judge notifier; do
    python3 - "$f" "$out/$f/bootstrap.zip" <<'PY'
import os, sys, zipfile
name, zipped = sys.argv[1:]
with zipfile.ZipFile(zipped) as z:
    b = z.getinfo("bootstrap").file_size
z = os.path.getsize(zipped)
print(f"{name:<9} arm64 bootstrap {b / 2**20:.2f} MiB, zipped {z / 2**20:.2f} MiB ({z / 1e6:.2f} MB)"
      + ("" if z <= 5_000_000 else "  ABOVE the 5 MB goal"))
PY
done
