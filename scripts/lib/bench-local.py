#!/usr/bin/env python3
"""bench-local.py: the measuring helpers of scripts/bench-local.sh (no cluster).

Python standard library only; the result files follow docs/results-schema.md.

  bench-local.py sample --out FILE.jsonl --pid NAME=PID ... [--interval S] [--seconds N]
                        [--stop-file F]
      one JSON line per sample: VmRSS (/proc/PID/status, the process and its descendants)
      and CPU time (/proc/PID/stat utime+stime) of each named process; until N seconds
      passed or F exists.
  bench-local.py resources --stack LABEL --idle IDLE.jsonl --load LOAD.jsonl --out FILE
      the "resources" object: per service and "total", RSS avg/max and CPU millicores.
  bench-local.py coldstart-probe --go-file F --healthz URL --db URL --healthz-log FILE
                                 --log FILE [--timeout S] [--interval-ms MS]
      waits for F (holding the start time in µs since the epoch, written just before the
      stack's processes are started), then probes /healthz and then the database route
      until each answers 200; prints one run's timing as JSON; probe log lines are
      "<start_us> <end_us> <status>" (000: no HTTP answer).
  bench-local.py coldstart --stack LABEL --runs RUNS.jsonl --healthz URL --db URL --out FILE
      [--note TEXT]
  bench-local.py artifacts --stack LABEL --kind binary --file NAME=PATH ...
                           [--from-json ARTIFACTS.json] [--runtime KIND=PATH] --out FILE
      sizes of what a stack runs; "runtime" (the Spin CLI) is listed apart.
  bench-local.py compute --stack LABEL --out FILE K6_JSON ...
      /compute at several n: one point per (algo, n) from k6 cpu-bound summaries.
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchparse  # noqa: E402  (sibling module, path set just above)

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- procfs sampling --------------------------------------------------------------------------

def children_map():
    """ppid -> [pid] for every process (to follow `spin up`'s child processes)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, encoding="utf-8") as f:
                stat = f.read()
        except OSError:
            continue
        # The command may contain spaces and parentheses: split after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        out.setdefault(int(fields[1]), []).append(int(name))
    return out


def tree(pid, children):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.append(p)
        todo.extend(children.get(p, []))
    return seen


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid, encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def sample_once(pids):
    children = children_map()
    row = {"t": time.time(), "procs": {}}
    for name, pid in pids.items():
        procs = tree(pid, children)
        rss = [rss_bytes(p) for p in procs]
        cpu = [cpu_seconds(p) for p in procs]
        if rss[0] is None:
            row["procs"][name] = None  # the process is gone
            continue
        row["procs"][name] = {
            "pids": procs,
            "rss_bytes": sum(r for r in rss if r is not None),
            "cpu_s": sum(c for c in cpu if c is not None),
        }
    return row


def cmd_sample(args):
    pids = {}
    for item in args.pid:
        name, _, pid = item.partition("=")
        pids[name] = int(pid)
    deadline = time.time() + args.seconds
    with open(args.out, "a", encoding="utf-8") as out:
        while True:
            out.write(json.dumps(sample_once(pids)) + "\n")
            out.flush()
            if time.time() >= deadline or (args.stop_file and os.path.exists(args.stop_file)):
                break
            time.sleep(args.interval)
    return 0


def aggregate(path):
    """Samples -> {service: {samples, memory_bytes: {avg,max}, cpu_m: {avg,max}}} + total."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return None
    if not rows:
        return None
    names = sorted({n for r in rows for n in r["procs"]})
    out = {}
    per_sample_total = []
    for i, r in enumerate(rows):
        procs = r["procs"]
        if all(procs.get(n) for n in names):
            per_sample_total.append((i, sum(procs[n]["rss_bytes"] for n in names)))
    for name in names + ["total"]:
        mem, cpu = [], []
        for i, r in enumerate(rows):
            if name == "total":
                cur = {"rss_bytes": dict(per_sample_total).get(i)}
                cur_cpu = None
                prev_cpu = None
                if i > 0 and all(r["procs"].get(n) and rows[i - 1]["procs"].get(n) for n in names):
                    cur_cpu = sum(r["procs"][n]["cpu_s"] for n in names)
                    prev_cpu = sum(rows[i - 1]["procs"][n]["cpu_s"] for n in names)
            else:
                cur = r["procs"].get(name)
                prev = rows[i - 1]["procs"].get(name) if i > 0 else None
                cur_cpu = cur["cpu_s"] if cur else None
                prev_cpu = prev["cpu_s"] if prev else None
            if cur and cur.get("rss_bytes") is not None:
                mem.append(cur["rss_bytes"])
            if cur_cpu is not None and prev_cpu is not None:
                dt = r["t"] - rows[i - 1]["t"]
                if dt > 0:
                    cpu.append(1000.0 * (cur_cpu - prev_cpu) / dt)
        out[name] = None if not mem else {
            "samples": len(mem),
            "memory_bytes": {"avg": int(sum(mem) / len(mem)), "max": max(mem)},
            "cpu_m": {"avg": sum(cpu) / len(cpu), "max": max(cpu)} if cpu else None,
        }
    return out


def cmd_resources(args):
    res = {
        "test": "resources", "stack": args.stack, "namespace": None, "available": True,
        "source": "procfs: VmRSS of /proc/<pid>/status (process and descendants), CPU from "
                  "/proc/<pid>/stat utime+stime, sampled every %ss" % args.interval,
        "idle_file": os.path.basename(args.idle), "load_file": os.path.basename(args.load),
        "idle": aggregate(args.idle), "load": aggregate(args.load),
    }
    if res["idle"] is None and res["load"] is None:
        res = {"test": "resources", "stack": args.stack, "available": False,
               "reason": "no procfs samples (not Linux, or the processes were gone)"}
    else:
        res["idle"] = res["idle"] or {}
        res["load"] = res["load"] or {}
        res["without_metrics"] = sorted(
            {s for p in ("idle", "load") for s, v in res[p].items() if v is None})
    write_json(args.out, res)
    return 0


# --- cold start -----------------------------------------------------------------------------

def probe(url, timeout):
    """One GET; (start_us, end_us, status) with status 0 when there was no HTTP answer."""
    u = urllib.parse.urlsplit(url)
    start = time.time()
    status = 0
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        conn.request("GET", u.path + ("?" + u.query if u.query else ""))
        resp = conn.getresponse()
        resp.read()
        status = resp.status
        conn.close()
    except (OSError, http.client.HTTPException):
        pass
    return int(start * 1e6), int(time.time() * 1e6), status


def cmd_coldstart_probe(args):
    deadline = time.time() + args.timeout
    while not os.path.exists(args.go_file):
        if time.time() > deadline:
            print(json.dumps({"error": "never started"}))
            return 1
        time.sleep(0.0005)
    t0 = None
    while t0 is None:
        try:
            with open(args.go_file, encoding="utf-8") as f:
                t0 = int(f.read().strip())
        except (OSError, ValueError):
            time.sleep(0.0005)
    deadline = t0 / 1e6 + args.timeout
    timing = {}
    for key, url, path in (("healthz", args.healthz, args.healthz_log), ("db", args.db, args.log)):
        with open(path, "w", encoding="utf-8") as log:
            while time.time() < deadline:
                s, e, code = probe(url, 2.0)
                log.write("%d %d %03d\n" % (s, e, code))
                if code == 200:
                    break
                time.sleep(args.interval_ms / 1000.0)
        with open(path, encoding="utf-8") as log:
            timing[key] = benchparse.first_success(benchparse.parse_probe_log(log.read()), t0)
    print(json.dumps({
        "start_us": t0,
        "first_200_ms": timing["db"]["first_200_ms"],
        "healthz_first_200_ms": timing["healthz"]["first_200_ms"],
        "probes": timing["healthz"]["probes"] + timing["db"]["probes"],
        "failed_probes_before_200": timing["healthz"]["failed_probes_before_200"]
        + timing["db"]["failed_probes_before_200"],
    }))
    return 0


def mmm(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)} if values else None


def cmd_coldstart(args):
    runs = []
    with open(args.runs, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    counted = [r for r in runs if not r.get("warmup")]
    db = [r["timing"]["first_200_ms"] for r in counted
          if r.get("timing") and r["timing"].get("first_200_ms") is not None]
    hz = [r["timing"]["healthz_first_200_ms"] for r in counted
          if r.get("timing") and r["timing"].get("healthz_first_200_ms") is not None]
    res = {
        "test": "coldstart", "stack": args.stack, "namespace": None,
        "target": "stack (gateway, customer-service, order-service started together)",
        "probe_url": args.db, "healthz_url": args.healthz, "probe_interval_ms": args.interval_ms,
        "first_200_ms": mmm(db), "healthz_first_200_ms": mmm(hz),
        "valid_runs": len(db), "all_from_zero": True, "runs": runs,
    }
    if args.note:
        res["compile_cache"] = args.note
    write_json(args.out, res)
    return 0


# --- sizes ----------------------------------------------------------------------------------

def size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def cmd_artifacts(args):
    items = {}
    if args.from_json:
        # scripts/lib/artifacts.py's object (the .wasm files each spin.toml names).
        with open(args.from_json, encoding="utf-8") as f:
            items = json.load(f).get("items") or {}
    for item in args.file:
        name, _, path = item.partition("=")
        items[name] = {"kind": args.kind, "path": os.path.relpath(path, args.root), "bytes": size(path)}
    sizes = [i["bytes"] for i in items.values()]
    res = {"stack": args.stack, "items": items,
           "total_bytes": sum(sizes) if sizes and all(s is not None for s in sizes) else None}
    if args.runtime:
        kind, _, path = args.runtime.partition("=")
        res["runtime"] = {"kind": kind, "path": path, "bytes": size(path)}
    write_json(args.out, res)
    return 0


# --- /compute at several n -----------------------------------------------------------------

SCENARIO_ALGO = {"compute_iterative": ("iterative", "iterative_n"),
                 "compute_recursive": ("recursive", "recursive_n")}


def cmd_compute(args):
    points = []
    problems = []
    for path in args.files:
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: %s" % (os.path.basename(path), e))
            continue
        parsed = benchparse.k6_summary(data)
        settings = (data.get("crm") or {}).get("settings") or {}
        metrics = data.get("metrics") or {}
        for scen, fig in parsed["scenarios"].items():
            if scen not in SCENARIO_ALGO:
                continue
            algo, key = SCENARIO_ALGO[scen]
            cm = metrics.get("compute_ms{scenario:%s}" % scen) or {}
            points.append({
                "algo": algo, "n": settings.get(key),
                "file": os.path.join(args.stack, os.path.basename(path)),
                "requests": fig["requests"], "throughput_rps": fig["throughput_rps"],
                "latency_ms": fig["latency_ms"], "error_rate": fig["error_rate"],
                "compute_ms": benchparse.trend_stats(cm.get("values")),
            })
    points.sort(key=lambda p: (p["algo"], p["n"] if p["n"] is not None else -1))
    write_json(args.out, {"test": "compute", "stack": args.stack, "points": points, "problems": problems})
    return 0


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("sample")
    p.add_argument("--out", required=True)
    p.add_argument("--pid", action="append", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--stop-file")
    p = sub.add_parser("resources")
    for a in ("--stack", "--idle", "--load", "--out"):
        p.add_argument(a, required=True)
    p.add_argument("--interval", default="0.5")
    p = sub.add_parser("coldstart-probe")
    for a in ("--go-file", "--healthz", "--db", "--log", "--healthz-log"):
        p.add_argument(a, required=True)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--interval-ms", type=float, default=5)
    p = sub.add_parser("coldstart")
    for a in ("--stack", "--runs", "--healthz", "--db", "--out"):
        p.add_argument(a, required=True)
    p.add_argument("--interval-ms", type=float, default=5)
    p.add_argument("--note")
    p = sub.add_parser("artifacts")
    for a in ("--stack", "--kind", "--out"):
        p.add_argument(a, required=True)
    p.add_argument("--file", action="append", default=[])
    p.add_argument("--runtime")
    p.add_argument("--from-json")
    p.add_argument("--root", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    p = sub.add_parser("compute")
    p.add_argument("--stack", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("files", nargs="+")
    args = ap.parse_args()
    return {
        "sample": cmd_sample, "resources": cmd_resources, "coldstart-probe": cmd_coldstart_probe,
        "coldstart": cmd_coldstart, "artifacts": cmd_artifacts, "compute": cmd_compute,
    }[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
