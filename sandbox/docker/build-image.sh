#!/usr/bin/env bash
# Build the Docker sandbox image without any image registry.
#
# No registry is reachable on the machines this project runs on, so `FROM python:...-slim` cannot be
# pulled. Debian's package mirror is reachable, though: debootstrap a minimal bookworm (its python3
# is 3.11), `docker import` it as the base, then build our Dockerfile on top of it with
# --build-arg BASE_IMAGE=<that base>.
#
# The data stack in the image is the host's, at the host's exact versions: `pip download` fetches
# them as manylinux wheels for CPython 3.11 into a cache dir (once; later builds need no network),
# and the Dockerfile installs them with --no-index in a build that has no network at all.
#
# Cheap to re-run: the base is tagged by a hash of its recipe and the final image carries a label
# with a hash of everything that goes into it (Dockerfile, runner, runtime sources, base image id,
# the wheels' versions); when both still match, nothing is rebuilt.
#
# Environment:
#   MISTRAL_EXECUTOR_DOCKER_IMAGE  image to build (default mistral-executor-sandbox:latest)
#   MISTRAL_EXECUTOR_PYTHON        Python whose library versions the image copies
#                                  (default: the project's .venv, else python3)
#   MISTRAL_EXECUTOR_WHEELS        wheel cache dir (default: ~/.cache/mistral-executor/wheels)
#   DEBIAN_MIRROR                  debootstrap mirror (default: the one apt uses, else deb.debian.org)
#   FORCE_REBUILD=1                rebuild even when the hashes match
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sandbox_dir="$(dirname "$here")"
repo_dir="$(dirname "$sandbox_dir")"

image="${MISTRAL_EXECUTOR_DOCKER_IMAGE:-mistral-executor-sandbox:latest}"
suite="bookworm"
# Nothing beyond python3: the libraries come as wheels, which carry their own shared libraries.
packages=""
# Bump the trailing version when the recipe below changes: the base is rebuilt under a new tag.
recipe="$suite minbase+python3 apt:$packages no-recommends v3"
recipe_hash="$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
base_image="mistral-executor-base:$suite-$recipe_hash"
hash_label="mistral-executor.source-hash"
rootfs=""

log() { echo "build-image: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers; start one first (bash scripts/docker-engine.sh)"
  exit 1
fi

# Two test runs starting at once must not debootstrap twice: the second waits, then reuses.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/mistral-executor-build-image.lock"
  flock 9
fi

apt_uris() {
  # The URIs apt already uses (deb822 .sources, then one-line .list): known to be reachable.
  {
    grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
      | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
  } | grep -i debian || true
}

remove_rootfs() {
  # debootstrap and our apt step mount /proc inside the rootfs; a failed run can leave it
  # mounted, and rm -rf must never walk into a mount of the host.
  local dir="$1"
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r \
    | while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
  rm -rf --one-file-system "$dir" "$dir.log"
}

build_base() {
  if [ "$(id -u)" != 0 ]; then
    log "building the base image $base_image needs root (debootstrap, chroot); re-run as root"
    exit 1
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  local mirror security
  mirror="${DEBIAN_MIRROR:-$(apt_uris | grep -vi security | head -n1)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="${DEBIAN_SECURITY_MIRROR:-$(apt_uris | grep -i security | head -n1)}"
  rootfs="$(mktemp -d /var/tmp/mistral-executor-rootfs.XXXXXX)"
  trap 'remove_rootfs "$rootfs"' EXIT
  log "debootstrap $suite (minbase + python3) from $mirror"
  debootstrap --variant=minbase --include=python3 "$suite" "$rootfs" "$mirror" \
    >"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
  {
    echo "deb $mirror $suite main"
    echo "deb $mirror $suite-updates main"
    if [ -n "$security" ]; then echo "deb $security $suite-security main"; fi
  } >"$rootfs/etc/apt/sources.list"
  if [ -n "$packages" ]; then
    # apt's resolver, unlike debootstrap's, honours alternatives that are already being installed.
    log "apt-get install $packages (no recommends) in the rootfs"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
    chmod +x "$rootfs/usr/sbin/policy-rc.d"
    mount -t proc proc "$rootfs/proc"
    # shellcheck disable=SC2086 # $packages is a word list on purpose
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
      sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $packages && apt-get clean" \
      >>"$rootfs.log" 2>&1 || { tail -n 30 "$rootfs.log" >&2; exit 1; }
    umount "$rootfs/proc"
  fi
  # What only the package manager needs: the image never installs anything at run time.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs/usr/sbin/policy-rc.d"
  : >"$rootfs/etc/resolv.conf"
  log "importing the rootfs as $base_image"
  tar --one-file-system -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$base_image" >/dev/null
  remove_rootfs "$rootfs"
  trap - EXIT
}

if [ "${FORCE_REBUILD:-0}" = 1 ] || ! docker image inspect "$base_image" >/dev/null 2>&1; then
  build_base
else
  log "base image $base_image already built"
fi

# The host's data stack, pinned: the versions the jail and restricted backends run with.
python="${MISTRAL_EXECUTOR_PYTHON:-$repo_dir/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
stack="$("$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); from sandbox.docker.image import host_stack; print(" ".join(host_stack()))' "$repo_dir")"
if [ -z "$stack" ]; then
  log "$python lacks the data stack (numpy, pandas...): run scripts/bootstrap.sh first"
  exit 1
