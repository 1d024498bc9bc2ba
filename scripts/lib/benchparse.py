#!/usr/bin/env python3
"""Parsing and arithmetic behind the benchmark scripts, kept free of any cluster so that
tests/shell/ can check it against fixtures.

Python standard library only. Used as a module by summarize.py and as a command line by the
shell scripts:

  benchparse.py k6 SUMMARY.json                 k6 handleSummary data -> our numbers (JSON)
  benchparse.py top FILE                        `kubectl top pod --no-headers` -> JSON list
  benchparse.py availability PROBE.log KILL_US  probe log + kill time -> availability JSON
  benchparse.py coldstart PROBE.log SCALE_US    probe log + scale-up time -> first-200 JSON
  benchparse.py pod-service POD_NAME            Deployment name a pod belongs to
  benchparse.py digest FILE                     last sha256 digest printed by a registry push
  benchparse.py json-obj ARG...                 assemble a JSON object: key=string,
                                                key:=raw JSON, key@=JSON file (null if absent)
"""
import json
import re
import sys

# Server-Timing entries the k6 scripts record as Trends (tests/k6/lib/server-timing.js).
ST_TRENDS = ["st_conn", "st_query", "st_ser", "st_total", "st_verify", "st_gw", "st_compute"]


# --- k6 ------------------------------------------------------------------------------------

def duration_seconds(text):
    """k6 duration text ("500ms", "30s", "1m30s", "1h") -> seconds, or None if not one."""
    if not isinstance(text, str) or not text:
        return None
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, consumed = 0.0, 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text):
        total += float(m.group(1)) * units[m.group(2)]
        consumed += len(m.group(0))
    return total if consumed == len(text) else None


def split_metric_name(key):
    """'http_reqs{scenario:ping}' -> ('http_reqs', 'scenario:ping'); plain names -> (key, None)."""
    m = re.fullmatch(r"([^{]+)\{(.*)\}", key)
    return (m.group(1), m.group(2)) if m else (key, None)


def trend_stats(values):
    """k6 trend values -> our percentile block (ms). A missing statistic stays None, never 0."""
    if not values:
        return None
    return {
        "count": values.get("count"),
        "avg": values.get("avg"),
        "p50": values.get("med"),
        "p90": values.get("p(90)"),
        "p95": values.get("p(95)"),
        "p99": values.get("p(99)"),
        "max": values.get("max"),
    }


def _block(metrics, tag, duration_s):
    """Numbers for one tag set (None = the whole run) out of k6's metrics object."""
    def get(name):
        key = name if tag is None else "%s{%s}" % (name, tag)
        m = metrics.get(key)
        return m.get("values") if m else None

    reqs = get("http_reqs")
    dur = get("http_req_duration")
    failed = get("http_req_failed")
    checks = get("checks")
    if reqs is None and dur is None and failed is None:
        return None
    count = reqs.get("count") if reqs else (dur.get("count") if dur else None)
    if count is not None and duration_s:
        rps = count / duration_s
    else:
        rps = reqs.get("rate") if reqs else None
    lat = trend_stats(dur)
    if lat is not None:
        lat.pop("count", None)
    block = {
        "requests": count,
        "duration_s": duration_s,
        "throughput_rps": rps,
        "latency_ms": lat,
        # http_req_failed is a Rate whose "passes" are failed requests: its rate IS the error rate.
        "error_rate": failed.get("rate") if failed else None,
        "failed_requests": failed.get("passes") if failed else None,
        "checks_rate": checks.get("rate") if checks else None,
        "server_timing": {},
    }
    for st in ST_TRENDS:
        stats = trend_stats(get(st))
        if stats and stats.get("count"):
            block["server_timing"][st] = stats
    return block


