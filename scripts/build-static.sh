#!/usr/bin/env bash
# Builds the Axum services as static x86_64 musl executables, the binaries the images carry.
#
#   scripts/build-static.sh                               # all three, from this checkout
#   scripts/build-static.sh gateway                       # or some (short or package names)
#   scripts/build-static.sh --src DIR --out DIR [SERVICE...]
#
# --src  the workspace to build (default: this checkout); tests/compose/run.sh passes the exact
#        build context of axum-crm/Dockerfile, so a crate the image misses fails there.
# --out  where axum-<service> lands, mode 0555 as in the image (default: target/static).
#
# The users' images compile inside Docker from the official Rust image (axum-crm/Dockerfile).
# Where no image can be pulled (CI), the same release build runs on the host instead, with
# rustup's x86_64-unknown-linux-musl target when installed, else with Debian's toolchain
# building std from source (as scripts/build-wasm.sh does for wasm32-wasip1); missing Debian
# packages are installed. Every result is checked to be static (no ELF interpreter).
#
# Environment:
#   MUSL_TARGET_DIR  cargo's target directory (default $HOME/.cache/crm/musl-target), kept
#                    outside the checkout so CI reuses it.
set -euo pipefail

readonly TARGET=x86_64-unknown-linux-musl
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly ROOT
readonly TARGET_DIR="${MUSL_TARGET_DIR:-$HOME/.cache/crm/musl-target}"

log() { printf 'build-static: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

src="$ROOT"
out="$ROOT/target/static"
packages=()
while (($#)); do
  case "$1" in
    --src) src="$(cd "$2" && pwd)"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    gateway | axum-gateway) packages+=(axum-gateway); shift ;;
    customer-service | axum-customer-service) packages+=(axum-customer-service); shift ;;
    order-service | axum-order-service) packages+=(axum-order-service); shift ;;
    *) die "unknown argument '$1' (--src DIR, --out DIR, gateway, customer-service, order-service)" ;;
  esac
done
((${#packages[@]})) || packages=(axum-gateway axum-customer-service axum-order-service)
[[ "$(uname -m)" == x86_64 ]] || die "only x86_64 hosts are supported (this is $(uname -m))"

# shellcheck source=lib/tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/tools.sh"

cargo_args=(build --release --locked --target "$TARGET" --target-dir "$TARGET_DIR"
  --manifest-path "$src/Cargo.toml")
for pkg in "${packages[@]}"; do
  cargo_args+=(-p "$pkg")
done
# As in axum-crm/Dockerfile: symbols stripped, no CPU tuning for this host, no database at
# build time for sqlx.
export CARGO_PROFILE_RELEASE_STRIP=symbols SQLX_OFFLINE=true CARGO_TERM_COLOR=never

started=$(date +%s)
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "toolchain: rustup ($(rustc --version)), target $TARGET"
  cargo "${cargo_args[@]}"
else
  # Debian's packages (the musl-toolchain line of scripts/lib/tools.sh), or rustup's target.
  crm_tools_ensure musl-toolchain || die "no rustup $TARGET target and no Debian toolchain (rustup target add $TARGET)"
  log "toolchain: Debian ($(/usr/bin/rustc --version)) with -Zbuild-std, linked by musl-gcc"

  # Debian's LLVM libunwind (the unwinder std links on musl targets) was built against glibc
  # and calls glibc's fortified __fprintf_chk, which musl lacks: a one-function shim built with
  # musl-gcc provides it. Kept beside the target directory, rebuilt only when missing.
  shim="$TARGET_DIR/musl-shim"
  if [[ ! -f "$shim/libchk.a" || ! -e "$shim/libunwind.a" ]]; then
    mkdir -p "$shim"
    ln -sfn /usr/lib/llvm-14/lib/libunwind.a "$shim/libunwind.a"
    cat >"$shim/chk.c" <<'C'
#include <stdarg.h>
#include <stdio.h>
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...) {
  (void)flag;
  va_list ap;
  va_start(ap, fmt);
  int r = vfprintf(f, fmt, ap);
  va_end(ap);
  return r;
}
C
    musl-gcc -O2 -c "$shim/chk.c" -o "$shim/chk.o"
    ar rcs "$shim/libchk.a" "$shim/chk.o"
  fi

  # Why each setting:
  #   RUSTC, /usr/bin/cargo   Debian's rustc/cargo, not rustup's proxies on PATH: -Zbuild-std
  #                           needs the std sources of the very same compiler (rust-web-src).
  #   RUSTC_BOOTSTRAP=1       -Zbuild-std is unstable; this unlocks it on a stable compiler.
  #   -Zbuild-std=std,panic_abort  no prebuilt std exists for the musl target here: compile it
  #                           (std and the panic runtimes it links) from rust-web-src.
  #   LINKER=musl-gcc         links with Debian's musl (musl-tools): its crt objects and libc.a.
  #   +crt-static             the C runtime linked in statically.
  #   link-self-contained=no  do not look for rustup's bundled musl crt objects and libc, which
  #                           Debian does not ship: musl-gcc supplies them.
  #   relocation-model=static a plain static executable, not static-pie (musl-gcc has no
  #                           static-pie start files).
  #   -L shim -lchk           LLVM's libunwind.a and the __fprintf_chk shim (above).
  #   link-arg=-static        without it musl-gcc links a dynamic executable that needs
  #                           /lib/ld-musl-x86_64.so.1, which a scratch image does not have.
  RUSTC=/usr/bin/rustc \
    RUSTC_BOOTSTRAP=1 \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=musl-gcc \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static -C link-self-contained=no -C relocation-model=static -L $shim -C link-arg=-lchk -C link-arg=-static" \
    /usr/bin/cargo "${cargo_args[@]}" -Zbuild-std=std,panic_abort
fi
log "cargo finished in $(($(date +%s) - started))s"

mkdir -p "$out"
for pkg in "${packages[@]}"; do
  built="$TARGET_DIR/$TARGET/release/$pkg"
  [[ -f "$built" ]] || die "cargo produced no $built"
  # A dynamic executable names its loader in a PT_INTERP header; a static one has none.
  if readelf -lW "$built" | grep -q 'INTERP'; then
    die "$built is dynamically linked"
  fi
  install -m 0555 "$built" "$out/$pkg"
  printf '%-24s %9d bytes  static  %s\n' "$pkg" "$(stat -c %s "$out/$pkg")" "$out/$pkg"
done
log "binaries in $out"
