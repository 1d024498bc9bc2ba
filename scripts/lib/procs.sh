# shellcheck shell=bash
# Logging, cleanup on exit, background processes and ports. Sourced first by the scripts.

CRM_ROOT=${CRM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CRM_EXIT_HOOKS=()
CRM_PIDS=()
CRM_LOG_DIR=${CRM_LOG_DIR:-$(mktemp -d /tmp/crm-logs.XXXXXX)}
CRM_T0=${CRM_T0:-$(date +%s)}
# Shared with what the scripts start (crm-bench, a nested run of the same script).
export CRM_LOG_DIR CRM_T0

crm_log() { printf '[%4ss] %s\n' "$(( $(date +%s) - CRM_T0 ))" "$*" >&2; }
crm_die() { crm_log "error: $*"; exit 1; }

# Runs at exit, last registered first.
crm_on_exit() { CRM_EXIT_HOOKS+=("$*"); }
crm_run_exit_hooks() {
  local i
  for ((i = ${#CRM_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
    eval "${CRM_EXIT_HOOKS[$i]}" || true
  done
  CRM_EXIT_HOOKS=()
}
trap crm_run_exit_hooks EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

crm_as() {
  local user=$1; shift
  if [ -n "$user" ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

crm_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# crm_spawn NAME CMD... — starts CMD in the background in a process group of its own, output
# to $CRM_LOG_DIR/NAME.log, stopped (SIGTERM, then SIGKILL, to the group) at exit. Sets
# CRM_LAST_PID (also the group id). The group matters for `spin up`, whose HTTP trigger is a
# child process that would outlive a SIGKILL to `spin up` alone and keep its port.
crm_spawn() {
  local name=$1; shift
  setsid "$@" >"$CRM_LOG_DIR/$name.log" 2>&1 &
  CRM_LAST_PID=$!
  CRM_PIDS+=("$CRM_LAST_PID")
  if [ "${#CRM_PIDS[@]}" = 1 ]; then crm_on_exit crm_stop_all; fi
}

# crm_stop_pid PID — its process group when it leads one (crm_spawn), else the process alone.
crm_stop_pid() {
  local target=$1 i
  if kill -0 -- "-$1" 2>/dev/null; then target="-$1"; fi
  kill -CONT -- "$target" 2>/dev/null || true
  kill -TERM -- "$target" 2>/dev/null || return 0
  for i in $(seq 1 50); do
    kill -0 -- "$target" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "$target" 2>/dev/null || true
}

crm_stop_all() {
  local pid
  for pid in "${CRM_PIDS[@]}"; do crm_stop_pid "$pid"; done
  wait 2>/dev/null || true
  CRM_PIDS=()
}

# crm_wait_http URL [SECONDS] [PID] — until URL answers 200, or fail with the log hint; at once
# when PID (the process meant to answer) has exited.
crm_wait_http() {
  local url=$1 timeout=${2:-60} pid=${3:-} start
  start=$(date +%s)
  until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
    if (( $(date +%s) - start > timeout )); then
      crm_log "no 200 from $url after ${timeout}s (logs: $CRM_LOG_DIR)"
      return 1
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      crm_log "the process for $url (pid $pid) exited before answering (logs: $CRM_LOG_DIR)"
      return 1
    fi
    sleep 0.2
  done
}
