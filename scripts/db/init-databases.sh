#!/usr/bin/env bash
# Creates the two CRM databases and applies every migrations/*.sql, in name order, to each:
#   crm_containers (the Axum stack) and crm_wasm (the Spin stack), same schema.
#
# Run by the postgres image's entrypoint from /docker-entrypoint-initdb.d on an empty data
# directory (docker-compose.yml mounts it there and the migrations at /migrations). It can be
# run again at any time, in the container or from the repository against any server, because
# it is idempotent: databases are created only when missing and the migrations use
# CREATE ... IF NOT EXISTS.
#
# Environment (all optional):
#   MIGRATIONS_DIR  the *.sql files; default /migrations if it exists, else the repository's
#                   migrations/ beside this script
#   CRM_DATABASES   space-separated databases; default "crm_containers crm_wasm"
#   POSTGRES_USER   the role to connect as and to own the databases (set by the postgres
#                   image; default: libpq's, i.e. PGUSER or the login name)
#   PGHOST, PGPORT, PGPASSWORD, ...  libpq's usual variables; inside the image's init phase
#                   the default (the local socket) is right
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${MIGRATIONS_DIR:-}" ]]; then
    if [[ -d /migrations ]]; then
        MIGRATIONS_DIR=/migrations
    else
        MIGRATIONS_DIR="$here/../../migrations"
    fi
fi
read -r -a databases <<<"${CRM_DATABASES:-crm_containers crm_wasm}"

# Name order, independent of the locale's collation.
export LC_ALL=C
shopt -s nullglob
migrations=("$MIGRATIONS_DIR"/*.sql)
if ((${#migrations[@]} == 0)); then
    echo "init-databases: no *.sql files in $MIGRATIONS_DIR" >&2
    exit 1
fi

# Re-runs would print a NOTICE per existing object; warnings and errors still show.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
psql_args=(-v ON_ERROR_STOP=1 --no-psqlrc --quiet --no-password)
if [[ -n "${POSTGRES_USER:-}" ]]; then
    psql_args+=(--username "$POSTGRES_USER")
fi

for db in "${databases[@]}"; do
    # psql variables are quoted by psql itself (:'db' a literal, :"db" an identifier).
    psql "${psql_args[@]}" --dbname postgres -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
    for file in "${migrations[@]}"; do
        psql "${psql_args[@]}" --dbname "$db" --file "$file"
    done
    echo "init-databases: $db: applied ${#migrations[@]} migration file(s) from $MIGRATIONS_DIR"
done
