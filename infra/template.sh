#!/usr/bin/env bash
# Checks of template.yaml and infra/member.yaml: cfn-lint (a SAM-transforming version), checkov,
# and the wiring test (infra/template_check.py, which also proves the two agree). Each tool lives
# in its own virtualenv, installed on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-cfn/bin/cfn-lint ]; then
    echo "== installing cfn-lint into .venv-cfn"
    python3 -m venv .venv-cfn
    # cfn-lint 1.54+ no longer transforms SAM templates (docs/deploy.md: the pinned cfn-lint).
    .venv-cfn/bin/pip install --quiet 'cfn-lint>=1.51,<1.54' aws-sam-translator
fi
if [ ! -x .venv-checkov/bin/checkov ]; then
    echo "== installing checkov into .venv-checkov"
    python3 -m venv .venv-checkov
    .venv-checkov/bin/pip install --quiet 'checkov>=3.2,<3.4'
fi

echo "== cfn-lint template.yaml"
.venv-cfn/bin/cfn-lint template.yaml
echo "== checkov template.yaml"
BC_SKIP_MAPPING=TRUE .venv-checkov/bin/checkov -f template.yaml --framework cloudformation --compact --quiet
echo "== cfn-lint infra/member.yaml"
.venv-cfn/bin/cfn-lint infra/member.yaml
echo "== checkov infra/member.yaml"
BC_SKIP_MAPPING=TRUE .venv-checkov/bin/checkov -f infra/member.yaml --framework cloudformation --compact --quiet
echo "== template wiring"
.venv-cfn/bin/python infra/template_check.py
