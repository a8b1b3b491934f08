#!/usr/bin/env bash
# The storefront's edge (docs/caching.md, docs/cdn.md): headless Chromium and its driver
# for the browser tests, nginx's brotli filter when Debian has it, Python's selenium,
# boto3 and moto (a local S3 for the CDN upload test), then the static assets' build
# (fingerprinted by content hash into $STATIC_DIR, with its manifest). Check first,
# install only what is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/env.sh"

pkgs=()
[ -x /usr/bin/chromium ] || pkgs+=(chromium)
[ -x /usr/bin/chromedriver ] || pkgs+=(chromium-driver)
if ! dpkg -s libnginx-mod-http-brotli-filter >/dev/null 2>&1 &&
  apt-cache show libnginx-mod-http-brotli-filter >/dev/null 2>&1; then
  pkgs+=(libnginx-mod-http-brotli-filter)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "install: Debian packages ${pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if ! python3 -c 'import selenium, boto3, moto, flask_cors, yaml' >/dev/null 2>&1; then
  echo "install: Python selenium, boto3, moto[server]"
  python3 -m pip install -q 'selenium>=4.20' 'boto3>=1.34' 'moto[server]>=5' 'pyyaml>=6'
fi

# The static assets: built on every install (cheap; unchanged files keep their names).
python3 "$here/../storefront/build.py" --out "$EDGE_DIR/site" >/dev/null
