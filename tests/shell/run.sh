#!/usr/bin/env bash
# Tests of the benchmark scripts without a cluster: how they find and call crm-bench (the parsers'
# figures are crm-bench's unit tests, on the same fixtures), `kubectl top` samples aggregated,
# a cold-start run recorded, registry push digests, image rendering, result-file assembly,
# summary.json, environment and artifact sizes (crm-bench, through scripts/lib/cluster.sh's
# crm_bench), and the manifest rules.
# Last line: "shell: N passed, M failed" (exit status 1 if any failed).
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the work tree
HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../../scripts/lib/cluster.sh
source "$HERE/../../scripts/lib/cluster.sh"
# shellcheck source=../../scripts/lib/tools.sh
source "$HERE/../../scripts/lib/tools.sh"
# validate_manifests.py runs on kubernetes-validate's interpreter (PyYAML, jsonschema), as in
# scripts/validate.sh.
if [[ -z "${CRM_MANIFEST_PY:-}" ]]; then
  crm_tools_ensure kubernetes-validate || exit 1
  CRM_MANIFEST_PY="$(dirname "$(crm_tool_path kubernetes-validate)")/python"
fi
FX="$HERE/fixtures"
# crm-bench's own fixtures: its unit tests check what `crm-bench parse` reads from them; here they
# only feed the scripts' use of the CLI (one copy, kept with the parser).
BENCH_FX="$CRM_ROOT/tools/crm-bench/tests/fixtures"
BP=(crm_bench parse)
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
# expect NAME EXPECTED ACTUAL
expect() {
  if [[ "$2" == "$3" ]]; then
    PASSED=$((PASSED + 1))
    printf 'ok   %s\n' "$1"
  else
    FAILED=$((FAILED + 1))
    printf 'FAIL %s\n     expected: %s\n     actual:   %s\n' "$1" "$2" "$3"
  fi
}

# jq-like field access with python: jget FILE EXPR (EXPR in Python, `d` is the document).
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# --- finding crm-bench (scripts/lib/cluster.sh's crm_bench) ------------------------------------
LT="$TMP/lookup-target"
mkdir -p "$LT/release" "$LT/debug"
for p in release debug; do printf '#!/bin/sh\necho %s "$@"\n' "$p" >"$LT/$p/crm-bench"; done
chmod +x "$LT/release/crm-bench" "$LT/debug/crm-bench"
expect "crm_bench: the release build when it is newer than the sources" "release x" "$(CRM_BENCH='' CARGO_TARGET_DIR="$LT" crm_bench x)"
touch -d '2000-01-01' "$LT/release/crm-bench"
expect "crm_bench: else the debug build" "debug x" "$(CRM_BENCH='' CARGO_TARGET_DIR="$LT" crm_bench x)"
expect "crm_bench: \$CRM_BENCH first" "release y" "$(CRM_BENCH="$LT/release/crm-bench" CARGO_TARGET_DIR="$LT" crm_bench y)"

# --- the parsers as the scripts call them (their figures: crm-bench's unit tests) -------------
"${BP[@]}" k6 "$BENCH_FX/k6-load.json" >"$TMP/k6.json"
expect "k6: the parsed summary as JSON" 3765 "$(jget "$TMP/k6.json" 'int(d["overall"]["requests"])')"

# --- kubectl top ----------------------------------------------------------------------------
"${BP[@]}" top "$BENCH_FX/top.txt" >"$TMP/top.json"
expect "top: one line per sample" 1 "$(wc -l <"$TMP/top.json" | tr -d ' ')"
"${BP[@]}" top "$BENCH_FX/top-missing.txt" >"$TMP/idle.jsonl"
cat "$TMP/top.json" >>"$TMP/idle.jsonl"
"${BP[@]}" top - </dev/null >"$TMP/load.jsonl"
crm_bench cluster resources --idle "$TMP/idle.jsonl" --load "$TMP/load.jsonl" --out "$TMP/res.json" \
  --stack axum --namespace containers gateway customer-service order-service >"$TMP/res.txt"
expect "top: aggregation counts only samples where the pod was reported" "2 1.5 2.0 1" \
  "$(jget "$TMP/res.json" '"%s %s %s %s" % (d["idle"]["gateway"]["samples"], d["idle"]["gateway"]["cpu_m"]["avg"], d["idle"]["gateway"]["cpu_m"]["max"], d["idle"]["customer-service"]["samples"])')"