def k6_summary(data):
    """k6 handleSummary data -> {"test", "runtime", "overall", "scenarios"}.

    Throughput: per scenario, requests / the scenario's configured duration when the script
    recorded it in data.crm.settings (duration, or level_duration for the scale test); k6's own
    `rate` divides by the whole run (setup, gaps and every other scenario included), which
    would understate sequential scenarios. The overall figure is k6's rate over the whole run.
    """
    metrics = data.get("metrics", {})
    crm = data.get("crm") or {}
    settings = crm.get("settings") or {}
    run_s = (data.get("state") or {}).get("testRunDurationMs")
    run_s = run_s / 1000.0 if run_s else None
    scen_s = duration_seconds(settings.get("level_duration")) or duration_seconds(settings.get("duration"))

    overall = _block(metrics, None, None)
    if overall is not None:
        overall["duration_s"] = run_s
    scenarios = {}
    for key in metrics:
        _, tag = split_metric_name(key)
        if tag and tag.startswith("scenario:") and "," not in tag:
            name = tag[len("scenario:"):]
            if name not in scenarios:
                blk = _block(metrics, tag, scen_s)
                if blk is not None:
                    scenarios[name] = blk
    thresholds_failed = sorted(
        "%s %s" % (name, expr)
        for name, m in metrics.items()
        for expr, res in (m.get("thresholds") or {}).items()
        if not res.get("ok", True)
    )
    return {
        "script": crm.get("script"),
        "runtime": crm.get("runtime"),
        "overall": overall,
        "scenarios": dict(sorted(scenarios.items())),
        "thresholds_failed": thresholds_failed,
    }


# --- kubectl top ----------------------------------------------------------------------------

def cpu_millicores(text):
    """'3m' -> 3, '1' -> 1000, '250000n' -> 0.25, '1500u' -> 1.5."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(n|u|m)?", text.strip())
    if not m:
        raise ValueError("not a CPU quantity: %r" % text)
    scale = {"n": 1e-6, "u": 1e-3, "m": 1.0, None: 1000.0}[m.group(2)]
    return float(m.group(1)) * scale


def memory_bytes(text):
    """'12Mi' -> 12582912, '1Gi', '500Ki', '100M', '1234' -> bytes."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T)?", text.strip())
    if not m:
        raise ValueError("not a memory quantity: %r" % text)
    scale = {None: 1, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "Ti": 1024 ** 4,
             "k": 1000, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "T": 1000 ** 4}[m.group(2)]
    return int(float(m.group(1)) * scale)


def pod_service(pod):
    """A Deployment's pod name is <deployment>-<replicaset hash>-<5 chars>: give <deployment>."""
    m = re.fullmatch(r"(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}", pod)
    return m.group(1) if m else pod


def parse_top(text):
    """`kubectl top pod --no-headers` output -> [{"pod", "service", "cpu_m", "memory_bytes"}].

    Lines that do not parse (warnings, blanks) are skipped: a pod without metrics is then
    absent, which callers report as unavailable rather than as zero.
    """
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0] == "NAME":
            continue
        try:
            cpu, mem = cpu_millicores(parts[1]), memory_bytes(parts[2])
        except ValueError:
            continue
        rows.append({"pod": parts[0], "service": pod_service(parts[0]), "cpu_m": cpu, "memory_bytes": mem})
    return rows


def aggregate_top(samples):
    """[[rows of one sample], ...] -> {service: {"samples", "cpu_m": {avg,max}, "memory_bytes": {avg,max}}}.

    Per service the pods of one sample are summed (one pod per service here, but a rollout can
    briefly show two), then averaged and maxed over samples.
    """
    per = {}
    for rows in samples:
        sums = {}
        for r in rows:
            s = sums.setdefault(r["service"], [0.0, 0])
            s[0] += r["cpu_m"]
            s[1] += r["memory_bytes"]
        for svc, (cpu, mem) in sums.items():
            per.setdefault(svc, []).append((cpu, mem))
    out = {}
    for svc, vals in sorted(per.items()):
        cpus = [v[0] for v in vals]
        mems = [v[1] for v in vals]
        out[svc] = {
            "samples": len(vals),
            "cpu_m": {"avg": sum(cpus) / len(cpus), "max": max(cpus)},
            "memory_bytes": {"avg": int(sum(mems) / len(mems)), "max": max(mems)},
        }
    return out


# --- probe logs (availability, coldstart) ---------------------------------------------------

