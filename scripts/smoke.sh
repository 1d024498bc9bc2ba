#!/usr/bin/env bash
# Smoke test of both stacks in the k3d cluster: port-forwards each gateway and sends one request
# of each kind (health, readiness, customer and order CRUD, the ping route, /compute, an
# unknown path, a validation error), printing one PASS/FAIL line per check.
#
# Usage: scripts/smoke.sh [axum|spin ...]      (default: both)
# Exit status: 0 when every check passed. The port-forwards are stopped on exit.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib/cluster.sh
source "$(dirname "$0")/lib/cluster.sh"

require_tools kubectl curl python3
use_cluster_context

stacks=("$@")
((${#stacks[@]})) || stacks=("${STACKS[@]}")

PASSED=0
FAILED=0
TMP="$(mktemp -d)"
cleanup() {
  for s in "${stacks[@]}"; do port_forward_stop "smoke-$s"; done
  rm -rf "$TMP"
}
trap cleanup EXIT

# req METHOD URL [JSON_BODY]: sets CODE, BODY (text) and HEADERS (lower-cased names).
req() {
  local method="$1" url="$2" body="${3:-}" args=()
  args=(-s -X "$method" --connect-timeout 2 --max-time 10 -D "$TMP/h" -o "$TMP/b" -w '%{http_code}')
  [[ -z "$body" ]] || args+=(-H 'content-type: application/json' --data "$body")
  CODE="$(curl "${args[@]}" "$url" 2>/dev/null || true)"
  BODY="$(cat "$TMP/b" 2>/dev/null || true)"
  HEADERS="$(tr '[:upper:]' '[:lower:]' <"$TMP/h" 2>/dev/null || true)"
}

# json_field FIELD: a top-level field of BODY ("" if absent or not JSON).
json_field() {
  printf '%s' "$BODY" | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1], "")
except Exception:
    v = ""
print(v if not isinstance(v, dict) else json.dumps(v))' "$1"
}

check() { # NAME EXPECTED_CODE [extra condition result: 0 ok]
  local name="$1" want="$2" extra="${3:-0}"
  if [[ "$CODE" == "$want" && "$extra" == 0 ]]; then
    printf 'PASS %-5s %s\n' "$STACK" "$name"
    PASSED=$((PASSED + 1))
  else
    printf 'FAIL %-5s %s: got %s, want %s %s\n' "$STACK" "$name" "$CODE" "$want" "$(printf '%.200s' "$BODY")"
    FAILED=$((FAILED + 1))
  fi
}

has_header() { grep -q "^$1:" <<<"$HEADERS" && echo 0 || echo 1; }

local_port() { case "$1" in axum) echo 28080 ;; spin) echo 28081 ;; esac }

for STACK in "${stacks[@]}"; do
  ns="$(stack_namespace "$STACK")" || die "unknown stack $STACK (axum or spin)"
  port="$(local_port "$STACK")"
  if ! port_forward_start "smoke-$STACK" "$ns" svc/gateway "$port" "$(service_port "$STACK" gateway)"; then
    printf 'FAIL %-5s port-forward to %s/svc/gateway\n' "$STACK" "$ns"
    FAILED=$((FAILED + 1))
    continue
  fi
  base="http://127.0.0.1:$port"

  req GET "$base/healthz"
  check "GET /healthz (runtime $STACK)" 200 "$([[ "$(json_field runtime)" == "$STACK" ]] && echo 0 || echo 1)"
  req GET "$base/readyz"
  check "GET /readyz" 200
  req GET "$base/customers/ping"
  check "GET /customers/ping" 200

  req POST "$base/customers" '{"name":"Smoke Test","email":"Smoke@Example.com","phone":"+1 555 0100"}'
  cid="$(json_field id)"
  check "POST /customers" 201 "$([[ "$cid" =~ ^[0-9]+$ ]] && echo 0 || echo 1)"
  req GET "$base/customers/$cid"
  check "GET /customers/{id} (server-timing)" 200 "$(has_header server-timing)"
  req GET "$base/customers?limit=1"
  check "GET /customers?limit=1" 200
  req PUT "$base/customers/$cid" '{"name":"Smoke Test 2","email":"smoke2@example.com"}'
  check "PUT /customers/{id}" 200

  req POST "$base/orders" "{\"customer_id\":${cid:-0},\"product\":\"widget\",\"quantity\":2,\"unit_price_cents\":150}"
  oid="$(json_field id)"
  check "POST /orders (customer check)" 201 "$([[ "$(json_field total_cents)" == 300 ]] && echo 0 || echo 1)"
  req GET "$base/orders/$oid"
  check "GET /orders/{id}" 200
  req GET "$base/orders?customer_id=${cid:-0}"
  check "GET /orders?customer_id=" 200
  req PUT "$base/orders/$oid" '{"product":"widget","quantity":2,"unit_price_cents":150,"status":"paid"}'
  check "PUT /orders/{id} pending->paid" 200

  req GET "$base/compute?n=90&algo=iterative"
  check "GET /compute" 200 "$(has_header server-timing)"
  req POST "$base/customers" '{"name":"","email":"nope"}'
  check "POST /customers invalid -> validation_failed" 400 "$([[ "$BODY" == *validation_failed* ]] && echo 0 || echo 1)"
  req GET "$base/no-such-path"
  check "GET /no-such-path" 404

  req DELETE "$base/orders/$oid"
  check "DELETE /orders/{id}" 204
  req DELETE "$base/customers/$cid"
  check "DELETE /customers/{id}" 204
  port_forward_stop "smoke-$STACK"
done

echo "smoke: $PASSED passed, $FAILED failed"
((FAILED == 0))
