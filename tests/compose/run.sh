#!/usr/bin/env bash
# `docker compose up`, for real: the users' docker-compose.yml, started and tested.
#
#   tests/compose/run.sh
#
# Where no image can be pulled (CI), the images are made locally and swapped in by
# tests/compose/docker-compose.ci.yml, which changes image names and nothing else:
#   1. axum-crm/Dockerfile.prebuilt has the users' final stage (checked: dockerfile-parity.sh),
#      and the override changes nothing but image names (checked: override-only-images.py);
#   2. scripts/build-axum-images.sh (shared with the node stage, cached by source): the
#      compiler stage's exact build context (.dockerignore and its COPY lines) assembled by
#      Docker (build-context.sh), `cargo metadata --locked` there, scripts/build-static.sh
#      building the three static binaries from it;
#   3. the three images packaged (each at most 15 MB) and loaded; the Postgres stand-in built
#      (postgres/build.sh, cached);
#   4. the stack comes up (`docker-compose up --no-build`, a project name of its own, ports on
#      127.0.0.1 picked free), the resource limits and hardening are read back from the
#      containers, the gateway's /readyz must answer 200;
#   5. the contract suite's gateway selection runs against the gateway's published port;
#   6. the customer-service process is SIGKILLed from the host (its State.Pid: `docker kill`
#      would count as a manual stop, which unless-stopped never restarts): the gateway must
#      answer 502 (or 504), then 200 with the same customer once the restart policy has brought it back;
#   7. `docker-compose down -v`, then no container, network or volume of the project may be left
#      (also checked when an earlier step failed).
# Exits non-zero when any step fails. Logs and image sizes go to $CRM_RESULTS/compose (or a temp
# directory), printed at the end.
#
# Needs a running Docker Engine; installs docker-compose (Compose v1, Debian), mmdebstrap and
# what scripts/build-static.sh needs when missing (scripts/lib/tools.sh). Environment: CARGO_TARGET_DIR (the contract
# suite), MUSL_TARGET_DIR (the static build), CRM_CONTRACT_SH (default scripts/contract.sh).
set -euo pipefail

# shellcheck source=../../scripts/lib/procs.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib/procs.sh"
# shellcheck source=../../scripts/lib/tools.sh
source "$CRM_ROOT/scripts/lib/tools.sh"
cd "$CRM_ROOT"

readonly SERVICES=(gateway customer-service order-service)
readonly COMPOSE_FILES=(-f docker-compose.yml -f tests/compose/docker-compose.ci.yml)
OUT=${CRM_RESULTS:+$CRM_RESULTS/compose}
OUT=${OUT:-$(mktemp -d /tmp/crm-compose.XXXXXX)}
mkdir -p "$OUT"
PROJECT="crmci$$"

# --- tools ---------------------------------------------------------------------------------------
# All now, before postgres/build.sh (mmdebstrap) and build-static.sh (the musl toolchain) run
# side by side: two apt-get at once fail on dpkg's lock.
crm_tools_ensure docker docker-compose curl python3 mmdebstrap musl-toolchain ||
  crm_die "the tools above are missing"
compose() { docker-compose --project-name "$PROJECT" "${COMPOSE_FILES[@]}" "$@"; }

# --- 1-3: images ---------------------------------------------------------------------------------
crm_log "1/7 the CI Dockerfile's final stage and the CI compose override against the users'"
tests/compose/dockerfile-parity.sh
python3 tests/compose/override-only-images.py

# The Postgres stand-in waits on the Debian mirror and the disk, the static build on the CPU:
# on a cold machine they overlap.
crm_log "   the Postgres stand-in, in the background (log: $OUT/postgres-standin.log)"
tests/compose/postgres/build.sh crm-ci/postgres-standin:ci >"$OUT/postgres-standin.log" 2>&1 &
pg_build=$!
# An early failure still lets it finish, so no half-written cache or image is left behind.
crm_on_exit "wait $pg_build 2>/dev/null || true"

