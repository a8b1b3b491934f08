#!/usr/bin/env bash
# A tiny local supervisor for one program instance:
#   deploy/supervise.sh NAME CHILD_PIDFILE -- COMMAND [ARGS...]
# Runs COMMAND and restarts it whenever it exits without having been told to stop
# (kill -9, a crash, a non-zero exit, a watchdog's deliberate exit), after a backoff of
# 1 s that doubles up to 16 s while the program keeps dying within 30 s of its start.
# Every exit and restart is logged on stderr (the instance's log).
# SIGTERM (or SIGINT) to the supervisor forwards SIGTERM to the program (which drains its
# in-flight requests), waits for it to exit and exits 0 without restarting it.
# The supervisor's own pid is the instance's pid (deploy/lib.sh keeps it in a pid file);
# the program's current pid is written to CHILD_PIDFILE.
set -uo pipefail   # no -e: `wait` returns the program's status, which is data here
if [ "$#" -lt 4 ] || [ "$3" != "--" ]; then
  echo "usage: $0 NAME CHILD_PIDFILE -- COMMAND [ARGS...]" >&2
  exit 64
fi
name=$1 child_pidfile=$2
shift 3

say() { echo "$(date -u +%FT%T.%3NZ) supervise[$name]: $*" >&2; }

child=0 stopping=0
on_stop() {
  stopping=1
  if [ "$child" -gt 0 ]; then kill -TERM "$child" 2>/dev/null || true; fi
}
trap on_stop TERM INT
trap '' HUP

backoff=1
while :; do
  started=$SECONDS
  "$@" &
  child=$!
  echo "$child" >"$child_pidfile"
  # A stop that arrived between the fork and `child=$!` is forwarded now.
  [ "$stopping" = 1 ] && kill -TERM "$child" 2>/dev/null
  say "started pid $child: $*"
  while :; do
    wait "$child"
    status=$?
    # A trapped signal interrupts `wait` (status > 128) while the program still runs.
    if [ "$status" -gt 128 ] && kill -0 "$child" 2>/dev/null; then continue; fi
    break
  done
  ran=$((SECONDS - started))
  if [ "$stopping" = 1 ]; then
    say "pid $child stopped (status $status after ${ran}s); not restarting"
    rm -f "$child_pidfile"
    exit 0
  fi
  how="status $status"
  [ "$status" -gt 128 ] && how="signal $(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
  [ "$ran" -ge 30 ] && backoff=1
  say "pid $child exited unexpectedly ($how after ${ran}s); restarting in ${backoff}s"
  sleep "$backoff" &
  sleeper=$!
  wait "$sleeper" 2>/dev/null   # interruptible by a stop
  kill "$sleeper" 2>/dev/null
  if [ "$stopping" = 1 ]; then
    say "stopped while waiting to restart"
    rm -f "$child_pidfile"
    exit 0
  fi
  backoff=$((backoff * 2))
  [ "$backoff" -gt 16 ] && backoff=16
done
