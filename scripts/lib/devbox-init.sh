#!/usr/bin/env bash
# devbox init_hook: what nixpkgs does not pin for us.
#   - Rust via rustup: a stable toolchain with the wasm32-wasip1 target (the Spin components);
#   - Spin CLI $SPIN_VERSION (default 3.5.1) from its GitHub release into .devbox/bin, because
#     nixpkgs does not carry that exact version. Both steps are skipped when already done.
# Docker is not installed here: the Docker engine (containerd image store) is the user's.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SPIN_VERSION="${SPIN_VERSION:-3.5.1}"
BIN="$ROOT/.devbox/bin"

if command -v rustup >/dev/null 2>&1; then
  rustup toolchain list | grep -q . || rustup default stable >/dev/null
  rustup target list --installed | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1 >/dev/null
fi

if ! "$BIN/spin" --version 2>/dev/null | grep -q "^spin $SPIN_VERSION "; then
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=macos ;;
    *) echo "devbox-init: no Spin release for $(uname -s)" >&2; exit 0 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=amd64 ;;
    arm64 | aarch64) arch=aarch64 ;;
    *) echo "devbox-init: no Spin release for $(uname -m)" >&2; exit 0 ;;
  esac
  url="https://github.com/spinframework/spin/releases/download/v$SPIN_VERSION/spin-v$SPIN_VERSION-$os-$arch.tar.gz"
  echo "devbox-init: installing spin $SPIN_VERSION into .devbox/bin"
  mkdir -p "$BIN"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --retry 3 --connect-timeout 10 --max-time 300 "$url" | tar -xz -C "$tmp" spin
  install -m 0755 "$tmp/spin" "$BIN/spin"
fi
