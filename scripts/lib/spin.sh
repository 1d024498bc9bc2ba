#!/usr/bin/env bash
# shellcheck shell=bash
# The project's one way to find the Spin CLI. Source it and call crm_spin_resolve, or run it
# (SPIN=$(scripts/lib/spin.sh)). Prints the absolute path of a spin that reports exactly
# CRM_SPIN_VERSION, trying in turn:
#   1. $SPIN_BIN (refused, not skipped, when it is another version: the user asked for it);
#   2. `spin` on PATH (another version is named on stderr and passed over);
#   3. $HOME/.cache/crm/spin-<version>/spin, downloaded on first use from Spin's GitHub release
#      (base URL: $CRM_SPIN_RELEASE_BASE) and checked against the release's checksums file.
# Otherwise an error on stderr saying how to get it, and status 1. Never exits the caller.

# The version: versions.env's SPIN_CLI_VERSION (the project's pins file, at the root).
# shellcheck source=../../versions.env
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/versions.env"
CRM_SPIN_VERSION="$SPIN_CLI_VERSION"

# _crm_spin_version PATH: the version PATH reports ("spin 3.5.1 (...)" -> 3.5.1), or nothing.
_crm_spin_version() {
  "$1" --version 2>/dev/null | awk 'NR == 1 && $1 == "spin" {print $2}'
}

# _crm_spin_abs PATH: PATH made absolute (the directory resolved, the file name kept).
_crm_spin_abs() {
  printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"
}

_crm_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  else
    shasum -a 256 "$1" | awk '{print $1}' # macOS
  fi
}

# _crm_spin_download DEST_DIR: fetch, verify and unpack the release into DEST_DIR/spin.
_crm_spin_download() {
  local dest="$1" os arch base asset sums tmp want got
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=macos ;;
    *) echo "spin: Spin publishes no release for $(uname -s)" >&2; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    arm64 | aarch64) arch=aarch64 ;;
    *) echo "spin: Spin publishes no release for $(uname -m)" >&2; return 1 ;;
  esac
  base="${CRM_SPIN_RELEASE_BASE:-https://github.com/spinframework/spin/releases/download/v$CRM_SPIN_VERSION}"
  asset="spin-v$CRM_SPIN_VERSION-$os-$arch.tar.gz"
  # The name Spin's release workflow gives the sha256sum of all its archives.
  sums="checksums-v$CRM_SPIN_VERSION.txt"
  mkdir -p "$dest" || return 1
  tmp="$(mktemp -d "$dest/.download.XXXXXX")" || return 1
  echo "spin: downloading $asset from $base" >&2
  if ! curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o "$tmp/$asset" "$base/$asset" ||
    ! curl -fsSL --retry 2 --connect-timeout 10 --max-time 60 -o "$tmp/$sums" "$base/$sums"; then
    echo "spin: could not download $base/$asset and its $sums" >&2
    rm -rf "$tmp"
    return 1
  fi
  want="$(awk -v f="$asset" '$2 == f || $2 == "*" f {print $1}' "$tmp/$sums")"
  got="$(_crm_sha256 "$tmp/$asset")"
  if [[ -z "$want" || "$want" != "$got" ]]; then
    echo "spin: checksum mismatch for $asset: $sums lists '${want:-nothing}', the download is $got; not installing it" >&2
    rm -rf "$tmp"
    return 1
  fi
  if ! tar -xzf "$tmp/$asset" -C "$tmp" spin; then
    echo "spin: $asset has no 'spin' at its top level" >&2
    rm -rf "$tmp"
    return 1
  fi
  chmod 0755 "$tmp/spin" && mv -f "$tmp/spin" "$dest/spin"
  local rc=$?
  rm -rf "$tmp"
  return "$rc"
}

crm_spin_resolve() {
  local v path cache passed_over=""
  if [[ -n "${SPIN_BIN:-}" ]]; then
    path="$SPIN_BIN"
    [[ "$path" == */* ]] || path="$(command -v "$path" 2>/dev/null)" || path="$SPIN_BIN"
    if [[ ! -x "$path" || -d "$path" ]]; then
      echo "spin: SPIN_BIN=$SPIN_BIN is not an executable file" >&2
      return 1
    fi
    v="$(_crm_spin_version "$path")"
    if [[ "$v" != "$CRM_SPIN_VERSION" ]]; then
      echo "spin: SPIN_BIN=$path is spin ${v:-of unknown version}; this project needs spin $CRM_SPIN_VERSION" >&2
      return 1
    fi
    _crm_spin_abs "$path"
    return 0
  fi

  if path="$(command -v spin 2>/dev/null)" && [[ -n "$path" ]]; then
    v="$(_crm_spin_version "$path")"
    if [[ "$v" == "$CRM_SPIN_VERSION" ]]; then
      _crm_spin_abs "$path"
      return 0
    fi
    passed_over="spin ${v:-of unknown version} at $path"
    echo "spin: not using $passed_over: this project needs spin $CRM_SPIN_VERSION" >&2
  fi

  cache="$HOME/.cache/crm/spin-$CRM_SPIN_VERSION"
  if [[ ! -x "$cache/spin" ]] || [[ "$(_crm_spin_version "$cache/spin")" != "$CRM_SPIN_VERSION" ]]; then
    _crm_spin_download "$cache" || {
      echo "spin: no spin $CRM_SPIN_VERSION found${passed_over:+ (only $passed_over)} and none could be downloaded." >&2
      echo "spin: get it with 'devbox shell' in this repository, or install spin $CRM_SPIN_VERSION from" \
        "https://spinframework.dev/install (or set SPIN_BIN to its path)." >&2
      return 1
    }
  fi
  v="$(_crm_spin_version "$cache/spin")"
  if [[ "$v" != "$CRM_SPIN_VERSION" ]]; then
    echo "spin: $cache/spin is spin ${v:-of unknown version}, not $CRM_SPIN_VERSION; remove it and retry" >&2
    return 1
  fi
  printf '%s\n' "$cache/spin"
}

# crm_spin_ensure: sets and exports CRM_SPIN, and CRM_SPIN_BIN for crm-bench and the
# reliability suite, resolved once.
crm_spin_ensure() {
  [ -z "${CRM_SPIN:-}" ] || return 0
  CRM_SPIN=$(crm_spin_resolve) || return 1
  CRM_SPIN_BIN=$CRM_SPIN
  export CRM_SPIN CRM_SPIN_BIN
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  crm_spin_resolve
fi
