#!/usr/bin/env bash
# Autoscaling under step load: the stack's Deployments get the HPAs of k8s/autoscaling/ (for
# Spin, the SpinApps are first switched to enableAutoscaling: true without replicas, as
# k8s/autoscaling/spinapp-autoscaling.patch.json says, so the operator leaves the replica
# count to the HPA), k6 offers request rates in steps (tests/k6/step-load-test.js), and the
# ready replicas of every Deployment are sampled every --interval seconds meanwhile. Then the
# overlay is removed (HPAs deleted, one replica again, SpinApps back to enableAutoscaling:
# false) — loudly if that fails — and crm-bench derives the figures (docs/k3d.md, "Step load").
#
# Usage: tests/cluster/step-load-test.sh --stack axum|spin --out FILE.json
#          [--rates 5,20,50,100,200] [--step-seconds 60] [--interval 5]
# Writes FILE.json, FILE.replicas.log (raw samples: "<t_us> <deployment> <ready> <desired>"),
# FILE.k6.json and FILE.k6.log.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
parse_common_args "$@"
RATES=5,20,50,100,200
STEP_SECONDS=60
INTERVAL=5
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case "$1" in
    --rates) RATES="$2"; shift 2 ;;
    --step-seconds) STEP_SECONDS="$2"; shift 2 ;;
    --interval) INTERVAL="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done

require_bash5
require_tools kubectl k6 timeout
use_cluster_context
OVERLAY="$CRM_ROOT/k8s/autoscaling"
HPAS="$OVERLAY/$NS-hpa.yaml"
SPINAPP_PATCH="$OVERLAY/spinapp-autoscaling.patch.json"
[[ -f "$HPAS" && -f "$SPINAPP_PATCH" ]] || die "the autoscaling overlay ($OVERLAY) is incomplete"
replicas_log="$OUT_BASE.replicas.log"
: >"$replicas_log"

# Back to the default manifests' state: no HPA, one replica, SpinApps without autoscaling.
# Deleting an HPA leaves its last replica count on the Deployment, hence the explicit scale.
remove_overlay() {
  local rc=$? ok=1 svc
  stop_background
  kubectl delete -f "$HPAS" --ignore-not-found >/dev/null || ok=0
  for svc in "${SERVICES[@]}"; do
    if [[ "$STACK" == spin ]]; then
      kubectl patch spinapp -n "$NS" "$svc" --type=merge \
        -p '{"spec":{"enableAutoscaling":false,"replicas":1}}' >/dev/null || ok=0
    else
      kubectl scale deployment -n "$NS" "$svc" --replicas=1 >/dev/null || ok=0
    fi
  done
  for svc in "${SERVICES[@]}"; do
    kubectl rollout status deployment -n "$NS" "$svc" --timeout=180s >/dev/null || ok=0
  done
  if ! ((ok)); then
    printf 'error: could not remove the autoscaling overlay from namespace %s.\n' "$NS" >&2
    printf 'error: run scripts/setup-all.sh --no-build and kubectl delete -f %s before anything else.\n' "$HPAS" >&2
    exit 1
  fi
  exit "$rc"
}
trap remove_overlay EXIT

log "step-load $STACK: autoscaling overlay on"
if [[ "$STACK" == spin ]]; then
  for svc in "${SERVICES[@]}"; do
    kubectl patch spinapp -n "$NS" "$svc" --type=json --patch-file "$SPINAPP_PATCH" >/dev/null
  done
  # Until the operator has re-applied its Deployments without a replica count, its apply could
  # undo what the HPAs set.
  for svc in "${SERVICES[@]}"; do
    wait_operator_released_replicas "$NS" "$svc" ||
      die "spin-operator did not release the replica count of $NS/$svc"
  done
fi
kubectl apply -f "$HPAS" >/dev/null

# One line per Deployment and sample; readyReplicas is absent (an empty field) while it is 0.
sample_replicas() {
  local t
  while :; do
    t="$(now_us)"
    kubectl get deployment -n "$NS" \
      -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.readyReplicas}{" "}{.spec.replicas}{"\n"}{end}' \
      2>/dev/null | sed -e '/^$/d' -e "s/^/$t /" >>"$replicas_log" || true
    sleep "$INTERVAL"
  done
}
sample_replicas &
BG_PIDS+=($!)
sleep "$INTERVAL" # a sample before the load: the baseline of "extra" replicas

IFS=, read -r -a rates <<<"$RATES"
limit=$((${#rates[@]} * STEP_SECONDS + 300))
log "step-load $STACK: k6 steps of $RATES req/s, ${STEP_SECONDS}s each"
# k6 exits 99 when a threshold fails (errors under overload): the summary is still written and
# the figures still derived; the run's log says which.
k6_rc=0
timeout "$limit" k6 run --quiet -e "BASE_URL=$URL" -e "STEP_RATES=$RATES" \
  -e "STEP_DURATION=${STEP_SECONDS}s" -e "SUMMARY_JSON=$OUT_BASE.k6.json" \
  "$CRM_ROOT/tests/k6/step-load-test.js" >"$OUT_BASE.k6.log" 2>&1 || k6_rc=$?
((k6_rc == 0 || k6_rc == 99)) || warn "k6 exited $k6_rc (see $OUT_BASE.k6.log)"
stop_background

crm_bench cluster step-load --replicas "$replicas_log" --k6 "$OUT_BASE.k6.json" \
  --out "$OUT" --stack "$STACK" --namespace "$NS"
