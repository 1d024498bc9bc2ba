#!/usr/bin/env bash
# The test command: everything that can run on one machine without a cluster.
#
#   scripts/test.sh              # every stage
#   scripts/test.sh axum spin    # some stages (and the builds they need); --list names them
#   scripts/test.sh --preflight [STAGE...]   # only find or install their tools, then stop
#
# Installs what is missing (Debian packages, PyPI tools), finds or starts Postgres (see
# `crm-bench postgres`), then runs every stage below and exits non-zero if any failed:
# formatting and lints, unit and integration tests (real Postgres, a throwaway database per
# test), the contract suite against the Axum stack and against the Spin components on the real
# Spin CLI (3.5.1, found by scripts/lib/spin.sh) in both shapes users deploy, the k6 scripts in
# seconds-long runs against both, and the validation of everything that needs a cluster
# (manifests, scripts, compose, Dockerfile, OpenAPI).
set -euo pipefail

# shellcheck source=lib/procs.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/procs.sh"
# shellcheck source=lib/spin.sh
source "$CRM_ROOT/scripts/lib/spin.sh"
# shellcheck source=lib/tools.sh
source "$CRM_ROOT/scripts/lib/tools.sh"
# shellcheck source=lib/shim.sh
source "$CRM_ROOT/scripts/lib/shim.sh"
cd "$CRM_ROOT"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CRM_ROOT/target}
export CARGO_TERM_COLOR=never
CRM_RESULTS=${CRM_RESULTS:-$(mktemp -d /tmp/crm-test-results.XXXXXX)}
PASSED=()
FAILED=()

# stage NAME COMMAND... — runs one stage, records the outcome, never stops the run. (Inside a
# stage errexit is off, so stage functions chain their steps with && or return explicitly.)
stage() {
  local name=$1; shift
  crm_log "── $name"
  if "$@"; then
    PASSED+=("$name")
  else
    FAILED+=("$name")
    crm_log "FAILED: $name"
  fi
}

fmt_check() {
  cargo fmt --all --check && (cd spin-crm && cargo fmt --all --check) && (cd fuzz && cargo fmt --check)
}

# The fuzz workspace too: it calls crm-core's functions, so a changed signature shows here,
# at the start of a run, not in the fuzz stage at its end.
clippy_check() {
  cargo clippy --workspace --all-targets --locked -- -D warnings &&
    (cd spin-crm && cargo clippy --workspace --all-targets --locked -- -D warnings) &&
    (cd fuzz && cargo clippy --all-targets --locked -- -D warnings)
}

unit_and_integration_tests() {
  # sqlx::test creates (and drops) a database per test from this admin URL.
  # The contract and reliability suites need running binaries: they have stages of their own.
  DATABASE_URL=$CRM_PG_ADMIN_URL cargo test --workspace --locked \
    --exclude crm-contract-tests --exclude crm-reliability-tests &&
    (cd spin-crm && cargo test --locked -p spin-common)
}

build_native() {
  cargo build --locked -p axum-gateway -p axum-customer-service -p axum-order-service -p axum-floor &&
    cargo build --locked -p crm-bench &&
    cargo test --locked -p crm-contract-tests --no-run
}

# The stacks run under `crm-bench stack` (tools/crm-bench, on the harness in tools/harness): a
# fresh database on the Postgres above, the stack on free ports, the command with the CRM_* URLs
# in its environment, then everything stopped and the database dropped. Each check below gets
# a stack of its own, so each one is also what a person runs by hand.
on_stack() { # RUNTIME [crm-bench stack options] -- COMMAND...
  "$CARGO_TARGET_DIR/debug/crm-bench" stack "$@"
}

contract_gateway_selection() { # LABEL: the combined shape's contract run
  CRM_CONTRACT_REPORT_DIR="$CRM_RESULTS/contract-$1" on_stack spin --shape combined -- scripts/contract.sh gateway
}

