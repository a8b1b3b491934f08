#!/usr/bin/env bash
# Prometheus and the exporters beside the programs (deploy/monitoring.sh); on by default,
# VITRINE_MONITORING=0 leaves them off.
set -euo pipefail
[ "${VITRINE_MONITORING:-1}" = 0 ] && { echo "up: monitoring off (VITRINE_MONITORING=0)"; exit 0; }
bash "$(dirname "$0")/../monitoring.sh" start
