# shellcheck shell=bash
# shellcheck disable=SC2034  # the constants are used by the scripts that source this file
# Shared by the k3d scripts (setup-all, smoke, bench-all, cleanup, tests/cluster/*): the pins,
# names and ports in one place, plus small helpers. Sourced, never run. Functions that need no
# cluster (render_images, selector_from_json, now_us, ...) are tested by tests/shell/.

CRM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CRM_LIB="$CRM_ROOT/scripts/lib"
# shellcheck source=spin.sh
source "$CRM_LIB/spin.sh"

# --- pins: versions.env at the root, the project's one pins file (docs/k3d.md explains each);
# it sets K3D_IMAGE, K8S_SERVER_VERSION, CERT_MANAGER_VERSION,
# SPIN_OPERATOR_VERSION, SPIN_CLI_VERSION, SPIN_SDK_VERSION, POSTGRES_IMAGE, ...
# shellcheck source=../../versions.env
source "$CRM_ROOT/versions.env"
SPIN_OPERATOR_RELEASE="https://github.com/spinframework/spin-operator/releases/download/$SPIN_OPERATOR_VERSION"
SPIN_OPERATOR_CHART="oci://ghcr.io/spinframework/charts/spin-operator"

# --- names and ports ------------------------------------------------------------------------
CLUSTER_NAME="${CLUSTER_NAME:-crm}"
# k3d prefixes registry containers with "k3d-". The host pushes through the published port on
# localhost (no /etc/hosts edits). Pods name the registry by that name and the published port
# (REGISTRY_PULL), which nothing listens on inside the cluster network: `k3d cluster create
# --registry-use` writes the node's registries.yaml with a mirror for "<name>:<published port>"
# (and "<name>:5000") whose endpoint is http://<name>:5000, the port the registry listens on
# inside that network (k3d v5.8.3: RegistryGenerateK3sConfig in pkg/client/registry.go,
# DefaultRegistryPort). So containerd's pulls of REGISTRY_PULL go through that mirror.
# Published on 5001, not 5000: macOS's AirPlay receiver listens on 5000.
REGISTRY_NAME="crm-registry.localhost"
REGISTRY_PORT="${REGISTRY_PORT:-5001}"
REGISTRY_CONTAINER="k3d-$REGISTRY_NAME"
REGISTRY_PUSH="localhost:$REGISTRY_PORT"
REGISTRY_PULL="$REGISTRY_CONTAINER:$REGISTRY_PORT"
# What k8s/ writes instead of a registry host:port; render_images puts REGISTRY_PULL there. A
# reserved .invalid name, so a manifest applied unrendered fails to pull instead of pulling
# something else.
REGISTRY_PLACEHOLDER="crm-registry.invalid"
SERVICES=(gateway customer-service order-service)
STACKS=(axum spin)
# Host ports mapped by k3d straight onto the gateways' NodePorts (30080, 30081): the
# benchmark's entry points, without a port-forward tunnel in the measured path.
AXUM_URL="http://127.0.0.1:18080"
SPIN_URL="http://127.0.0.1:18081"
# Where port-forward pids and logs live, so cleanup.sh can stop exactly those.
CRM_STATE_DIR="${CRM_STATE_DIR:-${TMPDIR:-/tmp}/crm-k3d-$CLUSTER_NAME}"

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Fail fast, naming every missing tool at once.
require_tools() {
  local missing=() t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  if ((${#missing[@]})); then
    die "missing tool(s): ${missing[*]}. Run inside devbox ('devbox run -- $0' or 'devbox shell'), or install them (docs/k3d.md)."
  fi
}

# crm_bench ARGS...: run crm-bench (tools/crm-bench), which parses, assembles and reports the
# benchmark's results. $CRM_BENCH when set; else the release or debug build in
# $CARGO_TARGET_DIR (or target/) unless a source file is newer than it; else a release build
# made here with cargo (quiet, on stderr).
crm_bench() {
  local target="${CARGO_TARGET_DIR:-$CRM_ROOT/target}" bin="${CRM_BENCH:-}" candidate
  if [[ -z "$bin" ]]; then
    for candidate in "$target/release/crm-bench" "$target/debug/crm-bench"; do
      if [[ -x "$candidate" && -z "$(find "$CRM_ROOT/tools/crm-bench/src" "$CRM_ROOT/tools/crm-bench/Cargo.toml" \
        "$CRM_ROOT/tools/harness/src" -newer "$candidate" -print -quit 2>/dev/null)" ]]; then
        bin="$candidate"
        break
      fi
    done
  fi
  if [[ -z "$bin" ]]; then
    command -v cargo >/dev/null 2>&1 || die "crm-bench is not built and there is no cargo to build it"
    CARGO_TARGET_DIR="$target" cargo build --quiet --release --locked -p crm-bench \
      --manifest-path "$CRM_ROOT/Cargo.toml" >&2 || die "cargo build -p crm-bench failed"
    bin="$target/release/crm-bench"
  fi
  "$bin" "$@"
}

# EPOCHREALTIME (bash >= 5) gives µs timestamps without forking `date` (macOS's date has no %N).
require_bash5() {
  ((BASH_VERSINFO[0] >= 5)) || die "bash >= 5 needed (this is $BASH_VERSION); devbox provides one"
}

# Microseconds since the epoch. The decimal separator follows the locale: drop either.
now_us() {
  local t="${EPOCHREALTIME:?bash >= 5 needed}"
  printf '%s\n' "${t//[.,]/}"
}

stack_namespace() {
  case "$1" in
    axum) echo containers ;;
    spin) echo wasm ;;
    *) return 1 ;;
  esac
}

