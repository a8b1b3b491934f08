#!/usr/bin/env bash
# The front door as the edge: static assets, the edge cache, the freshness bound
# (storefront/tests/edge_test.py; docs/caching.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/env.sh
python3 storefront/tests/edge_test.py
