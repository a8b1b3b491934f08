#!/usr/bin/env bash
# The Prometheus rules (deploy/prometheus/rules): they parse, the configuration renders
# and passes promtool, every alert has a unit test that makes it fire
# (deploy/prometheus/tests/alerts.test.yml), and every alert has its section in the
# runbook (docs/operations.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v promtool >/dev/null || { echo "40-prometheus-rules: promtool missing (bash deploy/install.sh)" >&2; exit 1; }
P=deploy/prometheus
promtool check rules "$P"/rules/*.yml
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sed -e "s|@RUN@|$tmp|g; s|@RULES@|$PWD/$P/rules|g; s|@[A-Z_]*_PORT@|9999|g" "$P/prometheus.yml.template" >"$tmp/prometheus.yml"
promtool check config --syntax-only "$tmp/prometheus.yml"
promtool test rules "$P"/tests/*.test.yml
/usr/bin/python3 - "$P/rules/alerts.yml" "$P"/tests/*.test.yml <<'PY'
import re, sys, yaml
alerts = {r["alert"] for g in yaml.safe_load(open(sys.argv[1]))["groups"] for r in g["rules"] if "alert" in r}
fired = set()
for path in sys.argv[2:]:
    for case in yaml.safe_load(open(path))["tests"]:
        for t in case.get("alert_rule_test", []):
            if t.get("exp_alerts"):
                fired.add(t["alertname"])
runbook = open("docs/operations.md").read()
documented = set(re.findall(r"^### (Vitrine\w+)", runbook, re.M))
problems = [f"{a}: no test makes it fire" for a in sorted(alerts - fired)]
problems += [f"{a}: no '### {a}' section in docs/operations.md" for a in sorted(alerts - documented)]
problems += [f"{a}: in docs/operations.md but not an alert" for a in sorted(documented - alerts)]
if problems:
    sys.exit("40-prometheus-rules: " + "\n  ".join([""] + problems))
print(f"40-prometheus-rules: {len(alerts)} alerts, each fired by a test and in the runbook")
PY
