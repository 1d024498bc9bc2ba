#!/usr/bin/env bash
# Builds the Spin components (spin-crm/) for wasm32-wasip1 and leaves the optimised modules in
# spin-crm/target/wasm32-wasip1/release/, where the spin.toml manifests point.
#
#   scripts/build-wasm.sh                     # the three services and the floor
#   scripts/build-wasm.sh gateway order-service   # or some (short or package names)
#   scripts/build-wasm.sh --size DIR [...]    # the size-optimised variant, into DIR (services)
#
# Two builds, as docs/benchmark.md explains: the default is built for speed, like the Axum
# services (spin-crm/Cargo.toml's release profile, opt-level 3, then `wasm-opt -O3`); `--size`
# builds the variant the benchmark measures beside it (the release-size profile, opt-level "s",
# then `wasm-opt -Oz`) into DIR, never over the speed build the manifests run.
#
# Toolchain: rustup's wasm32-wasip1 target when it is installed; otherwise Debian's packaged
# Rust (rustc-web, cargo-web, rust-web-src) building std from source with -Zbuild-std, linked
# by wasm-ld-16 against Debian's wasi-libc. Missing Debian packages are installed
# (scripts/lib/tools.sh). Then wasm-opt (binaryen; installed when missing, and the build fails
# without it: unoptimised modules would be measured as if optimised), and a size check: every
# component must stay at or under 1 MiB. What was built with what is written beside the
# modules, in build-info.txt, which the benchmark's report quotes.
#
# Environment:
#   WASM_TARGET_DIR  cargo's target directory (default spin-crm/target); CI points it at a
#                    cache outside the clone. The final .wasm files are copied back either way.
set -euo pipefail

readonly TARGET=wasm32-wasip1
readonly MAX_BYTES=$((1024 * 1024))
readonly SERVICE_PACKAGES=(spin-gateway spin-customer-service spin-order-service)
# The runtime floor (spin-crm/floor) is measured against the speed build only: the size
# variant builds the services alone unless it is named.
readonly ALL_PACKAGES=("${SERVICE_PACKAGES[@]}" spin-floor)
# Debian's wasm-opt (v108) needs every post-MVP feature rustc's wasm32-wasip1 output uses.
readonly WASM_OPT_FEATURES=(
  --enable-bulk-memory --enable-sign-ext --enable-mutable-globals
  --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly SPIN_DIR="$ROOT/spin-crm"
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

# --- which build, which components ---------------------------------------------------------------
# speed: cargo's profile, wasm-opt's level, where the modules go (the manifests' source paths).
profile=release
opt_level=-O3
out_dir="$SPIN_DIR/target/$TARGET/release"
if [[ "${1:-}" == --size ]]; then
  [[ -n "${2:-}" ]] || die "--size needs the directory to write the size-optimised modules to"
  profile=release-size
  opt_level=-Oz
  out_dir=$(realpath -m "$2")
  shift 2
fi
readonly profile opt_level out_dir

packages=()
if (($# == 0)) && [[ "$profile" == release-size ]]; then
  packages=("${SERVICE_PACKAGES[@]}")
elif (($# == 0)); then
  packages=("${ALL_PACKAGES[@]}")
else
  for arg in "$@"; do
    case "$arg" in
      gateway | spin-gateway) packages+=(spin-gateway) ;;
      customer-service | spin-customer-service) packages+=(spin-customer-service) ;;
      order-service | spin-order-service) packages+=(spin-order-service) ;;
      floor | spin-floor) packages+=(spin-floor) ;;
      *) die "unknown component '$arg' (gateway, customer-service, order-service, floor)" ;;
    esac
  done
fi

# --- tools, installed only when missing ------------------------------------------------------
# shellcheck source=lib/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/tools.sh"
crm_tools_ensure wasm-toolchain wasm-opt ||
  die "cannot build the components without the tools above (or rustup target add $TARGET)"

# --- build ---------------------------------------------------------------------------------------
cargo_args=(build --profile "$profile" --locked --target "$TARGET" --target-dir "$TARGET_DIR"
  --manifest-path "$SPIN_DIR/Cargo.toml")
for pkg in "${packages[@]}"; do
  cargo_args+=(-p "$pkg")
done

if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  toolchain="rustup's $(rustc --version), target $TARGET"
  log "toolchain: $toolchain"
  cargo "${cargo_args[@]}"
else
  toolchain="Debian's $(/usr/bin/rustc --version) with -Zbuild-std"
  log "toolchain: $toolchain"
  # A cdylib needs no crt object: link against wasi-libc's libc.a only, with LLVM 16's wasm-ld.
  RUSTC=/usr/bin/rustc \
    RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_WASM32_WASIP1_LINKER=wasm-ld-16 \
    CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi" \
    /usr/bin/cargo "${cargo_args[@]}" -Zbuild-std=std,panic_abort
fi

# --- optimise, place, measure ------------------------------------------------------------------
wasm_opt=(wasm-opt "$opt_level" "${WASM_OPT_FEATURES[@]}")
wasm_opt_version=$(wasm-opt --version)

log "profile $profile, $wasm_opt_version $opt_level -> ${out_dir#"$ROOT"/}"
mkdir -p "$out_dir"
# Removed first and written last, once every module is in place: it never describes others.
info="$out_dir/build-info.txt"
rm -f "$info"
too_big=0
for pkg in "${packages[@]}"; do
  file="${pkg//-/_}.wasm"
  # deps/ holds cargo's own output; the out directory (for the speed build release/, where the
  # manifests point) gets the optimised copy.
  built="$TARGET_DIR/$TARGET/$profile/deps/$file"
  [[ -f "$built" ]] || die "cargo produced no $built"
  raw_bytes=$(stat -c %s "$built")
  tmp="$out_dir/.$file.tmp"
  "${wasm_opt[@]}" "$built" -o "$tmp"
  mv -f "$tmp" "$out_dir/$file"
  bytes=$(stat -c %s "$out_dir/$file")
  printf '%-28s %8d bytes (%4d KiB; cargo: %d KiB)  %s\n' "$pkg" "$bytes" $((bytes / 1024)) \
    $((raw_bytes / 1024)) "${out_dir#"$ROOT"/}/$file"
  if ((bytes > MAX_BYTES)); then
    log "error: $pkg is $bytes bytes, over the 1 MiB budget"
    too_big=1
  fi
done
((too_big)) && exit 1
{
  echo "toolchain: $toolchain"
  echo "profile: $profile (spin-crm/Cargo.toml)"
  echo "wasm-opt: $wasm_opt_version, $opt_level"
} >"$info"
