#!/usr/bin/env bash
# Local AWS for the tests: moto in server mode, installed into ./.venv on first use.
#
#   source infra/moto.sh    # installs if needed, starts moto on a free loopback port, exports
#                           # AWS_ENDPOINT_URL and dummy credentials, stops it on shell exit
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "== installing moto into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'moto[server]>=5.1,<6'
fi
# arnparse: the ARN parser Krampus uses, for the Krampus contract test.
if ! "$venv/bin/python" -c 'import arnparse' 2>/dev/null; then
    "$venv/bin/pip" install --quiet 'arnparse==0.0.2'
fi
export JUSTICE_PYTHON="$venv/bin/python"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
"$venv/bin/python" "$root/infra/moto_server.py" -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"' EXIT

for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$moto_pid" 2>/dev/null; then
        echo "moto failed to start:" >&2
        cat "$moto_log" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/moto-api/" >/dev/null || { echo "moto did not answer on port $port" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export JUSTICE_MOTO_URL="$AWS_ENDPOINT_URL"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
echo "== moto on $AWS_ENDPOINT_URL (pid $moto_pid)"
