#!/usr/bin/env bash
# Supply-chain checks with cargo-deny over the three cargo workspaces (the root, spin-crm/,
# fuzz/) against deny.toml: advisories (vulnerable, unsound, yanked or unmaintained crates),
# licences, bans and sources. Prints each workspace's verdict and the advisory database's date.
#
#   scripts/deny.sh
#
# The advisory database: cargo-deny fetches RustSec's live one, unless CRM_ADVISORY_DB_BUNDLE
# names a git bundle of it (a dated snapshot, for machines that cannot reach GitHub; CI's
# .ci/run sets it), which is cloned under ~/.cache/crm and read offline. Either way the date of
# the database used is printed. cargo-deny itself comes from the tool table
# (scripts/lib/tools.sh: `cargo install --locked cargo-deny` when it is not on PATH).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/tools.sh
source "$root/scripts/lib/tools.sh"
crm_tools_ensure cargo cargo-deny || exit 1

log() { printf 'deny: %s\n' "$*" >&2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
config="$root/deny.toml"
offline=()
if [[ -n "${CRM_ADVISORY_DB_BUNDLE:-}" ]]; then
  bundle=$(realpath "$CRM_ADVISORY_DB_BUNDLE")
  key=$(sha256sum "$bundle" | cut -c1-16)
  db="$HOME/.cache/crm/advisory-db/$key"
  # cargo-deny reads db-path/<name derived from the default database URL>.
  clone="$db/advisory-db-3157b0e258782691"
  if [[ ! -d "$clone/.git" ]]; then
    rm -rf "$db"
    mkdir -p "$db"
    git -c init.defaultBranch=main clone -q "$bundle" "$clone"
  fi
  date=$(git -C "$clone" log -1 --format=%cs)
  log "advisory database: the snapshot of $date ($bundle), read offline"
  config="$tmp/deny.toml"
  sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$db\"|" "$root/deny.toml" >"$config"
  offline=(--offline)
else
  log "advisory database: RustSec's live one, fetched by cargo-deny"
fi

passed=0 failed=0
for ws in . spin-crm fuzz; do
  manifest="$root/$ws/Cargo.toml"
  # Offline, cargo metadata needs every crate of the lock file in the local cache first.
  cargo fetch --quiet --locked --manifest-path "$manifest"
  # One policy for three workspaces: an exception another workspace needs is not a finding here.
  if cargo-deny --manifest-path "$manifest" --config "$config" "${offline[@]}" --locked \
    check -A license-not-encountered -A license-exception-not-encountered \
    -A advisory-not-detected >"$tmp/out" 2>&1; then
    log "$ws: $(grep -E '^advisories ' "$tmp/out" || echo ok)"
    passed=$((passed + 1))
  else
    cat "$tmp/out" >&2
    log "$ws: FAILED (above)"
    failed=$((failed + 1))
  fi
done
if ((${#offline[@]} == 0)); then
  live="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/advisory-db-3157b0e258782691"
  log "advisory database as fetched: $(git -C "$live" log -1 --format=%cs 2>/dev/null || echo 'date unknown')"
fi
echo "deny: $passed passed, $failed failed"
((failed == 0))
