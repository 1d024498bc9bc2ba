# shellcheck shell=bash
# Finding or starting Postgres, and throwaway databases on it. Sourced by scripts/test.sh and
# scripts/bench-local.sh; needs scripts/lib/procs.sh sourced first.
#
#   crm_pg_ensure            sets CRM_PG_ADMIN_URL: $DATABASE_URL, else 127.0.0.1:5432, else a
#                            throwaway cluster from Debian's postgresql binaries (installed
#                            when missing), stopped and deleted on exit.
#   crm_db_create PREFIX     creates <prefix>_<run id>_<random>, echoes its URL; every database
#                            of this run is dropped on exit (also when created in a subshell,
#                            as `db=$(crm_db_create x)` does).
#   crm_db_url NAME          the admin URL with its database replaced by NAME.
#   crm_pg_stop / crm_pg_start   stop and restart the throwaway cluster (fault tests).
#   crm_pg_ensure_any        crm_pg_ensure, then docker compose, then a message (bench-local.sh).

CRM_PG_ADMIN_URL=${CRM_PG_ADMIN_URL:-}
CRM_PG_DATA=""
CRM_PG_BIN=""
CRM_PG_PORT=""
# Names every database this run creates, so the exit hook can find them all by name.
CRM_RUN_ID=${CRM_RUN_ID:-$(date +%s)$$}

crm_pg_reachable() {
  PGCONNECT_TIMEOUT=3 psql "$1" -XtAqc 'SELECT 1' >/dev/null 2>&1
}

crm_db_url() {
  python3 - "$CRM_PG_ADMIN_URL" "$1" <<'PY'
import sys, urllib.parse as u
url = u.urlsplit(sys.argv[1])
print(u.urlunsplit(url._replace(path="/" + sys.argv[2])))
PY
}

crm_pg_install_server() {
  local initdbs=(/usr/lib/postgresql/*/bin/initdb)
  if [ ! -x "${initdbs[0]}" ]; then
    crm_log "installing Debian's postgresql (no Postgres server found)"
    crm_apt_install postgresql
    initdbs=(/usr/lib/postgresql/*/bin/initdb)
  fi
  CRM_PG_BIN=$(dirname "$(printf '%s\n' "${initdbs[@]}" | sort -V | tail -n 1)")
}

crm_pg_start_throwaway() {
  crm_pg_install_server
  CRM_PG_DATA=$(mktemp -d /tmp/crm-pg.XXXXXX)
  CRM_PG_PORT=$(crm_free_port)
  local owner=""
  # initdb refuses to run as root: the cluster belongs to the postgres system user then.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$CRM_PG_DATA" postgres
    chown postgres "$CRM_PG_DATA"
    owner=postgres
  fi
  crm_as "$owner" "$CRM_PG_BIN/initdb" -D "$CRM_PG_DATA/data" -U postgres --auth=trust \
    --no-sync >"$CRM_PG_DATA/initdb.log" 2>&1 || { cat "$CRM_PG_DATA/initdb.log" >&2; return 1; }
  CRM_PG_OWNER=$owner
  crm_on_exit crm_pg_remove_throwaway
  crm_pg_start
  CRM_PG_ADMIN_URL="postgres://postgres@127.0.0.1:${CRM_PG_PORT}/postgres"
  crm_log "started a throwaway Postgres on 127.0.0.1:${CRM_PG_PORT} ($CRM_PG_DATA)"
}

crm_pg_start() {
  crm_as "$CRM_PG_OWNER" "$CRM_PG_BIN/pg_ctl" -D "$CRM_PG_DATA/data" -l "$CRM_PG_DATA/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $CRM_PG_PORT -k $CRM_PG_DATA -c max_connections=400 -c fsync=off" \
    start >/dev/null
}

crm_pg_stop() {
  crm_as "$CRM_PG_OWNER" "$CRM_PG_BIN/pg_ctl" -D "$CRM_PG_DATA/data" -m fast -w -t 30 stop >/dev/null
}

