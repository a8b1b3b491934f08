#!/usr/bin/env bash
# Backs up the store's database, whose event store (`events`) is the store's source of
# truth: one consistent snapshot (pg_dump runs in one repeatable-read transaction, so the
# events, the outbox and the write model agree), custom format, compressed.
#
#   bash deploy/backup.sh [FILE]      # default: $VITRINE_HOME/backups/vitrine-<UTC time>.dump
#
# The database is DATABASE_DIRECT_URL, else DATABASE_URL (the running store's: source
# ~/.vitrine/store.env first). Use the direct URL, not PgBouncer's. Online: the store keeps
# serving. The read models come along but are rebuilt after a restore (deploy/restore.sh).
# Scheduled, e.g. hourly from cron; continuous backup (WAL archiving, point-in-time
# recovery) is the database's own: docs/deployment.md, "Backup and restore".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
url=${DATABASE_DIRECT_URL:-${DATABASE_URL:?set DATABASE_DIRECT_URL (source ~/.vitrine/store.env)}}
out=${1:-$VITRINE_HOME/backups/vitrine-$(date -u +%Y%m%dT%H%M%SZ).dump}
mkdir -p "$(dirname "$out")"
umask 077
pg_dump --format=custom --no-owner --no-privileges --file="$out.partial" "$url"
mv "$out.partial" "$out"
# What it holds, for the log and for the restore check.
events=$(pg_restore --list "$out" | grep -c "TABLE DATA public events " || true)
[ "$events" = 1 ] || { echo "backup: $out has no events table data" >&2; exit 1; }
echo "backup: $out ($(du -h "$out" | cut -f1))"
