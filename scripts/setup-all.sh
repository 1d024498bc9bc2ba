#!/usr/bin/env bash
# Build the whole k3d benchmark environment on this machine, then smoke-test it:
#   k3d cluster (Spin shim node image) + local registry, cert-manager, spin-operator (CRDs,
#   RuntimeClass, Helm chart, shim executor), Postgres with both databases, the Axum images
#   (docker build/push) and the Spin apps (spin build / spin registry push), all manifests,
#   rollouts, then scripts/smoke.sh.
# Idempotent: every step checks or converges, so a second run succeeds and only rolls out what
# changed (images are referenced by the digest just pushed).
#
# Usage: scripts/setup-all.sh [--no-build] [--no-smoke]
#   --no-build  reuse the images already in the registry (their digests are looked up)
# Needs: docker (engine running), k3d, kubectl, helm, spin, cargo, curl, python3, timeout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"

BUILD=1
SMOKE=1
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --no-smoke) SMOKE=0 ;;
    -h | --help)
      sed -n '2,13p' "$0"
      exit 0
      ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

require_bash5
require_tools docker k3d kubectl helm spin cargo curl python3 timeout
timeout 30 docker info >/dev/null 2>&1 || die "docker is installed but its engine does not answer (is Docker running?)"
spin_version="$(spin --version 2>/dev/null | awk '{print $2}')"
[[ "$spin_version" == "$SPIN_CLI_VERSION" ]] ||
  warn "spin $spin_version found, the project pins $SPIN_CLI_VERSION (devbox.json); continuing"

MANIFEST_CACHE="$CRM_STATE_DIR/manifests"
mkdir -p "$MANIFEST_CACHE"

