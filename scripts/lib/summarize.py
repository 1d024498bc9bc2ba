#!/usr/bin/env python3
"""summarize.py RESULTS_DIR [--out FILE]: build RESULTS_DIR/summary.json from the raw files.

The schema and the raw layout are documented in docs/results-schema.md; both the k3d
benchmark (scripts/bench-all.sh) and the local one write the same layout, so this one script
serves both. Python standard library only. Missing or unreadable raw files are listed in
"problems" instead of aborting: a partial run still gets a summary that says what is missing.
"""
import argparse
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchparse  # noqa: E402  (sibling module, path set just above)

SCHEMA_VERSION = 1
# k6 scripts in tests/k6/, by the test name used in file names (k6-<test>.json).
K6_TESTS = ["load", "cpu-bound", "scale", "error", "ping-db"]
# Other per-stack results, each one JSON file <name>.json written by its test.
OTHER_TESTS = ["coldstart", "availability", "resources", "artifacts", "compute"]
# Written only by some runners (artifacts: where sizes were measured; compute: the local runner's
# /compute at several n): absent means null, not a problem.
OPTIONAL_TESTS = ["artifacts", "compute"]
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Directories a results folder may hold that are not stacks (crm-bench report writes charts/).
NOT_STACKS = {"charts"}


def load_json(path, problems):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        problems.append("%s: missing" % path)
    except (OSError, ValueError) as e:
        problems.append("%s: unreadable (%s)" % (path, e))
    return None


def stack_summary(results_dir, label, problems, kind=None):
    d = os.path.join(results_dir, label)
    out = {"label": label, "k6": {}}
    for test in K6_TESTS:
        rel = os.path.join(label, "k6-%s.json" % test)
        data = load_json(os.path.join(results_dir, rel), problems)
        if data is None:
            out["k6"][test] = None
            continue
        try:
            parsed = benchparse.k6_summary(data)
        except (AttributeError, TypeError, KeyError) as e:
            problems.append("%s: not a k6 summary (%s)" % (rel, e))
            out["k6"][test] = None
            continue
        parsed["file"] = rel
        out["k6"][test] = parsed
        runtime = parsed.get("runtime")
        # A label may qualify the runtime that answers: "spin-combined" is answered by "spin".
        if runtime not in (None, "unknown") and label != runtime and not label.startswith(runtime + "-"):
            # The label is a directory name; the runtime is what answered. A mismatch means the
            # wrong gateway was measured, which must not go unnoticed.
            problems.append("%s: answered by runtime %r, filed under %r" % (rel, parsed["runtime"], label))
    for test in OTHER_TESTS:
        path = os.path.join(d, "%s.json" % test)
        # A local run has no pods to kill: availability is a cluster test.
        optional = test in OPTIONAL_TESTS or (kind == "local" and test == "availability")
        if optional and not os.path.exists(path):
            out[test] = None
            continue
        out[test] = load_json(path, problems)
    return out


def summarize(results_dir):
    problems = []
    env = load_json(os.path.join(results_dir, "environment.json"), problems) or {"kind": "unknown"}
    labels = sorted(
        n for n in os.listdir(results_dir)
        if os.path.isdir(os.path.join(results_dir, n)) and LABEL_RE.match(n) and n not in NOT_STACKS
    )
    if not labels:
        problems.append("%s: no stack directories" % results_dir)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": os.path.basename(os.path.normpath(results_dir)),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "environment": env,
        "stacks": {label: stack_summary(results_dir, label, problems, env.get("kind")) for label in labels},
        "problems": problems,
    }


def fmt(v, digits=1):
    return "-" if v is None else ("%.*f" % (digits, v))


def table(summary):
    """A short human-readable view: one row per stack and k6 test (whole run)."""
    lines = ["%-8s %-10s %10s %9s %9s %9s %8s" % ("stack", "test", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors")]
    for label, st in summary["stacks"].items():
        for test, res in st["k6"].items():
            o = (res or {}).get("overall") or {}
            lat = o.get("latency_ms") or {}
            err = o.get("error_rate")
            lines.append("%-8s %-10s %10s %9s %9s %9s %8s" % (
                label, test, fmt(o.get("throughput_rps")), fmt(lat.get("p50"), 2), fmt(lat.get("p95"), 2),
                fmt(lat.get("p99"), 2), "-" if err is None else "%.2f%%" % (100 * err)))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument("--out", help="default: RESULTS_DIR/summary.json")
    ap.add_argument("--quiet", action="store_true", help="no table on stdout")
    args = ap.parse_args()
    if not os.path.isdir(args.results_dir):
        sys.exit("summarize.py: %s is not a directory" % args.results_dir)
    summary = summarize(args.results_dir)
    out = args.out or os.path.join(args.results_dir, "summary.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
        f.write("\n")
    if not args.quiet:
        print(table(summary))
        for p in summary["problems"]:
            print("note: " + p)
        print("wrote " + out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
