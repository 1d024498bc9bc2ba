#!/usr/bin/env bash
# Builds the Spin components (spin-crm/) for wasm32-wasip1 and leaves the optimised modules in
# spin-crm/target/wasm32-wasip1/release/, where the spin.toml manifests point.
#
#   scripts/build-wasm.sh                     # all three
#   scripts/build-wasm.sh gateway order-service   # or some (short or package names)
#
# Toolchain: rustup's wasm32-wasip1 target when it is installed; otherwise Debian's packaged
# Rust (rustc-web, cargo-web, rust-web-src) building std from source with -Zbuild-std, linked
# by wasm-ld-16 against Debian's wasi-libc. Missing Debian packages are installed.
# Then `wasm-opt -Oz` (binaryen, installed when missing on Debian), and a size check: every
# component must stay at or under 1 MiB.
#
# Environment:
#   WASM_TARGET_DIR  cargo's target directory (default spin-crm/target); CI points it at a
#                    cache outside the clone. The final .wasm files are copied back either way.
set -euo pipefail

readonly TARGET=wasm32-wasip1
readonly MAX_BYTES=$((1024 * 1024))
readonly ALL_PACKAGES=(spin-gateway spin-customer-service spin-order-service)
readonly DEBIAN_TOOLCHAIN=(rustc-web cargo-web rust-web-src lld-16 wasi-libc)
# Debian's wasm-opt (v108) needs every post-MVP feature rustc's wasm32-wasip1 output uses.
readonly WASM_OPT_FEATURES=(
  --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly SPIN_DIR="$ROOT/spin-crm"
readonly OUT_DIR="$SPIN_DIR/target/$TARGET/release"
readonly TARGET_DIR="${WASM_TARGET_DIR:-$SPIN_DIR/target}"
# The components are always built with spin-crm/Cargo.toml's own release profile, whatever
# profile overrides the caller's environment carries for its native builds (scripts/test.sh
# sets some for CI's release builds): otherwise the same sources would be rebuilt differently.
for var in "${!CARGO_PROFILE_@}"; do unset "$var"; done

log() { printf 'build-wasm: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# --- which components --------------------------------------------------------------------------
packages=()
if (($# == 0)); then
  packages=("${ALL_PACKAGES[@]}")
else
  for arg in "$@"; do
    case "$arg" in
      gateway | spin-gateway) packages+=(spin-gateway) ;;
      customer-service | spin-customer-service) packages+=(spin-customer-service) ;;
      order-service | spin-order-service) packages+=(spin-order-service) ;;
      *) die "unknown component '$arg' (gateway, customer-service, order-service)" ;;
    esac
  done
fi

# --- Debian packages, installed only when missing ----------------------------------------------
# shellcheck source=lib/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/apt.sh"

# --- build ---------------------------------------------------------------------------------------
cargo_args=(build --release --locked --target "$TARGET" --target-dir "$TARGET_DIR"
  --manifest-path "$SPIN_DIR/Cargo.toml")
for pkg in "${packages[@]}"; do
  cargo_args+=(-p "$pkg")
done

if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "toolchain: rustup ($(rustc --version))"
  cargo "${cargo_args[@]}"
else
  crm_apt_install_missing "${DEBIAN_TOOLCHAIN[@]}" ||
    die "no rustup $TARGET target and cannot install ${DEBIAN_TOOLCHAIN[*]} (rustup target add $TARGET)"
  log "toolchain: Debian ($(/usr/bin/rustc --version)) with -Zbuild-std"
  # A cdylib needs no crt object: link against wasi-libc's libc.a only, with LLVM 16's wasm-ld.
  RUSTC=/usr/bin/rustc \
    RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-16 \
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi" \
    /usr/bin/cargo "${cargo_args[@]}" -Zbuild-std=std,panic_abort
fi

# --- optimise, place, measure ------------------------------------------------------------------
wasm_opt=()
if command -v wasm-opt >/dev/null || crm_apt_install_missing binaryen; then
  wasm_opt=(wasm-opt -Oz "${WASM_OPT_FEATURES[@]}")
else
  log "warning: wasm-opt (binaryen) unavailable: modules are not post-optimised"
fi

mkdir -p "$OUT_DIR"
too_big=0
for pkg in "${packages[@]}"; do
  file="${pkg//-/_}.wasm"
  # deps/ holds cargo's own output; release/ (where the manifests point) gets the optimised copy.
  built="$TARGET_DIR/$TARGET/release/deps/$file"
  [[ -f "$built" ]] || die "cargo produced no $built"
  raw_bytes=$(stat -c %s "$built")
  tmp="$OUT_DIR/.$file.tmp"
  if ((${#wasm_opt[@]})); then
    "${wasm_opt[@]}" "$built" -o "$tmp"
  else
    cp "$built" "$tmp"
  fi
  mv -f "$tmp" "$OUT_DIR/$file"
  bytes=$(stat -c %s "$OUT_DIR/$file")
  printf '%-28s %8d bytes (%4d KiB; cargo: %d KiB)  %s\n' "$pkg" "$bytes" $((bytes / 1024)) \
    $((raw_bytes / 1024)) "${OUT_DIR#"$ROOT"/}/$file"
  if ((bytes > MAX_BYTES)); then
    log "error: $pkg is $bytes bytes, over the 1 MiB budget"
    too_big=1
  fi
done
exit "$too_big"