stack_url() {
  case "$1" in
    axum) echo "$AXUM_URL" ;;
    spin) echo "$SPIN_URL" ;;
    *) return 1 ;;
  esac
}

# The port each stack's Service for SERVICE listens on (Axum: the contract's defaults; the
# spin-operator's Services: always 80).
service_port() {
  case "$1:$2" in
    axum:gateway) echo 8000 ;;
    axum:customer-service) echo 8001 ;;
    axum:order-service) echo 8002 ;;
    spin:*) echo 80 ;;
    *) return 1 ;;
  esac
}

# HTTP status of a GET (000 when there is no answer); never fails, never hangs.
http_code() {
  curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time "${2:-5}" "$1" 2>/dev/null || true
}

# wait_until SECONDS DESCRIPTION COMMAND...: retry COMMAND every second until it succeeds.
wait_until() {
  local secs="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || {
      warn "timed out after ${secs}s waiting for $what"
      return 1
    }
    sleep 1
  done
}

http_ok() { [[ "$(http_code "$1")" == 200 ]]; }

# render_images FILE NAME=REF...: print FILE with each "<placeholder>/crm/NAME:dev" image
# replaced by REF (a digest reference from the push), so a rollout happens iff content changed,
# and any other placeholder by this registry's in-cluster name.
render_images() {
  local file="$1" pair name ref args=() ph="${REGISTRY_PLACEHOLDER//./\\.}"
  shift
  for pair in "$@"; do
    name="${pair%%=*}"
    ref="${pair#*=}"
    args+=(-e "s#${ph}/crm/${name}:dev#${ref}#")
  done
  sed "${args[@]}" -e "s#${ph}/#${REGISTRY_PULL}/#g" "$file"
}

# retry ATTEMPTS DELAY WHAT COMMAND...: for steps a webhook can refuse for a while after its
# Deployment is Available (cert-manager injecting the CA bundle).
retry() {
  local attempts="$1" delay="$2" what="$3" n
  shift 3
  for ((n = 1; ; n++)); do
    "$@" && return 0
    if ((n >= attempts)); then
      warn "$what failed $n times; giving up"
      return 1
    fi
    warn "$what failed (attempt $n of $attempts); retrying in ${delay}s"
    sleep "$delay"
  done
}

# --- release manifests (setup-all.sh) -------------------------------------------------------
# Downloaded once (a timeout on each), then applied from the cache, so a rerun does not depend
# on the network. Keyed by the whole URL, not the file name: the release assets carry no
# version in their names (cert-manager.yaml, spin-operator.crds.yaml, ...), and a cache by name
# would keep applying the old release after a version bump.
MANIFEST_CACHE="$CRM_STATE_DIR/manifests"

