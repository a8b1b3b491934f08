#!/usr/bin/env bash
# Writes secrets.env beside this file (the production overlay's Secret) with random
# session, admin and webhook secrets and the external services' URLs, which must be set:
#   DATABASE_URL='postgres://vitrine:PW@pgbouncer.db:6432/vitrine?sslmode=verify-full' \
#   DATABASE_DIRECT_URL='postgres://vitrine:PW@vitrine-db-rw.db:5432/vitrine?sslmode=verify-full' \
#   REDIS_URL='rediss://:PW@redis.cache:6379' \
#   KAFKA_SASL_USERNAME=vitrine KAFKA_SASL_PASSWORD=... \
#   bash deploy/k8s/overlays/production/make-secrets.sh
# An existing secrets.env is kept (delete it to start over; new session secrets log
# every shopper out). Keep the file out of git (.gitignore) and in your secret manager.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/secrets.env
if [ -f "$out" ]; then
  echo "make-secrets: $out exists, kept"
  exit 0
fi
for var in DATABASE_URL DATABASE_DIRECT_URL REDIS_URL KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD; do
  [ -n "${!var:-}" ] || { echo "make-secrets: set $var (see the top of $0)" >&2; exit 2; }
done
random_secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
umask 077
cat >"$out" <<ENV
DATABASE_URL=$DATABASE_URL
DATABASE_DIRECT_URL=$DATABASE_DIRECT_URL
REDIS_URL=$REDIS_URL
KAFKA_SASL_USERNAME=$KAFKA_SASL_USERNAME
KAFKA_SASL_PASSWORD=$KAFKA_SASL_PASSWORD
SESSION_SECRET=$(random_secret)
ADMIN_TOKEN=$(random_secret)
PAYMENT_WEBHOOK_SECRET=$(random_secret)
ENV
echo "make-secrets: wrote $out"
