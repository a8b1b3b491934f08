#!/usr/bin/env bash
# Stops what deploy/up.sh started: the programs, nginx and PgBouncer (with
# --programs-only, just the programs). PostgreSQL, Redis and the broker keep running;
# `deploy/services.sh stop-broker` stops the broker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
RUN_DIR="$VITRINE_HOME/run"
stop_pid() { # pidfile
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true   # SIGTERM: programs drain in-flight requests
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
for f in "$RUN_DIR"/query-api-*.pid "$RUN_DIR"/projector.pid "$RUN_DIR"/command-api.pid; do
  [ -e "$f" ] && stop_pid "$f"
done
[ "${1:-}" = "--programs-only" ] && exit 0
stop_pid "$RUN_DIR/nginx/nginx.pid"
[ -f "$RUN_DIR/pgbouncer.dir" ] && stop_pid "$(cat "$RUN_DIR/pgbouncer.dir")/pgbouncer.pid"
echo "down: stopped"
