#!/usr/bin/env bash
# Run the app on a fresh machine. Extra arguments go to the command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/mistral-executor "${@:---help}"
