#!/usr/bin/env bash
# Run the app on a fresh machine (the web UI on http://127.0.0.1:7860 by default).
# Arguments replace the default: e.g. `scripts/app.sh run "task"`, `scripts/app.sh ui --port 8080`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/mistral-executor "${@:-ui}"
