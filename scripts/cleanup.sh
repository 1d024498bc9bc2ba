#!/usr/bin/env bash
# Remove what scripts/setup-all.sh made: the port-forwards this project recorded, the k3d
# cluster and its registry, and the cached release manifests.
#
# Usage: scripts/cleanup.sh [--all]
#   --all  also the images built for the cluster (localhost:$REGISTRY_PORT/crm/*, 5001 by
#          default) and the build output (target/, spin-crm/target/). results/ is always
#          kept: it is the point of the exercise.
# Safe to run twice: whatever is already gone is skipped.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"

ALL=0
case "${1:-}" in
  "") ;;
  --all) ALL=1 ;;
  -h | --help) sed -n '2,9p' "$0"; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

require_tools timeout
log "port-forwards"
port_forward_stop_all

if command -v k3d >/dev/null 2>&1; then
  if k3d cluster get "$CLUSTER_NAME" >/dev/null 2>&1; then
    log "deleting cluster $CLUSTER_NAME"
    timeout 300 k3d cluster delete "$CLUSTER_NAME"
  fi
  if k3d registry get "$REGISTRY_CONTAINER" >/dev/null 2>&1; then
    log "deleting registry $REGISTRY_CONTAINER"
    timeout 120 k3d registry delete "$REGISTRY_CONTAINER"
  fi
else
  warn "k3d not found: cluster and registry (if any) left in place"
fi

rm -rf "$CRM_STATE_DIR"

if ((ALL)); then
  if command -v docker >/dev/null 2>&1 && timeout 30 docker info >/dev/null 2>&1; then
    mapfile -t images < <(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$REGISTRY_PUSH/crm/" || true)
    if ((${#images[@]})); then
      log "removing images: ${images[*]}"
      docker image rm "${images[@]}" >/dev/null || warn "some images could not be removed"
    fi
  else
    warn "docker engine not reachable: images left in place"
  fi
  log "removing build output"
  rm -rf "$CRM_ROOT/target" "$CRM_ROOT/spin-crm/target"
fi
log "clean"
