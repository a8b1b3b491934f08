#!/usr/bin/env bash
# Monitoring (docs/operations.md): Prometheus with promtool, the Redis, PostgreSQL and
# PgBouncer exporters, Chromium for the status page's screenshot check, and PyYAML for
# the rule and dashboard checks, all from
# Debian. Check first, install only what is missing. Recommends are left out
# (prometheus would pull in the node exporter, which nothing here scrapes). Debian's
# packages ship init scripts; the store never uses them: deploy/up.d/40-monitoring.sh
# starts each program itself, on the ports of deploy/env.sh, with the files of deploy/.
set -euo pipefail
pkgs=()
command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)
command -v promtool >/dev/null 2>&1 || pkgs+=(prometheus)
[ -x /usr/bin/prometheus-redis-exporter ] || pkgs+=(prometheus-redis-exporter)
[ -x /usr/bin/prometheus-postgres-exporter ] || pkgs+=(prometheus-postgres-exporter)
[ -x /usr/bin/prometheus-pgbouncer-exporter ] || pkgs+=(prometheus-pgbouncer-exporter)
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
# The checks of .ci/checks.d read the rules and dashboards with Debian's python3 and PyYAML.
/usr/bin/python3 -c 'import yaml' 2>/dev/null || pkgs+=(python3-yaml)
if [ "${#pkgs[@]}" -gt 0 ]; then
  echo "install: Debian packages ${pkgs[*]} (monitoring)"
  # A concurrent apt-get (another install on the machine) may hold the dpkg lock: wait.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
