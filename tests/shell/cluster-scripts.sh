# shellcheck shell=bash
# shellcheck disable=SC2030,SC2031 # the stand-ins are put on PATH in subshells on purpose
# shellcheck disable=SC2016 # single-quoted $ are literal text to find
# Sourced by tests/shell/run.sh (expect, TMP, CRM_ROOT, cluster.sh's functions): the k3d scripts'
# behaviour with stand-in kubectl, docker, spin and curl on PATH, and the cluster manifest rules.

STUB="$TMP/stub-bin"
mkdir -p "$STUB" "$TMP/www" "$TMP/state"
: >"$TMP/www/healthz"
export STUB_LOG="$TMP/stub.log"

# kubectl: `port-forward` serves /healthz on the local port until TERM (like the real one, a
# long-running process); `patch` fails as a webhook would; everything else succeeds silently.
cat >"$STUB/kubectl" <<'SH'
#!/usr/bin/env bash
echo "kubectl $*" >>"$STUB_LOG"
case " $* " in
  *" port-forward "*)
    for a; do case "$a" in [0-9]*:[0-9]*) lport="${a%%:*}" ;; esac; done
    cd "$STUB_WWW" || exit 1
    python3 -m http.server --bind 127.0.0.1 "$lport" >/dev/null 2>&1 &
    child=$!
    echo "$child" >"$STUB_CHILD"
    trap 'kill "$child"; exit 0' TERM
    wait
    ;;
  *" patch "*) echo 'Error from server: admission webhook "vspinapp.kb.io" denied the request' >&2; exit 1 ;;
