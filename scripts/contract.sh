#!/usr/bin/env bash
# Runs the contract suite (tests/contract) against a stack that is already up.
#
#   scripts/contract.sh all       # every case: needs every CRM_* URL (tests/contract/README.md)
#   scripts/contract.sh gateway   # the gateway selection: needs only CRM_BASE_URL and CRM_RUNTIME
#
# The gateway selection is for stacks whose data services cannot be reached from outside: the
# combined Spin manifest (services private, chained as *.spin.internal) and docker compose. It
# leaves out, by name, every case that calls a data service directly (its name contains
# `customer_service` or `order_service`) and the fault topology (tests/faults.rs), and says how
# many it ran and how many it left out; the names left out go to $CRM_CONTRACT_REPORT_DIR (default
# a temp dir). A case that needs more than the gateway but is not named so fails loudly: the URL
# it needs is unset.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
selection=${1:-all}
shift || true
report_dir=${CRM_CONTRACT_REPORT_DIR:-$(mktemp -d /tmp/crm-contract.XXXXXX)}
mkdir -p "$report_dir"
cargo=(cargo test --locked --manifest-path "$ROOT/Cargo.toml" -p crm-contract-tests)

case "$selection" in
  all)
    exec "${cargo[@]}" --no-fail-fast -- --test-threads 8 "$@"
    ;;
  gateway)
    targets=()
    for file in "$ROOT"/tests/contract/tests/*.rs; do
      name=$(basename "$file" .rs)
      [ "$name" = faults ] || targets+=(--test "$name")
    done
    skips=(--skip customer_service --skip order_service)
    # Every case, then the selection: the difference is what was left out.
    "${cargo[@]}" --test '*' -- --list --format terse 2>/dev/null | sed -n 's/: test$//p' | sort >"$report_dir/all.txt"
    "${cargo[@]}" "${targets[@]}" -- --list --format terse "${skips[@]}" 2>/dev/null |
      sed -n 's/: test$//p' | sort >"$report_dir/selected.txt"
    comm -23 "$report_dir/all.txt" "$report_dir/selected.txt" >"$report_dir/left-out.txt"
    # The library's own unit tests are not HTTP cases: they run in `all` only.
    log="$report_dir/run.log"
    rc=0
    "${cargo[@]}" --no-fail-fast "${targets[@]}" -- --test-threads 8 "${skips[@]}" "$@" 2>&1 | tee "$log" || rc=$?
    passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^passed/) n += $i } END { print n + 0 }' "$log")
    failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ /^failed/) n += $i } END { print n + 0 }' "$log")
    echo "contract suite, gateway selection (CRM_RUNTIME=${CRM_RUNTIME:-?}): ran $((passed + failed)) cases" \
      "($passed passed, $failed failed), left out $(wc -l <"$report_dir/left-out.txt") of" \
      "$(wc -l <"$report_dir/all.txt") that need a data service directly or the fault topology" \
      "(list: $report_dir/left-out.txt)"
    exit "$rc"
    ;;
  *)
    echo "usage: scripts/contract.sh all|gateway [libtest args...]" >&2
    exit 2
    ;;
esac
