# shellcheck shell=bash
# Sourced by tests/shell/run.sh (expect, TMP, CRM_ROOT): scripts/lib/spin.sh, with stand-in
# spins and a release served from a local directory.

# A PATH without any spin on it, so the machine's own spin cannot decide the outcome.
spinless_path() {
  local dir out=""
  local IFS=:
  for dir in $PATH; do
    [[ -n "$dir" && ! -x "$dir/spin" ]] && out="${out:+$out:}$dir"
  done
  printf '%s\n' "$out"
}
NOSPIN_PATH="$(spinless_path)"

# fake_spin DIR VERSION: a `spin` in DIR reporting VERSION the way the real one does.
fake_spin() {
  mkdir -p "$1"
  # shellcheck disable=SC2016 # $1 belongs to the stand-in script
  printf '#!/bin/sh\n[ "$1" = --version ] && echo "spin %s (abc1234 2025-01-01)"\n' "$2" >"$1/spin"
  chmod +x "$1/spin"
}

# resolve [VAR=VALUE...]: run the resolver as a command; "rc|stdout", stderr to $TMP/spin.err.
resolve() {
  local out rc=0
  out="$(env HOME="$TMP/home" PATH="$NOSPIN_PATH" CRM_SPIN_RELEASE_BASE="file://$TMP/no-release" \
    "$@" "$CRM_ROOT/scripts/lib/spin.sh" 2>"$TMP/spin.err")" || rc=$?
  printf '%s|%s\n' "$rc" "$out"
}

fake_spin "$TMP/spin-good" 3.5.1
fake_spin "$TMP/spin-old" 3.4.0
fake_spin "$TMP/spin-path" 3.5.1

expect "spin resolver: SPIN_BIN wins over PATH" "0|$TMP/spin-good/spin" \
  "$(resolve PATH="$TMP/spin-path:$NOSPIN_PATH" SPIN_BIN="$TMP/spin-good/spin")"
expect "spin resolver: SPIN_BIN of another version is refused" "1|" \
  "$(resolve PATH="$TMP/spin-path:$NOSPIN_PATH" SPIN_BIN="$TMP/spin-old/spin")"
expect "spin resolver: the refusal names the version and the path" yes \
  "$(grep -q "SPIN_BIN=$TMP/spin-old/spin is spin 3.4.0" "$TMP/spin.err" && echo yes || echo no)"
expect "spin resolver: spin on PATH" "0|$TMP/spin-path/spin" "$(resolve PATH="$TMP/spin-path:$NOSPIN_PATH")"
expect "spin resolver: another version on PATH, nothing to download: an error" "1|" \
  "$(resolve PATH="$TMP/spin-old:$NOSPIN_PATH")"
expect "spin resolver: ... naming the version and path it passed over" yes \
  "$(grep -q "spin 3.4.0 at $TMP/spin-old/spin" "$TMP/spin.err" && echo yes || echo no)"

# No spin anywhere and the release out of reach (a closed local port): an error saying how.
expect "spin resolver: no spin, no network: status 1, nothing on stdout" "1|" \
  "$(resolve CRM_SPIN_RELEASE_BASE=http://127.0.0.1:9/none)"
expect "spin resolver: ... and the error says how to get it" yes \
  "$(grep -q 'devbox shell' "$TMP/spin.err" && grep -q 'https://spinframework.dev/install' "$TMP/spin.err" && echo yes || echo no)"

# A release laid out as Spin's workflow publishes it: the archive and checksums-v<ver>.txt.
case "$(uname -s)" in Darwin) rel_os=macos ;; *) rel_os=linux ;; esac
case "$(uname -m)" in arm64 | aarch64) rel_arch=aarch64 ;; *) rel_arch=amd64 ;; esac
REL="$TMP/release"
mkdir -p "$REL/pkg"
fake_spin "$REL/pkg" 3.5.1
: >"$REL/pkg/README.md"
tar -czf "$REL/spin-v3.5.1-$rel_os-$rel_arch.tar.gz" -C "$REL/pkg" spin README.md
(cd "$REL" && for f in spin-v3.5.1-*.tar.gz; do printf '%s  %s\n' "$(_crm_sha256 "$f")" "$f"; done) >"$REL/checksums-v3.5.1.txt"
CACHED="$TMP/home/.cache/crm/spin-3.5.1/spin"
expect "spin resolver: downloads the release into the cache" "0|$CACHED" \
  "$(resolve CRM_SPIN_RELEASE_BASE="file://$REL")"
expect "spin resolver: the cached binary runs" "spin 3.5.1 (abc1234 2025-01-01)" "$("$CACHED" --version)"
expect "spin resolver: the cache is reused without the network" "0|$CACHED" \
  "$(resolve CRM_SPIN_RELEASE_BASE=http://127.0.0.1:9/none)"
expect "spin resolver: sourced, crm_spin_resolve prints the same path" "$CACHED" \
  "$(HOME="$TMP/home" PATH="$NOSPIN_PATH" bash -c 'source "$1" && crm_spin_resolve' _ "$CRM_ROOT/scripts/lib/spin.sh" 2>/dev/null)"

rm -rf "${TMP:?}/home"
cp "$REL/checksums-v3.5.1.txt" "$REL/good-sums"
sed -E 's/^[0-9a-f]{8}/00000000/' "$REL/good-sums" >"$REL/checksums-v3.5.1.txt"
expect "spin resolver: a checksum mismatch is refused and nothing is installed" "1| no" \
  "$(resolve CRM_SPIN_RELEASE_BASE="file://$REL") $([[ -e "$CACHED" ]] && echo yes || echo no)"
expect "spin resolver: ... with a message saying so" yes \
  "$(grep -q 'checksum mismatch' "$TMP/spin.err" && echo yes || echo no)"
mv "$REL/good-sums" "$REL/checksums-v3.5.1.txt"
rm -rf "${TMP:?}/home"