esac
exit 0
SH
# docker and spin: record the arguments, print what a push prints.
cat >"$STUB/docker" <<'SH'
#!/usr/bin/env bash
echo "docker $*" >>"$STUB_LOG"
[[ "$1" != push ]] || echo "dev: digest: sha256:$(printf 'a%.0s' {1..64}) size: 1570"
SH
cat >"$STUB/spin" <<'SH'
#!/usr/bin/env bash
echo "spin $*" >>"$STUB_LOG"
[[ "$1 $2" != "registry push" ]] || echo "Pushed with digest sha256:$(printf 'b%.0s' {1..64})"
SH
# curl (a PATH of its own: http_code needs the real one): the registry's answer to a HEAD.
mkdir -p "$TMP/stub-curl"
cat >"$TMP/stub-curl/curl" <<'SH'
#!/usr/bin/env bash
echo "curl $*" >>"$STUB_LOG"
printf 'HTTP/1.1 200 OK\r\nDocker-Content-Digest: sha256:%s\r\n\r\n' "$(printf 'c%.0s' {1..64})"
SH
chmod +x "$STUB"/* "$TMP/stub-curl/curl"

# --- port-forwards are stopped (issue: the recorded pid was a subshell) -----------------------
pf_port=$((20000 + RANDOM % 20000))
pf_rc=0
(
  export PATH="$STUB:$PATH" CRM_STATE_DIR="$TMP/state" STUB_WWW="$TMP/www" STUB_CHILD="$TMP/pf-child"
  port_forward_start smoke-test wasm svc/gateway "$pf_port" 80 || exit 1
  pid="$(cat "$CRM_STATE_DIR/smoke-test.pid")"
  ps -p "$pid" -o args= >"$TMP/pf-args"
  port_forward_stop_all
  # Running, not a zombie waiting for its parent to reap it.
  running() { ps -p "$1" -o stat= 2>/dev/null | grep -qv Z; }
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    running "$(cat "$STUB_CHILD")" || break
    sleep 0.2
  done
  alive=""
  if running "$pid"; then alive+=" kubectl"; fi
  if running "$(cat "$STUB_CHILD")"; then alive+=" server"; fi
  if [[ -e "$CRM_STATE_DIR/smoke-test.pid" ]]; then alive+=" pidfile"; fi
  echo "${alive:- none}" >"$TMP/pf-alive"
) || pf_rc=$?
expect "port-forward: starts and answers" 0 "$pf_rc"
expect "port-forward: the recorded pid is the kubectl port-forward process" yes \
  "$(grep -q "$STUB/kubectl --context $KUBE_CONTEXT port-forward -n wasm svc/gateway $pf_port:80" "$TMP/pf-args" && echo yes || echo no)"
expect "port-forward: stop ends it (and nothing is left running)" " none" "$(cat "$TMP/pf-alive")"

# --- pushes keep their digest when nothing changed ----------------------------------------------
# A git that logs its arguments and dates a log of the Spin inputs (spin-crm) 1600000000 and
# anything else 1700000000: each image's epoch must come from its own inputs' last commit.
GIT_STUB="$TMP/stub-git"
mkdir -p "$GIT_STUB"
cat >"$GIT_STUB/git" <<'SH'
#!/usr/bin/env bash
echo "git $*" >>"$STUB_LOG"
case " $* " in *" spin-crm "*) echo 1600000000 ;; *) echo 1700000000 ;; esac
SH
chmod +x "$GIT_STUB/git"
: >"$STUB_LOG"
refs="$(
  export PATH="$GIT_STUB:$STUB:$PATH" CRM_STATE_DIR="$TMP/state"
  push_axum gateway 2>/dev/null
  push_spin spin gateway 2>/dev/null
  push_spin spin gateway 2>/dev/null
)"
expect "push: refs by digest, in-cluster names" \
  "$REGISTRY_PULL/crm/axum-gateway@sha256:$(printf 'a%.0s' {1..64}) $REGISTRY_PULL/crm/spin-gateway@sha256:$(printf 'b%.0s' {1..64}) $REGISTRY_PULL/crm/spin-gateway@sha256:$(printf 'b%.0s' {1..64})" \
  "$(echo "$refs" | paste -sd ' ' -)"
expect "push: the Axum epoch is the last commit of its build context (.dockerignore's allowlist)" \
  "git -C $CRM_ROOT log -1 --format=%ct -- .dockerignore Cargo.toml Cargo.lock core migrations axum-crm tests/contract tests/reliability tools/crm-bench tools/harness" \
  "$(grep '^git ' "$STUB_LOG" | head -n 1)"
expect "push: the Spin epoch is the last commit of spin-crm and core, for every push" \
  "2 git -C $CRM_ROOT log -1 --format=%ct -- spin-crm core" \
  "$(grep '^git ' "$STUB_LOG" | tail -n +2 | sort | uniq -c | awk '{$1 = $1; print}')"
expect "push: docker build without attestations, timestamps from its inputs' last commit" yes \
  "$(grep '^docker build' "$STUB_LOG" | grep -q -- "--build-arg SOURCE_DATE_EPOCH=1700000000 --provenance=false --sbom=false" && echo yes || echo no)"
expect "push: spin registry push annotated with its inputs' commit time, the same every time" \
  "2 org.opencontainers.image.created=$(date -u -d @1600000000 +%Y-%m-%dT%H:%M:%SZ)" \
  "$(grep '^spin registry push' "$STUB_LOG" | grep -o 'org.opencontainers.image.created=[^ ]*' | sort | uniq -c | awk '{print $1, $2}')"
# With a real repository: a commit outside an image's inputs (docs/) moves neither epoch.
(
  cd "$TMP" && rm -rf epoch-repo && mkdir -p epoch-repo/core epoch-repo/spin-crm epoch-repo/docs && cd epoch-repo || exit 1
  git init -q . && git config user.email t@example.invalid && git config user.name t
  cp "$CRM_ROOT/.dockerignore" .
  echo a >core/x && echo a >spin-crm/x
  git add -A && GIT_COMMITTER_DATE="1600000000 +0000" git commit -q -m inputs
  echo b >docs/y && git add -A && GIT_COMMITTER_DATE="1700000000 +0000" git commit -q -m docs
) >/dev/null 2>&1
expect "source_epoch: a docs commit changes neither image's epoch; no matching commit is 0" "1600000000 1600000000 0" \
  "$(CRM_ROOT="$TMP/epoch-repo"
    mapfile -t a < <(axum_image_inputs)
    mapfile -t s < <(spin_image_inputs)
    echo "$(source_epoch "${a[@]}") $(source_epoch "${s[@]}") $(source_epoch no-such-path)")"
expect "axum-crm/Dockerfile: the binary's time clamped to SOURCE_DATE_EPOCH in the build stage" yes \
  "$(awk '/^FROM .* AS build/ {b = 1} /^FROM scratch/ {b = 0} b' "$CRM_ROOT/axum-crm/Dockerfile" |
    grep -A1 '^ARG SOURCE_DATE_EPOCH$' | grep -q 'touch -d "@${SOURCE_DATE_EPOCH}" /out/service' && echo yes || echo no)"

# --- --no-build: digests looked up in the registry ------------------------------------------
expect "registry_ref: the digest the registry reports" "$REGISTRY_PULL/crm/spin-gateway@sha256:$(printf 'c%.0s' {1..64})" \
  "$(PATH="$TMP/stub-curl:$PATH" registry_ref spin-gateway 2>/dev/null)"
expect "registry_ref: nothing there is an error" 1 \
  "$(PATH="$TMP/no-such-dir:$PATH" CRM_STATE_DIR="$TMP/state" bash -c 'source "$1"; curl() { printf "HTTP/1.1 404\r\n\r\n"; }; registry_ref x >/dev/null 2>&1; echo $?' _ "$CRM_ROOT/scripts/lib/cluster.sh")"
expect "setup-all.sh: --no-build takes its refs from registry_ref" yes \
  "$(grep -q 'ref="$(registry_ref "$stack-$svc")"' "$CRM_ROOT/scripts/setup-all.sh" && echo yes || echo no)"

# --- webhook retries ------------------------------------------------------------------------
flaky() { # fails until the third call
  echo x >>"$TMP/flaky.calls"
  (($(wc -l <"$TMP/flaky.calls") >= 3))
}
: >"$TMP/flaky.calls"
expect "retry: a late webhook is waited for" "0 3" "$(retry 3 0 flaky flaky 2>/dev/null; echo "$? $(wc -l <"$TMP/flaky.calls")")"
: >"$TMP/flaky.calls"
expect "retry: gives up after its attempts" "1 2" "$(retry 2 0 flaky flaky 2>/dev/null; echo "$? $(wc -l <"$TMP/flaky.calls")")"
expect "setup-all.sh: SpinAppExecutor and SpinApp applies go through retry" 2 \
  "$(grep -cE 'retry "\$WEBHOOK_ATTEMPTS" "\$WEBHOOK_DELAY" "apply of (the SpinAppExecutor|SpinApp )' "$CRM_ROOT/scripts/setup-all.sh")"

# --- a coldstart restore that fails is loud ---------------------------------------------------
cs_rc=0
PATH="$STUB:$PATH" CRM_STATE_DIR="$TMP/state" "$CRM_ROOT/tests/cluster/coldstart-test.sh" \
  --stack spin --out "$TMP/cs/coldstart.json" >"$TMP/cs.out" 2>&1 || cs_rc=$?
expect "coldstart: a failed SpinApp restore fails the test" 1 "$cs_rc"
expect "coldstart: ... and says what to run" yes \
  "$(grep -q 'could not restore SpinApp wasm/customer-service' "$TMP/cs.out" && grep -q 'setup-all.sh --no-build' "$TMP/cs.out" && echo yes || echo no)"

# --- cluster manifest rules -----------------------------------------------------------------
"$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" cluster-rules "$CRM_ROOT" >"$TMP/cr.txt" 2>&1 && cr=0 || cr=$?
expect "cluster-rules: the project's own manifests pass" 0 "$cr"
mkdir -p "$TMP/cr-bad"
cp -r "$CRM_ROOT/k8s" "$TMP/cr-bad/"
sed -i.bak -e 's#crm-registry.invalid/#k3d-crm-registry.localhost:5000/#' "$TMP/cr-bad/k8s/containers/order-service.yaml"
sed -i.bak -e '/enableAutoscaling: false/d' "$TMP/cr-bad/k8s/wasm/order-service.yaml"
sed -i.bak -e 's#path: /healthz#path: /readyz#' "$TMP/cr-bad/k8s/containers/gateway.yaml" "$TMP/cr-bad/k8s/wasm/gateway.yaml"
rm -f "$TMP"/cr-bad/k8s/*/*.bak
"$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" cluster-rules "$TMP/cr-bad" >"$TMP/cr.txt" 2>&1 && cr=0 || cr=$?
expect "cluster-rules: a bad tree fails" 1 "$cr"
for rule in "k3d-crm-registry.localhost:5000/crm/axum-order-service:dev must be crm-registry.invalid" \
  "SpinApp/order-service: enableAutoscaling must be set to false" \
  "Deployment/gateway: readiness probe must be /healthz" "SpinApp/gateway: readiness probe must be /healthz"; do
  expect "cluster-rules: reports '$rule'" yes "$(grep -qF "$rule" "$TMP/cr.txt" && echo yes || echo no)"
