# shellcheck shell=bash
# Debian packages, installed only when missing: as root, or through sudo. Sourced by the build
# scripts (build-wasm.sh, build-static.sh), which run on their own, without procs.sh.
#
#   crm_apt_install_missing PACKAGE...   returns 1 when some are missing and cannot be installed

crm_deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

crm_apt_install_missing() {
  local missing=() pkg sudo=()
  for pkg in "$@"; do
    crm_deb_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || return 1
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || return 1
    sudo=(sudo)
  fi
  printf 'installing %s\n' "${missing[*]}" >&2
  # An install killed half-way (an interrupted run) leaves dpkg refusing every later install
  # until this runs; with nothing pending it does nothing.
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" dpkg --configure -a >/dev/null 2>&1 || true
  "${sudo[@]}" apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