# cached_download URL -> the path of the cached copy, $MANIFEST_CACHE/<host>/<path>.
cached_download() {
  local url="$1" key dest
  key="${url#*://}"
  case "/$key/" in
    *"/../"* | *"/./"* | *"//"* | *'?'* | *'#'*) die "cannot cache $url: not a plain https URL" ;;
  esac
  [[ "$url" == https://* ]] || die "cannot cache $url: not a plain https URL"
  dest="$MANIFEST_CACHE/$key"
  if [[ ! -s "$dest" ]]; then
    mkdir -p "$(dirname "$dest")"
    curl -fsSL --retry 3 --connect-timeout 10 --max-time 120 -o "$dest.tmp" "$url" ||
      die "could not download $url"
    mv "$dest.tmp" "$dest"
  fi
  echo "$dest"
}

# --- images (setup-all.sh) ------------------------------------------------------------------
# A push of unchanged content must keep its digest, or every rerun rolls out everything: the
# timestamps that go into an image are the time of the last commit that touched its inputs, not
# the clock's, nor the repository's last commit (a commit to docs/ or k8s/ would otherwise
# change every digest and roll out all six workloads).
# source_epoch PATH... -> the commit time (Unix seconds) of the last commit touching PATHs; 0
# when there is none (no git, not a repository).
source_epoch() {
  local t
  t="$(git -C "$CRM_ROOT" log -1 --format=%ct -- "$@" 2>/dev/null)" || t=""
  echo "${t:-0}"
}
# The Axum images' inputs: their Docker build context, which is .dockerignore's allowlist (the
# "!path" lines: what axum-crm/Dockerfile's COPY lines read, the Dockerfile included) and that
# file itself.
axum_image_inputs() {
  echo .dockerignore
  sed -n -e 's#^!\(.*[^/]\)/*$#\1#p' "$CRM_ROOT/.dockerignore"
}
# The Spin apps' inputs: their own cargo workspace and spin.toml files, and crm-core (a path
# dependency of every component).
spin_image_inputs() { printf '%s\n' spin-crm core; }
epoch_rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ; }

# push_ref REPO PUSH_OUTPUT_FILE -> the in-cluster reference by digest.
push_ref() {
  local repo="$1" out="$2" digest
  digest="$(crm_bench parse push-digest "$out")" || {
    warn "no digest in the output of pushing $repo (see $out)"
    return 1
  }
  echo "$REGISTRY_PULL/${repo#"$REGISTRY_PUSH"/}@$digest"
}

# push_axum SERVICE -> ref. No provenance/SBOM attestations: BuildKit stamps them with the
# build's start time, which would give every build a new index digest. SOURCE_DATE_EPOCH sets
# the image config's and history's times; the Dockerfile also clamps the binary's file time to
# it (BuildKit leaves file times alone unless its exporter gets rewrite-timestamp=true).
push_axum() {
  local svc="$1" repo="$REGISTRY_PUSH/crm/axum-$1" epoch inputs
  mapfile -t inputs < <(axum_image_inputs)
  epoch="$(source_epoch "${inputs[@]}")"
  log "axum $svc: docker build + push"
  timeout 3600 docker build -f "$CRM_ROOT/axum-crm/Dockerfile" --build-arg "SERVICE=$svc" \
    --build-arg "SOURCE_DATE_EPOCH=$epoch" --provenance=false --sbom=false \
    -t "$repo:dev" "$CRM_ROOT" >&2 || return 1
  timeout 600 docker push "$repo:dev" | tee "$CRM_STATE_DIR/push-axum-$svc.log" >&2 || return 1
  push_ref "$repo" "$CRM_STATE_DIR/push-axum-$svc.log"
}

# push_spin SPIN SERVICE -> ref. `spin registry push` annotates the manifest with
# org.opencontainers.image.created = now unless given one.
push_spin() {
  local spin="$1" svc="$2" repo="$REGISTRY_PUSH/crm/spin-$2" manifest="$CRM_ROOT/spin-crm/$2/spin.toml" inputs
  [[ -f "$manifest" ]] || { warn "$manifest is missing"; return 1; }
  mapfile -t inputs < <(spin_image_inputs)
  log "spin $svc: spin build + spin registry push"
  timeout 3600 "$spin" build -f "$manifest" >&2 || return 1
  # --insecure: the local registry speaks plain HTTP.
  timeout 600 "$spin" registry push -f "$manifest" --insecure \
    --annotation "org.opencontainers.image.created=$(epoch_rfc3339 "$(source_epoch "${inputs[@]}")")" \
    "$repo:dev" | tee "$CRM_STATE_DIR/push-spin-$svc.log" >&2 || return 1
  push_ref "$repo" "$CRM_STATE_DIR/push-spin-$svc.log"
}

