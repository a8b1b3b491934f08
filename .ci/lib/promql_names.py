"""The PromQL of deploy/: every expression of the Grafana dashboards, the Prometheus
rules and the status page, and the metric names each one reads.

    promql_names.py rules-file OUT     every expression as a recording rule (for promtool)
    promql_names.py check-docs         every name read is documented (docs/metrics.md) or
                                       recorded (deploy/prometheus/rules/recording.yml)
    promql_names.py check-live URL     every name read is in the live Prometheus at URL (a
                                       route- or status-labelled one may not be yet)
    promql_names.py names              the names read, one per line

Run from the repository root with Debian's python3 (it has PyYAML).
"""
import glob
import json
import re
import sys
import urllib.request

import yaml

DASHBOARDS = "deploy/grafana/dashboards/*.json"
RULES = "deploy/prometheus/rules/*.yml"
CONSOLES = "deploy/prometheus/consoles/*.html"
METRICS_DOC = "docs/metrics.md"
KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
            "group_right", "offset", "inf", "nan", "Inf", "NaN"}
# Grafana's variables, replaced by a value of the right shape before parsing.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "15m",
             "${job}": "query-api", "$job": "query-api"}


def substitute(expr):
    for var, value in VARIABLES.items():
        expr = expr.replace(var, value)
    return expr


def expressions():
    """(where, expression) of every query in deploy/."""
    found = []
    for path in sorted(glob.glob(DASHBOARDS)):
        board = json.load(open(path))
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                found.append((f"{path}: {panel['title']}", substitute(target["expr"])))
        for var in board.get("templating", {}).get("list", []):
            m = re.match(r"label_values\((\w+),", var.get("definition", ""))
            if m:
                found.append((f"{path}: variable {var['name']}", m.group(1)))
    for path in sorted(glob.glob(RULES)):
        for group in yaml.safe_load(open(path))["groups"]:
            for rule in group["rules"]:
                found.append((f"{path}: {rule.get('record') or rule.get('alert')}", rule["expr"]))
    # The status page's queries: data-expr="..." attributes (deploy/prometheus/consoles),
    for path in sorted(glob.glob(CONSOLES)):
        text = open(path).read()
        for m in re.finditer(r'data-expr="([^"]+)"', text):
            found.append((path, m.group(1).replace("&quot;", '"')))
        # ... and the template's own: {{ query "..." }}, {{ template "now" "..." }}.
        for m in re.finditer(r'(?:query|"now") "((?:[^"\\]|\\.)*)"', text):
            found.append((path, m.group(1).replace('\\"', '"')))
    return found


def metric_names(expr):
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+\S+", " ", s)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s):
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # the exponent of a number (1e3)
        if s[m.end():].lstrip().startswith("(") or m.group(0) in KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(m.group(0))
    return names


def documented_open():
    """Documented names with an open label (route, status): each series appears with its
    first occurrence, so a quiet store may not have one yet (a route never missed)."""
    names = set()
    for line in open(METRICS_DOC):
        m = re.match(r"\| `([a-z_:][a-z0-9_:]*)\{([^}`]*)\}`(?: / `([a-z_:][a-z0-9_:]*)\{([^}`]*)\}`)?", line)
        if m:
            for name, labels in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
                if name and re.search(r"\b(route|status)\b", labels):
                    names.update({name, f"{name}_bucket", f"{name}_sum", f"{name}_count"})
    return names


def recorded():
    return {r["record"] for p in glob.glob(RULES) for g in yaml.safe_load(open(p))["groups"]
            for r in g["rules"] if "record" in r}


def documented():
    """Names in the tables of docs/metrics.md; a histogram's also with its suffixes."""
    names = set()
    for line in open(METRICS_DOC):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        kind = cells[1] if len(cells) > 1 else ""
        for name in re.findall(r"`([a-z_:][a-z0-9_:]*)(?:\{[^`]*\})?`", cells[0]):
            names.add(name)
            if kind == "histogram":
                names.update(f"{name}_{s}" for s in ("bucket", "sum", "count"))
    return names | {"up", "ALERTS"}  # Prometheus's own: targets scraped, alerts active


def used():
    out = {}
    for where, expr in expressions():
        for name in metric_names(expr):
            out.setdefault(name, []).append(where)
    return out


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "rules-file":
        rules = [{"record": f"check:expr_{i}", "expr": e} for i, (_, e) in enumerate(expressions())]
        yaml.safe_dump({"groups": [{"name": "every-expression", "rules": rules}]}, open(sys.argv[2], "w"))
        for i, (where, _) in enumerate(expressions()):
            print(f"check:expr_{i}\t{where}")
    elif cmd == "names":
        print("\n".join(sorted(used())))
    elif cmd == "check-docs":
        known = documented() | recorded()
        bad = {n: w for n, w in used().items() if n not in known}
        for name, where in sorted(bad.items()):
            print(f"  {name}: neither in {METRICS_DOC} nor recorded; read by {where[0]}", file=sys.stderr)
        if bad:
            sys.exit(1)
        print(f"{len(used())} metric names read by {len(expressions())} expressions, all documented or recorded")
    elif cmd == "check-live":
        url = sys.argv[2].rstrip("/") + "/api/v1/label/__name__/values"
        live = set(json.load(urllib.request.urlopen(url, timeout=10))["data"])
        absent = {n: w for n, w in used().items() if n not in live}
        later = {n for n in absent if n in documented_open()}
        for name in sorted(later):
            print(f"  {name}: not scraped yet (its series appear with their first route/status)")
        for name, where in sorted(absent.items()):
            if name not in later:
                print(f"  {name}: not in the live Prometheus; read by {where[0]}", file=sys.stderr)
        if len(absent) > len(later):
            sys.exit(1)
        print(f"{len(used()) - len(absent)} of the {len(used())} metric names read by {len(expressions())} expressions are in the live Prometheus")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
