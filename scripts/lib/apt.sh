# shellcheck shell=bash
# Debian packages, installed only when missing: as root, or through sudo (its password asked
# once, before the first install). The one apt-get of the project: scripts/lib/tools.sh (the
# tool table) uses it.
#
#   crm_apt_install_missing PACKAGE...   returns 1 when some are missing and cannot be installed

crm_deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Why this user cannot run apt-get, or nothing when it can (root, or sudo that works).
_crm_apt_privilege_hint() {
  if [[ "$(id -u)" == 0 ]]; then return 0; fi
  if ! command -v sudo >/dev/null; then
    echo "as root: this user is not root and there is no sudo"
  elif ! _crm_sudo_ready; then
    echo "as root: sudo refused this user"
  fi
}

# sudo, validated once per process: asks for the password when there is a terminal, else works
# only where sudo needs none (CI, a NOPASSWD rule).
_crm_sudo_ready() {
  if [[ -z "${CRM_SUDO_READY:-}" ]]; then
    CRM_SUDO_READY=no
    if [[ -t 0 ]] && sudo -v -p 'sudo password (to install Debian packages): '; then
      CRM_SUDO_READY=yes
    elif sudo -n true 2>/dev/null; then
      CRM_SUDO_READY=yes
    fi
  fi
  [[ $CRM_SUDO_READY == yes ]]
}

crm_apt_install_missing() {
  local missing=() pkg sudo=()
  for pkg in "$@"; do
    [[ " ${missing[*]} " == *" $pkg "* ]] && continue # two tools may need the same package
    crm_deb_installed "$pkg" || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  command -v apt-get >/dev/null || return 1
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null && _crm_sudo_ready || return 1
    sudo=(sudo)
  fi
  printf 'installing Debian packages: %s\n' "${missing[*]}" >&2
  # An install killed half-way (an interrupted run) leaves dpkg refusing every later install
  # until this runs; with nothing pending it does nothing.
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" dpkg --configure -a >/dev/null 2>&1 || true
  if [[ -z "${CRM_APT_UPDATED:-}" ]]; then
    "${sudo[@]}" apt-get update -qq >/dev/null || return 1
    CRM_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
