#!/usr/bin/env bash
# Stops Prometheus and the exporters (deploy/monitoring.sh).
set -euo pipefail
bash "$(dirname "$0")/../monitoring.sh" stop
