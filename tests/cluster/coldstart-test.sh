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
# enableAutoscaling (the operator then leaves the generated Deployment's replica count alone)
# and the Deployment is scaled; the SpinApp is restored to replicas: 1 on exit, loudly if that
# fails (the manifests set enableAutoscaling: false, so setup-all.sh also undoes it).
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
require_tools kubectl curl python3
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
  sleep 3 # let the operator re-apply its Deployment without a replica count
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

  timing="$(python3 "$CRM_LIB/benchparse.py" coldstart "$probe_log" "$scale_us")"
  direct_timing="$(python3 "$CRM_LIB/benchparse.py" coldstart "$direct_log" "$scale_us")"
  pod="$(pods_of "$NS" "$TARGET" | head -n 1)"
  pod_json="null"
  [[ -z "$pod" ]] || pod_json="$(kubectl get pod -n "$NS" "$pod" -o json | python3 -c '
import json, sys
p = json.load(sys.stdin)
cs = (p["status"].get("containerStatuses") or [{}])[0]
ready = [c.get("lastTransitionTime") for c in p["status"].get("conditions", []) if c["type"] == "Ready"]
print(json.dumps({
    "name": p["metadata"]["name"],
    "created": p["metadata"]["creationTimestamp"],
    "started": (cs.get("state", {}).get("running") or {}).get("startedAt"),
    "ready": ready[0] if ready else None,
    "restarts": cs.get("restartCount"),
}))')"
  python3 "$CRM_LIB/benchparse.py" json-obj "run:=$run" "pods_before:=$pods_before" \
    "scale_up_us:=$scale_us" "timing:=$timing" "direct_timing:=$direct_timing" "pod:=$pod_json" \
    probe_log="$(basename "$probe_log")" direct_log="$(basename "$direct_log")" |
    python3 -c '
import calendar, json, sys, time
r = json.load(sys.stdin)
pod = r["pod"] or {}
created = pod.get("created")
# creationTimestamp has 1 s resolution: created at or after the scale-up second counts.
created_s = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) if created else None
r["from_zero"] = bool(r["pods_before"] == 0 and created_s is not None
                      and created_s >= r["scale_up_us"] // 1000000 and pod.get("restarts") == 0)
print(json.dumps(r))' >>"$runs_file"
  log "coldstart $STACK/$TARGET run $run: $(tail -n 1 "$runs_file" | python3 -c 'import json,sys; r=json.load(sys.stdin); print("first 200 after %s ms through the gateway, %s ms from the pod itself, from zero: %s" % (r["timing"]["first_200_ms"], r["direct_timing"]["first_200_ms"], r["from_zero"]))')"
done

python3 - "$runs_file" "$OUT" "$STACK" "$NS" "$TARGET" "$probe_url" <<'PY'
import json, statistics, sys
runs_file, out, stack, ns, target, url = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_file) if l.strip()]
def stats(key):
    t = [r[key]["first_200_ms"] for r in runs if r[key]["first_200_ms"] is not None and r["from_zero"]]
    return ({"median": statistics.median(t), "min": min(t), "max": max(t)} if t else None), len(t)
through, valid = stats("timing")
direct, _ = stats("direct_timing")
res = {
    "test": "coldstart", "stack": stack, "namespace": ns, "target": target, "probe_url": url,
    "direct_probe": "pod /healthz via the API server's pod proxy",
    "probe_interval_ms": 20, "runs": runs,
    "valid_runs": valid,
    "first_200_ms": through,
    "direct_first_200_ms": direct,
    "all_from_zero": all(r["from_zero"] for r in runs),
}
json.dump(res, open(out, "w"), indent=2, sort_keys=True)
print("coldstart %s/%s: through the gateway %s; the pod itself %s" % (stack, target, through, direct))
PY
rm -f "$runs_file"
