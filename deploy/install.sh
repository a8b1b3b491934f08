#!/usr/bin/env bash
# Installs what Vitrine needs and is missing on a Debian machine. Idempotent: each step
# checks first, so a second run installs nothing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
have psql || need_pkgs+=(postgresql postgresql-client)
have redis-server || need_pkgs+=(redis-server)
have nginx || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx-light)
have wrk || need_pkgs+=(wrk)
# The deploy and load-test scripts: curl and jq talk to the store, ss (iproute2) finds who
# holds a port, socat squats one in the scaling test.
have curl || need_pkgs+=(curl)
have jq || need_pkgs+=(jq)
have ss || need_pkgs+=(iproute2)
have socat || need_pkgs+=(socat)
have pgrep || need_pkgs+=(procps)
have cmake || need_pkgs+=(cmake)
have cc || need_pkgs+=(build-essential)
have pkg-config || need_pkgs+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need_pkgs+=(libssl-dev)
dpkg -s libsasl2-dev >/dev/null 2>&1 || need_pkgs+=(libsasl2-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_pkgs+=(zlib1g-dev)
dpkg -s libevent-dev >/dev/null 2>&1 || need_pkgs+=(libevent-dev)
# Only for building the broker once; harmless insurance for its schema-registry code.
[ -x "$TANSU_BIN" ] || have protoc || need_pkgs+=(protobuf-compiler)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "install: Debian packages ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "install: cargo-nextest"
  cargo install cargo-nextest --locked
fi

# The Kafka-API broker: tansu, built once outside the clone (~12 minutes on 2 cores).
if [ ! -x "$TANSU_BIN" ]; then
  echo "install: tansu 0.6.0 (Kafka-API broker, SQLite storage; about 12 minutes)"
  CARGO_TARGET_DIR="$VITRINE_HOME/tansu-target" cargo install tansu --version 0.6.0 --locked \
    --no-default-features --features libsql,postgres,dynostore --root "$VITRINE_HOME/tansu"
  rm -rf "$VITRINE_HOME/tansu-target"
fi

bash "$here/pgbouncer/install.sh"
# Each part of the store that needs more (Prometheus, Chromium, ...) installs it from its
# own file, in name order, with the same check-first rule.
for part in "$here"/install.d/*.sh; do
  [ -e "$part" ] && bash "$part"
done
echo "install: everything is present"
