#!/usr/bin/env bash
# CPU and memory per pod from `kubectl top` (metrics-server, bundled with k3s): idle, then
# under the load test's `mixed` scenario. A pod that metrics-server does not report (or a
# cluster without metrics) is reported as unavailable, never as zero.
#
# Usage: tests/cluster/resource-test.sh --stack axum|spin --out FILE.json
#          [--samples 4] [--interval 5] [--load-seconds 40]
# Writes FILE.json and FILE.top.log (every raw `kubectl top` sample).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
parse_common_args "$@"
SAMPLES=4
INTERVAL=5
LOAD_SECONDS=40
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case "$1" in
    --samples) SAMPLES="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    --load-seconds) LOAD_SECONDS="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done

require_tools kubectl k6 timeout
use_cluster_context
trap stop_background EXIT
top_log="$OUT_BASE.top.log"
: >"$top_log"

unavailable() {
  crm_bench parse json-obj test=resources stack="$STACK" namespace="$NS" \
    "available:=false" reason="$1" >"$OUT"
  echo "resources $STACK: metrics unavailable ($1); nothing measured, no numbers reported"
  exit 0
}

if ! probe="$(timeout 30 kubectl --context "$KUBE_CONTEXT" top pod -n "$NS" --no-headers 2>&1)"; then
  unavailable "kubectl top failed: $(printf '%s' "$probe" | head -n 1)"
fi

# sample PHASE: SAMPLES snapshots INTERVAL apart, appended to the log as "# PHASE n" blocks,
# and the parsed rows of each as one JSON line in $OUT_BASE.PHASE.jsonl.
sample() {
  local phase="$1" i snap
  : >"$OUT_BASE.$phase.jsonl"
  for i in $(seq 1 "$SAMPLES"); do
    snap="$(timeout 30 kubectl --context "$KUBE_CONTEXT" top pod -n "$NS" --no-headers 2>/dev/null || true)"
    printf '# %s %s %s\n%s\n' "$phase" "$i" "$(date -u +%H:%M:%S)" "$snap" >>"$top_log"
    printf '%s\n' "$snap" | crm_bench parse top - >>"$OUT_BASE.$phase.jsonl"
    ((i == SAMPLES)) || sleep "$INTERVAL"
  done
}

log "resources $STACK: idle samples"
sleep 15 # metrics-server averages over a window: let the last activity age out
sample idle

log "resources $STACK: samples under load (${LOAD_SECONDS}s of k6 mixed)"
k6_background "$LOAD_SECONDS" "$OUT_BASE.k6.json" "$OUT_BASE.k6.log"
sleep 15 # warm-up, and one metrics window fully under load
sample load
wait_pid_timeout "${BG_PIDS[0]}" $((LOAD_SECONDS + 60))
BG_PIDS=()

crm_bench cluster resources --idle "$OUT_BASE.idle.jsonl" --load "$OUT_BASE.load.jsonl" \
  --out "$OUT" --stack "$STACK" --namespace "$NS" "${SERVICES[@]}"
rm -f "$OUT_BASE.idle.jsonl" "$OUT_BASE.load.jsonl"