fi
wheel_root="${MISTRAL_EXECUTOR_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/mistral-executor/wheels}"
wheel_dir="$wheel_root/$(uname -m)-$(printf '%s' "$stack" | sha256sum | cut -c1-16)"
if [ ! -f "$wheel_dir/requirements.txt" ]; then
  log "downloading wheels for: $stack"
  rm -rf "$wheel_dir.part"
  mkdir -p "$wheel_dir.part"
  # Every other distribution the host has installed pins the dependencies to the host's versions.
  "$python" -m pip list --format=freeze 2>/dev/null | grep -E '^[A-Za-z0-9_.-]+==' \
    >"$wheel_dir.part/constraints.txt" || true
  machine="$(uname -m)"
  pip_version="$("$python" -m pip --version | awk '{print $2}')"
  # shellcheck disable=SC2086 # $stack is a word list on purpose
  "$python" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
    --platform "manylinux_2_28_$machine" --platform "manylinux_2_17_$machine" \
    --platform "manylinux2014_$machine" --python-version 3.11 --implementation cp --abi cp311 \
    -c "$wheel_dir.part/constraints.txt" -d "$wheel_dir.part" $stack "pip==$pip_version" \
    2> >(grep -v '^WARNING: Location' >&2) \
    || { log "pip download failed (no wheel for one of: $stack)"; exit 1; }
  printf '%s\n' $stack >"$wheel_dir.part/requirements.txt"
  rm -rf "$wheel_dir"
  mv "$wheel_dir.part" "$wheel_dir"
else
  log "wheels for the data stack already in $wheel_dir"
fi

# Our sources in the image (sandbox/docker/image.py computes the same hash to spot a stale image),
# then everything that goes into the image including the base's id and the wheels' versions: a
# change to any rebuilds.
runtime_hash="$(
  cd "$sandbox_dir"
  find docker/Dockerfile docker/runner.py runtime -type f ! -name '*.pyc' \
    ! -path '*/__pycache__/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
)"
base_id="$(docker image inspect --format '{{.Id}}' "$base_image")"
source_hash="$(printf '%s %s %s\n' "$base_id" "$runtime_hash" "$stack" | sha256sum | cut -c1-16)"
current="$(docker image inspect --format "{{ index .Config.Labels \"$hash_label\" }}" "$image" \
  2>/dev/null || true)"
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$current" = "$source_hash" ]; then
  log "$image is up to date ($hash_label=$source_hash)"
  exit 0
fi

log "building $image on $base_image"
# The context: runtime/, docker/runner.py and the wheels (hard links where the cache shares the
# file system). --network none: everything is in the context; the build fetches nothing.
context="$(mktemp -d)"
build_log="$(mktemp)"
trap 'rm -rf "$context" "$build_log"' EXIT
mkdir -p "$context/docker" "$context/wheels"
cp -r "$sandbox_dir/runtime" "$context/runtime"
cp "$here/runner.py" "$here/Dockerfile" "$context/docker/"
cp -l "$wheel_dir"/*.whl "$context/wheels/" 2>/dev/null || cp "$wheel_dir"/*.whl "$context/wheels/"
cp "$wheel_dir/requirements.txt" "$context/wheels/"
if ! docker build --force-rm --network none \
  --build-arg BASE_IMAGE="$base_image" \
  --label "$hash_label=$source_hash" \
  --label "mistral-executor.runtime-hash=$runtime_hash" \
  --label "mistral-executor.stack=$stack" \
  -t "$image" -f "$context/docker/Dockerfile" "$context" >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  log "docker build failed"
  exit 1
fi
# The image this one replaces is now untagged: drop it (only dangling images of ours).
docker image prune -f --filter "label=$hash_label" >/dev/null 2>&1 || true
log "built $image ($hash_label=$source_hash)"
