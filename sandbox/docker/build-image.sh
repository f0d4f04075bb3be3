#!/usr/bin/env bash
# Build the Docker sandbox image without any image registry.
#
# No registry is reachable on the machines this project runs on, so `FROM python:...-slim` cannot be
# pulled. Debian's package mirror is reachable, though: debootstrap a minimal bookworm with python3,
# numpy and matplotlib from Debian's packages, `docker import` it as the base, then build our
# Dockerfile on top of it with --build-arg BASE_IMAGE=<that base>.
#
# Cheap to re-run: the base is tagged by a hash of its recipe and the final image carries a label
# with a hash of everything that goes into it (Dockerfile, runner, runtime sources, base image id);
# when both still match, nothing is rebuilt.
#
# Environment:
#   MISTRAL_EXECUTOR_DOCKER_IMAGE  image to build (default mistral-executor-sandbox:latest)
#   DEBIAN_MIRROR                  debootstrap mirror (default: the one apt uses, else deb.debian.org)
#   FORCE_REBUILD=1                rebuild even when the hashes match
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sandbox_dir="$(dirname "$here")"

image="${MISTRAL_EXECUTOR_DOCKER_IMAGE:-mistral-executor-sandbox:latest}"
suite="bookworm"
# python3-munkres satisfies python3-fonttools' "python3-scipy | python3-munkres": without it the
# first alternative drags in scipy -> pythran -> gcc, g++ and boost headers (~600 MB).
packages="python3-numpy python3-matplotlib python3-munkres"
# Bump the trailing version when the recipe below changes: the base is rebuilt under a new tag.
recipe="$suite minbase+python3 apt:$packages no-recommends v2"
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

# Our sources in the image (sandbox/docker/image.py computes the same hash to spot a stale image),
# then everything that goes into the image including the base's id: a change to any rebuilds.
runtime_hash="$(
  cd "$sandbox_dir"
  find docker/Dockerfile docker/runner.py runtime -type f ! -name '*.pyc' \
    ! -path '*/__pycache__/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
)"
base_id="$(docker image inspect --format '{{.Id}}' "$base_image")"
source_hash="$(printf '%s %s\n' "$base_id" "$runtime_hash" | sha256sum | cut -c1-16)"
current="$(docker image inspect --format "{{ index .Config.Labels \"$hash_label\" }}" "$image" \
  2>/dev/null || true)"
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$current" = "$source_hash" ]; then
  log "$image is up to date ($hash_label=$source_hash)"
  exit 0
fi

log "building $image on $base_image"
# The context is sandbox/ (small): the Dockerfile copies runtime/ and docker/runner.py from it.
# --network none: everything is already in the base; the build must not try to fetch anything.
build_log="$(mktemp)"
if ! docker build --force-rm --network none \
  --build-arg BASE_IMAGE="$base_image" \
  --label "$hash_label=$source_hash" \
  --label "mistral-executor.runtime-hash=$runtime_hash" \
  -t "$image" -f "$here/Dockerfile" "$sandbox_dir" >"$build_log" 2>&1; then
  tail -n 40 "$build_log" >&2
  rm -f "$build_log"
  log "docker build failed"
  exit 1
fi
rm -f "$build_log"
# The image this one replaces is now untagged: drop it (only dangling images of ours).
docker image prune -f --filter "label=$hash_label" >/dev/null 2>&1 || true
log "built $image ($hash_label=$source_hash)"