# Release manifests are downloaded once into the cache (a timeout on each), then applied from
# there, so a re-run does not depend on the network.
fetch() { # URL -> path of the cached copy
  local url="$1" dest
  dest="$MANIFEST_CACHE/$(basename "$url")"
  if [[ ! -s "$dest" ]]; then
    curl -fsSL --retry 3 --connect-timeout 10 --max-time 120 -o "$dest.tmp" "$url" ||
      die "could not download $url"
    mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

ensure_namespace() {
  kubectl create namespace "$1" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}

# --- cluster and registry -------------------------------------------------------------------
if docker inspect "$REGISTRY_CONTAINER" >/dev/null 2>&1; then
  log "registry $REGISTRY_CONTAINER exists"
  docker start "$REGISTRY_CONTAINER" >/dev/null
else
  log "creating registry $REGISTRY_CONTAINER on 127.0.0.1:$REGISTRY_PORT"
  k3d registry create "$REGISTRY_NAME" --port "127.0.0.1:$REGISTRY_PORT"
fi

if k3d cluster get "$CLUSTER_NAME" >/dev/null 2>&1; then
  log "cluster $CLUSTER_NAME exists; starting it if stopped"
  timeout 300 k3d cluster start "$CLUSTER_NAME" >/dev/null
else
  log "creating cluster $CLUSTER_NAME from $K3D_IMAGE"
  # One server node, no agents: the node's cgroup is the whole cluster's, which keeps the
  # resource picture simple. Ports go straight to the gateways' NodePorts (":direct", not
  # through k3d's proxy). Traefik is not needed and would only take CPU.
  timeout 600 k3d cluster create "$CLUSTER_NAME" \
    --kubeconfig-switch-context=false \
    --image "$K3D_IMAGE" \
    --registry-use "$REGISTRY_PULL" \
    --agents 0 \
    --port "127.0.0.1:18080:30080@server:0:direct" \
    --port "127.0.0.1:18081:30081@server:0:direct" \
    --k3s-arg "--disable=traefik@server:0" \
    --wait --timeout 300s
fi
use_cluster_context
kubectl wait --for=condition=Ready nodes --all --timeout=180s >/dev/null

# --- cert-manager and spin-operator ---------------------------------------------------------
log "cert-manager $CERT_MANAGER_VERSION"
kubectl apply -f "$(fetch "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml")" >/dev/null
kubectl wait --for=condition=Available deployment --all -n cert-manager --timeout=300s >/dev/null

log "spin-operator $SPIN_OPERATOR_VERSION: CRDs, RuntimeClass, chart"
kubectl apply -f "$(fetch "$SPIN_OPERATOR_RELEASE/spin-operator.crds.yaml")" >/dev/null
kubectl apply -f "$(fetch "$SPIN_OPERATOR_RELEASE/spin-operator.runtime-class.yaml")" >/dev/null
kubectl wait --for=condition=Established crd/spinapps.core.spinkube.dev crd/spinappexecutors.core.spinkube.dev --timeout=60s >/dev/null
# cert-manager's webhook can refuse the chart's Certificate for a few seconds after its
# Deployment reports Available (CA injection): retry a bounded number of times.
for attempt in 1 2 3; do
  if timeout 600 helm upgrade --install spin-operator "$SPIN_OPERATOR_CHART" \
    --namespace spin-operator --create-namespace \
    --version "${SPIN_OPERATOR_VERSION#v}" --kube-context "$KUBE_CONTEXT" --wait --timeout 5m >/dev/null; then
    break
  fi
  ((attempt < 3)) || die "helm could not install spin-operator ${SPIN_OPERATOR_VERSION#v}"
  warn "helm install of spin-operator failed (attempt $attempt); retrying in 15 s"
  sleep 15
done

# --- namespaces, secrets, schema ------------------------------------------------------------
for ns in db containers wasm; do ensure_namespace "$ns"; done
kubectl apply -f "$CRM_ROOT/k8s/containers/namespace.yaml" -f "$CRM_ROOT/k8s/wasm/namespace.yaml" >/dev/null

# Passwords are made once and read back on later runs, so re-running never desynchronises the
# running Postgres from the URLs the services hold.
secret_value() { # NAMESPACE SECRET KEY
  kubectl get secret -n "$1" "$2" -o "jsonpath={.data.$3}" 2>/dev/null | base64 -d 2>/dev/null || true
}
new_password() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }
pg_password="$(secret_value db postgres-credentials postgres-password)"
crm_password="$(secret_value db postgres-credentials crm-password)"
[[ -n "$pg_password" ]] || pg_password="$(new_password)"
[[ -n "$crm_password" ]] || crm_password="$(new_password)"
kubectl create secret generic postgres-credentials -n db \
  --from-literal=postgres-password="$pg_password" --from-literal=crm-password="$crm_password" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
db_host="postgres.db.svc.cluster.local:5432"
# sslmode=disable: the in-cluster server has no TLS, and Spin's client insists on TLS otherwise.
kubectl create secret generic crm-database -n containers \
  --from-literal=url="postgres://crm:$crm_password@$db_host/crm_containers?sslmode=disable" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl create secret generic crm-database -n wasm \
  --from-literal=url="postgres://crm:$crm_password@$db_host/crm_wasm?sslmode=disable" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