expect "resources: no metrics in a phase is null, listed, never 0" "None gateway customer-service order-service True" \
  "$(jget "$TMP/res.json" '"%s %s %s" % (d["load"]["gateway"], " ".join(d["without_metrics"]), d["available"] is False)')"
expect "resources: a line per phase and service" 6 "$(grep -c '^resources axum ' "$TMP/res.txt")"

# --- a cold-start run as recorded; the availability figures assembled below --------------------
"${BP[@]}" availability "$BENCH_FX/probe-availability.log" 1000000000 >"$TMP/av.json"
printf '5 6 502\n' >"$TMP/never.log"
# A run as coldstart-test.sh records it: the pod from `kubectl get pod -o json`, created in
# the scale-up's second (the probe log's clock: 2000000000 µs = 1970-01-01T00:33:20Z), no restarts.
cat >"$TMP/pod.json" <<'JSON'
{"metadata": {"name": "customer-service-5b7c9-abcde", "creationTimestamp": "1970-01-01T00:33:20Z"},
 "status": {"containerStatuses": [{"restartCount": 0, "state": {"running": {"startedAt": "1970-01-01T00:33:21Z"}}}],
            "conditions": [{"type": "Ready", "lastTransitionTime": "1970-01-01T00:33:21Z"}]}}
JSON
crm_bench cluster coldstart-run --run 1 --pods-before 0 --scale-up-us 2000000000 \
  --probe-log "$BENCH_FX/probe-coldstart.log" --direct-log "$TMP/never.log" --pod-json "$TMP/pod.json" \
  >"$TMP/runs.jsonl" 2>"$TMP/run.txt"
crm_bench cluster coldstart-run --run 2 --pods-before 1 --scale-up-us 2000000000 \
  --probe-log "$BENCH_FX/probe-coldstart.log" --direct-log "$TMP/never.log" >>"$TMP/runs.jsonl" 2>/dev/null
expect "coldstart run: one JSON line per run, the pod and from-zero check" "2 customer-service-5b7c9-abcde True False" \
  "$(python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(len(r), r[0]["pod"]["name"], r[0]["from_zero"], r[1]["from_zero"])' "$TMP/runs.jsonl")"
expect "coldstart run: its figures said on stderr" yes "$(grep -q 'first 200 after .* ms through the gateway, none ms from the pod itself, from zero: true' "$TMP/run.txt" && echo yes || echo no)"
crm_bench cluster coldstart --runs "$TMP/runs.jsonl" --out "$TMP/coldstart.json" --stack spin --namespace wasm \
  --target customer-service --probe-url http://127.0.0.1:18081/customers/ping >/dev/null
expect "coldstart summary: only runs from zero count" "1 False None" \
  "$(jget "$TMP/coldstart.json" '"%s %s %s" % (d["valid_runs"], d["all_from_zero"], d["direct_first_200_ms"])')"
expect "coldstart summary: the median of the valid runs" "73.5 2" \
  "$(jget "$TMP/coldstart.json" '"%s %s" % (d["first_200_ms"]["median"], len(d["runs"]))')"

# --- registry pushes and manifests ------------------------------------------------------------
expect "digest: none found fails" 1 "$("${BP[@]}" push-digest "$BENCH_FX/push-none.txt" >/dev/null 2>&1 && echo 0 || echo 1)"
render_images "$FX/manifest.yaml" "axum-gateway=$REGISTRY_PULL/crm/axum-gateway@sha256:abc" >"$TMP/rendered.yaml"
expect "render_images: exact image replaced, look-alike untouched" \
  "$REGISTRY_PULL/crm/axum-gateway@sha256:abc $REGISTRY_PULL/crm/axum-gateway-extra:dev" \
  "$(awk '/image:/ {printf "%s%s", sep, $2; sep=" "}' "$TMP/rendered.yaml")"
expect "render_images: no refs: the registry put in, :dev kept" \
  "$REGISTRY_PULL/crm/axum-gateway:dev $REGISTRY_PULL/crm/axum-gateway-extra:dev" \
  "$(render_images "$FX/manifest.yaml" | awk '/image:/ {printf "%s%s", sep, $2; sep=" "}')"
# Every image of k8s/ pinned for a registry on a port other than the default (REGISTRY_PORT is
# read when cluster.sh is sourced, as the scripts do).
# shellcheck disable=SC2016 # expanded by the inner bash
REGISTRY_PORT=5999 bash -c '
  source "$1/scripts/lib/cluster.sh"
  refs=()
  for s in axum spin; do
    for svc in "${SERVICES[@]}"; do refs+=("$s-$svc=$REGISTRY_PULL/crm/$s-$svc@sha256:$s$svc"); done
  done
  for f in "$1"/k8s/*.yaml "$1"/k8s/*/*.yaml; do render_images "$f" "${refs[@]}"; done
