#!/usr/bin/env bash
# Backup and restore of the event store, tested end to end with the documented scripts
# and the real programs: write a history, back up (deploy/backup.sh), write more, restore
# into a fresh database on a NEW PostgreSQL server (deploy/restore.sh; a server of its
# own, with lower transaction ids, as on new hardware), rebuild the read models
# (`projector rebuild`, into a Redis prefix of its own) and `projector verify` is clean.
# Needs the services of deploy/services.sh (PostgreSQL, Redis), not the whole store.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. deploy/env.sh
say() { echo "backup-restore: $*"; }
fail() { echo "backup-restore: FAILED: $*" >&2; exit 1; }

nice -n 10 cargo build -q -p command-api -p projector -p loadtests --bins
BIN=$CARGO_TARGET_DIR/debug
tag=vitrine_backup_test_$$
src_url="postgres://postgres@127.0.0.1:$PG_PORT/$tag"
prefix="vitrine-restore-test-$$:"
work=$(mktemp -d)
chmod 755 "$work"
pgbin=$(dirname "$(readlink -f "$(command -v initdb)")")
# PostgreSQL refuses to run as root: the second server runs as the postgres user.
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
cleanup() {
  [ -f "$work/pg/postmaster.pid" ] && "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  dropdb -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists "$tag" >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" --scan --pattern "$prefix*" | xargs -r redis-cli -p "$REDIS_PORT" DEL >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
count() { psql -X -At -d "$1" -c "SELECT count(*) FROM events"; }

createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres "$tag"
"$BIN/history" --database-url "$src_url" --events 3000 --products 200 --seed 1 >/dev/null
before=$(count "$src_url")
DATABASE_DIRECT_URL=$src_url bash deploy/backup.sh "$work/store.dump"
# Written after the backup: the restore must not have these.
"$BIN/history" --database-url "$src_url" --events 1000 --products 50 --seed 2 >/dev/null
after=$(count "$src_url")
[ "$after" -gt "$before" ] || fail "no events written after the backup ($before, then $after)"
say "backed up $before events, then the store had $after"

# A new server on a free port, owned by the postgres user.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir "$work/pg" && chown postgres "$work/pg" 2>/dev/null || true
"${as_pg[@]}" "$pgbin/initdb" -D "$work/pg" -U postgres --auth=trust >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg/log" -w \
  -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
createdb -h 127.0.0.1 -p "$port" -U postgres vitrine
target="postgres://postgres@127.0.0.1:$port/vitrine"
bash deploy/restore.sh "$work/store.dump" "$target"
restored=$(count "$target")
[ "$restored" = "$before" ] || fail "restored $restored events, the backup had $before"

export DATABASE_URL=$target DATABASE_DIRECT_URL=$target REDIS_URL="redis://127.0.0.1:$REDIS_PORT" REDIS_PREFIX=$prefix
"$BIN/projector" rebuild --grace-seconds 0 --handoff-seconds 0 >"$work/rebuild.log" 2>&1 ||
  { cat "$work/rebuild.log" >&2; fail "projector rebuild"; }
grep "rebuilt version" "$work/rebuild.log" | sed 's/^/backup-restore: /' || true
"$BIN/projector" verify >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; fail "projector verify is not clean"; }
say "restored $restored events on a new server, rebuilt, projector verify clean"
