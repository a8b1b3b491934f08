#!/usr/bin/env bash
# The CDN upload (deploy/cdn/upload.py) against a local S3 (moto server mode, started and
# stopped by the test), and the CloudFront template's behaviours. Needs no store.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 deploy/cdn/test_upload.py