def parse_probe_log(text):
    """Lines '<start_us> <end_us> <http_code>' (code 000 = no HTTP answer) -> sorted tuples."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    out.sort()
    return out


def is_ok(code):
    return 200 <= code < 300


def availability(probes, kill_us):
    """Steady probing while a pod is killed at kill_us (µs since the epoch, same clock).

    - failed_requests: probes started at or after the kill that did not get a 2xx;
    - time_to_first_success_ms: from the kill to the end of the first 2xx that follows the
      first failure (0 if nothing failed: the kill went unnoticed);
    - time_to_recovery_ms: from the kill to the end of the first 2xx after the LAST failure,
      i.e. when answers became reliably good again;
    - failed_before_kill: failures before the kill (should be 0, or the baseline was unhealthy).
    """
    before = [p for p in probes if p[0] < kill_us]
    after = [p for p in probes if p[0] >= kill_us]
    failures = [p for p in after if not is_ok(p[2])]
    res = {
        "requests_total": len(probes),
        "requests_after_kill": len(after),
        "failed_before_kill": sum(1 for p in before if not is_ok(p[2])),
        "failed_requests": len(failures),
        "failure_codes": {},
        "time_to_first_success_ms": None,
        "time_to_recovery_ms": None,
        "recovered": False,
    }
    for p in failures:
        key = "%03d" % p[2]
        res["failure_codes"][key] = res["failure_codes"].get(key, 0) + 1
    if not after:
        return res
    if not failures:
        res["time_to_first_success_ms"] = 0.0
        res["time_to_recovery_ms"] = 0.0
        res["recovered"] = True
        return res
    first_fail, last_fail = failures[0][0], failures[-1][0]
    ok_after_first = [p for p in after if p[0] > first_fail and is_ok(p[2])]
    ok_after_last = [p for p in after if p[0] > last_fail and is_ok(p[2])]
    if ok_after_first:
        res["time_to_first_success_ms"] = (ok_after_first[0][1] - kill_us) / 1000.0
    if ok_after_last:
        res["time_to_recovery_ms"] = (ok_after_last[0][1] - kill_us) / 1000.0
        res["recovered"] = True
    res["outage_window_ms"] = (failures[-1][1] - failures[0][0]) / 1000.0
    return res


def first_success(probes, since_us):
    """Coldstart: ms from since_us to the end of the first 2xx probe started after it."""
    after = [p for p in probes if p[0] >= since_us]
    ok = [p for p in after if is_ok(p[2])]
    return {
        "probes": len(after),
        "first_200_ms": (ok[0][1] - since_us) / 1000.0 if ok else None,
        "failed_probes_before_200": sum(1 for p in after if not ok or p[0] < ok[0][0]),
    }


# --- registry pushes ------------------------------------------------------------------------

def push_digest(text):
    """The last 'sha256:<64 hex>' in `docker push` / `spin registry push` output, or None."""
    found = re.findall(r"sha256:[0-9a-f]{64}", text)
    return found[-1] if found else None


# --- assembling result files --------------------------------------------------------------

def json_object(args):
    """['a=text', 'b:=3', 'c@=file.json'] -> {"a": "text", "b": 3, "c": <file's JSON or None>}.

    Lets the shell scripts write their result files without hand-built JSON strings.
    """
    out = {}
    for arg in args:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_.]*)(=|:=|@=)(.*)", arg, re.S)
        if not m:
            raise ValueError("expected key=value, key:=json or key@=file, got %r" % arg)
        key, op, val = m.groups()
        if op == "=":
            value = val
        elif op == ":=":
            value = json.loads(val)
        else:
            try:
                with open(val, encoding="utf-8") as f:
                    value = json.load(f)
            except (OSError, ValueError):
                value = None
        # Dotted keys nest: "idle.cpu_m:=3" -> {"idle": {"cpu_m": 3}}.
        parts = key.split(".")
        cur = out
        for part in parts[:-1]:
            cur = cur.setdefault(part, {})
        cur[parts[-1]] = value
    return out


# --- command line ---------------------------------------------------------------------------

def _read(path):
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "k6" and len(args) == 1:
        out = k6_summary(json.loads(_read(args[0])))
    elif cmd == "top" and len(args) == 1:
        out = parse_top(_read(args[0]))
    elif cmd == "availability" and len(args) == 2:
        out = availability(parse_probe_log(_read(args[0])), int(args[1]))
    elif cmd == "coldstart" and len(args) == 2:
        out = first_success(parse_probe_log(_read(args[0])), int(args[1]))
    elif cmd == "pod-service" and len(args) == 1:
        print(pod_service(args[0]))
        return 0
    elif cmd == "json-obj":
        try:
            out = json_object(args)
        except ValueError as e:
            sys.exit("benchparse.py json-obj: %s" % e)
    elif cmd == "digest" and len(args) == 1:
        d = push_digest(_read(args[0]))
        if d is None:
            return 1
        print(d)
        return 0
    else:
        sys.exit(__doc__)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