# Schema-driven fuzzing (tests/fuzz/schemathesis.sh): schemathesis from docs/openapi.yaml with
# every check; about a minute per stack. Its JUnit report and log go to
# $CRM_RESULTS/schemathesis-<runtime>.
# (The single quotes are deliberate: the URL is the stack's, known only inside crm-bench stack.)
# shellcheck disable=SC2016
schemathesis_fuzz() { # RUNTIME
  CRM_FUZZ_REPORT_DIR="$CRM_RESULTS/schemathesis-$1" on_stack "$1" --no-faults -- \
    bash -c 'tests/fuzz/schemathesis.sh "$CRM_BASE_URL"'
}

# shellcheck disable=SC2016
k6_quick() { # RUNTIME
  on_stack "$1" --no-faults -- bash -c 'scripts/k6-quick.sh "$CRM_BASE_URL" "$0"' "$CRM_RESULTS/k6-$1"
}

# Both topologies (main and fault), every case of the contract suite; for Spin one `spin up`
# per service manifest, as Kubernetes runs them.
stack_stages() { # RUNTIME NAME
  stage "contract suite ($2)" on_stack "$1" -- scripts/contract.sh all
  stage "schemathesis ($2)" schemathesis_fuzz "$1"
  stage "k6 scripts ($2)" k6_quick "$1"
}

# ── Reliability (tests/reliability): no lost writes under load and across a Postgres restart
# and crash, upstream faults (killed, hung, slow), SIGTERM under load, open-loop overload at
# 1.5× and 3× capacity and a soak at half of it (both at CI length: CRM_OVERLOAD_SECS and
# CRM_SOAK_SECS lengthen them; about 2.5 minutes together); as root, SIGTERM to a task on the
# node runtime under load (node_shutdown, about 25 s); and the runtime floors
# (axum-floor from build_native, spin-floor from the wasm stage) serving customer-service's
# document. The crate starts the services itself (the Axum binaries, the Spin components under
# `spin up`) and its own throwaway Postgres clusters, never the one above; figures go to
# $CRM_RESULTS/reliability.json.
reliability_tests() {
  # As root, node_shutdown runs the Axum images: built here, before any test's time limit
  # starts, the same build (and cache entry) as the compose and node stages'.
  local images=
  if [ "$(id -u)" = 0 ]; then
    images=$(env "${CI_FAST_RELEASE[@]}" scripts/build-axum-images.sh) || return 1
  fi
  CRM_AXUM_BIN_DIR="$CARGO_TARGET_DIR/debug" CRM_SPIN_BIN="$CRM_SPIN" CRM_AXUM_IMAGES=$images \
    CRM_LOG_DIR="$CRM_LOG_DIR/reliability" CRM_RESULTS="$CRM_RESULTS" \
    cargo test --locked -p crm-reliability-tests -- --nocapture --test-threads 1
}

# The compose stage's static builds skip the release profile's thin LTO and single codegen
# unit: the same code at opt-level 3, compiled in about half the time; the users' Dockerfile
# keeps the profile as Cargo.toml sets it.
CI_FAST_RELEASE=(CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16)

compose_test() {
  env "${CI_FAST_RELEASE[@]}" CRM_RESULTS="$CRM_RESULTS" tests/compose/run.sh
}

# ── The node runtime (tools/harness/src/node): the cluster's node without the cluster, a private
# containerd 1.7 and a loopback registry; the Spin services under containerd-shim-spin from
# their `spin registry push` artifacts, the Axum services under runc from the compose stage's
# static scratch images (scripts/build-axum-images.sh: built once, shared, cached by source),
# k8s/'s resources as cgroup limits (read back). The contract suite's gateway selection runs
# against each stack (the gateway reaches the services over HTTP, as in Kubernetes); crm-bench
# fails when the teardown leaves a process, mount, cgroup, socket or image store. Root: as a
# user, crm-bench runs through sudo and the suite as the user (runuser).
node_runtime() {
  local images runtime as_user=() sudo=()
  images=$(env "${CI_FAST_RELEASE[@]}" scripts/build-axum-images.sh) || return 1
  if [ "$(id -u)" != 0 ]; then
    sudo=(sudo --preserve-env) as_user=(runuser -u "$(id -un)" --)
  fi
  for runtime in spin axum; do
    CRM_AXUM_IMAGES=$images CRM_CONTRACT_REPORT_DIR="$CRM_RESULTS/contract-node-$runtime" \
      "${sudo[@]}" env "PATH=$PATH" "$CARGO_TARGET_DIR/debug/crm-bench" stack "$runtime" --shape node -- \
      "${as_user[@]}" scripts/contract.sh gateway || return 1
  done
}

