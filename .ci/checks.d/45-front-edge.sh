#!/usr/bin/env bash
# The front door's edge config (CORS, /static/) rendered and run on its own: no store.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 deploy/nginx/test_front_edge.py
