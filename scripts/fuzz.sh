#!/usr/bin/env bash
# Fuzzes crm-core's request parsing and validation with cargo-fuzz (libFuzzer), each target for
# a bounded time: no byte input may panic or break a contract invariant.
#
#   scripts/fuzz.sh                 # every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh parameters      # one target
#
# cargo-fuzz wants nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. Installs cargo-fuzz when missing. Prints the runs per target and a last line
# "fuzz: N passed, M failed"; a crash leaves its input under fuzz/artifacts/<target>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
# Its own target directory: sanitizer builds share nothing with the normal ones.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$ROOT/fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo install --quiet --locked cargo-fuzz
fi

cd "$ROOT/fuzz"
mapfile -t targets < <(if (($#)); then printf '%s\n' "$@"; else cargo fuzz list; fi)
passed=0 failed=0
for target in "${targets[@]}"; do
  log=$(mktemp)
  if cargo fuzz run --release "$target" -- -max_total_time="$SECONDS_PER_TARGET" >"$log" 2>&1; then
    runs=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1 | grep -oE '[0-9]+' || echo '?')
    echo "fuzz: $target ok, $runs runs in ${SECONDS_PER_TARGET}s"
    passed=$((passed + 1))
  else
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (input under fuzz/artifacts/$target/)"
    failed=$((failed + 1))
  fi
  rm -f "$log"
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
