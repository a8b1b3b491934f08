#!/usr/bin/env bash
# The storefront in headless Chromium: browse, search, cart, checkout, the paid order
# (storefront/tests/browser_test.py). Screenshots of every step are kept under
# ~/.vitrine/artifacts/browser/<time>/ (the newest run is also ~/.vitrine/artifacts/browser/latest).
set -euo pipefail
cd "$(dirname "$0")/../.."
. deploy/env.sh
run="$VITRINE_HOME/artifacts/browser/$(date -u +%Y%m%dT%H%M%SZ)"
ARTIFACTS="$run" python3 storefront/tests/browser_test.py
ln -sfn "$run" "$VITRINE_HOME/artifacts/browser/latest"