migrations=("$CRM_ROOT"/migrations/*.sql)
[[ -e "${migrations[0]}" ]] || die "no migrations/*.sql: the schema has one source and it is missing"
from_file=()
for f in "${migrations[@]}"; do from_file+=("--from-file=$f"); done
kubectl create configmap crm-migrations -n db "${from_file[@]}" --dry-run=client -o yaml |
  kubectl apply -f - >/dev/null

log "postgres"
kubectl apply -f "$CRM_ROOT/k8s/postgres.yaml" >/dev/null
kubectl rollout status -n db deployment/postgres --timeout=300s >/dev/null
# The init script ran on the first start; run it again with the migrations copied in now (a
# mounted ConfigMap can lag a minute behind an update). Idempotent by construction.
tar -C "$CRM_ROOT/migrations" -cf - . |
  timeout 120 kubectl --context "$KUBE_CONTEXT" exec -i -n db deployment/postgres -- sh -c \
    'rm -rf /tmp/m && mkdir /tmp/m && tar -xf - -C /tmp/m && MIGRATIONS_DIR=/tmp/m sh /docker-entrypoint-initdb.d/10-crm.sh' >/dev/null

# --- images ---------------------------------------------------------------------------------
# push_ref LOCAL_REPO PUSH_OUTPUT_FILE -> the in-cluster reference by digest.
push_ref() {
  local repo="$1" out="$2" digest
  digest="$(python3 "$CRM_LIB/benchparse.py" digest "$out")" ||
    die "no digest in the output of pushing $repo (see $out)"
  echo "$REGISTRY_PULL/${repo#"$REGISTRY_PUSH"/}@$digest"
}

refs=()
if ((BUILD)); then
  [[ -f "$CRM_ROOT/axum-crm/Dockerfile" ]] || die "axum-crm/Dockerfile is missing"
  for svc in "${SERVICES[@]}"; do
    repo="$REGISTRY_PUSH/crm/axum-$svc"
    log "axum $svc: docker build + push"
    timeout 3600 docker build -f "$CRM_ROOT/axum-crm/Dockerfile" --build-arg "SERVICE=$svc" -t "$repo:dev" "$CRM_ROOT"
    timeout 600 docker push "$repo:dev" | tee "$CRM_STATE_DIR/push-axum-$svc.log"
    refs+=("axum-$svc=$(push_ref "$repo" "$CRM_STATE_DIR/push-axum-$svc.log")")
  done
  for svc in "${SERVICES[@]}"; do
    manifest="$CRM_ROOT/spin-crm/$svc/spin.toml"
    [[ -f "$manifest" ]] || die "$manifest is missing"
    repo="$REGISTRY_PUSH/crm/spin-$svc"
    log "spin $svc: spin build + spin registry push"
    timeout 3600 spin build -f "$manifest"
    # --insecure: the local registry speaks plain HTTP.
    timeout 600 spin registry push -f "$manifest" --insecure "$repo:dev" | tee "$CRM_STATE_DIR/push-spin-$svc.log"
    refs+=("spin-$svc=$(push_ref "$repo" "$CRM_STATE_DIR/push-spin-$svc.log")")
  done
else
  log "--no-build: using the :dev tags already in the registry"
fi

# --- workloads ------------------------------------------------------------------------------
log "axum stack (namespace containers)"
for svc in "${SERVICES[@]}"; do
  render_images "$CRM_ROOT/k8s/containers/$svc.yaml" "${refs[@]}" | kubectl apply -f - >/dev/null
done

log "spin stack (namespace wasm)"
kubectl apply -n wasm -f "$(fetch "$SPIN_OPERATOR_RELEASE/spin-operator.shim-executor.yaml")" >/dev/null
for svc in "${SERVICES[@]}"; do
  render_images "$CRM_ROOT/k8s/wasm/$svc.yaml" "${refs[@]}" | kubectl apply -f - >/dev/null
done

for svc in "${SERVICES[@]}"; do
  kubectl rollout status -n containers "deployment/$svc" --timeout=300s >/dev/null
  # The operator creates the Deployment a moment after the SpinApp.
  wait_until 120 "deployment wasm/$svc" kubectl get deployment -n wasm "$svc"
  kubectl rollout status -n wasm "deployment/$svc" --timeout=300s >/dev/null
done

for stack in "${STACKS[@]}"; do
  url="$(stack_url "$stack")"
  wait_until 120 "$stack gateway at $url/readyz" http_ok "$url/readyz" ||
    die "$stack gateway does not answer at $url (kubectl get pods -n $(stack_namespace "$stack"))"
  log "$stack gateway ready at $url"
done

if ((SMOKE)); then
  "$CRM_ROOT/scripts/smoke.sh"
fi
log "done: benchmark with scripts/bench-all.sh, remove with scripts/cleanup.sh"
