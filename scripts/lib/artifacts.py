#!/usr/bin/env python3
"""artifacts.py --stack axum|spin [--root DIR]: sizes of what each stack deploys, as the
"artifacts" object of docs/results-schema.md (JSON on stdout).

axum: the container images (`docker image inspect`, uncompressed size) tagged by setup-all.sh;
spin: the Wasm components named by each spin-crm/<service>/spin.toml (`source = "..."`).
Python standard library only (tomllib: Python >= 3.11). An artifact that cannot be measured is
recorded with bytes null, not guessed.
"""
import argparse
import json
import os
import subprocess
import sys
import tomllib

SERVICES = ["gateway", "customer-service", "order-service"]
REGISTRY_PUSH = os.environ.get("REGISTRY_PUSH", "localhost:%s" % os.environ.get("REGISTRY_PORT", "5000"))


def docker_size(ref):
    try:
        p = subprocess.run(["docker", "image", "inspect", "-f", "{{.Size}}", ref],
                           capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = p.stdout.strip()
    return int(out) if p.returncode == 0 and out.isdigit() else None


def spin_components(manifest):
    """Wasm files a spin.toml names: [component.<id>] source = "path" (local paths only)."""
    with open(manifest, "rb") as f:
        doc = tomllib.load(f)
    base = os.path.dirname(manifest)
    out = {}
    for cid, comp in (doc.get("component") or {}).items():
        src = comp.get("source")
        if isinstance(src, str):
            out[cid] = os.path.normpath(os.path.join(base, src))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", required=True, choices=["axum", "spin"])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    args = ap.parse_args()
    items = {}
    if args.stack == "axum":
        for svc in SERVICES:
            ref = "%s/crm/axum-%s:dev" % (REGISTRY_PUSH, svc)
            items[svc] = {"kind": "oci-image", "ref": ref, "bytes": docker_size(ref)}
    else:
        for svc in SERVICES:
            manifest = os.path.join(args.root, "spin-crm", svc, "spin.toml")
            try:
                comps = spin_components(manifest)
            except (OSError, tomllib.TOMLDecodeError) as e:
                items[svc] = {"kind": "wasm", "manifest": manifest, "bytes": None, "error": str(e)}
                continue
            sizes = {c: (os.path.getsize(p) if os.path.exists(p) else None) for c, p in comps.items()}
            known = [v for v in sizes.values() if v is not None]
            items[svc] = {"kind": "wasm", "components": sizes,
                          "bytes": sum(known) if known and len(known) == len(sizes) else None}
    sizes = [i["bytes"] for i in items.values()]
    res = {"stack": args.stack, "items": items,
           "total_bytes": sum(sizes) if all(s is not None for s in sizes) else None}
    json.dump(res, sys.stdout, indent=2, sort_keys=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