crm_log "2/7 and 3/7: the images, built once and shared with the node stage (scripts/build-axum-images.sh)"
# The compiler stage's exact build context (assembled by Docker), the static binaries built from
# it, the images packaged and checked (each at most 15 MB, /service root's and 0555), kept as
# `docker save` archives keyed by their sources: loaded here, removed again at exit.
t0=$(date +%s)
images_dir=$(scripts/build-axum-images.sh)
crm_log "images ready in $(($(date +%s) - t0))s: $images_dir"
remove_images() {
  local svc
  for svc in "${SERVICES[@]}"; do
    docker image rm "crm-ci/axum-$svc:prebuilt" >/dev/null 2>&1 || true
  done
}
crm_on_exit remove_images
sizes="$OUT/image-sizes.txt"
cp "$images_dir/image-sizes.txt" "$sizes"
for svc in "${SERVICES[@]}"; do
  docker load --quiet --input "$images_dir/axum-$svc.tar" >/dev/null
done
if ! wait "$pg_build"; then
  cat "$OUT/postgres-standin.log" >&2
  crm_die "the Postgres stand-in did not build"
fi
crm_log "$(tail -1 "$OUT/postgres-standin.log")"

# --- 4: up ---------------------------------------------------------------------------------------
export CRM_BIND_ADDR=127.0.0.1
CRM_GATEWAY_PORT=$(crm_free_port)
CRM_CUSTOMER_PORT=$(crm_free_port)
CRM_ORDER_PORT=$(crm_free_port)
CRM_PG_PORT=$(crm_free_port)
export CRM_GATEWAY_PORT CRM_CUSTOMER_PORT CRM_ORDER_PORT CRM_PG_PORT
gateway="http://127.0.0.1:$CRM_GATEWAY_PORT"

# Whatever happens next, the project is taken down and must leave nothing behind.
leftovers() {
  local label="label=com.docker.compose.project=$PROJECT" found
  found=$(
    docker ps -aq --filter "$label"
    docker network ls -q --filter "$label"
    docker network ls -q --filter "name=^${PROJECT}_"
    docker volume ls -q --filter "$label"
    docker volume ls -q --filter "name=^${PROJECT}_"
  )
  [[ -z "$found" ]] || { crm_log "left behind by project $PROJECT: $(tr '\n' ' ' <<<"$found")"; return 1; }
}
torn_down=0
teardown() {
  ((torn_down)) && return 0
  torn_down=1
  compose logs --no-color --timestamps >"$OUT/compose.log" 2>&1 || true
  compose down --volumes --remove-orphans --timeout 10 >"$OUT/down.log" 2>&1 || true
}
crm_on_exit 'teardown; leftovers || true'

crm_log "4/7 docker-compose up (project $PROJECT, gateway $gateway)"
compose up --detach --no-build 2>&1 | tee "$OUT/up.log"
crm_wait_http "$gateway/readyz" 120 || crm_die "the gateway never got ready (logs: $OUT/compose.log)"

container() { compose ps -q "$1"; }
failures=0
check() {
  local what=$1 got=$2 want=$3
  if [[ "$got" == "$want" ]]; then
    crm_log "  ok   $what = $want"
  else
    crm_log "  FAIL $what = $got, want $want"
    failures=$((failures + 1))
  fi
}
check "postgres health" "$(docker inspect --format '{{.State.Health.Status}}' "$(container postgres)")" healthy
for svc in "${SERVICES[@]}"; do
  c=$(container "$svc")
  check "$svc CPU limit (nano CPUs)" "$(docker inspect --format '{{.HostConfig.NanoCpus}}' "$c")" 1000000000
  check "$svc memory limit" "$(docker inspect --format '{{.HostConfig.Memory}}' "$c")" $((256 * 1024 * 1024))
  check "$svc memory+swap limit" "$(docker inspect --format '{{.HostConfig.MemorySwap}}' "$c")" $((256 * 1024 * 1024))
  check "$svc memory reservation" "$(docker inspect --format '{{.HostConfig.MemoryReservation}}' "$c")" $((64 * 1024 * 1024))
  check "$svc CPU shares" "$(docker inspect --format '{{.HostConfig.CpuShares}}' "$c")" 102
  check "$svc user" "$(docker inspect --format '{{.Config.User}}' "$c")" 65532:65532
  check "$svc read-only root" "$(docker inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$c")" true
  check "$svc restart policy" "$(docker inspect --format '{{.HostConfig.RestartPolicy.Name}}' "$c")" unless-stopped
