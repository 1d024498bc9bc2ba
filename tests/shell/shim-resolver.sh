# shellcheck shell=bash
# Sourced by tests/shell/run.sh after spin-resolver.sh (expect, TMP, CRM_ROOT, _crm_sha256):
# scripts/lib/shim.sh's download, a release served from a local directory and checked against
# the sha256 given in CRM_SHIM_SHA256 (the release publishes no checksums file).

# A PATH without any containerd-shim-spin-v2, so the machine's own shim cannot decide the outcome.
NOSHIM_PATH="$(
  IFS=:
  out=""
  for dir in $PATH; do
    [[ -n "$dir" && ! -x "$dir/containerd-shim-spin-v2" ]] && out="${out:+$out:}$dir"
  done
  printf '%s\n' "$out"
)"

# resolve_shim [VAR=VALUE...]: the resolver run by bash (the file is not executable); "rc|stdout",
# stderr to $TMP/shim.err.
resolve_shim() {
  local out rc=0
  out="$(env HOME="$TMP/shim-home" PATH="$NOSHIM_PATH" CRM_SHIM_BIN= "$@" \
    bash "$CRM_ROOT/scripts/lib/shim.sh" 2>"$TMP/shim.err")" || rc=$?
  printf '%s|%s\n' "$rc" "$out"
}

case "$(uname -m)" in arm64 | aarch64) shim_arch=aarch64 ;; *) shim_arch=x86_64 ;; esac
SHIM_REL="$TMP/shim-release"
mkdir -p "$SHIM_REL/pkg"
printf '#!/bin/sh\necho "containerd-shim-spin-v2:"; echo "  Version: 0.22.0"\n' >"$SHIM_REL/pkg/containerd-shim-spin-v2"
chmod +x "$SHIM_REL/pkg/containerd-shim-spin-v2"
tar -czf "$SHIM_REL/containerd-shim-spin-v2-linux-$shim_arch.tar.gz" -C "$SHIM_REL/pkg" containerd-shim-spin-v2
SHIM_SHA="$(_crm_sha256 "$SHIM_REL/containerd-shim-spin-v2-linux-$shim_arch.tar.gz")"
SHIM_CACHED="$TMP/shim-home/.cache/crm/containerd-shim-spin-0.22.0/containerd-shim-spin-v2"

expect "shim resolver: nothing pinned, no CRM_SHIM_SHA256: an error, no download" "1| no" \
  "$(resolve_shim CRM_SHIM_RELEASE_BASE="file://$SHIM_REL") $([[ -e "$SHIM_CACHED" ]] && echo yes || echo no)"
expect "shim resolver: a checksum mismatch is refused and nothing is installed" "1| no" \
  "$(resolve_shim CRM_SHIM_RELEASE_BASE="file://$SHIM_REL" CRM_SHIM_SHA256=0000) $([[ -e "$SHIM_CACHED" ]] && echo yes || echo no)"
expect "shim resolver: ... with a message saying so" yes \
  "$(grep -q "checksum mismatch for containerd-shim-spin-v2-linux-$shim_arch.tar.gz: want 0000" "$TMP/shim.err" && echo yes || echo no)"
expect "shim resolver: downloads the release into the cache" "0|$SHIM_CACHED" \
  "$(resolve_shim CRM_SHIM_RELEASE_BASE="file://$SHIM_REL" CRM_SHIM_SHA256="$SHIM_SHA")"
expect "shim resolver: the cache is reused without the network" "0|$SHIM_CACHED" \
  "$(resolve_shim CRM_SHIM_RELEASE_BASE=http://127.0.0.1:9/none)"
rm -rf "${TMP:?}/shim-home"
