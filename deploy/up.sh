#!/usr/bin/env bash
# Brings the whole store up on localhost: installs what is missing, starts PostgreSQL,
# Redis, the broker and PgBouncer, builds the release binaries, writes the store's
# environment ($VITRINE_HOME/store.env, the one file an operator sources), starts
# command-api, the projector and query-api (2 instances each, under deploy/supervise.sh)
# and nginx on 127.0.0.1:$NGINX_PORT, and seeds the demo catalog when the store is empty.
# Running it again keeps the data and the instance counts that run (override with
# COMMAND_API_INSTANCES, QUERY_API_INSTANCES, PROJECTOR_INSTANCES) and restarts the
# programs one instance at a time (a rolling restart: the replacement is ready and in
# nginx's pool before the old one leaves it), so no request fails.
# `deploy/down.sh` stops everything it started; `deploy/scale.sh` changes one count.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/env.sh"
ME=up
. "$here/lib.sh"
fail() { die "$@"; }
trap 'echo "up: FAILED at line $LINENO (logs in $VITRINE_LOGS)" >&2' ERR

bash "$here/install.sh"
bash "$here/services.sh" start

echo "up: building release binaries"
(cd "$root" && cargo build --release -q -p command-api -p projector -p query-api -p loadtests) || fail "cargo build"
BIN="$CARGO_TARGET_DIR/release"

# The store's own database (tests use their own).
psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -At \
  -c "SELECT 1 FROM pg_database WHERE datname = 'vitrine'" | grep -q 1 ||
  createdb -h 127.0.0.1 -p "$PG_PORT" -U postgres vitrine
DIRECT_URL="postgres://postgres@127.0.0.1:$PG_PORT/vitrine"
POOLED_URL="postgres://postgres@127.0.0.1:$PGBOUNCER_PORT/vitrine"

# PgBouncer. It refuses to run as root: as root it drops to the postgres user, with its
# files where that user can write them.
PGB_DIR=$RUN_DIR
pgb_user=()
if [ "$(id -u)" = 0 ]; then
  PGB_DIR=${PGBOUNCER_DIR:-/var/lib/postgresql/vitrine-pgbouncer}
  pgb_user=(-u postgres)
fi
if ! port_open "$PGBOUNCER_PORT"; then
  mkdir -p "$PGB_DIR"
  sed -e "s|@PG_PORT@|$PG_PORT|; s|@PGBOUNCER_PORT@|$PGBOUNCER_PORT|; s|@RUN_DIR@|$PGB_DIR|g; s|@LOG_DIR@|$PGB_DIR|" \
    "$here/pgbouncer/pgbouncer.ini.template" >"$PGB_DIR/pgbouncer.ini"
  echo '"postgres" ""' >"$PGB_DIR/userlist.txt"
  [ "$(id -u)" = 0 ] && chown -R postgres "$PGB_DIR"
  "$PGBOUNCER_BIN" -d "${pgb_user[@]}" "$PGB_DIR/pgbouncer.ini" || fail "pgbouncer (see $PGB_DIR/pgbouncer.log)"
  wait_port "$PGBOUNCER_PORT" 10 || fail "pgbouncer did not listen on $PGBOUNCER_PORT (see $PGB_DIR/pgbouncer.log)"
fi
echo "$PGB_DIR" >"$RUN_DIR/pgbouncer.dir"
echo "up: pgbouncer on $PGBOUNCER_PORT (transaction pooling)"

