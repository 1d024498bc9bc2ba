#!/usr/bin/env bash
# Run the nine benchmark tests against both stacks in the k3d cluster and collect everything in
# results/<UTC timestamp>/ (layout: docs/results-schema.md):
#   five k6 scripts (load, cpu-bound, scale, error, ping-db), then availability, coldstart,
#   resources and step-load (tests/cluster/; step-load applies the autoscaling overlay
#   k8s/autoscaling/ for its duration and removes it), then summary.json (crm-bench collect) and report.md with its
#   charts (crm-bench report). What each figure includes: docs/k3d.md ("What each figure
#   includes").
# k6 reaches each gateway through the NodePort k3d maps to 127.0.0.1:18080 (axum) and :18081
# (spin), so no port-forward tunnel sits in the measured path.
#
# Usage: scripts/bench-all.sh [--quick] [--stacks axum,spin]
#   --quick   short durations, to check the pipeline end to end (numbers not meaningful)
# Env: VUS (20), DURATION (30s), SCALE_LEVELS (1,5,10,20,50,100), LEVEL_DURATION (30s),
#      STEP_RATES (5,20,50,100,200 req/s), STEP_SECONDS (60),
#      K6_TIMEOUT (seconds one k6 run may take, 3600).
# A failing test is recorded and the run goes on; the exit status is non-zero if any failed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"

stacks=("${STACKS[@]}")
QUICK=0
while (($#)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --stacks) IFS=, read -r -a stacks <<<"${2:?--stacks needs a value}"; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
if ((QUICK)); then
  : "${VUS:=5}" "${DURATION:=5s}" "${SCALE_LEVELS:=1,5}" "${LEVEL_DURATION:=5s}"
  : "${STEP_RATES:=2,10}" "${STEP_SECONDS:=20}"
fi
VUS="${VUS:-20}"
DURATION="${DURATION:-30s}"
SCALE_LEVELS="${SCALE_LEVELS:-1,5,10,20,50,100}"
LEVEL_DURATION="${LEVEL_DURATION:-30s}"
STEP_RATES="${STEP_RATES:-5,20,50,100,200}"
STEP_SECONDS="${STEP_SECONDS:-60}"
K6_TIMEOUT="${K6_TIMEOUT:-3600}"
K6_TESTS=(load cpu-bound scale error ping-db)

require_bash5
require_tools kubectl k6 curl timeout docker
use_cluster_context
for t in "${K6_TESTS[@]}"; do
  [[ -f "$CRM_ROOT/tests/k6/$t-test.js" ]] || die "tests/k6/$t-test.js is missing"
done
for s in "${stacks[@]}"; do
  stack_namespace "$s" >/dev/null || die "unknown stack $s (axum or spin)"
  http_ok "$(stack_url "$s")/readyz" || die "$s gateway not ready at $(stack_url "$s"): run scripts/setup-all.sh"
done

RUN_DIR="$CRM_ROOT/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN_DIR"
log "results in $RUN_DIR"

crm_bench env --kind k3d --out "$RUN_DIR/environment.json" \
  --pin "k3d_image=$K3D_IMAGE" --pin "cert_manager=$CERT_MANAGER_VERSION" \
  --pin "spin_operator=$SPIN_OPERATOR_VERSION" --pin "spin_cli=$SPIN_CLI_VERSION" \
  --pin "spin_sdk=$SPIN_SDK_VERSION" --pin "postgres_image=$POSTGRES_IMAGE" \
  --setting "pod_cpu_request=100m" --setting "pod_cpu_limit=1" \
  --setting "pod_memory_request=64Mi" --setting "pod_memory_limit=256Mi" \
  --setting "replicas=1" --setting "db_pool_max_axum=5" \
  --setting "vus=$VUS" --setting "duration=$DURATION" \
  --setting "scale_levels=$SCALE_LEVELS" --setting "level_duration=$LEVEL_DURATION" \
  --setting "step_rates=$STEP_RATES" --setting "step_seconds=$STEP_SECONDS" \
  --setting "hpa=cpu 70% of request, 1-3 replicas" \
  --setting "quick=$QUICK"

FAILURES=()
record() { # NAME COMMAND... : run one test, keep going on failure
  local name="$1"
  shift
  if "$@"; then
    printf 'PASS %s\n' "$name"
  else
    printf 'FAIL %s (exit %s)\n' "$name" "$?"
    FAILURES+=("$name")
  fi
}

run_k6() { # STACK TEST
  local stack="$1" test="$2" dir="$RUN_DIR/$1" extra=()
  [[ "$test" != scale ]] || extra=(-e "SCALE_LEVELS=$SCALE_LEVELS" -e "LEVEL_DURATION=$LEVEL_DURATION")
  log "$stack: k6 $test"
  # k6 exits 99 when a threshold fails; the summary is still written and judged later.
  timeout "$K6_TIMEOUT" k6 run \
    -e "BASE_URL=$(stack_url "$stack")" -e "SUMMARY_JSON=$dir/k6-$test.json" \
    -e "VUS=$VUS" -e "DURATION=$DURATION" "${extra[@]+"${extra[@]}"}" \
    "$CRM_ROOT/tests/k6/$test-test.js" >"$dir/k6-$test.log" 2>&1
}

for stack in "${stacks[@]}"; do
  dir="$RUN_DIR/$stack"
  mkdir -p "$dir"
  crm_bench artifacts --stack "$stack" --registry "$REGISTRY_PUSH" --root "$CRM_ROOT" \
    --out "$dir/artifacts.json" ||
    warn "could not measure $stack artifact sizes"
  for test in "${K6_TESTS[@]}"; do
    record "$stack k6 $test" run_k6 "$stack" "$test"
  done
  quick_args=()
  ((QUICK)) && quick_args=(--duration 20 --kill-after 5)
  record "$stack availability" "$CRM_ROOT/tests/cluster/availability-test.sh" \
    --stack "$stack" --out "$dir/availability.json" "${quick_args[@]+"${quick_args[@]}"}"
  runs=3
  ((QUICK)) && runs=1
  record "$stack coldstart" "$CRM_ROOT/tests/cluster/coldstart-test.sh" \
    --stack "$stack" --out "$dir/coldstart.json" --runs "$runs"
  quick_args=()
  ((QUICK)) && quick_args=(--samples 2 --load-seconds 25)
  record "$stack resources" "$CRM_ROOT/tests/cluster/resource-test.sh" \
    --stack "$stack" --out "$dir/resources.json" "${quick_args[@]+"${quick_args[@]}"}"
  # Last for the stack: it leaves the Deployments scaled back to one replica, and nothing of
  # the overlay behind.
  record "$stack step-load" "$CRM_ROOT/tests/cluster/step-load-test.sh" \
    --stack "$stack" --out "$dir/step-load.json" --rates "$STEP_RATES" --step-seconds "$STEP_SECONDS"
done

crm_bench collect "$RUN_DIR"
crm_bench report "$RUN_DIR"
if ((${#FAILURES[@]})); then
  echo "bench-all: ${#FAILURES[@]} test(s) failed: ${FAILURES[*]} (raw output in $RUN_DIR)"
  exit 1
fi
echo "bench-all: all tests ran; report in $RUN_DIR/report.md"
