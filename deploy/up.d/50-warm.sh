#!/usr/bin/env bash
# After a deploy: Redis holds every document of the live version, hottest first, before
# the next visitor asks (deploy/warm.sh; fenced writes, so newer documents stay).
set -euo pipefail
bash "$(cd "$(dirname "$0")/.." && pwd)/warm.sh"
