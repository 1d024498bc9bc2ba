# shellcheck shell=bash
# Download-and-verify, written once for the resolvers that fall back to a release archive
# (spin.sh for the Spin CLI, shim.sh for containerd-shim-spin): nothing lands in the cache
# unless the archive's sha256 is the one expected, so a truncated or tampered download is
# refused rather than run. Source it; it defines functions only.

# _crm_sha256 FILE: the sha256 of FILE, in hex.
_crm_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | awk '{print $1}'
  else
    shasum -a 256 "$1" | awk '{print $1}' # macOS
  fi
}

# crm_fetch_verified WHO URL SHA256|SUMS_URL DEST [NAME]: downloads the .tar.gz at URL, checks
# it against SHA256 (a pinned digest) or against the line for its file name in the checksums
# file at SUMS_URL (anything with "://"), and installs the file of DEST's name from the
# archive's top level as DEST (mode 0755). The download happens in a temporary directory
# beside DEST, always removed, so a failure leaves no partial DEST. WHO prefixes the messages
# on stderr; NAME is how they call the file (default: DEST's file name). Status 1 on any
# failure.
crm_fetch_verified() {
  local who="$1" url="$2" check="$3" dest="$4"
  local file base asset sums="" tmp want got wanted rc
  file="$(basename "$dest")"
  local name="${5:-$file}"
  base="${url%/*}"
  asset="${url##*/}"
  [[ "$check" == *://* ]] && sums="${check##*/}"
  mkdir -p "$(dirname "$dest")" || return 1
  tmp="$(mktemp -d "$(dirname "$dest")/.download.XXXXXX")" || return 1
  echo "$who: downloading $asset from $base" >&2
  if ! curl -fsSL --retry 2 --connect-timeout 10 --max-time 300 -o "$tmp/$asset" "$url" ||
    { [[ -n "$sums" ]] && ! curl -fsSL --retry 2 --connect-timeout 10 --max-time 60 -o "$tmp/$sums" "$check"; }; then
    echo "$who: could not download $url${sums:+ and its $sums}" >&2
    rm -rf "$tmp"
    return 1
  fi
  if [[ -n "$sums" ]]; then
    want="$(awk -v f="$asset" '$2 == f || $2 == "*" f {print $1}' "$tmp/$sums")"
    wanted="$sums lists '${want:-nothing}'"
  else
    want="$check"
    wanted="want $want"
  fi
  got="$(_crm_sha256 "$tmp/$asset")"
  if [[ -z "$want" || "$want" != "$got" ]]; then
    echo "$who: checksum mismatch for $asset: $wanted, the download is $got; not installing it" >&2
    rm -rf "$tmp"
    return 1
  fi
  if ! tar -xzf "$tmp/$asset" -C "$tmp" "$file"; then
    echo "$who: $asset has no $name at its top level" >&2
    rm -rf "$tmp"
    return 1
  fi
  chmod 0755 "$tmp/$file" && mv -f "$tmp/$file" "$dest"
  rc=$?
  rm -rf "$tmp"
  return "$rc"
}
