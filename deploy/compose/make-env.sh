#!/usr/bin/env bash
# Writes deploy/compose/.env (read by `docker compose`) with random secrets, once: the
# programs refuse to start with missing, short or published secrets (docs/security.md).
# An existing .env is kept (sessions and the database password survive); delete it to
# start over with new ones.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
env_file=$here/.env
if [ -f "$env_file" ]; then
  echo "make-env: $env_file exists, kept"
  exit 0
fi
random_secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
umask 077
cat >"$env_file" <<ENV
# Vitrine's Compose secrets, written by deploy/compose/make-env.sh. Never commit this file.
POSTGRES_PASSWORD=$(random_secret)
SESSION_SECRET=$(random_secret)
ADMIN_TOKEN=$(random_secret)
PAYMENT_WEBHOOK_SECRET=$(random_secret)
GRAFANA_ADMIN_PASSWORD=$(random_secret)
ENV
echo "make-env: wrote $env_file (ADMIN_TOKEN is there)"
