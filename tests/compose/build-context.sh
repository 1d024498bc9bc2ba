#!/usr/bin/env bash
# Assembles the exact workspace the compiler stage of axum-crm/Dockerfile sees, into DIR:
#
#   tests/compose/build-context.sh DIR
#
# Docker itself does the assembling, so .dockerignore and COPY keep their real semantics: the
# build stage's WORKDIR and COPY lines, taken verbatim from axum-crm/Dockerfile, are replayed
# on `scratch` with the repository as the context (legacy builder: nothing is pulled), and the
# result is copied out. Building in DIR then proves the image has every crate it needs.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest=${1:?usage: build-context.sh DIR}
tag="crm-ci/build-context:$$"
work=$(mktemp -d)
cid=""
cleanup() {
  if [[ -n "$cid" ]]; then docker rm "$cid" >/dev/null 2>&1 || true; fi
  docker image rm "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# From the first FROM ... AS build to the next FROM: its WORKDIR and its COPY lines that read
# the context (not --from=), continuation lines joined.
awk '
  /^FROM / { in_build = ($0 ~ / AS build[[:space:]]*$/); next }
  !in_build { next }
  { line = line $0 }
  /\\$/ { sub(/\\$/, " ", line); next }
  line ~ /^(WORKDIR|COPY) / && line !~ /--from=/ { print line }
  { line = "" }
' "$root/axum-crm/Dockerfile" >"$work/steps"
if ! grep -q '^WORKDIR ' "$work/steps" || ! grep -q '^COPY ' "$work/steps"; then
  echo "build-context: no WORKDIR/COPY found in the build stage of axum-crm/Dockerfile" >&2
  exit 1
fi
workdir=$(awk '/^WORKDIR / { w = $2 } END { print w }' "$work/steps")
{ echo "FROM scratch"; cat "$work/steps"; } >"$work/Dockerfile"

DOCKER_BUILDKIT=0 docker build --quiet --file "$work/Dockerfile" --tag "$tag" "$root" >/dev/null
# A container is only created (never started) to copy from; scratch has no command of its own.
cid=$(docker create "$tag" /none)
rm -rf "$dest"
mkdir -p "$dest"
docker cp "$cid:$workdir/." - | tar -x -C "$dest"
echo "build-context: $(find "$dest" -type f | wc -l) files in $dest (as $workdir in the image)"
