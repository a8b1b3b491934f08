#!/usr/bin/env bash
# A Python of the store's own for the checks and tests written in Python (browser tests,
# the CDN upload test, the deploy checks): a virtual environment made from Debian's
# python3 in $VITRINE_HOME/venv. Debian's python3 refuses `pip install` into the system
# (PEP 668), and deploy/env.sh puts the venv first on PATH, so `python3` and `pip` below
# and in every script are the venv's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/env.sh"
[ -x "$VITRINE_VENV/bin/python3" ] && exit 0
if ! /usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1; then
  echo "install: Debian packages python3-venv"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
echo "install: Python virtual environment in $VITRINE_VENV"
/usr/bin/python3 -m venv "$VITRINE_VENV"
