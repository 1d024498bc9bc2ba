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
# shellcheck source=fetch.sh
source "$(dirname "${BASH_SOURCE[0]}")/fetch.sh"

# _crm_spin_version PATH: the version PATH reports ("spin 3.5.1 (...)" -> 3.5.1), or nothing.
_crm_spin_version() {
  "$1" --version 2>/dev/null | awk 'NR == 1 && $1 == "spin" {print $2}'
}

# _crm_spin_abs PATH: PATH made absolute (the directory resolved, the file name kept).
_crm_spin_abs() {
  printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd)" "$(basename "$1")"
}

# _crm_spin_download DEST_DIR: fetch, verify and unpack the release into DEST_DIR/spin.
_crm_spin_download() {
  local dest="$1" os arch base
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
  # checksums-v<version>.txt: the name Spin's release workflow gives the sha256sum of all its
  # archives. 'spin' quoted in the messages: bare, it reads as a verb.
  crm_fetch_verified spin "$base/spin-v$CRM_SPIN_VERSION-$os-$arch.tar.gz" \
    "$base/checksums-v$CRM_SPIN_VERSION.txt" "$dest/spin" "'spin'"
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