' _ "$CRM_ROOT" >"$TMP/all-rendered.yaml"
expect "render_images, REGISTRY_PORT=5999: all six images pinned by digest on that port" 6 \
  "$(grep -cE '^ *image: k3d-crm-registry\.localhost:5999/crm/(axum|spin)-[a-z-]+@sha256:' "$TMP/all-rendered.yaml")"
# The observability overlay's images are third-party, pinned by tag (k8s/observability/).
expect "render_images, REGISTRY_PORT=5999: no other image than postgres and the monitoring ones" \
  "$POSTGRES_IMAGE $GRAFANA_IMAGE $KUBE_STATE_METRICS_IMAGE $PROMETHEUS_IMAGE" \
  "$(grep -E '^ *image:' "$TMP/all-rendered.yaml" | grep -v '@sha256:' | awk '{print $2}' | paste -sd ' ' -)"
expect "selector_from_json: matchLabels to -l syntax" "a=1,core.spinkube.dev/app-name=gateway" \
  "$(echo '{"matchLabels":{"core.spinkube.dev/app-name":"gateway","a":"1"}}' | selector_from_json)"
expect "stack mapping" "containers wasm 8001 80 http://127.0.0.1:18081" \
  "$(stack_namespace axum) $(stack_namespace spin) $(service_port axum customer-service) $(service_port spin order-service) $(stack_url spin)"
t1="$(now_us)"
t2="$(now_us)"
expect "now_us: 16 digits, monotonic" "yes" "$([[ "$t1" =~ ^[0-9]{16}$ && "$t2" -ge "$t1" ]] && echo yes || echo no)"

# --- result files and summary.json ------------------------------------------------------------
"${BP[@]}" json-obj test=x 'n:=3' 'nested.ms:=1.5' "file@=$FX/results/20260101T000000Z/axum/coldstart.json" "gone@=$TMP/nope.json" >"$TMP/obj.json"
expect "json-obj: strings, raw JSON, nesting, files, absent file -> null" "x 3 1.5 812.5 None" \
  "$(jget "$TMP/obj.json" '"%s %s %s %s %s" % (d["test"], d["n"], d["nested"]["ms"], d["file"]["first_200_ms"]["median"], d["gone"])')"
expect "json-get: a string as it is, a number as JSON, a missing path fails" "812.5 coldstart fails" \
  "$("${BP[@]}" json-get "$TMP/obj.json" file.first_200_ms.median) $("${BP[@]}" json-get - test <"$FX/results/20260101T000000Z/axum/coldstart.json") $("${BP[@]}" json-get "$TMP/obj.json" n.x 2>/dev/null || echo fails)"
# availability-test.sh's result file: the object assembled with json-obj, then described.
"${BP[@]}" json-obj test=availability stack=axum target=customer-service 'killed_pods:=["a","b"]' \
  "replacement_ready_ms:=2210" "probe@=$TMP/av.json" "load@=$TMP/k6.json" >"$TMP/availability.json"
expect "availability: the assembled file, described in one line" \
  "availability axum/customer-service: 4 failed probes, first success after 210 ms, recovered after 408 ms, replacement ready after 2210 ms" \
  "$(crm_bench cluster describe-availability "$TMP/availability.json")"
cp -r "$FX/results/20260101T000000Z" "$TMP/run"
cp "$TMP/availability.json" "$TMP/run/axum/availability.json"
crm_bench collect --quiet "$TMP/run"
S="$TMP/run/summary.json"
expect "summary: schema version, run id, environment kind" "1 run k3d" \
  "$(jget "$S" '"%s %s %s" % (d["schema_version"], d["run_id"], d["environment"]["kind"])')"
expect "summary: stacks by label, the five k6 tests each" "axum spin | cpu-bound error load ping-db scale" \
  "$(jget "$S" '" ".join(d["stacks"]) + " | " + " ".join(sorted(d["stacks"]["axum"]["k6"]))')"
expect "summary: k6 numbers and other tests carried" "3765 812.5 False 4" \
  "$(jget "$S" '"%d %s %s %s" % (d["stacks"]["axum"]["k6"]["load"]["overall"]["requests"], d["stacks"]["axum"]["coldstart"]["first_200_ms"]["median"], d["stacks"]["spin"]["resources"]["available"], d["stacks"]["axum"]["availability"]["probe"]["failed_requests"])')"
