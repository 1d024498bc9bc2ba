#!/usr/bin/env bash
# The main job: the side-by-side benchmark on this machine, no cluster. Builds crm-bench and
# runs `crm-bench run` (tools/crm-bench/src/run/), which does the rest: finds or starts
# Postgres, builds both stacks, measures each one after the other (cold starts, memory, the k6
# suites, sizes) on the real runtimes, and writes results/<UTC timestamp>/report.md.
#
#   scripts/bench-local.sh [--quick] [--stacks axum,spin,spin-combined] [--out DIR] [--no-build]
#
# `scripts/bench-local.sh --help` lists every setting with its default (each also read from an
# environment variable: VUS, DURATION, COLD_RUNS, ...). Method and caveats: docs/benchmark.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
command -v cargo >/dev/null || { echo "bench-local.sh: cargo not found: install Rust (https://rustup.rs)" >&2; exit 1; }
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
