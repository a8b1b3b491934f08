# Sourced by every deploy script and by .ci/run: one place for paths, ports and URLs.
# Everything can be overridden from the environment.

# CI may start us with a bare environment: find home, cargo and the toolchain anyway.
if [ -z "${HOME:-}" ]; then
  HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
  export HOME
fi
for dir in /usr/local/sbin /usr/local/bin /usr/sbin /sbin "$HOME/.cargo/bin"; do
  case ":$PATH:" in *":$dir:"*) ;; *) PATH="$dir:$PATH" ;; esac
done
export PATH

export VITRINE_HOME=${VITRINE_HOME:-$HOME/.vitrine}           # build cache, broker, logs: outside the clone
# The Python of the store's scripts and tests (deploy/install.d/00-python.sh makes it):
# first on PATH, so `python3` and `pip` are the venv's.
export VITRINE_VENV=${VITRINE_VENV:-$VITRINE_HOME/venv}
case ":$PATH:" in *":$VITRINE_VENV/bin:"*) ;; *) PATH="$VITRINE_VENV/bin:$PATH" ;; esac
export PATH
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$VITRINE_HOME/target}
export VITRINE_LOGS=${VITRINE_LOGS:-$VITRINE_HOME/logs}
export TANSU_BIN=${TANSU_BIN:-$VITRINE_HOME/tansu/bin/tansu}
export PGBOUNCER_BIN=${PGBOUNCER_BIN:-$VITRINE_HOME/pgbouncer/bin/pgbouncer}

export PG_PORT=${PG_PORT:-5432}
export PGBOUNCER_PORT=${PGBOUNCER_PORT:-6432}
export KAFKA_PORT=${KAFKA_PORT:-9092}
export REDIS_PORT=${REDIS_PORT:-6379}
export REDIS_MAXMEMORY=${REDIS_MAXMEMORY:-1gb}   # see deploy/services.sh and docs/security.md
export NGINX_PORT=${NGINX_PORT:-8080}          # the front door
export NGINX_POOLS_PORT=${NGINX_POOLS_PORT:-8099}   # the pools nginx behind it (reloaded by scale.sh)
# Each program's instances take ports from their own range (LISTEN_ADDR serves the API
# or, for the projector, /healthz, /readyz and /metrics). The ranges do not overlap, and
# deploy/scale.sh refuses to start an instance on a port some other process holds.
# How many instances run is not set here: deploy/up.sh keeps what runs (default 2 each;
# override with COMMAND_API_INSTANCES, QUERY_API_INSTANCES, PROJECTOR_INSTANCES).
export COMMAND_API_PORT_MIN=${COMMAND_API_PORT_MIN:-8100} COMMAND_API_PORT_MAX=${COMMAND_API_PORT_MAX:-8119}
export QUERY_API_PORT_MIN=${QUERY_API_PORT_MIN:-8200} QUERY_API_PORT_MAX=${QUERY_API_PORT_MAX:-8299}
export PROJECTOR_PORT_MIN=${PROJECTOR_PORT_MIN:-8300} PROJECTOR_PORT_MAX=${PROJECTOR_PORT_MAX:-8319}
# The first port of each range (the first instance, when it runs there).
export COMMAND_API_PORT=$COMMAND_API_PORT_MIN QUERY_API_PORT=$QUERY_API_PORT_MIN PROJECTOR_PORT=$PROJECTOR_PORT_MIN
# Monitoring on loopback (deploy/monitoring.sh, docs/operations.md): Prometheus and the
# exporters, on their usual ports.
export PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090} REDIS_EXPORTER_PORT=${REDIS_EXPORTER_PORT:-9121}
export POSTGRES_EXPORTER_PORT=${POSTGRES_EXPORTER_PORT:-9187} PGBOUNCER_EXPORTER_PORT=${PGBOUNCER_EXPORTER_PORT:-9127}
# The operator's environment of the running store, written by deploy/up.sh:
#   set -a; . ~/.vitrine/store.env; set +a
export STORE_ENV=${STORE_ENV:-$VITRINE_HOME/store.env}
# The storefront's edge: the built site (storefront/build.py: the page, /static/ and its
# manifest; the seed names the fingerprinted images of the manifest), the edge cache and
# the static origin's socket. Run as root, nginx's workers run as nobody and cannot enter
# /root: the edge then lives under /var/lib.
if [ "$(id -u)" = 0 ]; then
  export EDGE_DIR=${EDGE_DIR:-/var/lib/vitrine-edge}
else
  export EDGE_DIR=${EDGE_DIR:-$VITRINE_HOME/edge}
fi
export STATIC_MANIFEST=${STATIC_MANIFEST:-$EDGE_DIR/site/manifest.json}

# Tests talk to the services directly; the running store goes through PgBouncer (deploy/up.sh).
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/postgres}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}

mkdir -p "$VITRINE_LOGS"

# Waits until TCP port $1 on 127.0.0.1 accepts connections, at most $2 seconds.
wait_port() {
  local port=$1 secs=${2:-30} i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -ge $((secs * 10)) ] && return 1
    sleep 0.1
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