expect "summary: missing raw files listed, not fatal" "yes" \
  "$(jget "$S" '"yes" if any("axum/k6-scale.json: missing" in p for p in d["problems"]) else "no"')"
expect "summary: runtime that answered must match the label" "yes" \
  "$(jget "$S" '"yes" if any("answered by runtime" in p and "spin" in p for p in d["problems"]) else "no"')"
expect "summary: optional artifacts absent is null, not a problem" "None no" \
  "$(jget "$S" '"%s %s" % (d["stacks"]["axum"]["artifacts"], "yes" if any("artifacts" in p for p in d["problems"]) else "no")')"
rm "$S"
expect "report.sh: collects when summary.json is missing, then reports" "yes yes" \
  "$(bash "$CRM_ROOT/scripts/report.sh" "$TMP/run" >/dev/null 2>&1; [[ -f "$S" ]] && echo yes || echo no) $([[ -f "$TMP/run/report.md" ]] && echo yes || echo no)"

# --- environment and artifacts ----------------------------------------------------------------
crm_bench env --kind k3d --pin spin_cli=3.5.1 --setting vus=20 --setting "note=a=b" --out "$TMP/env.json"
expect "env: kind, pins and settings as given, every tool listed" "k3d 3.5.1 20 a=b True" \
  "$(jget "$TMP/env.json" '"%s %s %s %s %s" % (d["kind"], d["pins"]["spin_cli"], d["settings"]["vus"], d["settings"]["note"], {"k6", "kubectl", "k3d", "helm", "docker", "spin", "rustc"} <= set(d["tools"]))')"
expect "env: the machine" "True True" \
  "$(jget "$TMP/env.json" '"%s %s" % (d["cpu"]["cores"] >= 1, d["memory_bytes"] > 0)')"
expect "env: a bad pair fails" 1 "$(crm_bench env --kind k3d --pin novalue >/dev/null 2>&1 && echo 0 || echo 1)"
# Stand-in docker reporting a size for every image.
mkdir -p "$TMP/size-bin"
printf '#!/bin/sh\necho 1000\n' >"$TMP/size-bin/docker"
chmod +x "$TMP/size-bin/docker"
PATH="$TMP/size-bin:$PATH" crm_bench artifacts --stack axum --registry localhost:5999 --out "$TMP/art-axum.json"
expect "artifacts axum: the pushed images, by ref, summed" "localhost:5999/crm/axum-gateway:dev oci-image 3000" \
  "$(jget "$TMP/art-axum.json" '"%s %s %d" % (d["items"]["gateway"]["ref"], d["items"]["gateway"]["kind"], d["total_bytes"])')"
crm_bench artifacts --stack spin --root "$FX/artifacts-repo" --out "$TMP/art-spin.json"
expect "artifacts spin: the components each spin.toml names; one missing leaves the total null" "5 7 None None" \
  "$(jget "$TMP/art-spin.json" '"%d %d %s %s" % (d["items"]["gateway"]["bytes"], d["items"]["customer-service"]["components"]["customer-service"], d["items"]["order-service"]["bytes"], d["total_bytes"])')"
crm_bench artifacts --stack axum --bin-dir "$FX/artifacts-repo/bin" --out "$TMP/art-bin.json"
expect "artifacts axum --bin-dir: the release binaries" "binary 3 9" \
  "$(jget "$TMP/art-bin.json" '"%s %d %d" % (d["items"]["gateway"]["kind"], d["items"]["order-service"]["bytes"], d["total_bytes"])')"

# --- manifest rules -------------------------------------------------------------------------
"$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" least-privilege "$FX/bad-repo" >"$TMP/lp.txt" 2>&1 && lp=0 || lp=$?
expect "least-privilege: a bad repo fails" 1 "$lp"
for rule in "Secrets are generated" "literal database URL" "DATABASE_URL must come from a secretKeyRef" \
  "readOnlyRootFilesystem must be true" "must run as non-root" "capabilities must drop ALL" "wildcard outbound host" \
  "variable order_service_url of its spin.toml is not set" "variable not_declared is not declared"; do
  expect "least-privilege: reports '$rule'" yes "$(grep -q "$rule" "$TMP/lp.txt" && echo yes || echo no)"
done
"$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" least-privilege "$CRM_ROOT" >"$TMP/lp2.txt" 2>&1 && lp=0 || lp=$?
expect "least-privilege: the project's own manifests pass" 0 "$lp"

