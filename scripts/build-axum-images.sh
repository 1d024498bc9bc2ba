#!/usr/bin/env bash
# The Axum services' CI images, built once and shared: the static musl binaries
# (scripts/build-static.sh) from the exact build context of axum-crm/Dockerfile, packaged by
# axum-crm/Dockerfile.prebuilt (the users' final stage) into `FROM scratch` images, checked, and
# kept as `docker save` archives in a cache folder keyed by their sources.
#
#   scripts/build-axum-images.sh        # prints the folder: axum-<service>.tar, bin/, image-sizes.txt
#
# Two stages use them: compose (tests/compose/run.sh, `docker load` into Docker) and node (the
# private containerd of tools/harness/src/node, `ctr images import`). Whichever runs first
# builds; the other finds the folder of the same key and builds nothing. The key is the sha256
# of the build context's files (names, modes, contents), Dockerfile.prebuilt, this script,
# scripts/build-static.sh and the CARGO_PROFILE_RELEASE_* settings of the build. No image is
# left in Docker: the archives are the cache.
#
# Environment: CRM_AXUM_IMAGES_CACHE (default ~/.cache/crm/axum-images; the newest 3 keys are
# kept), CRM_IMAGE_CONTEXT_DIR (default ~/.cache/crm/image-context), MUSL_TARGET_DIR (the
# static build's cargo target directory). Needs a Docker Engine (build-context.sh assembles the
# context with it; the images are built with its legacy builder, nothing pulled).
set -euo pipefail

# shellcheck source=lib/procs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/procs.sh"
# shellcheck source=lib/tools.sh
source "$CRM_ROOT/scripts/lib/tools.sh"
cd "$CRM_ROOT"

readonly SERVICES=(gateway customer-service order-service)
readonly MAX_IMAGE_BYTES=15000000
readonly CONTEXT_DIR=${CRM_IMAGE_CONTEXT_DIR:-$HOME/.cache/crm/image-context}
readonly CACHE=${CRM_AXUM_IMAGES_CACHE:-$HOME/.cache/crm/axum-images}

crm_tools_ensure docker musl-toolchain >&2 || crm_die "the tools above are missing"

crm_log "the compiler stage's build context, assembled by Docker into $CONTEXT_DIR"
tests/compose/build-context.sh "$CONTEXT_DIR" >&2
cargo metadata --locked --format-version 1 --manifest-path "$CONTEXT_DIR/Cargo.toml" >/dev/null ||
  crm_die "cargo metadata --locked fails in the image's build context"

# The key: every input of the images, content only (no mtimes: the context is copied afresh).
# The binaries are the axum-* packages, built from core/, migrations/ and axum-crm/: of the
# other workspace members (tests/, tools/) only their manifests count, since cargo reads them
# to resolve the workspace; their sources are not compiled into any image, so a change to the
# harness or the benchmark rebuilds nothing (`cargo metadata --locked` above still proves the
# context complete).
key_files() {
  (cd "$CONTEXT_DIR" && find . -path ./target -prune -o -type f \
    ! \( \( -path './tests/*' -o -path './tools/*' \) ! -name Cargo.toml \) -print0 |
    LC_ALL=C sort -z)
}
key=$(
  {
    (cd "$CONTEXT_DIR" && key_files | xargs -0 stat -c '%a %n' && key_files | xargs -0 sha256sum)
    sha256sum axum-crm/Dockerfile.prebuilt scripts/build-static.sh scripts/build-axum-images.sh | cut -d' ' -f1
    env | grep '^CARGO_PROFILE_RELEASE_' | LC_ALL=C sort || true
  } | sha256sum | cut -c1-16
)
dir="$CACHE/$key"
if [[ -f "$dir/done" ]]; then
  crm_log "images of these sources already built: $dir"
  echo "$dir"
  exit 0
fi

mkdir -p "$CACHE"
tmp=$(mktemp -d "$CACHE/.building.XXXXXX")
images=()
cleanup() {
  local svc
  for svc in "${SERVICES[@]}"; do
    docker image rm "crm-ci/axum-$svc:prebuilt" "crm-ci/axum-$svc:prebuilt-stage" >/dev/null 2>&1 || true
  done
  rm -rf "$tmp"
}
crm_on_exit cleanup

t0=$(date +%s)
scripts/build-static.sh --src "$CONTEXT_DIR" --out "$tmp/bin" "${SERVICES[@]}" >&2
crm_log "static binaries built in $(($(date +%s) - t0))s"

sizes="$tmp/image-sizes.txt"
: >"$sizes"
for svc in "${SERVICES[@]}"; do
  image="crm-ci/axum-$svc:prebuilt"
  # The legacy builder leaves each stage but the last as an untagged image: the binary's stage
  # is built first under a tag of its own, so that it can be removed by name afterwards.
  DOCKER_BUILDKIT=0 docker build --quiet --file axum-crm/Dockerfile.prebuilt \
    --build-arg SERVICE="$svc" --target build --tag "$image-stage" "$tmp/bin" >/dev/null
  DOCKER_BUILDKIT=0 docker build --quiet --file axum-crm/Dockerfile.prebuilt \
    --build-arg SERVICE="$svc" --tag "$image" "$tmp/bin" >/dev/null
  bytes=$(docker image inspect --format '{{.Size}}' "$image")
  awk -v i="$image" -v b="$bytes" 'BEGIN { printf "%-40s %9d bytes (%.1f MB)\n", i, b, b / 1e6 }' >>"$sizes"
  ((bytes <= MAX_IMAGE_BYTES)) || crm_die "$image is $bytes bytes, over $MAX_IMAGE_BYTES"
  # The one file the image holds: the binary, root's and not writable (the rest of an export
  # is what the engine adds to every container).
  cid=$(docker create "$image")
  listing=$(docker export "$cid" | tar -tv | awk '$NF == "service" { print $1, $2 }')
  docker rm "$cid" >/dev/null
  [[ "$listing" == "-r-xr-xr-x root/root" ]] || crm_die "$image: /service is '$listing', want -r-xr-xr-x root/root"
  docker save --output "$tmp/axum-$svc.tar" "$image"
  images+=("$image")
done
cat "$sizes" >&2
touch "$tmp/done"
rm -rf "$dir"
mv "$tmp" "$dir"
# Older keys go, the newest three stay (a branch switch back and forth builds nothing).
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' -printf '%T@ %p\n' | sort -rn | tail -n +4 | cut -d' ' -f2- |
  xargs -r rm -rf
crm_log "images in $dir (${images[*]})"
echo "$dir"
