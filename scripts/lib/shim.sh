#!/usr/bin/env bash
# shellcheck shell=bash
# The project's one way to find containerd-shim-spin, the containerd shim SpinKube nodes run
# Spin apps with (runtime io.containerd.spin.v2; the node runtime, tools/harness/src/node).
# Source it and call crm_shim_resolve, or run it (SHIM=$(scripts/lib/shim.sh)). Prints the
# absolute path of a containerd-shim-spin-v2 that reports exactly CRM_SHIM_VERSION, trying:
#   1. $CRM_SHIM_BIN (refused, not skipped, when it is another version);
#   2. containerd-shim-spin-v2 on PATH (another version is named on stderr and passed over);
#   3. $HOME/.cache/crm/containerd-shim-spin-<version>/containerd-shim-spin-v2, downloaded on
#      first use from the shim's GitHub release (base URL: $CRM_SHIM_RELEASE_BASE), the archive
#      checked against the sha256 pinned below (the release publishes no checksums file), or
#      against $CRM_SHIM_SHA256 when the pin is empty.
# Otherwise an error on stderr saying how to get it, and status 1. Never exits the caller.
# The version is versions.env's CONTAINERD_SHIM_SPIN_VERSION, the k3d node image's shim.

# shellcheck source=../../versions.env
source "$(dirname "${BASH_SOURCE[0]}")/../../versions.env"
# shellcheck source=fetch.sh
source "$(dirname "${BASH_SOURCE[0]}")/fetch.sh"
CRM_SHIM_VERSION="${CONTAINERD_SHIM_SPIN_VERSION#v}"
# sha256 of containerd-shim-spin-v2-linux-<arch>.tar.gz of the v0.22.0 release. Empty: not yet
# recorded (these machines cannot reach GitHub); the download then needs CRM_SHIM_SHA256.
declare -gA CRM_SHIM_SHA256_PIN=([x86_64]="" [aarch64]="")

_crm_shim_version() {
  "$1" -v 2>/dev/null | awk '$1 == "Version:" {print $2; exit}'
}

_crm_shim_download() {
  local dest="$1" arch want base
  case "$(uname -m)" in
    x86_64 | amd64) arch=x86_64 ;;
    arm64 | aarch64) arch=aarch64 ;;
    *) echo "shim: containerd-shim-spin publishes no release for $(uname -m)" >&2; return 1 ;;
  esac
  [[ "$(uname -s)" == Linux ]] || { echo "shim: containerd shims are Linux only" >&2; return 1; }
  want=${CRM_SHIM_SHA256:-${CRM_SHIM_SHA256_PIN[$arch]}}
  if [[ -z "$want" ]]; then
    echo "shim: no sha256 pinned for the v$CRM_SHIM_VERSION $arch archive; set CRM_SHIM_SHA256 to it" \
      "(or CRM_SHIM_BIN to a shim) to download it" >&2
    return 1
  fi
  base="${CRM_SHIM_RELEASE_BASE:-https://github.com/spinframework/containerd-shim-spin/releases/download/v$CRM_SHIM_VERSION}"
  crm_fetch_verified shim "$base/containerd-shim-spin-v2-linux-$arch.tar.gz" "$want" "$dest/containerd-shim-spin-v2"
}

crm_shim_resolve() {
  local v path cache passed_over=""
  if [[ -n "${CRM_SHIM_BIN:-}" ]]; then
    path="$CRM_SHIM_BIN"
    if [[ ! -x "$path" || -d "$path" ]]; then
      echo "shim: CRM_SHIM_BIN=$CRM_SHIM_BIN is not an executable file" >&2
      return 1
    fi
    v="$(_crm_shim_version "$path")"
    if [[ "$v" != "$CRM_SHIM_VERSION" ]]; then
      echo "shim: CRM_SHIM_BIN=$path is containerd-shim-spin ${v:-of unknown version}; this project needs $CRM_SHIM_VERSION" >&2
      return 1
    fi
    printf '%s/%s\n' "$(cd "$(dirname "$path")" && pwd)" "$(basename "$path")"
    return 0
  fi
  if path="$(command -v containerd-shim-spin-v2 2>/dev/null)" && [[ -n "$path" ]]; then
    v="$(_crm_shim_version "$path")"
    if [[ "$v" == "$CRM_SHIM_VERSION" ]]; then
      printf '%s/%s\n' "$(cd "$(dirname "$path")" && pwd)" "$(basename "$path")"
      return 0
    fi
    passed_over="containerd-shim-spin ${v:-of unknown version} at $path"
    echo "shim: not using $passed_over: this project needs $CRM_SHIM_VERSION" >&2
  fi
  cache="$HOME/.cache/crm/containerd-shim-spin-$CRM_SHIM_VERSION"
  if [[ "$(_crm_shim_version "$cache/containerd-shim-spin-v2" 2>/dev/null)" != "$CRM_SHIM_VERSION" ]]; then
    _crm_shim_download "$cache" || {
      echo "shim: no containerd-shim-spin $CRM_SHIM_VERSION found${passed_over:+ (only $passed_over)} and none could be downloaded;" \
        "put its release's containerd-shim-spin-v2 on PATH or set CRM_SHIM_BIN to it" >&2
      return 1
    }
  fi
  printf '%s\n' "$cache/containerd-shim-spin-v2"
}

# crm_shim_ensure: sets and exports CRM_SHIM_BIN, resolved once.
crm_shim_ensure() {
  local path
  path=$(crm_shim_resolve) || return 1
  CRM_SHIM_BIN=$path
  export CRM_SHIM_BIN
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  crm_shim_resolve
fi