# --- Postgres's connection budget (validate_manifests.py connections) ---------------------------
conn_rule() { "$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" connections "$1" >"$TMP/conn.txt" 2>&1 && echo 0 || echo 1; }
expect "connections: the project's manifests fit max_connections" 0 "$(conn_rule "$CRM_ROOT")"
mkdir -p "$TMP/conn"
cp -r "$CRM_ROOT/k8s" "$TMP/conn/"
sed -i 's/max_connections=[0-9]*/max_connections=400/' "$TMP/conn/k8s/postgres.yaml"
expect "connections: 400 is below the worst case (555) and is reported" "1 yes" \
  "$(conn_rule "$TMP/conn") $(grep -q 'below the worst case 555' "$TMP/conn.txt" && echo yes || echo no)"
cp "$CRM_ROOT/k8s/postgres.yaml" "$TMP/conn/k8s/postgres.yaml"
sed -i 's/maxReplicas: 3/maxReplicas: 5/' "$TMP/conn/k8s/autoscaling/wasm-hpa.yaml"
expect "connections: a higher maxReplicas on the Spin side is counted (6 pods x 64)" "1 yes" \
  "$(conn_rule "$TMP/conn") $(grep -q 'wasm/customer-service: 6 pods x 64' "$TMP/conn.txt" && echo yes || echo no)"

# --- versions.env, the one pins file -------------------------------------------------------------
# What cannot source it (JSON, YAML) must say the same; the scripts that source it get its values.
expect "versions.env: spin.sh's CRM_SPIN_VERSION is its SPIN_CLI_VERSION" "$SPIN_CLI_VERSION" "$CRM_SPIN_VERSION"
expect "versions.env: the k3d image is containerd-shim-spin's at its pinned version" \
  "ghcr.io/spinframework/containerd-shim-spin/k3d:$CONTAINERD_SHIM_SPIN_VERSION" "$K3D_IMAGE"
expect "versions.env: K8S_SERVER_VERSION is K3S_VERSION's Kubernetes" "v$K8S_SERVER_VERSION" "${K3S_VERSION%%-*}"
expect "versions.env: devbox.json's kubectl and k6" "$KUBECTL_VERSION $K6_VERSION" \
  "$(jget "$CRM_ROOT/devbox.json" 'd["packages"]["kubectl"] + " " + d["packages"]["k6"]')"
expect "versions.env: Postgres in k8s/postgres.yaml and docker-compose.yml" "$POSTGRES_IMAGE $POSTGRES_IMAGE" \
  "$(grep -hE '^ *image: postgres:' "$CRM_ROOT/k8s/postgres.yaml" "$CRM_ROOT/docker-compose.yml" | awk '{print $2}' | paste -sd ' ' -)"
expect "versions.env: the observability images in k8s/observability/" \
  "$(printf '%s\n' "$GRAFANA_IMAGE" "$KUBE_STATE_METRICS_IMAGE" "$PROMETHEUS_IMAGE" | sort | paste -sd ' ' -)" \
  "$(grep -hE '^ *image:' "$CRM_ROOT"/k8s/observability/*.yaml | awk '{print $2}' | sort | paste -sd ' ' -)"
expect "versions.env: the Spin SDK spin-crm/Cargo.toml builds with" yes \
  "$(grep -qE "^spin-sdk = .*\"=?$SPIN_SDK_VERSION\"" "$CRM_ROOT/spin-crm/Cargo.toml" && echo yes || echo no)"
expect "versions.env: every line is KEY=value or a comment (bash and Rust read it alike)" "" \
  "$(grep -vnE '^(#.*|[A-Z][A-Z0-9_]*=[^[:space:]\"'"'"'$`\\;#]+|)$' "$CRM_ROOT/versions.env")"

# --- scripts/lib/spin.sh, the one Spin resolver ------------------------------------------------
# shellcheck source=../../scripts/lib/spin.sh
source "$CRM_ROOT/scripts/lib/spin.sh"
# shellcheck source=spin-resolver.sh
source "$HERE/spin-resolver.sh"
# shellcheck source=shim-resolver.sh
source "$HERE/shim-resolver.sh"
# shellcheck source=devbox-init.sh
source "$HERE/devbox-init.sh"
# shellcheck source=cluster-scripts.sh
source "$HERE/cluster-scripts.sh"
# shellcheck source=preflight.sh
source "$HERE/preflight.sh"

echo "shell: $PASSED passed, $FAILED failed"
((FAILED == 0))
