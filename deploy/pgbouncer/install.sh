#!/usr/bin/env bash
# Installs PgBouncer >= 1.21 into ~/.vitrine/pgbouncer when missing.
#
# Why a build: sqlx prepares named statements, and PgBouncer handles those in
# transaction pooling only from 1.21 on (max_prepared_statements). This Debian ships
# 1.18, so the source package of the next Debian release is built once, outside the
# clone, and reused.
set -euo pipefail
VITRINE_HOME=${VITRINE_HOME:-$HOME/.vitrine}
BIN="$VITRINE_HOME/pgbouncer/bin/pgbouncer"

if [ -x "$BIN" ]; then
  echo "pgbouncer: $("$BIN" --version | head -1) (reused)"
  exit 0
fi
if command -v pgbouncer >/dev/null 2>&1; then
  v=$(pgbouncer --version | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1)
  if [ "$(printf '%s\n1.21\n' "$v" | sort -V | head -1)" = "1.21" ]; then
    mkdir -p "$(dirname "$BIN")" && ln -sf "$(command -v pgbouncer)" "$BIN"
    echo "pgbouncer: system $v"; exit 0
  fi
fi

echo "pgbouncer: building from the source package of Debian trixie (one time)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dpkg-dev build-essential libevent-dev libssl-dev pkg-config libc-ares-dev >/dev/null
# The mirror this machine already uses, so no other host is named here.
mirror=$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | grep -v security | head -1 | tr -d ' ' || true)
if [ -z "$mirror" ]; then
  echo "pgbouncer: no Debian mirror found in /etc/apt sources" >&2; exit 1
fi
list=/etc/apt/sources.list.d/vitrine-trixie-src.list
echo "deb-src $mirror trixie main" > "$list"
apt-get update -qq -o Dir::Etc::sourcelist="$list" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0 >/dev/null
work=$(mktemp -d)
( cd "$work" && apt-get source -qq --download-only pgbouncer >/dev/null 2>&1 )
rm -f "$list"
apt-get update -qq >/dev/null 2>&1 || true
tarball=$(ls "$work"/pgbouncer_*.orig.tar.* | head -1)
mkdir -p "$work/src" && tar -xf "$tarball" -C "$work/src" --strip-components=1
( cd "$work/src" && ./configure --prefix="$VITRINE_HOME/pgbouncer" --without-cares >/dev/null && make -j2 >/dev/null && make install >/dev/null )
rm -rf "$work"
echo "pgbouncer: $("$BIN" --version | head -1) installed"
