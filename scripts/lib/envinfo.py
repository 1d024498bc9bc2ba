#!/usr/bin/env python3
"""envinfo.py --kind k3d|local [--pin KEY=VALUE ...] [--setting KEY=VALUE ...]

Prints the "environment" object of summary.json (docs/results-schema.md) as JSON: the machine
(CPU, memory, OS), the versions of the tools that took part, and the pins the run used.
Python standard library only; works on Linux and macOS. A tool that is absent or does not
answer within a few seconds is recorded as null, never guessed.
"""
import argparse
import json
import os
import platform
import subprocess
import sys

# tool -> command printing its version (first line kept).
TOOLS = {
    "k6": ["k6", "version"],
    "kubectl": ["kubectl", "version", "--client"],
    "k3d": ["k3d", "version"],
    "helm": ["helm", "version", "--short"],
    "docker": ["docker", "version", "--format", "{{.Server.Version}}"],
    "spin": ["spin", "--version"],
    "rustc": ["rustc", "--version"],
    "python": [sys.executable, "--version"],
}


def run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (p.stdout or p.stderr).strip()
    return text.splitlines()[0] if p.returncode == 0 and text else None


def cpu_info():
    model, cores = None, os.cpu_count()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = run(["sysctl", "-n", "machdep.cpu.brand_string"])
    return {"model": model or platform.processor() or None, "cores": cores}


def memory_bytes():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    v = run(["sysctl", "-n", "hw.memsize"])
    return int(v) if v and v.isdigit() else None


def pairs(items):
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit("envinfo.py: expected KEY=VALUE, got %r" % item)
        out[key] = value
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True, choices=["k3d", "local"])
    ap.add_argument("--pin", action="append", help="KEY=VALUE, e.g. cert_manager=v1.14.3")
    ap.add_argument("--setting", action="append", help="KEY=VALUE, e.g. cpu_limit=1")
    args = ap.parse_args()
    env = {
        "kind": args.kind,
        "cpu": cpu_info(),
        "memory_bytes": memory_bytes(),
        "os": platform.platform(),
        "tools": {name: run(cmd) for name, cmd in TOOLS.items()},
        "pins": pairs(args.pin),
        "settings": pairs(args.setting),
    }
    json.dump(env, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
