#!/usr/bin/env bash
# Fills the store's Redis from PostgreSQL's read models of the live version, hottest
# documents first (`projector warm`; docs/caching.md has what it takes). Run it after a
# Redis restart (Redis keeps nothing on disk: it comes back empty) and after a deploy
# (deploy/up.d/50-warm.sh does). The projector also refills an empty Redis by itself within
# a repair round; this does it now, with a progress bar on a terminal.
#   bash deploy/warm.sh [--catalog-only]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
[ -f "$STORE_ENV" ] || { echo "warm: no $STORE_ENV: is the store up (deploy/up.sh)?" >&2; exit 2; }
set -a; . "$STORE_ENV"; set +a
exec "${VITRINE_BIN:-$CARGO_TARGET_DIR/release}/projector" warm "$@"
