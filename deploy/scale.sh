#!/usr/bin/env bash
# Scales one program of the running store to N instances, with no failed request:
#   bash deploy/scale.sh query-api|command-api|projector N
#   bash deploy/scale.sh status          what runs (pid files + /readyz of each instance)
#   bash deploy/scale.sh ports PROGRAM   the ports of its live instances, comma-separated
# Adding: each new instance starts on the next port of the program's range
# (deploy/env.sh), under deploy/supervise.sh, and joins nginx's pool by a graceful reload
# once GET /readyz answers 200. Removing: the surplus instances leave nginx's pool first
# (reload, then the old nginx workers finish their in-flight requests and exit), then they
# get SIGTERM and drain. The projector is not behind nginx: its instances share the
# topic's partitions by PostgreSQL advisory locks (ADR 5; at most one per partition).
# The summary at the end is read back from what runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
ME=scale
. "$here/lib.sh"

if [ "${1:-}" = status ]; then summary; exit 0; fi
if [ "${1:-}" = ports ] && [ "$#" -eq 2 ]; then
  check_program "$2"
  instance_ports "$2" | paste -sd, -
  exit 0
fi
if [ "$#" -ne 2 ]; then
  echo "usage: $0 query-api|command-api|projector N   (or: $0 status)" >&2
  exit 64
fi
prog=$1 n=$2
check_program "$prog"
[ -f "$STORE_ENV" ] || die "$STORE_ENV is missing: the store is not up (bash deploy/up.sh)"
[ -n "$(nginx_master)" ] || die "nginx is not running: the store is not up (bash deploy/up.sh)"
exec 9>"$RUN_DIR/deploy.lock"
flock -w 300 9 || die "another deploy script holds $RUN_DIR/deploy.lock"
before=$(instance_count "$prog")
scale_to "$prog" "$n"
after=$(instance_count "$prog")
say "$prog: $before -> $after instances"
summary
[ "$after" -eq "$n" ] || die "$prog runs $after instances, not $n"