crm_pg_remove_throwaway() {
  [ -n "$CRM_PG_DATA" ] || return 0
  crm_pg_stop 2>/dev/null || true
  rm -rf "$CRM_PG_DATA"
}

crm_pg_ensure() {
  command -v psql >/dev/null || crm_apt_install postgresql-client
  if [ -n "${DATABASE_URL:-}" ]; then
    crm_pg_reachable "$DATABASE_URL" || crm_die "DATABASE_URL is set but Postgres does not answer there"
    CRM_PG_ADMIN_URL=$DATABASE_URL
  elif crm_pg_reachable "postgres://postgres@127.0.0.1:5432/postgres"; then
    CRM_PG_ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
  else
    crm_pg_start_throwaway
  fi
  export CRM_PG_ADMIN_URL
  crm_on_exit crm_db_drop_all
}

crm_db_create() {
  local name="$1_${CRM_RUN_ID}_$RANDOM"
  psql "$CRM_PG_ADMIN_URL" -XqAtc "CREATE DATABASE \"$name\"" >/dev/null || return 1
  crm_db_url "$name"
}

crm_db_migrate() {
  local url=$1 file
  for file in "$CRM_ROOT"/migrations/*.sql; do
    psql "$url" -XqAt -v ON_ERROR_STOP=1 -f "$file" >/dev/null || return 1
  done
}

crm_db_drop_all() {
  local name
  psql "$CRM_PG_ADMIN_URL" -XqAtc \
    "SELECT datname FROM pg_database WHERE datname LIKE '%\\_${CRM_RUN_ID}\\_%'" 2>/dev/null |
    while read -r name; do
      psql "$CRM_PG_ADMIN_URL" -XqAtc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
}

# crm_pg_ensure_any — crm_pg_ensure for scripts/bench-local.sh, with two more fallbacks: when
# neither DATABASE_URL nor 127.0.0.1:5432 answers and Debian's postgresql binaries are neither
# installed nor installable (not root, no apt-get), `docker compose up -d postgres` on a free
# port (stopped at exit); failing that, a message saying what to install. Sets CRM_PG_ADMIN_URL.
crm_pg_ensure_any() {
  if ! command -v psql >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      crm_apt_install postgresql-client
    else
      crm_die "psql not found: install the PostgreSQL client (Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)"
    fi
  fi
  if [ -n "${DATABASE_URL:-}" ] || crm_pg_reachable "postgres://postgres@127.0.0.1:5432/postgres"; then
    crm_pg_ensure
    return
  fi
  local initdbs=(/usr/lib/postgresql/*/bin/initdb)
  if [ -x "${initdbs[0]}" ] || { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }; then
    crm_pg_ensure
    return
  fi
  if command -v docker >/dev/null && docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    local port _
    port=$(crm_free_port)
    crm_log "starting Postgres with docker compose on 127.0.0.1:$port"
    (cd "$CRM_ROOT" && CRM_PG_PORT=$port docker compose up -d postgres >/dev/null) ||
      crm_die "docker compose up -d postgres failed"
    crm_on_exit "(cd '$CRM_ROOT' && CRM_PG_PORT=$port docker compose stop postgres >/dev/null 2>&1)"
    CRM_PG_ADMIN_URL="postgres://crm:crm@127.0.0.1:$port/postgres"
    for _ in $(seq 1 60); do
      if crm_pg_reachable "$CRM_PG_ADMIN_URL"; then
        export CRM_PG_ADMIN_URL
        crm_on_exit crm_db_drop_all
        return 0
      fi
      sleep 1
    done
    crm_die "the docker compose Postgres did not answer on 127.0.0.1:$port within 60 s"
  fi
  crm_die "no Postgres found. Either set DATABASE_URL to a Postgres you may create databases on, \
start one on 127.0.0.1:5432 (user postgres), install Debian's server (sudo apt-get install \
postgresql) so a throwaway cluster can be started, or install Docker with Compose v2"
}
