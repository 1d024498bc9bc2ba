#!/usr/bin/env bash
# Fails unless axum-crm/Dockerfile.prebuilt (CI's packaging of host-built binaries) ends with
# the same final stage as axum-crm/Dockerfile (what users build), instruction for instruction:
# everything after the "# ==== The users' final stage." marker, comments and blank lines aside,
# continuation lines joined and spaces squeezed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

final_stage() {
  awk '
    /^# ==== The users'"'"' final stage\./ { found = 1; next }
    !found { next }
    /^[[:space:]]*#/ || /^[[:space:]]*$/ { next }
    { line = line $0 }
    /\\$/ { sub(/\\$/, " ", line); next }
    { gsub(/[[:space:]]+/, " ", line); print line; line = "" }
    END { if (!found) exit 3 }
  ' "$1" || { echo "dockerfile-parity: no final-stage marker in $1" >&2; return 1; }
}

users=$(final_stage axum-crm/Dockerfile)
ci=$(final_stage axum-crm/Dockerfile.prebuilt)
if [[ "$users" != "$ci" ]]; then
  echo "dockerfile-parity: the final stages differ (< axum-crm/Dockerfile, > axum-crm/Dockerfile.prebuilt):" >&2
  diff <(printf '%s\n' "$users") <(printf '%s\n' "$ci") >&2 || true
  exit 1
fi
echo "dockerfile-parity: same final stage, $(printf '%s\n' "$users" | wc -l) instructions"
