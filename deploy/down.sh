#!/usr/bin/env bash
# Stops what deploy/up.sh started: nginx (gracefully: in-flight requests finish), every
# program instance with its supervisor, and PgBouncer. With --programs-only, just the
# program instances. PostgreSQL, Redis and the broker keep running;
# `deploy/services.sh stop-broker` stops the broker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
ME=down
. "$here/lib.sh"

stop_pid() { # pidfile: SIGTERM, wait up to 10 s, SIGKILL
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
# Programs started by an older up.sh: one pid file per program, no supervisor.
stop_legacy() {
  local f
  for f in "$RUN_DIR"/query-api-*.pid "$RUN_DIR"/projector.pid "$RUN_DIR"/command-api.pid; do
    [ -e "$f" ] && stop_pid "$f"
  done
  return 0
}
if [ "${1:-}" = "--legacy-only" ]; then stop_legacy; exit 0; fi

stop_nginx() { # prefix dir, name: graceful quit (in-flight requests finish)
  local master
  master=$(nginx_master "$1")
  [ -n "$master" ] || return 0
  kill -QUIT "$master"
  for _ in $(seq 1 250); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$master" 2>/dev/null && kill -KILL "$master"
  rm -f "$1/nginx.pid"
  say "$2 stopped"
}
if [ "${1:-}" != "--programs-only" ]; then
  stop_nginx "$FRONT_DIR" "front door nginx"
  stop_nginx "$NGINX_DIR" "pools nginx"
fi
for prog in query-api command-api projector; do
  ports=$(instance_ports "$prog" | tr '\n' ' ')
  # shellcheck disable=SC2086
  [ -n "$ports" ] && stop_instances "$prog" $ports
done
stop_legacy
[ "${1:-}" = "--programs-only" ] && exit 0
# What up.d started beside the programs: one file each.
for part in "$here"/down.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part" || echo "down: $(basename "$part") failed" >&2
done
[ -f "$RUN_DIR/pgbouncer.dir" ] && stop_pid "$(cat "$RUN_DIR/pgbouncer.dir")/pgbouncer.pid"
echo "down: stopped"