# registry_ref NAME -> the in-cluster reference by digest of crm/NAME:dev as the registry has it
# now (--no-build).
registry_ref() {
  local digest
  digest="$(curl -fsSI --connect-timeout 5 --max-time 20 \
    -H 'Accept: application/vnd.oci.image.index.v1+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY_PUSH/v2/crm/$1/manifests/dev" |
    awk 'tolower($1) == "docker-content-digest:" {print $2}' | tr -d '\r')"
  [[ "$digest" == sha256:* ]] || {
    warn "no crm/$1:dev in the registry at $REGISTRY_PUSH (run setup-all.sh without --no-build)"
    return 1
  }
  echo "$REGISTRY_PULL/crm/$1@$digest"
}

# A Deployment's .spec.selector.matchLabels JSON -> "k=v,k2=v2" for `kubectl get -l`.
selector_from_json() {
  crm_bench parse selector -
}

deploy_selector() { # NAMESPACE DEPLOYMENT
  kubectl get deployment -n "$1" "$2" -o jsonpath='{.spec.selector}' | selector_from_json
}

# Pod names of a Deployment, found through its own selector: works alike for our Deployments
# and for the ones spin-operator generates (whose label keys we do not hard-code).
pods_of() { # NAMESPACE DEPLOYMENT
  local sel
  sel="$(deploy_selector "$1" "$2")" || return 1
  [[ -n "$sel" ]] || return 1
  kubectl get pods -n "$1" -l "$sel" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# wait_operator_released_replicas NAMESPACE DEPLOYMENT [SECONDS]: after a SpinApp was switched to
# enableAutoscaling: true without replicas, wait (every second, at most SECONDS, 30 by default)
# until spin-operator no longer manages its Deployment's spec.replicas. The operator
# server-side-applies the Deployment with Force under field manager "spin-operator", with
# replicas only while autoscaling is off (spin-operator v0.6.1,
# internal/controller/spinapp_controller.go: FieldManager, reconcileDeployment,
# constructDeployment), and reconciles again on every change to the Deployment (it Owns it):
# until its apply of the new spec lands, a `kubectl scale` or an HPA can be undone by an apply
# that still carries replicas. Its managedFields entry dropping f:replicas is that apply having
# landed. A Deployment that cannot be read counts as not yet released.
wait_operator_released_replicas() {
  local ns="$1" dep="$2" secs="${3:-30}" deadline fields
  deadline=$((SECONDS + secs))
  while :; do
    if fields="$(kubectl get deployment -n "$ns" "$dep" --show-managed-fields \
      -o jsonpath='{range .metadata.managedFields[?(@.manager=="spin-operator")]}{.fieldsV1}{"\n"}{end}' 2>/dev/null)" &&
      [[ "$fields" != *'"f:replicas"'* ]]; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      warn "spin-operator still manages spec.replicas of deployment $ns/$dep after ${secs}s (is the operator running? kubectl get pods -n spin-operator)"
      return 1
    fi
    sleep 1
  done
}

# probe_loop URL OUT STOP_FILE MAX_SECONDS [INTERVAL]: one GET per INTERVAL, a line per request
# "<start_us> <end_us> <code>" to OUT, until STOP_FILE exists or MAX_SECONDS pass.
probe_loop() {
  local url="$1" out="$2" stop="$3" max="$4" interval="${5:-0.05}" start end code deadline
  deadline=$((SECONDS + max))
  while [[ ! -e "$stop" ]] && ((SECONDS < deadline)); do
    start="$(now_us)"
    code="$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 2 "$url" 2>/dev/null || true)"
    end="$(now_us)"
    printf '%s %s %s\n' "$start" "$end" "${code:-000}" >>"$out"
    sleep "$interval"
  done
}

# --- secrets and observability (setup-all.sh) ---------------------------------------------
secret_value() { # NAMESPACE SECRET KEY: a key of an existing Secret, or nothing
  kubectl get secret -n "$1" "$2" -o "jsonpath={.data.$3}" 2>/dev/null | base64 -d 2>/dev/null || true
}
new_password() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Prometheus and Grafana read their configuration at start: a ConfigMap that changed restarts
# its Deployment, so a rerun converges like the rest.
apply_restarting() { # FILE DEPLOYMENT
  local out
  out="$(kubectl apply -f "$1")"
  if grep -q '^configmap/.* configured$' <<<"$out"; then
    kubectl rollout restart -n monitoring "deployment/$2" >/dev/null
  fi
}

setup_observability() {
  local obs="$CRM_ROOT/k8s/observability" password d out
  log "observability: Prometheus, kube-state-metrics, Grafana (namespace monitoring)"
  kubectl apply -f "$obs/namespace.yaml" >/dev/null
  password="$(secret_value monitoring grafana-admin password)"
  [[ -n "$password" ]] || password="$(new_password)"
  kubectl create secret generic grafana-admin -n monitoring --from-literal=password="$password" \
    --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  # The dashboard has one source, dashboards/crm.json; Grafana reads it from this ConfigMap.
  out="$(kubectl create configmap grafana-dashboards -n monitoring --from-file="$obs/dashboards/crm.json" \
    --dry-run=client -o yaml | kubectl apply -f -)"
  kubectl apply -f "$obs/kube-state-metrics.yaml" >/dev/null
  apply_restarting "$obs/prometheus.yaml" prometheus
  apply_restarting "$obs/grafana.yaml" grafana
  if grep -q ' configured$' <<<"$out"; then
    kubectl rollout restart -n monitoring deployment/grafana >/dev/null
  fi
  for d in kube-state-metrics prometheus grafana; do
    kubectl rollout status -n monitoring "deployment/$d" --timeout=300s >/dev/null ||
      die "deployment monitoring/$d did not become ready (kubectl get pods -n monitoring)"
  done
  log "Grafana: kubectl --context $KUBE_CONTEXT port-forward -n monitoring svc/grafana 3000:3000, then http://127.0.0.1:3000 (anonymous view; admin password in Secret monitoring/grafana-admin)"
}

# --- port-forwards (smoke.sh; cleanup.sh stops them) ----------------------------------------

# port_forward_start NAME NAMESPACE TARGET LOCAL_PORT REMOTE_PORT: background port-forward,
# pid recorded under CRM_STATE_DIR; returns once LOCAL_PORT answers /healthz (or fails in 30 s).
port_forward_start() {
  local name="$1" ns="$2" target="$3" lport="$4" rport="$5"
  mkdir -p "$CRM_STATE_DIR"
  port_forward_stop "$name"
  # `command`: the kubectl function would run in a forked subshell, and $! would be that
  # subshell (its command line the script's), not kubectl.
  command kubectl --context "$KUBE_CONTEXT" port-forward -n "$ns" "$target" "$lport:$rport" \
    --address 127.0.0.1 >"$CRM_STATE_DIR/$name.log" 2>&1 &
  echo $! >"$CRM_STATE_DIR/$name.pid"
  wait_until 30 "port-forward $name on :$lport" http_ok "http://127.0.0.1:$lport/healthz" || {
    cat "$CRM_STATE_DIR/$name.log" >&2
    return 1
  }
}

# Stop one recorded port-forward, only if that pid still is a kubectl port-forward.
port_forward_stop() {
  local pidfile="$CRM_STATE_DIR/$1.pid" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile")"
  if ps -p "$pid" -o args= 2>/dev/null | grep -q 'port-forward'; then
    kill "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || warn "port-forward $1 (pid $pid) did not stop"
  fi
  rm -f "$pidfile"
}

port_forward_stop_all() {
  local f
  [[ -d "$CRM_STATE_DIR" ]] || return 0
  for f in "$CRM_STATE_DIR"/*.pid; do
    [[ -e "$f" ]] || continue
    port_forward_stop "$(basename "$f" .pid)"
  done
}

# The kube context k3d writes for our cluster. Every kubectl call in these scripts goes to it
# (the wrapper below adds --context), so a user's other clusters are never touched and their
# current context is never switched by us.
KUBE_CONTEXT="k3d-$CLUSTER_NAME"
kubectl() { command kubectl --context "$KUBE_CONTEXT" "$@"; }

use_cluster_context() {
  command kubectl config get-contexts "$KUBE_CONTEXT" >/dev/null 2>&1 ||
    die "no kube context $KUBE_CONTEXT: run scripts/setup-all.sh first"
}
