#!/bin/bash
# CI STAND-IN for the entrypoint of the official postgres image, which cannot be pulled on the CI
# machines. It keeps the parts of that image's contract docker-compose.yml relies on, and no
# more:
#   - POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres), POSTGRES_DB (default: the
#     user), PGDATA (default /var/lib/postgresql/data);
#   - on an empty data directory only: initdb, then a temporary server on the Unix socket only
#     while /docker-entrypoint-initdb.d/* runs (*.sh executed if executable, else sourced;
#     *.sql fed to psql), in name order;
#   - the server runs as the postgres user, listens on every address, and checks passwords
#     (scram-sha-256) for TCP clients, trusting the socket inside the container.
# Anything else (POSTGRES_INITDB_ARGS, *.sql.gz, Docker secrets' *_FILE, ...) is left out.
set -Eeuo pipefail

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [[ "${1:-}" != postgres ]]; then
  exec "$@"
fi

# Started as root: own the directories, then come back as postgres (as the official image does
# with gosu; setpriv is util-linux's, already in the base system).
if [[ "$(id -u)" == 0 ]]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

log() { printf 'postgres-standin: %s\n' "$*" >&2; }

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
    log "error: POSTGRES_PASSWORD is not set (the official image refuses to start too)"
    exit 1
  fi
  export POSTGRES_USER=${POSTGRES_USER:-postgres}
  export POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  log "initialising $PGDATA"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" \
    --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # No JIT: the stand-in's rootfs leaves LLVM out.
  printf "listen_addresses = '*'\njit = off\n" >>"$PGDATA/postgresql.conf"

  # Socket only, so nothing outside (a healthcheck over TCP included) sees a half-made server.
  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
  psql_args=(-v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER")
  if [[ "$POSTGRES_DB" != postgres ]]; then
    psql "${psql_args[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
  fi
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        if [[ -x "$f" ]]; then
          log "running $f"
          "$f"
        else
          log "sourcing $f"
          # shellcheck disable=SC1090 # whatever the user mounted
          . "$f"
        fi
        ;;
      *.sql)
        log "running $f"
        psql "${psql_args[@]}" --dbname "$POSTGRES_DB" -f "$f"
        ;;
      *) log "ignoring $f" ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  log "initialisation complete"
fi

exec "$@"