# The store's environment: one file, for the programs started here and by scale.sh, and
# for the operator (`set -a; . ~/.vitrine/store.env; set +a`, then `projector status`).
# Secrets: random ones are made on the first run and kept (sessions survive a restart)
# unless set in the environment; a published or short one (the development values an
# older up.sh wrote) is replaced, since the programs refuse it outside development mode
# (docs/security.md). SESSION_SECRET_PREVIOUS is kept when set, for a rotation.
previous() { [ -f "$STORE_ENV" ] && env -i bash -c "set -a; . '$STORE_ENV'; printf '%s' \"\${$1:-}\"" || true; }
random_secret() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
strong() { [ "${#1}" -ge 32 ] && case "$1" in dev-*|test-*) false ;; *) true ;; esac; }
session_secret=${SESSION_SECRET:-$(previous SESSION_SECRET)}
admin_token=${ADMIN_TOKEN:-$(previous ADMIN_TOKEN)}
session_secret_previous=${SESSION_SECRET_PREVIOUS:-$(previous SESSION_SECRET_PREVIOUS)}
# The payment provider's webhook secret: command-api refuses to start without one of at
# least 32 characters, so a random one is made once and kept (docs/security.md).
payment_webhook_secret=${PAYMENT_WEBHOOK_SECRET:-$(previous PAYMENT_WEBHOOK_SECRET)}
strong "$session_secret" || { session_secret=$(random_secret); echo "up: new random SESSION_SECRET"; }
strong "$admin_token" || { admin_token=$(random_secret); echo "up: new random ADMIN_TOKEN (in $STORE_ENV)"; }
strong "$payment_webhook_secret" || { payment_webhook_secret=$(random_secret); echo "up: new random PAYMENT_WEBHOOK_SECRET"; }
[ -z "$session_secret_previous" ] || strong "$session_secret_previous" || session_secret_previous=
umask_was=$(umask); umask 077
cat >"$STORE_ENV.next" <<ENV
# The running Vitrine store's environment, written by deploy/up.sh. Operators:
#   set -a; . $STORE_ENV; set +a
# then run the binaries in $BIN (projector status, verify, rebuild, ...).
# Not the tests' environment (deploy/env.sh): that one names the postgres database.
DATABASE_URL='$POOLED_URL'
DATABASE_DIRECT_URL='$DIRECT_URL'
REDIS_URL='$REDIS_URL'
REDIS_PREFIX='vitrine:'
KAFKA_BROKERS='$KAFKA_BROKERS'
KAFKA_TOPIC='vitrine.events'
KAFKA_PARTITIONS='$KAFKA_PARTITIONS'
SESSION_SECRET='$session_secret'
SESSION_SECRET_PREVIOUS='$session_secret_previous'
ADMIN_TOKEN='$admin_token'
PAYMENT_WEBHOOK_SECRET='$payment_webhook_secret'
NGINX_PORT='$NGINX_PORT'
COMMAND_API_PORT_MIN='$COMMAND_API_PORT_MIN'
COMMAND_API_PORT_MAX='$COMMAND_API_PORT_MAX'
QUERY_API_PORT_MIN='$QUERY_API_PORT_MIN'
QUERY_API_PORT_MAX='$QUERY_API_PORT_MAX'
PROJECTOR_PORT_MIN='$PROJECTOR_PORT_MIN'
PROJECTOR_PORT_MAX='$PROJECTOR_PORT_MAX'
ENV
mv "$STORE_ENV.next" "$STORE_ENV"
umask "$umask_was"
echo "up: store environment in $STORE_ENV"
set -a; . "$STORE_ENV"; set +a

# Migrations take a session-level lock: run them on the direct connection.
DATABASE_URL="$DIRECT_URL" "$BIN/command-api" migrate >"$VITRINE_LOGS/migrate.log" 2>&1 || fail "migrations (see $VITRINE_LOGS/migrate.log)"

# The programs: one deploy script at a time changes them.
exec 9>"$RUN_DIR/deploy.lock"
flock -w 300 9 || fail "another deploy script holds $RUN_DIR/deploy.lock"
wanted() { # program VAR: the override, else what runs, else 2
  local have
  have=$(instance_count "$1")
  if [ -n "${!2:-}" ]; then echo "${!2}"
  elif [ "$have" -gt 0 ]; then echo "$have"
  else echo 2; fi
}
n_command=$(wanted command-api COMMAND_API_INSTANCES)
n_projector=$(wanted projector PROJECTOR_INSTANCES)
n_query=$(wanted query-api QUERY_API_INSTANCES)
# (fd 9 holds the lock: deploy/lib.sh closes it for the programs and nginx it starts.)
# Instances started by an older up.sh (one pid file per program, ports outside the ranges).
legacy=$(ls "$RUN_DIR"/command-api.pid "$RUN_DIR"/projector.pid "$RUN_DIR"/query-api-*.pid 2>/dev/null || true)

if [ -n "$legacy" ]; then
  # Their ports lie outside the ranges: no rolling hand-over from them (one time only).
  echo "up: stopping the instances of the previous layout (one-time change of ports)"
  bash "$here/down.sh" --legacy-only
fi
for prog in command-api projector query-api; do
  if [ "$(instance_count "$prog")" -gt 0 ]; then
    echo "up: rolling restart of $prog ($(instance_count "$prog") instances, one at a time)"
    rolling_restart "$prog"
  fi
done
scale_to command-api "$n_command"
scale_to projector "$n_projector"
scale_to query-api "$n_query"
if [ -z "$(nginx_master)" ] || [ -n "$legacy" ]; then nginx_apply; fi
front_apply

"$BIN/seed" --command-url "http://127.0.0.1:$NGINX_PORT" --query-url "http://127.0.0.1:$NGINX_PORT" ||
  fail "seeding the demo catalog"

# What runs beside the programs (monitoring, static assets, cache warming, ...): one file
# each, in name order, with the store's environment set.
for part in "$here"/up.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part" || fail "$(basename "$part")"
done

cat <<INFO

Vitrine is up (read back from what runs):
$(summary)
  PostgreSQL           $DIRECT_URL (pooled: $POOLED_URL)
  Redis / broker       $REDIS_URL / $KAFKA_BROKERS
  logs                 $VITRINE_LOGS
  operator environment set -a; . $STORE_ENV; set +a
Scale one program with: bash deploy/scale.sh query-api|command-api|projector N
Stop it with: bash deploy/down.sh
INFO
