#!/usr/bin/env bash
# Build the whole k3d benchmark environment on this machine, then smoke-test it:
#   k3d cluster (Spin shim node image) + local registry, cert-manager, spin-operator (CRDs,
#   RuntimeClass, Helm chart, shim executor), Postgres with both databases, the Axum images
#   (docker build/push) and the Spin apps (spin build / spin registry push), all manifests,
#   rollouts, then scripts/smoke.sh.
# Idempotent: every step checks or converges, so a second run succeeds and only rolls out what
# changed (images are referenced by the digest just pushed).
#
# Usage: scripts/setup-all.sh [--no-build] [--no-smoke] [--observability]
#   --no-build  build and push nothing: deploy the :dev images already in the registry, pinned
#               by the digests the registry reports for them now
#   --observability  also Prometheus, kube-state-metrics and Grafana with the side-by-side
#               dashboard (k8s/observability/, namespace monitoring; docs/k3d.md)
# Needs: docker (engine running), k3d, kubectl, helm, cargo, curl, python3, timeout, and
# the Spin CLI versions.env pins (found or fetched by scripts/lib/spin.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"

BUILD=1
SMOKE=1
OBSERVABILITY=0
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0 ;;
    --no-smoke) SMOKE=0 ;;
    --observability) OBSERVABILITY=1 ;;
    -h | --help)
      sed -n '2,16p' "$0"
      exit 0
      ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

require_bash5
require_tools docker k3d kubectl helm cargo curl python3 timeout git
timeout 30 docker info >/dev/null 2>&1 || die "docker is installed but its engine does not answer (is Docker running?)"
if ((BUILD)); then
  SPIN="$(crm_spin_resolve)" || die "spin $SPIN_CLI_VERSION is needed to build the Spin apps (see above)"
fi

ensure_namespace() {
  kubectl create namespace "$1" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
}

# --- cluster and registry -------------------------------------------------------------------
if docker inspect "$REGISTRY_CONTAINER" >/dev/null 2>&1; then
  log "registry $REGISTRY_CONTAINER exists"
  docker start "$REGISTRY_CONTAINER" >/dev/null
  # A registry (and the cluster wired to it) made with another REGISTRY_PORT cannot be reused.
  docker port "$REGISTRY_CONTAINER" 2>/dev/null | grep -q ":$REGISTRY_PORT\$" ||
    die "registry $REGISTRY_CONTAINER is not published on port $REGISTRY_PORT ($(docker port "$REGISTRY_CONTAINER" 2>/dev/null | tr '\n' ' ')): run scripts/cleanup.sh, or set REGISTRY_PORT to its port"
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
server_version="$(kubectl version -o json 2>/dev/null | crm_bench parse json-get - serverVersion.gitVersion 2>/dev/null || true)"
[[ "$server_version" == "v$K8S_SERVER_VERSION"* ]] ||
  warn "the cluster runs Kubernetes ${server_version:-?}, the manifests are validated against $K8S_SERVER_VERSION (K8S_SERVER_VERSION in scripts/lib/cluster.sh)"

# --- cert-manager and spin-operator ---------------------------------------------------------
log "cert-manager $CERT_MANAGER_VERSION"
manifest="$(cached_download "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml")" || exit 1
kubectl apply -f "$manifest" >/dev/null
kubectl wait --for=condition=Available deployment --all -n cert-manager --timeout=300s >/dev/null

log "spin-operator $SPIN_OPERATOR_VERSION: CRDs, RuntimeClass, chart"
for asset in spin-operator.crds.yaml spin-operator.runtime-class.yaml; do
  manifest="$(cached_download "$SPIN_OPERATOR_RELEASE/$asset")" || exit 1
  kubectl apply -f "$manifest" >/dev/null
