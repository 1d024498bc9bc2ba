#!/usr/bin/env bash
# Builds the CI stand-in for postgres:16-alpine (see Dockerfile here) without pulling anything:
#
#   tests/compose/postgres/build.sh [TAG]     # default crm-ci/postgres-standin:ci
#
# 1. A Debian 12 rootfs with postgresql-15 (rootfs.sh: mmdebstrap from the Debian mirror, the
#    one registry these machines reach). It is cached as a tarball under
#    $HOME/.cache/crm/compose, named by the hash of rootfs.sh: a changed recipe makes a new one,
#    a rerun imports the cached one (seconds instead of minutes).
# 2. `docker import` of that tarball, unless the engine already has it.
# 3. DOCKER_BUILDKIT=0 `docker build` of the Dockerfile here on top (entrypoint, PATH, volume).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tag=${1:-crm-ci/postgres-standin:ci}
cache=${CRM_CACHE_DIR:-$HOME/.cache/crm}/compose
log() { printf 'postgres-standin: %s\n' "$*" >&2; }

t0=$(date +%s)
key=$(sha256sum "$here/rootfs.sh" | cut -c1-16)
rootfs_tar="$cache/postgres-rootfs-$key.tar"
rootfs_image="crm-ci/postgres-rootfs:$key"

if ! docker image inspect "$rootfs_image" >/dev/null 2>&1; then
  if [[ ! -s "$rootfs_tar" ]]; then
    # shellcheck source=../../../scripts/lib/tools.sh
    source "$here/../../../scripts/lib/tools.sh"
    crm_tools_ensure mmdebstrap || exit 1
    mkdir -p "$cache"
    # Leftovers of older recipes: each is a few hundred MB.
    find "$cache" -maxdepth 1 -name 'postgres-rootfs-*.tar*' ! -name "${rootfs_tar##*/}" -delete
    log "making the Debian rootfs with postgresql-15 (rootfs.sh: mmdebstrap; minutes when cold)"
    started=$(date +%s)
    "$here/rootfs.sh" "$rootfs_tar.partial"
    mv "$rootfs_tar.partial" "$rootfs_tar"
    log "rootfs made in $(($(date +%s) - started))s: $rootfs_tar ($(du -h "$rootfs_tar" | cut -f1))"
  fi
  # Images of older recipes go too (the final image's build cache keeps them otherwise).
  docker image ls --format '{{.Repository}}:{{.Tag}}' crm-ci/postgres-rootfs |
    xargs -r docker image rm >/dev/null 2>&1 || true
  log "importing $rootfs_tar as $rootfs_image"
  docker import --message "Debian 12 rootfs with postgresql-15 (tests/compose/postgres/build.sh)" \
    "$rootfs_tar" "$rootfs_image" >/dev/null
fi

log "building $tag"
previous=$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
DOCKER_BUILDKIT=0 docker build --quiet --build-arg ROOTFS="$rootfs_image" --tag "$tag" "$here" >/dev/null
if [[ -n "$previous" && "$previous" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]]; then
  docker image rm "$previous" >/dev/null 2>&1 || true
fi
log "image $tag ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}')), ready in $(($(date +%s) - t0))s"
