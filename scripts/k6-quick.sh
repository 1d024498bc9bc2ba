#!/usr/bin/env bash
# Run every k6 benchmark script against a running stack with seconds-long settings: a smoke test
# of the scripts and of the stack's behaviour under (light) load, not a benchmark.
#
#   scripts/k6-quick.sh BASE_URL OUTDIR
#
# Writes OUTDIR/<script>.json (k6's summary data plus the runtime that answered) and
# OUTDIR/<script>.log (k6's output), prints one line per script and finally exactly
# `k6: N passed, M failed`. Exits non-zero if any run failed (k6 exits 99 when a threshold is
# crossed — e.g. a failed check — and 107 on a script error such as an unreachable gateway).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BASE_URL OUTDIR" >&2
  exit 2
fi
base_url=$1
outdir=$2
k6_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/k6" && pwd)
mkdir -p "$outdir"

# Small everything: 2 VUs for 3 s per scenario, tiny seeds, small n, 20 req/s on the ladder's
# one rate (tests/k6/README.md gives the whole run's length); each k6 run is additionally capped so a wedged stack cannot hang the script.
export BASE_URL=$base_url
export VUS=2 DURATION=3s SCENARIO_GAP=500ms
export SCALE_LEVELS=1,5 LEVEL_DURATION=2s LEVEL_GAP=500ms
export STEP_RATES=2,5 STEP_DURATION=2s STEP_MAX_VUS=5
export COMPUTE_ITER_N=100000 COMPUTE_REC_N=15
export SEED_CUSTOMERS=20 SEED_ORDERS=5
export READY_TIMEOUT_MS=5000 REQUEST_TIMEOUT=5s
# No phoning home (and no waiting on a network we may not have) at the end of each run.
export K6_NO_USAGE_REPORT=true
per_run_limit=45s

passed=0
failed=0
# floor-test reads what load-test created (the stack has no /hello: FLOOR_SCENARIOS=read).
export FLOOR_SCENARIOS=read FLOOR_IDS=20
export RATE=20 LADDER_IDS=20
for script in load-test cpu-bound-test scale-test step-load-test error-test ping-db-test floor-test ladder-test; do
  json="$outdir/$script.json"
  log="$outdir/$script.log"
  rm -f "$json"
  start=$SECONDS
  rc=0
  SUMMARY_JSON=$json timeout --kill-after=5s "$per_run_limit" \
    k6 run --quiet --no-color "$k6_dir/$script.js" >"$log" 2>&1 || rc=$?
  took=$((SECONDS - start))
  case $rc in
    0) why="" ;;
    99) why=" (thresholds crossed)" ;;
    107) why=" (script error, e.g. gateway unreachable)" ;;
    124 | 137) why=" (timed out after $per_run_limit)" ;;
    *) why="" ;;
  esac
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1))
    echo "PASS $script (${took}s) -> $json"
  else
    failed=$((failed + 1))
    echo "FAIL $script (${took}s, exit $rc$why) see $log"
  fi
done

echo "k6: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