done
((failures == 0)) || crm_die "$failures container setting(s) differ from docker-compose.yml's"

# --- 5: the contract suite -----------------------------------------------------------------------
crm_log "5/7 the contract suite's gateway selection against $gateway"
contract_sh=${CRM_CONTRACT_SH:-scripts/contract.sh}
[[ -x "$contract_sh" ]] || crm_die "$contract_sh (the contract suite's gateway selection) is missing"
CRM_BASE_URL=$gateway CRM_RUNTIME=axum CRM_CONTRACT_REPORT_DIR="$OUT/contract" \
  "$contract_sh" gateway 2>&1 | tee "$OUT/contract.log"

# --- 6: restart ----------------------------------------------------------------------------------
crm_log "6/7 customer-service killed from the host, brought back by its restart policy"
status() { curl -s -o "${2:-/dev/null}" -w '%{http_code}' --max-time 5 "$1" || true; }
created=$(curl -fsS --max-time 5 "$gateway/customers" -H 'content-type: application/json' \
  -d '{"name":"Compose Restart","email":"compose-restart@example.com"}') ||
  crm_die "POST /customers through the gateway failed"
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$created")
url="$gateway/customers/$id"
[[ "$(status "$url" "$OUT/before.json")" == 200 ]] || crm_die "GET $url is not 200 before the kill"

cs=$(container customer-service)
pid=$(docker inspect --format '{{.State.Pid}}' "$cs")
restarts=$(docker inspect --format '{{.RestartCount}}' "$cs")
((pid > 0)) || crm_die "customer-service has no process (State.Pid=$pid)"
kill -KILL "$pid"
crm_log "  SIGKILL to pid $pid (the container's init; RestartCount was $restarts)"

# While it is down the gateway must say so, then answer again: 502 upstream_unavailable when the
# connection is refused or reset, or 504 upstream_timeout when a kept-alive connection to the
# killed container goes silent (its network namespace is torn down without a reset) and the
# gateway's upstream timeout ends the wait first. Either is the contract's answer.
seen=()
deadline=$(($(date +%s) + 60))
got_down=0 back=0
while (($(date +%s) < deadline)); do
  code=$(status "$url" "$OUT/after.json")
  [[ "${seen[*]: -1}" == "$code" ]] || seen+=("$code")
  if [[ "$code" == 502 || "$code" == 504 ]]; then
    got_down=1
  elif [[ "$code" == 200 && $got_down == 1 ]]; then
    back=1
    break
  fi
  sleep 0.05
done
crm_log "  gateway answers, in order: ${seen[*]}"
((got_down)) || crm_die "the gateway never answered 502 or 504 while customer-service was down"
((back)) || crm_die "the gateway did not answer 200 again within 60s of the kill"
cmp -s "$OUT/before.json" "$OUT/after.json" || crm_die "GET $url after the restart differs from before"
check "customer-service RestartCount" "$(docker inspect --format '{{.RestartCount}}' "$cs")" $((restarts + 1))
check "customer-service running" "$(docker inspect --format '{{.State.Running}}' "$cs")" true
((failures == 0)) || crm_die "customer-service did not come back as expected"

# --- 7: down -------------------------------------------------------------------------------------
crm_log "7/7 docker-compose down -v"
teardown
leftovers || crm_die "docker-compose down -v left resources behind"
crm_log "  nothing left: no container, network or volume of project $PROJECT"

echo
cat "$sizes"
crm_log "compose test passed; logs and image sizes in $OUT (binaries and images: $images_dir)"
