#!/bin/sh
# Prints the filled nginx config: render.sh LISTEN_PORT COMMAND_ADDR QUERY_ADDR... [> vitrine.conf]
# PREFIX (default: the current directory) holds nginx's pid, log and temp files.
# Run it with: nginx -p "$PREFIX" -c "$PREFIX/vitrine.conf" -g 'daemon off;'
set -eu
if [ "$#" -lt 3 ]; then
    echo "usage: $0 LISTEN_PORT COMMAND_ADDR QUERY_ADDR..." >&2
    exit 64
fi
port=$1; command_addr=$2; shift 2
prefix=${PREFIX:-$(pwd)}
servers=""
for addr in "$@"; do
    # max_fails=0: a refused connection moves the read to the next server without
    # taking the instance out for fail_timeout (a restarted one is used at once).
    servers="${servers}        server ${addr} max_fails=0;
"
done
template="$(dirname "$0")/vitrine.conf.template"
awk -v port="$port" -v cmd="$command_addr" -v prefix="$prefix" -v servers="$servers" '
    /@QUERY_SERVERS@/ { printf "%s", servers; next }
    { gsub(/@LISTEN_PORT@/, port); gsub(/@COMMAND_ADDR@/, cmd); gsub(/@PREFIX@/, prefix); print }
' "$template"
