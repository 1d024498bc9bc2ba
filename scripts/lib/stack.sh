# shellcheck shell=bash
# Starting a whole stack on free loopback ports: the main topology (gateway, customer-service,
# order-service on one database) and the fault topology the contract suite needs (upstreams
# that refuse or hang, services whose database is unreachable). Needs procs.sh.
#
#   crm_stack_up axum|spin DATABASE_URL   starts both topologies, one process per service (for
#                                         Spin: one `spin up` per service manifest, as
#                                         Kubernetes runs them), and exports the CRM_* URLs the
#                                         contract suite reads (tests/contract/README.md);
#                                         with CRM_STACK_FAULTS=0 only the main topology.
#   crm_stack_up_combined DATABASE_URL    the combined Spin manifest (spin-crm/spin.toml) under
#                                         one `spin up`: the gateway public, the services
#                                         private (*.spin.internal); exports only CRM_BASE_URL
#                                         and CRM_RUNTIME (the contract suite's gateway selection).
#   crm_stack_spawn RUNTIME DATABASE_URL GW_PORT CS_PORT OS_PORT
#                                         starts only the main topology on those ports and
#                                         returns at once (no waiting: cold-start timing);
#                                         sets CRM_STACK_PIDS ("service=pid" words). RUNTIME
#                                         spin-combined: one `spin up` of spin-crm/spin.toml on
#                                         GW_PORT (the other two ports unused).
#   crm_stack_wait GW_PORT CS_PORT OS_PORT [SECONDS]   until all three are ready (the same port
#                                         three times for spin-combined).
#
# Axum binaries come from $CRM_BIN_DIR (default $CARGO_TARGET_DIR/debug); the Spin components
# (built by scripts/build-wasm.sh) run under the real Spin CLI, found by scripts/lib/spin.sh.

CRM_FAULT_TIMEOUT_MS=${CRM_FAULT_TIMEOUT_MS:-500}

# Sets CRM_SPIN to the Spin binary, resolved once (SPIN_BIN, PATH, or the release cache:
# scripts/lib/spin.sh, which refuses any version but 3.5.1).
crm_spin_ensure() {
  [ -z "${CRM_SPIN:-}" ] || return 0
  # shellcheck source=spin.sh
  source "$CRM_ROOT/scripts/lib/spin.sh"
  CRM_SPIN=$(crm_spin_resolve) || return 1
  export CRM_SPIN
}

# The database variables of the Spin manifests (spin-crm/*/spin.toml), from one database URL
# postgres://user[:password]@host[:port]/name[?sslmode=...]: the manifests build the URL from
# these parts because database_host is also their allowed outbound host. sslmode defaults to
# disable (Spin's Postgres client insists on TLS otherwise).
crm_spin_db_env() {
  local url=$1 rest authority userinfo="" query="" sslmode=disable
  rest=${url#*://}
  authority=${rest%%/*}
  if [[ "$authority" == *@* ]]; then userinfo=${authority%@*}; fi
  [[ "$rest" != *\?* ]] || query=${rest#*\?}
  if [[ "&$query" =~ \&sslmode=([^&]*) ]]; then sslmode=${BASH_REMATCH[1]}; fi
  local name=${rest#*/}
  printf 'SPIN_VARIABLE_DATABASE_HOST=%s\n' "$(crm_url_host_port "$url")"
  printf 'SPIN_VARIABLE_DATABASE_NAME=%s\n' "${name%%\?*}"
  printf 'SPIN_VARIABLE_DATABASE_USER=%s\n' "${userinfo%%:*}"
  if [[ "$userinfo" == *:* ]]; then
    printf 'SPIN_VARIABLE_DATABASE_PASSWORD=%s\n' "${userinfo#*:}"
  else
    printf 'SPIN_VARIABLE_DATABASE_PASSWORD=\n'
  fi
  printf 'SPIN_VARIABLE_DATABASE_SSLMODE=%s\n' "$sslmode"
}

# host:port of a URL (port 5432 when it has none).
crm_url_host_port() {
  local rest=${1#*://}
  rest=${rest%%[/?]*}
  rest=${rest##*@}
  [[ "$rest" == *:* ]] || rest="$rest:5432"
  printf '%s\n' "$rest"
}

# crm_spin_up NAME PORT MANIFEST VAR=VALUE... — one `spin up` with its own state directory
# (several instances of one manifest run side by side) and Spin's logs kept out of the tree.
crm_spin_up() {
  local name=$1 port=$2 manifest=$3
  shift 3
  crm_spin_ensure || return 1
  mkdir -p "$CRM_LOG_DIR/$name.state"
  crm_spawn "$name" env "$@" RUST_LOG="${RUST_LOG:-info}" \
    "$CRM_SPIN" up --from "$manifest" --listen "127.0.0.1:$port" \
    --state-dir "$CRM_LOG_DIR/$name.state" --log-dir ""
}

# crm_service RUNTIME SERVICE NAME PORT DATABASE_URL CUSTOMER_URL ORDER_URL TIMEOUT_MS
crm_service() {
  local runtime=$1 service=$2 name=$3 port=$4 db=$5 customers=$6 orders=$7 timeout=$8
  local bin_dir=${CRM_BIN_DIR:-${CARGO_TARGET_DIR:-$CRM_ROOT/target}/debug}
  case "$runtime" in
    axum)
      crm_spawn "$name" env LISTEN_ADDR="127.0.0.1:$port" DATABASE_URL="$db" \
        CUSTOMER_SERVICE_URL="$customers" ORDER_SERVICE_URL="$orders" \
        UPSTREAM_TIMEOUT_MS="$timeout" RUST_LOG="${RUST_LOG:-info}" \
        "$bin_dir/axum-$service"
      ;;
    spin)
      local db_env
      mapfile -t db_env < <(crm_spin_db_env "$db")
      crm_spin_up "$name" "$port" "$CRM_ROOT/spin-crm/$service/spin.toml" "${db_env[@]}" \
        SPIN_VARIABLE_CUSTOMER_SERVICE_URL="$customers" SPIN_VARIABLE_ORDER_SERVICE_URL="$orders" \
        SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS="$timeout"
      ;;
    *) crm_die "unknown runtime $runtime" ;;
  esac
}