# The main job in its quick mode (scripts/bench-local.sh): every column (the Spin ones on
# `spin up`), the floors, the k6 suites in seconds, and a report that must name every stack.
# Its results stay under $CRM_RESULTS/bench-local. It checks the pipeline, not the stacks: to
# keep a cold CI run within its budget it measures the Axum binaries the native stage built
# (debug, --axum-bin-dir; the report's environment says so) rather than compiling the services
# a second time for release, and the Spin components the wasm stage built (release, as users
# run them). A user's run (bench-local.sh, quick or full) builds both sides for release.
# As root its container columns take the Axum images the reliability, compose and node stages
# share (the fast-release build, from the cache): without them the run would build the
# images a second time with the users' full profile.
bench_local_quick() {
  local out="$CRM_RESULTS/bench-local" images=${CRM_AXUM_IMAGES:-}
  if [ "$(id -u)" = 0 ] && [ -z "$images" ]; then
    images=$(env "${CI_FAST_RELEASE[@]}" scripts/build-axum-images.sh) || return 1
  fi
  # shellcheck disable=SC2016 # the backticks are the report's Markdown, not an expansion
  CRM_AXUM_IMAGES=$images CRM_BENCH_PROFILE=debug scripts/bench-local.sh --quick \
    --axum-bin-dir "$CARGO_TARGET_DIR/debug" --out "$out" &&
    grep -qF '| `axum` |' "$out/report.md" && grep -qF '| `spin` |' "$out/report.md" &&
    grep -qF '| `spin-combined` |' "$out/report.md" &&
    { [ "$(id -u)" != 0 ] || { grep -qF '| `axum-container` |' "$out/report.md" &&
      grep -qF '| `spin-shim` |' "$out/report.md" && [ -s "$out/containers.json" ]; }; } &&
    grep -qF '| axum | floor: `GET /customers/{id}`' "$out/report.md" &&
    grep -qF '| spin | through the gateway' "$out/report.md" &&
    [ -s "$out/summary.json" ] && ls "$out"/charts/*.svg >/dev/null
}

# ── Stage selection: scripts/test.sh [STAGE...] runs those (every stage by default); the builds
# a stage needs run first. --list prints them.
STAGES=(fmt clippy deny unit wasm native axum spin spin-combined compose node reliability bench fuzz openapi validate)
declare -A ABOUT=(
  [fmt]="cargo fmt --check (the three workspaces)"
  [clippy]="cargo clippy -D warnings (the three workspaces)"
  [deny]="cargo-deny: advisories, licences, bans, sources (the three workspaces; scripts/deny.sh)"
  [unit]="unit and integration tests (real Postgres, a database per test)"
  [wasm]="the Spin components for wasm32-wasip1 (scripts/build-wasm.sh)"
  [native]="the Axum services and floor, crm-bench and the contract suite (debug)"
  [axum]="Axum stack: contract suite (all cases), schemathesis, k6 scripts"
  [spin]="Spin stack, per-service manifests on spin up: contract suite (all cases), schemathesis, k6 scripts"
  [spin-combined]="Spin stack, combined manifest on one spin up: the contract suite's gateway selection"
  [compose]="docker compose: the users' compose file built and run, gateway selection, restart, teardown"
  [node]="node runtime: private containerd 1.7, Spin under containerd-shim-spin, Axum under runc, cgroup limits; gateway selection on both, teardown (root)"
  [reliability]="reliability suite on both stacks: lost writes, Postgres restart/crash, upstream faults, SIGTERM (processes and, as root, node tasks), overload, soak"
  [bench]="the main job's quick mode (scripts/bench-local.sh --quick) and its report"
  [fuzz]="cargo-fuzz on crm-core (scripts/fuzz.sh)"
  [openapi]="the OpenAPI document (docs/check-openapi.sh)"
  [validate]="cluster manifests, scripts, compose, Dockerfile, shell tests (scripts/validate.sh)"
)
declare -A NEEDS=([axum]="native" [spin]="wasm native" [spin-combined]="wasm native"
  [compose]="native" [node]="wasm native" [reliability]="wasm native" [bench]="wasm native")
# The tools each stage calls (scripts/lib/tools.sh's table), found or installed before any
# stage runs. Postgres and the Spin CLI are the preflight's own (below).
declare -A TOOLS=(
  [fmt]="cargo rustfmt" [clippy]="cargo clippy" [deny]="cargo cargo-deny" [unit]="cargo" [wasm]="wasm-toolchain wasm-opt"
  [native]="cargo" [axum]="curl k6 schemathesis" [spin]="curl k6 schemathesis"
  [spin-combined]="curl" [compose]="docker docker-compose mmdebstrap musl-toolchain curl python3"
  [node]="docker musl-toolchain containerd-private docker-registry runc curl"
  [reliability]="postgres-server" [bench]="k6 postgres-server" [fuzz]="cargo-fuzz"
  [openapi]="openapi-spec-validator schemathesis"
  [validate]="python3 shellcheck kubernetes-validate yamllint hadolint docker-compose"
)
# The reliability suite's node_shutdown test (SIGTERM to a task on the node runtime) runs as
# root only (it says SKIPPED otherwise), and then needs the node stage's tools.
[ "$(id -u)" = 0 ] && TOOLS[reliability]+=" docker musl-toolchain containerd-private docker-registry runc"
# As root the main job's quick run measures the container shape too (axum-container, spin-shim
# on the node runtime), with the node stage's tools.
[ "$(id -u)" = 0 ] && TOOLS[bench]+=" docker musl-toolchain containerd-private docker-registry runc"

if [ "${1:-}" = --list ]; then
  for name in "${STAGES[@]}"; do printf '%-14s %s\n' "$name" "${ABOUT[$name]}"; done
  exit 0
fi
preflight_only=
if [ "${1:-}" = --preflight ]; then preflight_only=1; shift; fi
declare -A WANT=()
if (($#)); then
  for name in "$@"; do
    [ -n "${ABOUT[$name]:-}" ] || crm_die "unknown stage $name (scripts/test.sh --list)"
    WANT[$name]=1
    for need in ${NEEDS[$name]:-}; do WANT[$need]=1; done
  done
else
  for name in "${STAGES[@]}"; do WANT[$name]=1; done
fi
wanted() { [ -n "${WANT[$1]:-}" ]; }
failed() { [[ " ${FAILED[*]} " == *" $1 "* ]]; }

# ── Preflight: every tool the selected stages call, found or installed now (Debian packages as
# root or through sudo, asked once; PyPI tools into pinned venvs), or the run stops here naming
# everything missing. No stage skips for want of a tool. Runs once: the nested run inside
# `crm-bench postgres` (below) finds CRM_PREFLIGHT_DONE set.
preflight() {
  local needed=() name tools
  for name in "${STAGES[@]}"; do
    if wanted "$name"; then read -ra tools <<<"${TOOLS[$name]:-}"; needed+=("${tools[@]}"); fi
  done
  # Postgres: the harness takes CRM_PG_ADMIN_URL or DATABASE_URL, else one on 127.0.0.1:5432,
  # else starts a throwaway cluster from the server binaries.
  if crm_postgres_needs_server; then needed+=(postgres-server); fi
  mapfile -t needed < <(printf '%s\n' "${needed[@]}" | sort -u)
  crm_log "preflight: ${needed[*]}"
  crm_tools_ensure "${needed[@]}" || crm_die "preflight: the tools above are missing; no stage was run"
  crm_spin_ensure || crm_die "preflight: no usable Spin CLI (see above); no stage was run"
  if wanted node || { wanted bench && [ "$(id -u)" = 0 ]; }; then
    crm_shim_ensure || crm_die "preflight: no containerd-shim-spin (see above); no stage was run"
    [ "$(id -u)" = 0 ] || _crm_sudo_ready ||
      crm_die "preflight: the node stage runs a private containerd, which needs root: run as root or as a user with sudo; no stage was run"
  fi
  export CRM_PREFLIGHT_DONE=1
}
[ -n "${CRM_PREFLIGHT_DONE:-}" ] || preflight
if [ -n "$preflight_only" ]; then crm_log "preflight: every tool is here"; exit 0; fi
# Postgres for every stage, found or started once by the harness (tools/harness/src/pg.rs):
# DATABASE_URL, else 127.0.0.1:5432, else a throwaway cluster (Debian's server installed when
# missing), stopped and deleted when the script ends: the script runs again inside it.
if [ -z "${CRM_PG_ADMIN_URL:-}" ]; then
  crm_log "building crm-bench, which starts Postgres and the stacks"
  cargo build --locked --quiet -p crm-bench || crm_die "cannot build crm-bench"
  exec "$CARGO_TARGET_DIR/debug/crm-bench" postgres -- "$CRM_ROOT/scripts/test.sh" "$@"
fi
crm_spin_ensure || crm_die "no usable Spin CLI (see above)"
spin_version=$("$CRM_SPIN" --version | cut -d' ' -f1,2)
crm_log "Spin: $CRM_SPIN ($spin_version)"

wanted fmt && stage "cargo fmt --check" fmt_check
wanted clippy && stage "cargo clippy -D warnings" clippy_check
wanted deny && stage "cargo-deny (scripts/deny.sh)" scripts/deny.sh
wanted unit && stage "unit and integration tests" unit_and_integration_tests
wanted wasm && stage "wasm components (scripts/build-wasm.sh)" scripts/build-wasm.sh
wanted native && stage "native build" build_native
if failed "native build"; then
  crm_log "skipping the stacks: the native build failed"
else
  wanted axum && stack_stages axum axum
  if failed "wasm components (scripts/build-wasm.sh)"; then
    FAILED+=("spin stacks (not run: no components)")
  else
    wanted spin && stack_stages spin "$spin_version, per-service manifests"
    # The Spin stack as `spin up` in spin-crm/ runs it: one application, the services private
    # and chained in-process; the contract suite's gateway selection.
    wanted spin-combined && stage "contract suite, gateway selection ($spin_version, combined manifest)" \
      contract_gateway_selection spin-combined
    wanted reliability &&
      stage "reliability: writes, Postgres restart, upstream faults, SIGTERM, overload, soak (axum, $spin_version)" reliability_tests
  fi
  wanted compose && stage "docker compose (users' compose file)" compose_test
  wanted node && stage "node runtime: gateway selection, Spin under containerd-shim-spin $CRM_SHIM_VERSION and Axum under runc" node_runtime
fi
wanted bench && stage "main job: scripts/bench-local.sh --quick (axum, $spin_version)" bench_local_quick
wanted fuzz && stage "fuzzing crm-core (scripts/fuzz.sh)" scripts/fuzz.sh
wanted openapi && stage "OpenAPI document" docs/check-openapi.sh
wanted validate && stage "cluster manifests and scripts (scripts/validate.sh)" scripts/validate.sh

echo
for name in "${PASSED[@]}"; do echo "PASS  $name"; done
for name in "${FAILED[@]}"; do echo "FAIL  $name"; done
echo "test.sh: ${#PASSED[@]} passed, ${#FAILED[@]} failed"
[ "${#FAILED[@]}" -eq 0 ]
