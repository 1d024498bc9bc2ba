#!/usr/bin/env python3
"""Fails unless tests/compose/docker-compose.ci.yml changes nothing but image names.

Compares `docker-compose config` of the users' file alone and with the CI override on top,
parsed, after dropping every service's `image`: the CI stack must be wired exactly as the users'.
Also fails if the override swaps no image at all (it would then test nothing different).
"""
import subprocess
import sys

import yaml  # python3-yaml, a dependency of Debian's docker-compose


def config(*files):
    args = ["docker-compose"]
    for f in files:
        args += ["-f", f]
    out = subprocess.run(args + ["config"], check=True, capture_output=True, text=True).stdout
    return yaml.safe_load(out)


def without_images(doc):
    images = {name: svc.pop("image", None) for name, svc in doc["services"].items()}
    for svc in doc["services"].values():
        # Order of list entries (volumes, ports) is not wiring.
        for key, value in svc.items():
            if isinstance(value, list):
                svc[key] = sorted(value, key=repr)
    return doc, images


users, users_images = without_images(config("docker-compose.yml"))
ci, ci_images = without_images(config("docker-compose.yml", "tests/compose/docker-compose.ci.yml"))
if users != ci:
    print("override-only-images: the CI override changes more than image names", file=sys.stderr)
    for name in sorted(set(users["services"]) | set(ci["services"])):
        if users["services"].get(name) != ci["services"].get(name):
            print(f"  service {name}:\n    users: {users['services'].get(name)}\n"
                  f"    ci:    {ci['services'].get(name)}", file=sys.stderr)
    for key in sorted(set(users) | set(ci)):
        if key != "services" and users.get(key) != ci.get(key):
            print(f"  {key}: users {users.get(key)} / ci {ci.get(key)}", file=sys.stderr)
    sys.exit(1)
swapped = {n: (users_images[n], ci_images[n]) for n in users_images if users_images[n] != ci_images[n]}
if not swapped:
    print("override-only-images: the CI override swaps no image", file=sys.stderr)
    sys.exit(1)
for name, (old, new) in sorted(swapped.items()):
    print(f"override-only-images: {name}: {old} -> {new}")