crm_stack_up_combined() {
  local gw db_env
  gw=$(crm_free_port)
  mapfile -t db_env < <(crm_spin_db_env "$1")
  crm_spin_up spin-combined "$gw" "$CRM_ROOT/spin-crm/spin.toml" "${db_env[@]}" || return 1
  crm_wait_http "http://127.0.0.1:$gw/healthz" 120 "$CRM_LAST_PID" || return 1
  crm_wait_http "http://127.0.0.1:$gw/readyz" 60 || return 1
  unset CRM_CUSTOMER_SERVICE_URL CRM_ORDER_SERVICE_URL CRM_FAULT_GATEWAY_URL \
    CRM_FAULT_ORDER_SERVICE_URL CRM_HANG_ORDER_SERVICE_URL CRM_NODB_CUSTOMER_SERVICE_URL \
    CRM_NODB_ORDER_SERVICE_URL CRM_NODB_GATEWAY_URL
  export CRM_RUNTIME=spin CRM_BASE_URL="http://127.0.0.1:$gw"
  crm_log "spin (combined manifest, $("$CRM_SPIN" --version)) up: gateway $CRM_BASE_URL (logs: $CRM_LOG_DIR)"
}

crm_stack_up() {
  local runtime=$1 db=$2
  local gw cs os fgw fos hos ncs nos ngw dead hang
  gw=$(crm_free_port); cs=$(crm_free_port); os=$(crm_free_port)
  fgw=$(crm_free_port); fos=$(crm_free_port); hos=$(crm_free_port)
  ncs=$(crm_free_port); nos=$(crm_free_port); ngw=$(crm_free_port)
  dead=$(crm_free_port); hang=$(crm_free_port)
  local cs_url="http://127.0.0.1:$cs" os_url="http://127.0.0.1:$os"
  local dead_url="http://127.0.0.1:$dead" hang_url="http://127.0.0.1:$hang"
  local dead_db="postgres://crm:crm@127.0.0.1:$dead/crm"

  # The main topology.
  local ports=() pids=()
  crm_service "$runtime" customer-service "$runtime-customer-service" "$cs" "$db" "$dead_url" "$dead_url" 2000
  ports+=("$cs"); pids+=("$CRM_LAST_PID")
  crm_service "$runtime" order-service "$runtime-order-service" "$os" "$db" "$cs_url" "$dead_url" 2000
  ports+=("$os"); pids+=("$CRM_LAST_PID")
  crm_service "$runtime" gateway "$runtime-gateway" "$gw" "$db" "$cs_url" "$os_url" 2000
  ports+=("$gw"); pids+=("$CRM_LAST_PID")
  # The fault topology.
  if [ "${CRM_STACK_FAULTS:-1}" = 1 ]; then
    crm_spawn "$runtime-hang" python3 "$CRM_ROOT/scripts/lib/hang-server.py" "$hang"
    crm_service "$runtime" gateway "$runtime-fault-gateway" "$fgw" "$db" "$dead_url" "$hang_url" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$fgw"); pids+=("$CRM_LAST_PID")
    crm_service "$runtime" order-service "$runtime-fault-order-service" "$fos" "$db" "$dead_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$fos"); pids+=("$CRM_LAST_PID")
    crm_service "$runtime" order-service "$runtime-hang-order-service" "$hos" "$db" "$hang_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$hos"); pids+=("$CRM_LAST_PID")
    crm_service "$runtime" customer-service "$runtime-nodb-customer-service" "$ncs" "$dead_db" "$dead_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$ncs"); pids+=("$CRM_LAST_PID")
    # Its customer check reaches the database-less customer-service: a 5xx upstream.
    crm_service "$runtime" order-service "$runtime-nodb-order-service" "$nos" "$dead_db" "http://127.0.0.1:$ncs" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$nos"); pids+=("$CRM_LAST_PID")
    # A gateway in front of the two: upstreams alive, their database not.
    crm_service "$runtime" gateway "$runtime-nodb-gateway" "$ngw" "$dead_db" "http://127.0.0.1:$ncs" "http://127.0.0.1:$nos" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$ngw"); pids+=("$CRM_LAST_PID")
  fi

  local i
  for i in "${!ports[@]}"; do
    crm_wait_http "http://127.0.0.1:${ports[$i]}/healthz" 120 "${pids[$i]}" || return 1
  done
  # The data services migrate at start (Axum) and the gateway checks its upstreams: ready
  # means the main topology can serve.
  crm_wait_http "http://127.0.0.1:$gw/readyz" 60 || return 1
  crm_wait_http "$cs_url/readyz" 60 || return 1
  crm_wait_http "$os_url/readyz" 60 || return 1

  export CRM_RUNTIME=$runtime
  export CRM_BASE_URL="http://127.0.0.1:$gw"
  export CRM_CUSTOMER_SERVICE_URL=$cs_url CRM_ORDER_SERVICE_URL=$os_url
  export CRM_FAULT_GATEWAY_URL="http://127.0.0.1:$fgw"
  export CRM_FAULT_ORDER_SERVICE_URL="http://127.0.0.1:$fos"
  export CRM_HANG_ORDER_SERVICE_URL="http://127.0.0.1:$hos"
  export CRM_NODB_CUSTOMER_SERVICE_URL="http://127.0.0.1:$ncs"
  export CRM_NODB_ORDER_SERVICE_URL="http://127.0.0.1:$nos"
  export CRM_NODB_GATEWAY_URL="http://127.0.0.1:$ngw"
  export CRM_FAULT_TIMEOUT_MS
  local version=$runtime
  [ "$runtime" != spin ] || version="spin (per-service manifests, $("$CRM_SPIN" --version))"
  crm_log "$version stack up: gateway $CRM_BASE_URL (logs: $CRM_LOG_DIR)"
}

