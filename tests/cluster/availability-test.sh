#!/usr/bin/env bash
# Availability: kill a service's pod under steady load and measure how long answers through
# the gateway fail, and how many. A probe loop (one GET every 50 ms, µs timestamps) gives the
# timing; k6's `mixed` load runs alongside so the kill happens under real traffic.
#
# Usage: tests/cluster/availability-test.sh --stack axum|spin --out FILE.json
#          [--target customer-service] [--duration 40] [--kill-after 10]
# Writes FILE.json (see docs/results-schema.md), FILE.probe.log, FILE.k6.json, FILE.k6.log.
# The kill is `kubectl delete pod --grace-period=0 --force` (a crash, not a drain), the same on
# both stacks; with replicas=1 the Deployment's replacement pod must start before service returns.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
parse_common_args "$@"
DURATION=40
KILL_AFTER=10
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --kill-after) KILL_AFTER="$2"; shift 2 ;;
    *) die "unknown argument $1" ;;
  esac
done
((KILL_AFTER < DURATION)) || die "--kill-after must be less than --duration"

require_bash5
require_tools kubectl k6 curl
use_cluster_context
trap stop_background EXIT

probe_log="$OUT_BASE.probe.log"
stop_file="$OUT_BASE.stop"
: >"$probe_log"
rm -f "$stop_file"

http_ok "$URL/readyz" || die "$STACK gateway not ready at $URL"
before="$(pods_of "$NS" "$TARGET" | tr '\n' ' ')"
[[ -n "${before// /}" ]] || die "no pod of $NS/$TARGET to kill"

log "availability $STACK: load + probe for ${DURATION}s, killing $NS/$TARGET ($before) at ${KILL_AFTER}s"
k6_background "$DURATION" "$OUT_BASE.k6.json" "$OUT_BASE.k6.log"
probe_loop "$URL$(probe_path "$TARGET")" "$probe_log" "$stop_file" $((DURATION + 30)) 0.05 &
BG_PIDS+=($!)
probe_pid=$!

sleep "$KILL_AFTER"
kill_us="$(now_us)"
# shellcheck disable=SC2086  # $before is a list of pod names
kubectl delete pod -n "$NS" $before --grace-period=0 --force --wait=false >/dev/null 2>&1

# Poll (every 0.2 s, for at most 120 s) until a pod that was not there before is Ready.
new_pod=""
ready_us=""
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  while read -r name status; do
    if [[ "$status" == True && " $before " != *" $name "* ]]; then new_pod="$name"; fi
  done < <(kubectl get pods -n "$NS" -l "$(deploy_selector "$NS" "$TARGET")" \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null || true)
  if [[ -n "$new_pod" ]]; then ready_us="$(now_us)"; break; fi
  sleep 0.2
done
[[ -n "$new_pod" ]] || warn "no replacement pod became Ready within 120 s"

# Let the load run its course, then stop the probe (k6 ends by itself; both are bounded).
wait_pid_timeout "${BG_PIDS[0]}" $((DURATION + 60))
touch "$stop_file"
wait_pid_timeout "$probe_pid" 10
rm -f "$stop_file"

crm_bench parse availability "$probe_log" "$kill_us" >"$OUT_BASE.timing.json"
crm_bench parse k6 "$OUT_BASE.k6.json" >"$OUT_BASE.k6-parsed.json" 2>/dev/null || echo null >"$OUT_BASE.k6-parsed.json"
ready_ms="null"
[[ -z "$ready_us" ]] || ready_ms="$(( (ready_us - kill_us) / 1000 ))"
# Pod names are DNS labels: quoting each one makes a JSON array.
read -r -a killed <<<"$before"
printf -v killed_json '"%s",' "${killed[@]}"
crm_bench parse json-obj \
  test=availability stack="$STACK" namespace="$NS" target="$TARGET" \
  probe_url="$URL$(probe_path "$TARGET")" "probe_interval_ms:=50" \
  "duration_s:=$DURATION" "kill_after_s:=$KILL_AFTER" kill=force-delete \
  "killed_pods:=[${killed_json%,}]" \
  replacement_pod="$new_pod" "replacement_ready_ms:=$ready_ms" \
  "probe@=$OUT_BASE.timing.json" "load@=$OUT_BASE.k6-parsed.json" \
  probe_log="$(basename "$probe_log")" >"$OUT"
rm -f "$OUT_BASE.timing.json" "$OUT_BASE.k6-parsed.json"
crm_bench cluster describe-availability "$OUT"
