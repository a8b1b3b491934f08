#!/usr/bin/env bash
# The image, Compose and Kubernetes files, checked offline (no container engine here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash deploy/check.sh
