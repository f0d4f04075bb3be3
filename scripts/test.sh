#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what is missing, then lints and tests.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
# pytest's 5 means "no tests collected": never a pass.
exit $status
