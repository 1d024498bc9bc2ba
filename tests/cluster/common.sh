# shellcheck shell=bash
# shellcheck disable=SC2034  # NS, OUT_BASE, ... are read by the scripts that source this file
# Shared by tests/cluster/*.sh: argument parsing and the background-process bookkeeping that
# makes sure nothing started by a test outlives it.
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../../scripts/lib/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/cluster.sh"

STACK=""
OUT=""
TARGET="customer-service"
# parse_common_args "$@": --stack axum|spin --out FILE [--target SERVICE]; other flags are left
# in EXTRA_ARGS for the test itself.
EXTRA_ARGS=()
parse_common_args() {
  while (($#)); do
    case "$1" in
      --stack) STACK="${2:?--stack needs a value}"; shift 2 ;;
      --out) OUT="${2:?--out needs a value}"; shift 2 ;;
      --target) TARGET="${2:?--target needs a value}"; shift 2 ;;
      *) EXTRA_ARGS+=("$1"); shift ;;
    esac
  done
  [[ -n "$STACK" && -n "$OUT" ]] || die "usage: $0 --stack axum|spin --out FILE [--target SERVICE]"
  NS="$(stack_namespace "$STACK")" || die "unknown stack $STACK (axum or spin)"
  URL="$(stack_url "$STACK")"
  OUT_DIR="$(dirname "$OUT")"
  OUT_BASE="${OUT%.json}"
  mkdir -p "$OUT_DIR"
  case " ${SERVICES[*]} " in *" $TARGET "*) ;; *) die "unknown target $TARGET" ;; esac
}

# A request through the gateway that needs TARGET to be up.
probe_path() {
  case "$1" in
    gateway) echo "/healthz" ;;
    customer-service) echo "/customers/ping" ;;
    order-service) echo "/orders?limit=1" ;;
  esac
}

BG_PIDS=()
# Stop every background job this test started (by pid, never by name).
stop_background() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  BG_PIDS=()
}

# wait_pid_timeout PID SECONDS: wait for a background job, killing it when it overstays.
wait_pid_timeout() {
  local pid="$1" deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "pid $pid still running after $2 s: stopping it"
      kill "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
  done
  wait "$pid" 2>/dev/null || true
}

# k6_background SECONDS SUMMARY_JSON LOG: steady load (the load test's `mixed` scenario, which
# touches every service) for SECONDS in the background; its pid is appended to BG_PIDS.
k6_background() {
  k6 run --quiet \
    -e "BASE_URL=$URL" -e "VUS=${LOAD_VUS:-5}" -e "DURATION=${1}s" -e "LOAD_SCENARIOS=mixed" \
    -e "SUMMARY_JSON=$2" "$CRM_ROOT/tests/k6/load-test.js" >"$3" 2>&1 &
  BG_PIDS+=($!)
}