done
kubectl wait --for=condition=Established crd/spinapps.core.spinkube.dev crd/spinappexecutors.core.spinkube.dev --timeout=60s >/dev/null
# cert-manager's webhook can refuse the chart's Certificate for a few seconds after its
# Deployment reports Available (CA injection), and the operator's own webhook (which checks
# SpinApps and SpinAppExecutors) until its serving certificate is injected: every apply that
# goes through one of them is retried a bounded number of times.
WEBHOOK_ATTEMPTS=3
WEBHOOK_DELAY=15
retry "$WEBHOOK_ATTEMPTS" "$WEBHOOK_DELAY" "helm install of spin-operator" \
  timeout 600 helm upgrade --install spin-operator "$SPIN_OPERATOR_CHART" \
  --namespace spin-operator --create-namespace \
  --version "${SPIN_OPERATOR_VERSION#v}" --kube-context "$KUBE_CONTEXT" --wait --timeout 5m >/dev/null ||
  die "helm could not install spin-operator ${SPIN_OPERATOR_VERSION#v}"

# --- namespaces, secrets, schema ------------------------------------------------------------
for ns in db containers wasm; do ensure_namespace "$ns"; done
kubectl apply -f "$CRM_ROOT/k8s/containers/namespace.yaml" -f "$CRM_ROOT/k8s/wasm/namespace.yaml" >/dev/null

# Passwords are made once and read back on later runs (secret_value, new_password:
# scripts/lib/cluster.sh), so re-running never desynchronises the running Postgres from the URLs
# the services hold.
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
# The Spin components take the database in parts (spin-crm/*/spin.toml): only the password is secret.
kubectl create secret generic crm-database -n wasm --from-literal=password="$crm_password" \
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
# Every image is deployed by digest (scripts/lib/cluster.sh: push_axum, push_spin, registry_ref).
refs=()
if ((BUILD)); then
  [[ -f "$CRM_ROOT/axum-crm/Dockerfile" ]] || die "axum-crm/Dockerfile is missing"
  for svc in "${SERVICES[@]}"; do
    ref="$(push_axum "$svc")" || die "axum $svc: build or push failed"
    refs+=("axum-$svc=$ref")
  done
  for svc in "${SERVICES[@]}"; do
    ref="$(push_spin "$SPIN" "$svc")" || die "spin $svc: build or push failed"
    refs+=("spin-$svc=$ref")
  done
else
  log "--no-build: deploying the :dev images in the registry by their current digests"
  for stack in axum spin; do
    for svc in "${SERVICES[@]}"; do
      ref="$(registry_ref "$stack-$svc")" || die "--no-build needs every image in the registry"
      refs+=("$stack-$svc=$ref")
    done
  done
fi

# --- workloads ------------------------------------------------------------------------------
log "axum stack (namespace containers)"
for svc in "${SERVICES[@]}"; do
  render_images "$CRM_ROOT/k8s/containers/$svc.yaml" "${refs[@]}" | kubectl apply -f - >/dev/null
done

log "spin stack (namespace wasm)"
executor="$(cached_download "$SPIN_OPERATOR_RELEASE/spin-operator.shim-executor.yaml")" || exit 1
retry "$WEBHOOK_ATTEMPTS" "$WEBHOOK_DELAY" "apply of the SpinAppExecutor" \
  kubectl apply -n wasm -f "$executor" >/dev/null || die "the SpinAppExecutor was not accepted"
for svc in "${SERVICES[@]}"; do
  render_images "$CRM_ROOT/k8s/wasm/$svc.yaml" "${refs[@]}" >"$CRM_STATE_DIR/wasm-$svc.yaml"
  retry "$WEBHOOK_ATTEMPTS" "$WEBHOOK_DELAY" "apply of SpinApp $svc" \
    kubectl apply -f "$CRM_STATE_DIR/wasm-$svc.yaml" >/dev/null || die "SpinApp $svc was not accepted"
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

if ((OBSERVABILITY)); then
  setup_observability
fi

if ((SMOKE)); then
  "$CRM_ROOT/scripts/smoke.sh"
fi
log "done: benchmark with scripts/bench-all.sh, remove with scripts/cleanup.sh"
