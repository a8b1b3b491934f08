#!/bin/sh
# Starts N query-api instances on consecutive ports (8082, 8083, ...) and nginx on
# 127.0.0.1:8080 in front of them (command-api expected on 127.0.0.1:8081).
# usage: deploy/nginx/start-local.sh [N] [BASE_PORT]   (Ctrl-C stops everything)
set -eu
n=${1:-3}; base=${2:-8082}
here=$(cd "$(dirname "$0")" && pwd)
bin=${QUERY_API_BIN:-${CARGO_TARGET_DIR:-target}/release/query-api}
run=$(mktemp -d); mkdir -p "$run/logs"
addrs=""; pids=""
i=0
while [ "$i" -lt "$n" ]; do
    port=$((base + i))
    # A local try-out: development mode unless secrets are given (docs/security.md).
    LISTEN_ADDR="127.0.0.1:$port" VITRINE_DEV_MODE=${VITRINE_DEV_MODE:-1} "$bin" >"$run/logs/query-api-$port.log" 2>&1 &
    pids="$pids $!"; addrs="$addrs 127.0.0.1:$port"; i=$((i + 1))
done
PREFIX="$run" "$here/render.sh" "${NGINX_PORT:-8080}" "${COMMAND_ADDR:-127.0.0.1:8081}" $addrs >"$run/vitrine.conf"
trap 'kill -TERM $pids 2>/dev/null; wait' INT TERM EXIT
echo "query-api x$n on$addrs; nginx on ${NGINX_PORT:-8080}; files in $run"
/usr/sbin/nginx -p "$run" -c "$run/vitrine.conf" -g 'daemon off;'
