#!/usr/bin/env bash
# Runs the contract suite (tests/contract) against a stack that is already up.
#
#   scripts/contract.sh all       # every case: needs every CRM_* URL (tests/contract/README.md)
#   scripts/contract.sh gateway   # the gateway selection: needs only CRM_BASE_URL and CRM_RUNTIME
#
# The gateway selection is for stacks whose data services cannot be reached from outside: the
# combined Spin manifest (services private, chained as *.spin.internal) and docker compose. It is
# a list of test targets: every one but those below, which need more than a gateway — the cases
# that call a data service directly (tests/data_services.rs) and the fault topology
# (tests/faults.rs). It says how many cases it ran (cargo's own list of the targets) and how many
# it left out; the names go to $CRM_CONTRACT_REPORT_DIR (default a temp dir). A case that needs
# more than the gateway but sits in a gateway target fails loudly: the URL it needs is unset.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
selection=${1:-all}
shift || true
report_dir=${CRM_CONTRACT_REPORT_DIR:-$(mktemp -d /tmp/crm-contract.XXXXXX)}
mkdir -p "$report_dir"
cargo=(cargo test --locked --manifest-path "$ROOT/Cargo.toml" -p crm-contract-tests)
# The test targets (tests/contract/tests/<name>.rs) a stack that shows only its gateway cannot run.
NEEDS_MORE_THAN_A_GATEWAY=(data_services faults)

case "$selection" in
  all)
    exec "${cargo[@]}" --no-fail-fast -- --test-threads 8 "$@"
    ;;
  gateway)
    selected=() left_out=() filters=("$@")
    for file in "$ROOT"/tests/contract/tests/*.rs; do
      name=$(basename "$file" .rs)
      case " ${NEEDS_MORE_THAN_A_GATEWAY[*]} " in
        *" $name "*) left_out+=(--test "$name") ;;
        *) selected+=(--test "$name") ;;
      esac
    done
    # The cases of some targets, as cargo lists them (the library's unit tests are not HTTP
    # cases: they run in `all` only).
    list() { "${cargo[@]}" "$@" --list --format terse 2>/dev/null | sed -n 's/: test$//p' | sort; }
    list "${selected[@]}" -- "${filters[@]}" >"$report_dir/selected.txt"
    list "${left_out[@]}" -- >"$report_dir/left-out.txt"
    rc=0
    "${cargo[@]}" --no-fail-fast "${selected[@]}" -- --test-threads 8 "${filters[@]}" 2>&1 | tee "$report_dir/run.log" || rc=$?
    outcome="all passed"
    [ "$rc" -eq 0 ] || outcome="some failed: see the failures above"
    echo "contract suite, gateway selection (CRM_RUNTIME=${CRM_RUNTIME:-?}): ran" \
      "$(wc -l <"$report_dir/selected.txt") cases ($outcome), left out" \
      "$(wc -l <"$report_dir/left-out.txt") that need a data service directly or the fault topology" \
      "(targets ${NEEDS_MORE_THAN_A_GATEWAY[*]}; lists: $report_dir)"
    exit "$rc"
    ;;
  *)
    echo "usage: scripts/contract.sh all|gateway [libtest args...]" >&2
    exit 2
    ;;
esac
