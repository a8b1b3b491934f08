#!/usr/bin/env python3
"""Every environment variable the deployment files give a Vitrine program is one the
program reads.

Usage: env_names.py BIN_DIR compose.yaml rendered-k8s.yaml...

A program's accepted names are the `[env: NAME...]` entries of its `--help` (clap prints
one per setting), plus RUST_LOG (the log filter), and the KAFKA_OPTION_* pass-through
when the help text documents it. A misspelt or stale name would otherwise be ignored in
silence, and the program would run on its default.
"""
import re
import subprocess
import sys

import yaml

EXTRA = {"RUST_LOG"}


def accepted(bin_dir, program, cache={}):
    if program not in cache:
        # An empty environment: the help shows no one's values.
        out = subprocess.run([f"{bin_dir}/{program}", "--help"], capture_output=True,
                             text=True, check=True, env={}).stdout
        # `[env: NAME=default]`, or `[env: NAME]` for a secret (values hidden) or no default
        names = set(re.findall(r"\[env:\s+([A-Z0-9_]+)[=\]]", out)) | EXTRA
        prefixes = ["KAFKA_OPTION_"] if "KAFKA_OPTION_" in out else []
        cache[program] = (names, prefixes)
    return cache[program]


def check(where, program, env_names, bin_dir):
    names, prefixes = accepted(bin_dir, program)
    bad = [n for n in env_names
           if n not in names and not any(n.startswith(p) and len(n) > len(p) for p in prefixes)]
    for n in bad:
        print(f"env: {where}: {program} does not read {n}")
    return len(bad)


def containers(doc):
    """The containers of any workload, with the path to them."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = (spec.get("template") or {}).get("spec") or {}
    return pod.get("containers", []) + pod.get("initContainers", [])


def main():
    bin_dir, compose, *k8s = sys.argv[1:]
    errors = checked = 0
    services = yaml.safe_load(open(compose))["services"]
    for name, svc in services.items():
        image = str(svc.get("image", ""))
        if "vitrine" not in image or not svc.get("command"):
            continue
        program = svc["command"][0]
        env = svc.get("environment") or {}
        env_names = list(env) if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        errors += check(f"{compose} service {name}", program, env_names, bin_dir)
        checked += 1
    for path in k8s:
        for doc in yaml.safe_load_all(open(path)):
            if not doc or doc.get("kind") not in ("Deployment", "StatefulSet", "Job", "CronJob"):
                continue
            for c in containers(doc):
                if "vitrine" not in c.get("image", "") or not c.get("command"):
                    continue
                program = c["command"][0]
                if c.get("envFrom"):
                    print(f"env: {path} {doc['metadata']['name']}: envFrom passes names "
                          "that cannot be checked; list them under env")
                    errors += 1
                env_names = [e["name"] for e in c.get("env", [])]
                errors += check(f"{path} {doc['kind']}/{doc['metadata']['name']}", program,
                                env_names, bin_dir)
                checked += 1
    if checked == 0:
        print("env: no Vitrine container found to check")
        return 1
    print(f"env: {checked} containers checked, {errors} unknown names")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
