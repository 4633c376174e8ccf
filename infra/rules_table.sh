#!/usr/bin/env bash
# Regenerates the rule table of docs/rules.md and README.md from `justice rules --markdown`
# (between the `<!-- rules:begin -->` and `<!-- rules:end -->` markers). tests/tests/docs.rs
# fails when either page differs from the rules the code has.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(cargo run -q -p justice -- rules --markdown)
for page in docs/rules.md README.md; do
    TABLE="$table" python3 - "$page" <<'PY'
import os, re, sys
page = sys.argv[1]
text = open(page).read()
begin, end = "<!-- rules:begin -->", "<!-- rules:end -->"
if begin not in text or end not in text:
    sys.exit(f"{page}: no {begin} ... {end} markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(page, "w").write(head + begin + "\n" + os.environ["TABLE"].rstrip("\n") + "\n" + end + tail)
PY
done
