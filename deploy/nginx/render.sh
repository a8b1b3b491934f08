#!/bin/sh
# Prints the filled nginx config:
#   render.sh LISTEN_PORT COMMAND_ADDR[,COMMAND_ADDR...] QUERY_ADDR... [> vitrine.conf]
# PREFIX (default: the current directory) holds nginx's pid, log and temp files.
# Run it with: nginx -p "$PREFIX" -c "$PREFIX/vitrine.conf" -g 'daemon off;'
# deploy/lib.sh renders it from the instances that actually run (pid files + liveness).
set -eu
if [ "$#" -lt 3 ]; then
    echo "usage: $0 LISTEN_PORT COMMAND_ADDR[,COMMAND_ADDR...] QUERY_ADDR..." >&2
    exit 64
fi
port=$1; command_addrs=$2; shift 2
prefix=${PREFIX:-$(pwd)}
# max_fails=1 fail_timeout=2s: a connection error or timeout (an instance killed, or
# stopping) marks the instance down for 2 s in the shared zone, so the next requests go
# straight to the others instead of each paying a failed try; after 2 s one request
# probes it again (the supervisor restarts a crashed instance within a few seconds).
opts="max_fails=1 fail_timeout=2s"
servers() {
    for addr in "$@"; do
        printf '        server %s %s;\n' "$addr" "$opts"
    done
}
query_servers=$(servers "$@")
# shellcheck disable=SC2046
command_servers=$(IFS=,; servers $command_addrs)
template="$(dirname "$0")/vitrine.conf.template"
awk -v port="$port" -v prefix="$prefix" -v qs="$query_servers" -v cs="$command_servers" '
    /@QUERY_SERVERS@/ { print qs; next }
    /@COMMAND_SERVERS@/ { print cs; next }
    { gsub(/@LISTEN_PORT@/, port); gsub(/@PREFIX@/, prefix); print }
' "$template"
