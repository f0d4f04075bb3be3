#!/usr/bin/env bash
# Install what the browser tests need: Debian's chromium (Playwright drives it through
# executable_path). Never `playwright install`: its browser download is not reachable here, and the
# distribution package gets security updates with the rest of the system. Cheap to re-run.
set -euo pipefail

# The emoji font makes the step icons in screenshots look like what users see.
if [ -x /usr/bin/chromium ] && [ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: /usr/bin/chromium is missing and apt-get is not available; install chromium" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
/usr/bin/chromium --version
