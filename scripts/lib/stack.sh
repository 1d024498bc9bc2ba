# shellcheck shell=bash
# Starting a whole stack on free loopback ports: the main topology (gateway, customer-service,
# order-service on one database) and the fault topology the contract suite needs (upstreams
# that refuse or hang, services whose database is unreachable). Needs procs.sh.
#
#   crm_stack_up axum|spin DATABASE_URL   starts both topologies and exports the CRM_* URLs
#                                         the contract suite reads (tests/contract/README.md);
#                                         with CRM_STACK_FAULTS=0 only the main topology.
#   crm_stack_spawn RUNTIME DATABASE_URL GW_PORT CS_PORT OS_PORT
#                                         starts only the main topology on those ports and
#                                         returns at once (no waiting: cold-start timing);
#                                         sets CRM_STACK_PIDS ("service=pid" words).
#   crm_stack_wait GW_PORT CS_PORT OS_PORT [SECONDS]   until all three are ready.
#
# RUNTIME: axum, spin (the wasmtime test host) or spin-cli (`spin up`, when Spin is installed).
#
# Axum binaries come from $CRM_BIN_DIR (default $CARGO_TARGET_DIR/debug); Spin components run
# in the wasmtime test host ($CRM_BIN_DIR/crm-spin-host) from spin-crm/<service>/spin.toml.

CRM_FAULT_TIMEOUT_MS=${CRM_FAULT_TIMEOUT_MS:-500}

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
      # allowed_outbound_hosts takes scheme://host:port only, so the manifests also need the
      # database's host:port on its own.
      local db_host
      db_host=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.hostname}:{p.port or 5432}")' "$db")
      crm_spawn "$name" env SPIN_VARIABLE_DATABASE_URL="$db" SPIN_VARIABLE_DATABASE_HOST="$db_host" \
        SPIN_VARIABLE_CUSTOMER_SERVICE_URL="$customers" SPIN_VARIABLE_ORDER_SERVICE_URL="$orders" \
        SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS="$timeout" RUST_LOG="${RUST_LOG:-info}" \
        "$bin_dir/crm-spin-host" --manifest "$CRM_ROOT/spin-crm/$service/spin.toml" \
        --listen "127.0.0.1:$port"
      ;;
    spin-cli)
      # The real Spin CLI, one `spin up` per service manifest (scripts/bench-local.sh).
      crm_spawn "$name" env SPIN_VARIABLE_DATABASE_URL="$db" \
        SPIN_VARIABLE_CUSTOMER_SERVICE_URL="$customers" SPIN_VARIABLE_ORDER_SERVICE_URL="$orders" \
        SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS="$timeout" RUST_LOG="${RUST_LOG:-info}" \
        spin up --from "$CRM_ROOT/spin-crm/$service/spin.toml" --listen "127.0.0.1:$port"
      ;;
    *) crm_die "unknown runtime $runtime" ;;
  esac
}

# The Spin host wants sslmode=disable (Spin's Postgres client uses TLS otherwise).
crm_stack_db_url() {
  local runtime=$1 url=$2
  if { [ "$runtime" = spin ] || [ "$runtime" = spin-cli ]; } && [[ "$url" != *sslmode=* ]]; then
    if [[ "$url" == *\?* ]]; then url="$url&sslmode=disable"; else url="$url?sslmode=disable"; fi
  fi
  printf '%s\n' "$url"
}

crm_stack_up() {
  local runtime=$1 db
  db=$(crm_stack_db_url "$runtime" "$2")
  local gw cs os fgw fos hos ncs nos ngw dead hang
  gw=$(crm_free_port); cs=$(crm_free_port); os=$(crm_free_port)
  fgw=$(crm_free_port); fos=$(crm_free_port); hos=$(crm_free_port)
  ncs=$(crm_free_port); nos=$(crm_free_port); ngw=$(crm_free_port)
  dead=$(crm_free_port); hang=$(crm_free_port)
  local cs_url="http://127.0.0.1:$cs" os_url="http://127.0.0.1:$os"
  local dead_url="http://127.0.0.1:$dead" hang_url="http://127.0.0.1:$hang"
  local dead_db
  dead_db=$(crm_stack_db_url "$runtime" "postgres://crm:crm@127.0.0.1:$dead/crm")

  # The main topology.
  crm_service "$runtime" customer-service "$runtime-customer-service" "$cs" "$db" "$dead_url" "$dead_url" 2000
  crm_service "$runtime" order-service "$runtime-order-service" "$os" "$db" "$cs_url" "$dead_url" 2000
  crm_service "$runtime" gateway "$runtime-gateway" "$gw" "$db" "$cs_url" "$os_url" 2000
  local ports=("$gw" "$cs" "$os")
  # The fault topology.
  if [ "${CRM_STACK_FAULTS:-1}" = 1 ]; then
    crm_spawn "$runtime-hang" python3 "$CRM_ROOT/scripts/lib/hang-server.py" "$hang"
    crm_service "$runtime" gateway "$runtime-fault-gateway" "$fgw" "$db" "$dead_url" "$hang_url" "$CRM_FAULT_TIMEOUT_MS"
    crm_service "$runtime" order-service "$runtime-fault-order-service" "$fos" "$db" "$dead_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    crm_service "$runtime" order-service "$runtime-hang-order-service" "$hos" "$db" "$hang_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    crm_service "$runtime" customer-service "$runtime-nodb-customer-service" "$ncs" "$dead_db" "$dead_url" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    # Its customer check reaches the database-less customer-service: a 5xx upstream.
    crm_service "$runtime" order-service "$runtime-nodb-order-service" "$nos" "$dead_db" "http://127.0.0.1:$ncs" "$dead_url" "$CRM_FAULT_TIMEOUT_MS"
    # A gateway in front of the two: upstreams alive, their database not.
    crm_service "$runtime" gateway "$runtime-nodb-gateway" "$ngw" "$dead_db" "http://127.0.0.1:$ncs" "http://127.0.0.1:$nos" "$CRM_FAULT_TIMEOUT_MS"
    ports+=("$fgw" "$fos" "$hos" "$ncs" "$nos" "$ngw")
  fi

  local port
  for port in "${ports[@]}"; do
    crm_wait_http "http://127.0.0.1:$port/healthz" 120 || return 1
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
  crm_log "$runtime stack up: gateway $CRM_BASE_URL (logs: $CRM_LOG_DIR)"
}

crm_stack_spawn() {
  local runtime=$1 db gw=$3 cs=$4 os=$5
  db=$(crm_stack_db_url "$runtime" "$2")
  local cs_url="http://127.0.0.1:$cs" os_url="http://127.0.0.1:$os" none="http://127.0.0.1:9"
  CRM_STACK_PIDS=()
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
