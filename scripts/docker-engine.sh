#!/usr/bin/env bash
# Make the Docker sandbox usable: an engine that answers, and the sandbox image built.
#
# - no engine answers and dockerd is missing: install Debian's docker.io (apt-get update first:
#   the package lists may be empty on a fresh machine);
# - no engine answers: start dockerd in the background (log in $DOCKERD_LOG) and wait until
#   `docker info` works, at most $DOCKERD_START_TIMEOUT seconds;
# - then build the image when it is absent or outdated (sandbox/docker/build-image.sh reuses
#   what is already built).
# A DOCKER_HOST that names a remote engine is used as is: we never start a local one for it.
# Environment: DOCKERD_LOG, DOCKERD_START_TIMEOUT (seconds), DOCKERD_FLAGS (extra dockerd flags).
# Exit status is non-zero when the engine or the image cannot be had; the message says why.
set -euo pipefail
cd "$(dirname "$0")/.."

log_file="${DOCKERD_LOG:-/var/log/mistral-executor-dockerd.log}"
start_timeout="${DOCKERD_START_TIMEOUT:-60}"

say() { echo "docker-engine: $*" >&2; }
engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    say "need root to run: $*  (re-run as root, or install and start Docker yourself)"
    exit 1
  fi
}

install_engine() {
  say "installing Debian's docker.io"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
}

start_engine() {
  local args=""
  # A unix DOCKER_HOST other than the default is where the new engine listens; DOCKERD_FLAGS
  # adds flags (e.g. --data-root, --exec-root, --pidfile to run beside another engine).
  case "${DOCKER_HOST:-}" in
    unix://*) args=" -H $(printf '%q' "$DOCKER_HOST")" ;;
  esac
  args="$args ${DOCKERD_FLAGS:-}"
  say "starting dockerd$args in the background (log: $log_file)"
  as_root mkdir -p "$(dirname "$log_file")"
  # setsid + nohup: the engine outlives this script and the test run that called it.
  as_root sh -c "setsid nohup dockerd $args >>'$log_file' 2>&1 </dev/null &"
  local waited=0
  until engine_answers; do
    if [ "$waited" -ge "$start_timeout" ]; then
      say "dockerd did not answer within ${start_timeout}s; last lines of $log_file:"
      as_root tail -n 20 "$log_file" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "dockerd is up after ${waited}s"
}

if ! engine_answers; then
  case "${DOCKER_HOST:-unix://}" in
    unix://*) ;;
    *)
      say "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine (nothing is started here)"
      exit 1
      ;;
  esac
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    install_engine
  fi
  if ! engine_answers; then
    if docker info 2>&1 | grep -qi "permission denied"; then
      say "an engine runs but this user may not use its socket (permission denied): add the user"
      say "to the 'docker' group (sudo usermod -aG docker \$USER, then log in again) or run as root"
      exit 1
    fi
    start_engine
  fi
fi

bash sandbox/docker/build-image.sh
