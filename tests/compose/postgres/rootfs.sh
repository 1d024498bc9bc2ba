#!/usr/bin/env bash
# The recipe of the Postgres stand-in's root filesystem: Debian 12 with postgresql-15, written
# as a tarball to OUT. build.sh caches that tarball under the hash of this file, so only a
# change here makes a new one.
#
#   tests/compose/postgres/rootfs.sh OUT.tar
set -euo pipefail
out=${1:?usage: rootfs.sh OUT.tar}

# essential: only Essential:yes packages (bash, coreutils, util-linux for setpriv) plus the
#   server, its client tools and their dependencies; no apt, no init system.
# path-exclude: documentation and translations nobody reads in a CI container.
# The first hook drops the cluster postgresql-common creates on installation: the entrypoint
#   makes its own in PGDATA, the way the official image does.
# LLVM (and z3, which only it uses) is the server's JIT, 130 MB that Postgres loads on demand
#   and silently does without; the entrypoint turns JIT off as well.
# --skip=output/dev: the engine provides /dev; device nodes in an imported tar only get in the
#   way.
# The mirrors are Debian's own, security updates included.
# shellcheck disable=SC2016 # "$1" is the hooks' own argument (the rootfs), not ours
mmdebstrap --variant=essential --format=tar --include=postgresql-15 \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  --customize-hook='rm -rf "$1"/usr/lib/postgresql/15/lib/llvmjit* "$1"/usr/lib/postgresql/15/lib/bitcode "$1"/usr/lib/x86_64-linux-gnu/libLLVM-14.so* "$1"/usr/lib/x86_64-linux-gnu/libz3.so*' \
  --skip=output/dev \
  bookworm "$out" \
  'deb http://deb.debian.org/debian bookworm main' \
  'deb http://deb.debian.org/debian bookworm-updates main' \
  'deb http://deb.debian.org/debian-security bookworm-security main'
