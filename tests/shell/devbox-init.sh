# shellcheck shell=bash
# Sourced by tests/shell/run.sh after spin-resolver.sh (expect, TMP, REL, NOSPIN_PATH, fake_spin):
# the devbox init hook run as devbox runs it, in a copy of the project: a fresh RUSTUP_HOME, a
# stand-in rustup with no toolchain installed, Spin's release served from a local directory.

PROJ="$TMP/devbox-proj"
mkdir -p "$PROJ/scripts/lib" "$TMP/rustup-bin"
cp "$CRM_ROOT/devbox.json" "$CRM_ROOT/versions.env" "$PROJ/"
# spin.sh sources fetch.sh, its download-and-verify.
cp "$CRM_ROOT/scripts/lib/devbox-init.sh" "$CRM_ROOT/scripts/lib/spin.sh" "$CRM_ROOT/scripts/lib/fetch.sh" \
  "$PROJ/scripts/lib/"

# Answers (text and exit status) as rustup 1.27/1.28 gives them in an empty RUSTUP_HOME.
cat >"$TMP/rustup-bin/rustup" <<'SH'
#!/usr/bin/env bash
echo "$*" >>"$RUSTUP_HOME/calls"
state="$RUSTUP_HOME/default"
none() { echo "error: rustup could not choose a version of rustup to run, because one wasn't specified explicitly, and no default is configured." >&2; exit 1; }
case "$*" in
  "toolchain list") if [[ -f $state ]]; then echo "stable-x86_64-unknown-linux-gnu (default)"; else echo "no installed toolchains"; fi ;;
  default) if [[ -f $state ]]; then echo "stable-x86_64-unknown-linux-gnu (default)"; else echo "error: no default toolchain is configured" >&2; exit 1; fi ;;
  "default stable") touch "$state" ;;
  "target list --installed") [[ -f $state ]] || none; echo x86_64-unknown-linux-gnu; cat "$RUSTUP_HOME/targets" 2>/dev/null || true ;;
  "target add "*) [[ -f $state ]] || none; echo "$3" >>"$RUSTUP_HOME/targets" ;;
  *) echo "stand-in rustup: unexpected: $*" >&2; exit 2 ;;
esac
SH
chmod +x "$TMP/rustup-bin/rustup"

# The PATH devbox gives: devbox.json's env.PATH, $PWD being the project and $PATH the packages'.
DEVBOX_BASE_PATH="$TMP/rustup-bin:$NOSPIN_PATH"
devbox_path() {
  jget "$PROJ/devbox.json" 'd["env"]["PATH"]' | sed -e "s#\$PWD#$PROJ#g" -e "s#\$PATH#$DEVBOX_BASE_PATH#g"
}
run_hook() {
  (cd "$PROJ" && env HOME="$TMP/devbox-home" RUSTUP_HOME="$TMP/devbox-rustup" PATH="$(devbox_path)" \
    CRM_SPIN_RELEASE_BASE="file://$REL" bash scripts/lib/devbox-init.sh) >"$TMP/hook.out" 2>&1
}
mkdir -p "$TMP/devbox-rustup"
hook_rc=0
run_hook || hook_rc=$?
expect "devbox hook: succeeds in a fresh RUSTUP_HOME" 0 "$hook_rc"
expect "devbox hook: asks for a default toolchain and the wasm32-wasip1 target" "default stable|target add wasm32-wasip1" \
  "$(grep -E '^(default stable|target add)' "$TMP/devbox-rustup/calls" | paste -sd '|' -)"
expect "devbox hook: spin --version works from devbox's PATH" "spin 3.5.1 (abc1234 2025-01-01)" \
  "$(PATH="$(devbox_path)" spin --version 2>&1)"
expect "devbox hook: that spin is the resolver's download" "$TMP/devbox-home/.cache/crm/spin-3.5.1/spin" \
  "$(readlink "$PROJ/.devbox/bin/spin")"
: >"$TMP/devbox-rustup/calls"
run_hook || hook_rc=$?
expect "devbox hook: a second run changes nothing" "0 0" \
  "$hook_rc $(grep -cE '^(default stable|target add)' "$TMP/devbox-rustup/calls")"
