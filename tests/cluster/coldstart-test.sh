#!/usr/bin/env bash
# Cold start 0 -> 1: scale a service to zero, check that no pod of it is left, scale it to one
# and time from the scale-up to the first 200, two ways at once (one GET every 20 ms each):
#   first_200_ms         through the gateway, a request that needs the service: scheduling,
#                        runtime start, the service's readiness probe (period 1 s, the same on
#                        both stacks) and the Service endpoint update: when users get answers;
#   direct_first_200_ms  the new pod's own /healthz through the API server's pod proxy (a
#                        `kubectl proxy` started here): scheduling and runtime start only.
# The gateway's readiness probe is its own /healthz, so the gateway stays Ready meanwhile and is
# not part of either figure. Repeated --runs times; each run records the pod that answered and
# checks it really started from zero (no pod before, created after the scale-up, no restarts).
#
# The SpinApp webhook rejects replicas: 0, so for Spin the SpinApp is switched to
# enableAutoscaling (the operator then leaves the generated Deployment's replica count alone,
# which the test waits to see in its managedFields) and the Deployment is scaled; the SpinApp
# is restored to replicas: 1 on exit, loudly if that fails (the manifests set
# enableAutoscaling: false, so setup-all.sh also undoes it).
#
# Usage: tests/cluster/coldstart-test.sh --stack axum|spin --out FILE.json
#          [--target customer-service] [--runs 3]
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
parse_common_args "$@"
RUNS=3
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done

require_bash5
require_tools kubectl curl
use_cluster_context

restore() {
  local rc=$? ok=1
  stop_background
  if [[ "$STACK" == spin ]] &&
    ! kubectl patch spinapp -n "$NS" "$TARGET" --type=merge \
      -p '{"spec":{"enableAutoscaling":false,"replicas":1}}' >/dev/null; then
    printf 'error: could not restore SpinApp %s/%s to enableAutoscaling: false, replicas: 1.\n' "$NS" "$TARGET" >&2
    printf 'error: run scripts/setup-all.sh --no-build (its apply resets both) before anything else.\n' >&2
    ok=0
  fi
  kubectl scale deployment -n "$NS" "$TARGET" --replicas=1 >/dev/null || ok=0
  kubectl rollout status deployment -n "$NS" "$TARGET" --timeout=120s >/dev/null || {
    printf 'error: %s/%s did not come back within 120 s\n' "$NS" "$TARGET" >&2
    ok=0
  }
  ((ok)) || exit 1
  exit "$rc"
}
trap restore EXIT

if [[ "$STACK" == spin ]]; then
  # JSON patch: drop replicas (must be unset with autoscaling) and enable autoscaling at once.
  kubectl patch spinapp -n "$NS" "$TARGET" --type=json -p \
    '[{"op":"remove","path":"/spec/replicas"},{"op":"replace","path":"/spec/enableAutoscaling","value":true}]' >/dev/null
  # Until the operator has re-applied its Deployment without a replica count, its apply could
  # undo the scale-down below.
  wait_operator_released_replicas "$NS" "$TARGET" ||
    die "spin-operator did not release the replica count of $NS/$TARGET"
fi

no_pods() { [[ -z "$(pods_of "$NS" "$TARGET")" ]]; }
probe_url="$URL$(probe_path "$TARGET")"

# The API server's pod proxy reaches a pod before it is Ready or behind any Service. `command`:
# a function run in the background would make $! a subshell rather than kubectl.
proxy_log="$OUT_BASE.proxy.log"
command kubectl --context "$KUBE_CONTEXT" proxy --port=0 --address=127.0.0.1 >"$proxy_log" 2>&1 &
BG_PIDS+=($!)
proxy_up() { grep -q 'Starting to serve on' "$proxy_log"; }
wait_until 30 "kubectl proxy" proxy_up || die "kubectl proxy did not start: $(cat "$proxy_log")"
PROXY="http://$(sed -n 's/.*Starting to serve on \([0-9.:]*\).*/\1/p' "$proxy_log" | head -n 1)"
# direct_probe LOG STOP_FILE: wait for the new pod's name, then probe its /healthz directly.
direct_probe() {
  local pod="" port
  port="$(service_port "$STACK" "$TARGET")" # the container port too, on both stacks
  while [[ -z "$pod" && ! -e "$2" ]]; do
    pod="$(pods_of "$NS" "$TARGET" 2>/dev/null | head -n 1)" || true
    [[ -n "$pod" ]] || sleep 0.1
  done
  [[ -z "$pod" ]] ||
    probe_loop "$PROXY/api/v1/namespaces/$NS/pods/$pod:$port/proxy/healthz" "$1" "$2" 120 0.02
}
runs_file="$OUT_BASE.runs.jsonl"
: >"$runs_file"
for run in $(seq 1 "$RUNS"); do
  kubectl scale deployment -n "$NS" "$TARGET" --replicas=0 >/dev/null
  wait_until 120 "no pod of $NS/$TARGET" no_pods ||
    die "pods of $NS/$TARGET still present after scaling to 0"
  sleep 2 # endpoints settle: the gateway now fails fast
  pods_before="$(pods_of "$NS" "$TARGET" | wc -l | tr -d ' ')"

  probe_log="$OUT_BASE.run$run.probe.log"
  direct_log="$OUT_BASE.run$run.direct.log"
  stop_file="$OUT_BASE.stop"
  : >"$probe_log"
  : >"$direct_log"
  rm -f "$stop_file"
  scale_us="$(now_us)"
  kubectl scale deployment -n "$NS" "$TARGET" --replicas=1 >/dev/null
  probe_loop "$probe_url" "$probe_log" "$stop_file" 120 0.02 &
  probe_pids=($!)
  direct_probe "$direct_log" "$stop_file" &
  probe_pids+=($!)
  # Stop probing once both have had a 200 (or after 120 s).
  deadline=$((SECONDS + 120))
  until { grep -q ' 200$' "$probe_log" && grep -q ' 200$' "$direct_log"; } || ((SECONDS >= deadline)); do sleep 0.05; done
  touch "$stop_file"
  for pid in "${probe_pids[@]}"; do wait_pid_timeout "$pid" 10; done
  rm -f "$stop_file"

  # The pod that answered, for the from-zero check (none: the run does not count).
  pod="$(pods_of "$NS" "$TARGET" | head -n 1)"
  pod_args=()
  if [[ -n "$pod" ]] && kubectl get pod -n "$NS" "$pod" -o json >"$OUT_BASE.pod.json"; then
    pod_args=(--pod-json "$OUT_BASE.pod.json")
  fi
  # One JSON line per run appended to the runs file; crm-bench says the run's figures on stderr.
  said="$(crm_bench cluster coldstart-run --run "$run" --pods-before "$pods_before" \
    --scale-up-us "$scale_us" --probe-log "$probe_log" --direct-log "$direct_log" \
    "${pod_args[@]+"${pod_args[@]}"}" 2>&1 >>"$runs_file")"
  log "coldstart $STACK/$TARGET run $run: $said"
  rm -f "$OUT_BASE.pod.json"
done

crm_bench cluster coldstart --runs "$runs_file" --out "$OUT" --stack "$STACK" --namespace "$NS" \
  --target "$TARGET" --probe-url "$probe_url"
rm -f "$runs_file"