done

# --- step load: the autoscaling overlay on and off, replicas sampled ------------------------
# A kubectl that reports the gateway with a second ready replica from its second look after k6
# started (so the baseline sample is always from before the load), and a k6 that writes a
# step-load summary and waits for that second look; `patch --type=merge` (the restore) fails
# when STUB_RESTORE_FAILS is set; `apply` reports STUB_APPLY_STATE (configured/unchanged).
SCALE_STUB="$TMP/stub-scale"
mkdir -p "$SCALE_STUB"
cat >"$SCALE_STUB/kubectl" <<'SH'
#!/usr/bin/env bash
echo "kubectl $*" >>"$STUB_LOG"
case " $* " in
  *" --show-managed-fields "*)
    # spin-operator's managedFields entry: spec.replicas on the first look, released after.
    echo x >>"$STUB_DIR/mf-looks"
    if [[ -n "${STUB_MF_STUCK:-}" || "$(wc -l <"$STUB_DIR/mf-looks")" -le 1 ]]; then
      echo '{"f:metadata":{"f:labels":{}},"f:spec":{"f:replicas":{},"f:selector":{}}}'
    else
      echo '{"f:metadata":{"f:labels":{}},"f:spec":{"f:selector":{}}}'
    fi
    ;;
  *" get deployment "*)
    ready=1
    if [[ -e "$STUB_DIR/k6-started" ]]; then
      echo x >>"$STUB_DIR/looks"
      (($(wc -l <"$STUB_DIR/looks") >= 2)) && ready=2
    fi
    printf 'gateway %s %s\ncustomer-service  1\norder-service 1 1\n' "$ready" "$ready"
    ;;
  *" patch "*"--type=merge"*)
    [[ -z "${STUB_RESTORE_FAILS:-}" ]] || { echo 'Error from server: denied' >&2; exit 1; } ;;
  *" apply -f - "*) cat >/dev/null; echo "configmap/grafana-dashboards ${STUB_APPLY_STATE:-unchanged}" ;;
  *" apply -f "*) echo "configmap/some-config ${STUB_APPLY_STATE:-unchanged}" ;;
  *" create "*) echo "kind: Stand-in" ;;
