#!/usr/bin/env bash
# The Grafana dashboards (deploy/grafana/dashboards) without Grafana (Debian has none):
# each file is a dashboard Grafana can provision (uid, title, panels with queries on the
# provisioned data source), every query of the dashboards, the rules and the status page
# parses (promtool, each expression checked as a recording rule), and reads only metrics
# the programs and exporters export (docs/metrics.md) or the rules record.
# .ci/store.d/40-monitoring.sh checks the same names against a live scrape.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - <<'PY'
import glob, json, sys
uids, problems = set(), []
for path in sorted(glob.glob("deploy/grafana/dashboards/*.json")):
    d = json.load(open(path))
    for key in ("uid", "title", "panels", "schemaVersion"):
        if key not in d:
            problems.append(f"{path}: no {key}")
    if d.get("uid") in uids:
        problems.append(f"{path}: uid {d['uid']} used twice")
    uids.add(d.get("uid"))
    for p in d.get("panels", []):
        if not p.get("targets"):
            problems.append(f"{path}: panel '{p.get('title')}' has no query")
        for t in p.get("targets", []):
            if t.get("datasource", {}).get("uid") != "vitrine-prometheus" or not t.get("expr"):
                problems.append(f"{path}: panel '{p.get('title')}' queries no provisioned data source")
if len(uids) < 5:
    problems.append(f"expected the five dashboards (queries, cache, pools, projection, write path), found {len(uids)}")
if problems:
    sys.exit("41-dashboards: " + "\n  ".join([""] + problems))
print(f"41-dashboards: {len(uids)} dashboards well-formed")
PY
/usr/bin/python3 .ci/lib/promql_names.py rules-file "$tmp/every-expression.yml" >"$tmp/index.tsv"
if ! promtool check rules "$tmp/every-expression.yml" >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  echo "41-dashboards: an expression does not parse; which one (check:expr_N):" >&2
  cat "$tmp/index.tsv" >&2
  exit 1
fi
echo "41-dashboards: $(wc -l <"$tmp/index.tsv") expressions parse (promtool)"
/usr/bin/python3 .ci/lib/promql_names.py check-docs