crm_stack_spawn() {
  local runtime=$1 db=$2 gw=$3 cs=$4 os=$5
  local cs_url="http://127.0.0.1:$cs" os_url="http://127.0.0.1:$os" none="http://127.0.0.1:9"
  CRM_STACK_PIDS=()
  if [ "$runtime" = spin-combined ]; then
    # One application: only the gateway's port is used.
    local db_env
    mapfile -t db_env < <(crm_spin_db_env "$db")
    crm_spin_up spin-combined "$gw" "$CRM_ROOT/spin-crm/spin.toml" "${db_env[@]}" || return 1
    CRM_STACK_PIDS+=("spin=$CRM_LAST_PID")
    return 0
  fi
  crm_service "$runtime" customer-service "$runtime-customer-service" "$cs" "$db" "$none" "$none" 2000
  CRM_STACK_PIDS+=("customer-service=$CRM_LAST_PID")
  crm_service "$runtime" order-service "$runtime-order-service" "$os" "$db" "$cs_url" "$none" 2000
  CRM_STACK_PIDS+=("order-service=$CRM_LAST_PID")
  crm_service "$runtime" gateway "$runtime-gateway" "$gw" "$db" "$cs_url" "$os_url" 2000
  CRM_STACK_PIDS+=("gateway=$CRM_LAST_PID")
}

crm_stack_wait() {
  local timeout=${4:-120} port
  for port in "$1" "$2" "$3"; do
    crm_wait_http "http://127.0.0.1:$port/readyz" "$timeout" || return 1
  done
}