esac
exit 0
SH
cat >"$SCALE_STUB/k6" <<'SH'
#!/usr/bin/env bash
echo "k6 $*" >>"$STUB_LOG"
for a; do case "$a" in SUMMARY_JSON=*) out="${a#SUMMARY_JSON=}" ;; STEP_RATES=*) rates="${a#STEP_RATES=}" ;; esac; done
start_ms=$(($(date +%s%N) / 1000000))
: >"$STUB_DIR/k6-started"
for _ in $(seq 200); do
  [[ -e "$STUB_DIR/looks" ]] && (($(wc -l <"$STUB_DIR/looks") >= 2)) && break
  sleep 0.1
done
printf '{"crm": {"load_start_ms": %s, "steps": [{"step": 1, "offered_rps": %s, "start_s": 0, "duration_s": 3600, "requests": 10, "rps": 5.0}]}}\n' \
  "$start_ms" "${rates%%,*}" >"$out"
SH
chmod +x "$SCALE_STUB"/*
step_load() { # STACK OUTDIR [ENV=VALUE...]: step-load-test.sh with the stand-ins; its exit status
  local stack="$1" out="$2" rc=0
  shift 2
  rm -rf "$TMP/sl-stub" && mkdir -p "$TMP/sl-stub" "$out"
  : >"$STUB_LOG"
  env PATH="$SCALE_STUB:$STUB:$PATH" STUB_DIR="$TMP/sl-stub" CRM_STATE_DIR="$TMP/state" "$@" \
    "$CRM_ROOT/tests/cluster/step-load-test.sh" --stack "$stack" --out "$out/step-load.json" \
    --rates 3,7 --step-seconds 1 --interval 0.1 >"$out/run.txt" 2>&1 || rc=$?
  echo "$rc"
}
# The positions of the first log lines matching each pattern, in order: "1 2 3" when in order.
order_of() {
  local p
  for p in "$@"; do grep -nF -- "$p" "$STUB_LOG" | head -n 1 | cut -d: -f1; done | paste -sd ' ' -
}
OV="$CRM_ROOT/k8s/autoscaling"
expect "step-load spin: runs" 0 "$(step_load spin "$TMP/sl-spin")"
expect "step-load spin: SpinApps patched, HPAs applied, k6, HPAs deleted, SpinApps restored, in that order" yes \
  "$(o="$(order_of "patch spinapp -n wasm gateway --type=json --patch-file $OV/spinapp-autoscaling.patch.json" \
    "apply -f $OV/wasm-hpa.yaml" "k6 run" "delete -f $OV/wasm-hpa.yaml" \
    'patch spinapp -n wasm gateway --type=merge -p {"spec":{"enableAutoscaling":false,"replicas":1}}')"
    [[ "$(wc -w <<<"$o")" == 5 && "$o" == "$(tr ' ' '\n' <<<"$o" | sort -n | paste -sd ' ' -)" ]] && echo yes || echo "no ($o)")"
expect "step-load spin: every SpinApp's Deployment polled until spin-operator released spec.replicas, before the HPAs" "4 yes" \
  "$(grep -c -- '--show-managed-fields' "$STUB_LOG") $(o="$(order_of "patch spinapp -n wasm order-service --type=json" \
    "get deployment -n wasm gateway --show-managed-fields" "get deployment -n wasm order-service --show-managed-fields" \
    "apply -f $OV/wasm-hpa.yaml")"
    [[ "$(wc -w <<<"$o")" == 4 && "$o" == "$(tr ' ' '\n' <<<"$o" | sort -n | paste -sd ' ' -)" ]] && echo yes || echo "no ($o)")"
expect "step-load spin: every SpinApp switched and restored" "3 3" \
  "$(grep -c -- '--patch-file' "$STUB_LOG") $(grep -c 'enableAutoscaling":false' "$STUB_LOG")"
expect "step-load spin: k6 gets the steps" yes "$(grep -q 'k6 run .*-e STEP_RATES=3,7 -e STEP_DURATION=1s' "$STUB_LOG" && echo yes || echo no)"
expect "step-load spin: the first extra ready replica, the most ready, a step's replicas" "gateway 2 wasm True" \
  "$(jget "$TMP/sl-spin/step-load.json" '"%s %s %s %s" % (d["first_extra_ready_deployment"], d["max_ready"]["gateway"], d["namespace"], d["steps"][0]["mean_ready_replicas"] is not None)')"
expect "step-load spin: the raw samples kept, an absent ready count is 0" yes \
  "$(grep -qE '^[0-9]{16} customer-service  1$' "$TMP/sl-spin/step-load.replicas.log" && echo yes || echo no)"
expect "step-load axum: runs" 0 "$(step_load axum "$TMP/sl-axum")"
expect "step-load axum: HPAs deleted, then every Deployment back to one replica; no SpinApp touched" "3 0 yes" \
  "$(grep -c 'scale deployment -n containers .* --replicas=1' "$STUB_LOG") $(grep -c 'spinapp' "$STUB_LOG") \
$(o="$(order_of "delete -f $OV/containers-hpa.yaml" "scale deployment -n containers")"; [[ "${o% *}" -lt "${o#* }" ]] && echo yes || echo no)"
expect "step-load: a failed restore fails the test" 1 "$(step_load spin "$TMP/sl-fail" STUB_RESTORE_FAILS=1)"
expect "step-load: ... and says what to run" yes \
  "$(grep -q 'could not remove the autoscaling overlay from namespace wasm' "$TMP/sl-fail/run.txt" && grep -q 'setup-all.sh --no-build' "$TMP/sl-fail/run.txt" && echo yes || echo no)"
expect "bench-all.sh: step-load runs for each stack, last" yes \
  "$(grep -A5 'record "$stack resources"' "$CRM_ROOT/scripts/bench-all.sh" | grep -q 'record "$stack step-load"' && echo yes || echo no)"

# --- setup-all.sh --observability -------------------------------------------------------------
observability() { # STUB_APPLY_STATE: setup_observability with the stand-in kubectl
  : >"$STUB_LOG"
  (PATH="$SCALE_STUB:$PATH" STUB_DIR="$TMP" STUB_APPLY_STATE="$1" setup_observability) 2>/dev/null
}
observability unchanged
expect "observability: namespace, Secret, dashboard ConfigMap from the one JSON, the three manifests, rollouts" yes \
  "$(grep -q "apply -f $CRM_ROOT/k8s/observability/namespace.yaml" "$STUB_LOG" &&
    grep -q 'create secret generic grafana-admin -n monitoring --from-literal=password=[0-9a-f]\{32\} ' "$STUB_LOG" &&
    grep -q "create configmap grafana-dashboards -n monitoring --from-file=$CRM_ROOT/k8s/observability/dashboards/crm.json" "$STUB_LOG" &&
    [[ "$(grep -cE "apply -f $CRM_ROOT/k8s/observability/(prometheus|grafana|kube-state-metrics).yaml" "$STUB_LOG")" == 3 ]] &&
    [[ "$(grep -c 'rollout status -n monitoring' "$STUB_LOG")" == 3 ]] && echo yes || echo no)"
expect "observability: nothing changed, nothing restarted" 0 "$(grep -c 'rollout restart' "$STUB_LOG")"
observability configured
expect "observability: a changed configuration restarts Prometheus and Grafana" "deployment/grafana deployment/prometheus" \
  "$(grep 'rollout restart' "$STUB_LOG" | awk '{print $NF}' | sort -u | paste -sd ' ' -)"
expect "setup-all.sh: --observability calls setup_observability" yes \
  "$(grep -q -- '--observability) OBSERVABILITY=1' "$CRM_ROOT/scripts/setup-all.sh" && grep -q '^  setup_observability$' "$CRM_ROOT/scripts/setup-all.sh" && echo yes || echo no)"

# --- release manifests: cached by URL, so a version bump downloads again ---------------------
# A curl that writes the URL it was asked for into its -o file (and logs the call).
DL_STUB="$TMP/stub-download"
mkdir -p "$DL_STUB"
cat >"$DL_STUB/curl" <<'SH'
#!/usr/bin/env bash
echo "curl $*" >>"$STUB_LOG"
while (($#)); do
  case "$1" in -o) out="$2"; shift 2 ;; *) url="$1"; shift ;; esac
done
echo "$url" >"$out"
SH
chmod +x "$DL_STUB/curl"
: >"$STUB_LOG"
rel="https://github.com/cert-manager/cert-manager/releases/download"
dl_paths="$(
  export PATH="$DL_STUB:$PATH" MANIFEST_CACHE="$TMP/manifest-cache"
  cached_download "$rel/v1.14.3/cert-manager.yaml"
  cached_download "$rel/v1.15.0/cert-manager.yaml"
  cached_download "$rel/v1.14.3/cert-manager.yaml"
)"
expect "cached_download: two URLs differing only in version are two downloads; a repeat is none" 2 \
  "$(grep -c '^curl ' "$STUB_LOG")"
expect "cached_download: each version's own file, read back from the cache" \
  "$rel/v1.14.3/cert-manager.yaml $rel/v1.15.0/cert-manager.yaml $rel/v1.14.3/cert-manager.yaml" \
  "$(while read -r p; do cat "$p"; done <<<"$dl_paths" | paste -sd ' ' -)"
expect "cached_download: a URL with .. is refused" 1 \
  "$( (MANIFEST_CACHE="$TMP/manifest-cache" PATH="$DL_STUB:$PATH" cached_download "https://example.invalid/a/../b.yaml") >/dev/null 2>&1 && echo 0 || echo 1)"
expect "setup-all.sh: every release manifest goes through cached_download" "3 0" \
  "$(grep -c 'cached_download "' "$CRM_ROOT/scripts/setup-all.sh") $(grep -c 'basename "$url"' "$CRM_ROOT/scripts/setup-all.sh" "$CRM_ROOT/scripts/lib/cluster.sh" | awk -F: '{s += $2} END {print s}')"

# --- observability rules ----------------------------------------------------------------------
obs_rules() { # TREE -> the observability check's output; its exit status in $TMP/obs.rc
  local rc=0
  "$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" observability "$1" >"$TMP/obs.txt" 2>&1 || rc=$?
  echo "$rc" >"$TMP/obs.rc"
}
obs_rules "$CRM_ROOT"
expect "observability rules: the project's own manifests pass" 0 "$(cat "$TMP/obs.rc")"
rm -rf "$TMP/obs-bad" && mkdir -p "$TMP/obs-bad" && cp -r "$CRM_ROOT/k8s" "$TMP/obs-bad/"
# The pod-cgroup queries as they were: container="" alone also matches the pause container.
sed -i -e 's/, image=\\"\\"//' "$TMP/obs-bad/k8s/observability/dashboards/crm.json"
obs_rules "$TMP/obs-bad"
expect "observability rules: container=\"\" without image=\"\" fails, once per query" "1 4" \
  "$(cat "$TMP/obs.rc") $(grep -c 'selects the pause container too: add image=""' "$TMP/obs.txt")"
# Grafana's default log mode on its read-only root: the GF_LOG_MODE entry removed.
rm -rf "$TMP/obs-bad" && mkdir -p "$TMP/obs-bad" && cp -r "$CRM_ROOT/k8s" "$TMP/obs-bad/"
sed -i -e '/name: GF_LOG_MODE/,/value: console/d' "$TMP/obs-bad/k8s/observability/grafana.yaml"
obs_rules "$TMP/obs-bad"
expect "observability rules: Grafana on a read-only root without GF_LOG_MODE=console fails" "1 yes" \
  "$(cat "$TMP/obs.rc") $(grep -q 'grafana.yaml container grafana: read-only root filesystem, so GF_LOG_MODE must be console' "$TMP/obs.txt" && echo yes || echo no)"

# --- spin-operator's hold on spec.replicas (after the autoscaling patch) ----------------------
mkdir -p "$TMP/stub-fail"
printf '#!/bin/sh\necho "kubectl $*" >>"$STUB_LOG"\necho "Error from server (NotFound)" >&2\nexit 1\n' >"$TMP/stub-fail/kubectl"
chmod +x "$TMP/stub-fail/kubectl"
mf_wait() { # SECONDS [ENV=VALUE...]: wait_operator_released_replicas with the stand-in kubectl
  local secs="$1"
  shift
  rm -rf "$TMP/mf" && mkdir -p "$TMP/mf"
  : >"$STUB_LOG"
  (
    export PATH="$SCALE_STUB:$PATH" STUB_DIR="$TMP/mf"
    local kv
    for kv in "$@"; do export "${kv?}"; done
    wait_operator_released_replicas wasm gateway "$secs"
  ) 2>"$TMP/mf.err"
  echo "$? $(grep -c -- '--show-managed-fields' "$STUB_LOG")"
}
expect "operator release: managed fields that drop spec.replicas on the second look: done after two looks" "0 2" "$(mf_wait 30)"
expect "operator release: it reads spin-operator's managedFields entry" yes \
  "$(grep -qF 'get deployment -n wasm gateway --show-managed-fields -o jsonpath={range .metadata.managedFields[?(@.manager=="spin-operator")]}{.fieldsV1}' "$STUB_LOG" && echo yes || echo no)"
expect "operator release: still managed at the bound: fails, and says so" "1 yes" \
  "$(r="$(mf_wait 1 STUB_MF_STUCK=1)"; echo "${r% *} $(grep -q 'spin-operator still manages spec.replicas of deployment wasm/gateway after 1s' "$TMP/mf.err" && echo yes || echo no)")"
expect "operator release: an unreadable Deployment is not released" 1 \
  "$(r="$(mf_wait 1 PATH="$TMP/stub-fail:$PATH")"; echo "${r% *}")"
expect "coldstart-test.sh: waits for the release between its SpinApp patch and its first scale" yes \
  "$(awk '/--type=json -p/ && !p {p = NR} /wait_operator_released_replicas "\$NS" "\$TARGET"/ && !w {w = NR}
    /kubectl scale deployment -n "\$NS" "\$TARGET" --replicas=0/ && !s {s = NR}
    END {print (p && w && s && p < w && w < s) ? "yes" : "no"}' "$CRM_ROOT/tests/cluster/coldstart-test.sh")"

# --- texts that state what upstream and the scripts do --------------------------------------------
texts_tree() { # a copy of what the texts check reads
  rm -rf "$TMP/texts" && mkdir -p "$TMP/texts/scripts/lib" "$TMP/texts/docs"
  cp -r "$CRM_ROOT/k8s" "$TMP/texts/"
  cp "$CRM_ROOT/docs/"*.md "$TMP/texts/docs/"
  cp "$CRM_ROOT/README.md" "$TMP/texts/"
  cp "$CRM_ROOT/scripts/setup-all.sh" "$CRM_ROOT/scripts/test.sh" "$TMP/texts/scripts/"
  cp "$CRM_ROOT/scripts/lib/cluster.sh" "$TMP/texts/scripts/lib/"
  mkdir -p "$TMP/texts/tests" && cp -r "$CRM_ROOT/tests/k6" "$TMP/texts/tests/"
  cp "$CRM_ROOT/versions.env" "$TMP/texts/"
}
texts_rules() { "$CRM_MANIFEST_PY" "$CRM_LIB/validate_manifests.py" texts "$TMP/texts" >"$TMP/texts.txt" 2>&1 && echo 0 || echo 1; }
texts_tree
expect "texts: the project's own comments and docs pass" 0 "$(texts_rules)"
# The stale texts of issue #26, put back.
sed -i -e 's/(key password)/(key url)/' "$TMP/texts/k8s/wasm/namespace.yaml"
sed -i -e 's/`ConstructEnvForApp` in/`ConstructEnvForApp` (read at v0.4.0, `spinkube\/spin-operator`) in/' "$TMP/texts/docs/k3d.md"
sed -i -e '/^# .*mirror/d' "$TMP/texts/scripts/lib/cluster.sh"
sed -i -e '/^- \*\*Registry\*\*/,/^- \*\*Cluster\*\*/s/mirror/entry/g' "$TMP/texts/docs/k3d.md"
expect "texts: the stale texts fail" 1 "$(texts_rules)"
for rule in "k8s/wasm/namespace.yaml: its comment names key url of Secret crm-database, but setup-all.sh makes ['password']" \
  "k8s/wasm/namespace.yaml: its comment names key url of Secret crm-database, but the manifests read ['password']" \
  "cites version v0.4.0, which is not a pin (spin-operator is v0.6.1)" "cites the old spinkube/spin-operator repository" \
  "scripts/lib/cluster.sh: the comment above REGISTRY_NAME must say" "docs/k3d.md: the Registry item must say"; do
  expect "texts: reports '$rule'" yes "$(grep -qF "$rule" "$TMP/texts.txt" && echo yes || echo no)"
done
# Lists the code computes: a stage the docs forgot, a k6 script the README does not name.
texts_tree
sed -i -e '/^| `fuzz` |/d' "$TMP/texts/docs/testing.md"
: >"$TMP/texts/tests/k6/new-test.js"
expect "texts: stale lists fail" 1 "$(texts_rules)"
for rule in "docs/testing.md: the stage table lists" "tests/k6/README.md does not name tests/k6/new-test.js"; do
  expect "texts: reports '$rule'" yes "$(grep -qF "$rule" "$TMP/texts.txt" && echo yes || echo no)"
done
