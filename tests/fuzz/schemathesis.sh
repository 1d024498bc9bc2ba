#!/usr/bin/env bash
# Schema-driven fuzzing of a running stack: schemathesis (PyPI, pinned in scripts/lib/tools.sh,
# installed into its venv when missing) generates requests
# from docs/openapi.yaml and runs *every* check it has on each answer (no 5xx, status codes and
# response schemas as documented, content-type, required headers, 405 `allow`, schema-valid data
# accepted and invalid data refused, stateful links…), in all four phases (examples, coverage,
# fuzzing, stateful).
#
#   tests/fuzz/schemathesis.sh BASE_URL        e.g. http://127.0.0.1:18000 (a gateway)
#
# Prints the number of test cases run and a last line `schemathesis: PASS|FAIL (...)`; exits
# non-zero on any finding. Known false positives of the tool are dropped, one by one and with
# the reason, in tests/fuzz/hooks.py; everything else is a bug to fix (or a wrong line in the
# OpenAPI document) plus a regression case in tests/contract.
#
# Environment:
#   CRM_FUZZ_EXAMPLES   fuzzing-phase examples per operation (default 100): bounds the run
#   CRM_FUZZ_SEED       the generation seed (default fixed, so CI is repeatable; `random` for a
#                       fresh one, which schemathesis prints for replaying)
#   CRM_FUZZ_WORKERS    concurrent workers (default 1: with 2, CPython 3.11's AST constructor
#                       raised a spurious "AST constructor recursion depth mismatch" SystemError
#                       in one CI run, a race under threads, CPython gh-106905; one worker
#                       costs seconds and takes the race away)
#   CRM_FUZZ_REPORT_DIR where the JUnit report goes (default: a temporary directory)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

base_url=${1:-}
if [ -z "$base_url" ]; then
  echo "usage: $0 BASE_URL" >&2
  exit 2
fi
base_url=${base_url%/}

log() { printf 'schemathesis.sh: %s\n' "$*" >&2; }

# shellcheck source=../../scripts/lib/tools.sh
source "$root/scripts/lib/tools.sh"
crm_tools_ensure schemathesis || exit 1
# schemathesis's own interpreter: its venv's python, beside the command.
python="$(dirname "$(crm_tool_path schemathesis)")/python"
version=$("$python" -c 'import schemathesis; print(schemathesis.__version__)')
report_dir=${CRM_FUZZ_REPORT_DIR:-$(mktemp -d /tmp/crm-schemathesis.XXXXXX)}
mkdir -p "$report_dir"
output="$report_dir/schemathesis.log"
seed_args=(--seed "${CRM_FUZZ_SEED:-20261121}")
if [ "${CRM_FUZZ_SEED:-}" = random ]; then seed_args=(); fi

log "fuzzing $base_url from docs/openapi.yaml (schemathesis $version, log: $output)"
status=0
# --request-timeout: /compute?algo=recursive&n=40 is seconds of CPU in a debug build; a hang is
# still caught (it fails as a network error). Responses are never truncated in the report.
CRM_FUZZ_BASE_URL=$base_url SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" \
  "$python" -m schemathesis.cli run "$root/docs/openapi.yaml" \
  --url "$base_url" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${CRM_FUZZ_EXAMPLES:-100}" \
  "${seed_args[@]}" \
  --workers "${CRM_FUZZ_WORKERS:-1}" \
  --request-timeout 60 \
  --generation-database none \
  --suppress-health-check too_slow,filter_too_much \
  --no-color \
  --output-truncate false \
  --report junit --report-dir "$report_dir" \
  >"$output" 2>&1 || status=$?

# The summary's "Test cases: N generated, ..." line; the whole log on failure.
cases=$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$output" | tail -n 1)
if [ "$status" -ne 0 ]; then
  cat "$output"
else
  sed -n '/^=* SUMMARY =*$/,$p' "$output"
fi
echo "schemathesis: ${cases:-0} test cases against $base_url"
if [ "$status" -eq 0 ] && [ -n "$cases" ] && [ "$cases" -gt 0 ]; then
  echo "schemathesis: PASS (${cases} cases, 0 failures)"
else
  echo "schemathesis: FAIL (exit $status, ${cases:-0} cases; details above and in $output)"
  exit 1
fi
