#!/usr/bin/env bash
# Checks the deployment files without a container engine or a cluster (this machine has
# neither): the Dockerfile linted (hadolint), the Compose file against the Compose
# specification's JSON schema (check-jsonschema), the Kubernetes base and production
# overlay rendered by kustomize (`kubectl kustomize`) and validated against the Kubernetes
# schemas offline (kubernetes-validate, strict), the nginx configurations by `nginx -t`,
# and every environment variable given to a program is one it reads (its --help).
# The tools: deploy/install.d/50-deploy-checks.sh. Run by .ci/checks.d/50-deploy.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
. "$here/env.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "deploy-check: $*"; }

say "hadolint $(hadolint --version | head -1)"
(cd "$root" && hadolint --config .hadolint.yaml Dockerfile)

say "compose file against the Compose specification"
check-jsonschema --schemafile "$here/schemas/compose-spec.json" "$here/compose/compose.yaml"

# Kubernetes: render both, with made-up secrets for the overlay (a copy, so nothing is
# written into the clone), then validate every object against the schemas, strictly
# (unknown fields are errors).
cp -r "$here/k8s" "$work/k8s"
DATABASE_URL='postgres://vitrine:check@pgbouncer:6432/vitrine' \
  DATABASE_DIRECT_URL='postgres://vitrine:check@postgres:5432/vitrine' \
  REDIS_URL='rediss://:check@redis:6379' KAFKA_SASL_USERNAME=vitrine KAFKA_SASL_PASSWORD=check \
  bash "$work/k8s/overlays/production/make-secrets.sh" >/dev/null
for target in base overlays/production; do
  out="$work/$(echo "$target" | tr / -).yaml"
  # (kustomize v5 warns on stderr about the spellings kept for older kustomize)
  kubectl kustomize "$work/k8s/$target" >"$out" 2>"$work/kustomize.err" ||
    { cat "$work/kustomize.err" >&2; exit 1; }
  say "k8s $target: $(grep -c '^kind:' "$out") objects rendered"
  kubernetes-validate --strict --quiet "$out"
done
say "k8s objects valid against the Kubernetes $(kubernetes-validate --version) schemas"

# nginx: the Compose edge (upstream names resolved by Docker's DNS, `resolve` needs
# nginx >= 1.27.3) and the Kubernetes edge, with the names pointed at loopback so that
# this machine's nginx can load them.
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
for conf in compose/nginx/nginx.conf k8s/base/nginx.conf; do
  sed -e 's/ resolve;/;/; s/server query-api:8080/server 127.0.0.1:1/; s/server command-api:8080/server 127.0.0.1:2/' \
      -e 's|resolver 127.0.0.11.*;|resolver 127.0.0.1;|; s|listen 8080;|listen 127.0.0.1:1;|' \
      -e "s|/tmp/|$work/|; s|pid /tmp/nginx.pid|pid $work/nginx.pid|" "$here/$conf" >"$work/nginx.conf"
  "$nginx_bin" -t -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" 2>&1 | grep -v "could not open error log" || true
  "$nginx_bin" -t -q -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log" >/dev/null 2>&1 ||
    { "$nginx_bin" -t -p "$work" -c "$work/nginx.conf" -e "$work/nginx-error.log"; exit 1; }
  say "nginx -t: $conf"
done

say "environment variables against each program's --help"
(cd "$root" && nice -n 10 cargo build -q -p command-api -p projector -p query-api -p loadtests --bins)
python3 "$here/checks/env_names.py" "$CARGO_TARGET_DIR/debug" "$here/compose/compose.yaml" \
  "$work/base.yaml" "$work/overlays-production.yaml"
say "passed"
