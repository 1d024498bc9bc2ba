#!/usr/bin/env bash
# devbox init_hook: what nixpkgs does not pin for us.
#   - Rust via rustup: a default toolchain (stable) with the wasm32-wasip1 target (the Spin
#     components). devbox's rustup plugin gives each project an empty RUSTUP_HOME, where
#     `rustup toolchain list` prints "no installed toolchains": ask rustup for a default instead.
#   - Spin CLI 3.5.1 through scripts/lib/spin.sh (the project's one resolver: PATH, else its
#     verified download into ~/.cache/crm), linked into .devbox/bin, which devbox.json puts first
#     on PATH.
# Both steps are skipped when already done. Docker is not installed here: the Docker engine
# (containerd image store) is the user's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="$ROOT/.devbox/bin"
# shellcheck source=spin.sh
source "$ROOT/scripts/lib/spin.sh"

if command -v rustup >/dev/null 2>&1; then
  rustup default >/dev/null 2>&1 || rustup default stable >/dev/null
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 >/dev/null
else
  echo "devbox-init: no rustup on PATH: Rust not set up" >&2
fi

# A failure here leaves the shell usable; setup-all.sh asks the resolver again and says why.
if spin="$(crm_spin_resolve)"; then
  mkdir -p "$BIN"
  [[ "$(readlink "$BIN/spin" 2>/dev/null)" == "$spin" || "$spin" == "$BIN/spin" ]] || ln -sfn "$spin" "$BIN/spin"
else
  echo "devbox-init: spin $CRM_SPIN_VERSION is not set up (see above)" >&2
fi
