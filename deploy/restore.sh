#!/usr/bin/env bash
# Restores a backup made by deploy/backup.sh into a new, empty database, then makes the
# restored event store safe to rebuild from.
#
#   bash deploy/restore.sh FILE TARGET_URL
#
# TARGET_URL names a database that exists and is empty (createdb it; never the live one).
# Afterwards (docs/deployment.md, "Backup and restore"):
#   1. point the programs at it (DATABASE_URL through PgBouncer, DATABASE_DIRECT_URL), with
#      a NEW Kafka topic (KAFKA_TOPIC): the old topic holds events the backup does not,
#      under positions the restored store will hand out again;
#   2. `projector rebuild` (read models from the restored events, into Redis too);
#   3. `projector verify`: exit 0 is a clean store.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 FILE TARGET_URL" >&2; exit 2; }
file=$1 target=$2
[ -r "$file" ] || { echo "restore: cannot read $file" >&2; exit 2; }
tables=$(psql -X -At -d "$target" -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
[ "$tables" = 0 ] || { echo "restore: the target database is not empty ($tables tables): refused" >&2; exit 2; }

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$target" "$file"

# Each event records the transaction that wrote it (events.tx_id), and a rebuild folds
# exactly the events visible in a snapshot of this server (pg_visible_in_snapshot). In a
# server other than the one backed up, transaction ids restart lower, so restored ids
# could lie in this server's future, and a rebuild would not see those events. They
# were all committed before the backup: in this server they became visible with the
# restore, so they take the id of this transaction (a physical backup, PITR, keeps
# the ids and needs none of this).
psql -X -q -v ON_ERROR_STOP=1 -d "$target" <<'SQL'
BEGIN;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM events WHERE tx_id >= pg_current_xact_id()) THEN
    ALTER TABLE events DISABLE TRIGGER events_append_only;
    UPDATE events SET tx_id = pg_current_xact_id() WHERE tx_id >= pg_current_xact_id();
    ALTER TABLE events ENABLE TRIGGER events_append_only;
    RAISE NOTICE 'restore: transaction ids of restored events moved into this server''s past';
  END IF;
END $$;
COMMIT;
SQL
summary=$(psql -X -At -d "$target" -c "SELECT count(*) || ' events, last position ' || coalesce(max(position), 0) FROM events")
echo "restore: $summary restored; next: a new KAFKA_TOPIC, then projector rebuild, then projector verify"
