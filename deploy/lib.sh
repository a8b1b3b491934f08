# Sourced (after env.sh) by up.sh, scale.sh and down.sh: program instances under
# deploy/supervise.sh, their ports and pid files, and nginx's pools.
#
# One instance = one supervisor + one program process, named by program and port:
#   $INST_DIR/<program>-<port>.pid    the supervisor (SIGTERM it to stop the instance)
#   $INST_DIR/<program>-<port>.child  the program under it
#   $VITRINE_LOGS/<program>-<port>.log both their output (restarts are logged there)
# What runs is read from these files and checked (the supervisor is alive), never
# remembered from what was asked for.

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_DIR="$VITRINE_HOME/run"
INST_DIR="$RUN_DIR/instances"
NGINX_DIR="$RUN_DIR/nginx"              # the pools nginx, reloaded on every change
FRONT_DIR="$RUN_DIR/nginx-front"        # the front door, never reloaded by scaling
BIN=${VITRINE_BIN:-$CARGO_TARGET_DIR/release}
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
READY_TIMEOUT=${READY_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
mkdir -p "$INST_DIR" "$NGINX_DIR" "$FRONT_DIR"
ME=${ME:-deploy}

die() { echo "$ME: FAILED: $*" >&2; exit 1; }
say() { echo "$ME: $*"; }

check_program() {
  case $1 in
    command-api | query-api | projector) ;;
    *) die "unknown program '$1': one of command-api, query-api, projector" ;;
  esac
}

# "MIN MAX" of a program's port range (deploy/env.sh).
port_range() {
  case $1 in
    command-api) echo "$COMMAND_API_PORT_MIN $COMMAND_API_PORT_MAX" ;;
    query-api) echo "$QUERY_API_PORT_MIN $QUERY_API_PORT_MAX" ;;
    projector) echo "$PROJECTOR_PORT_MIN $PROJECTOR_PORT_MAX" ;;
  esac
}

# The most instances that make sense: the port range, and for the projector the topic's
# partitions (each partition is held by one instance, ADR 5; more instances stand by).
max_instances() {
  local min max
  read -r min max < <(port_range "$1")
  local n=$((max - min + 1))
  if [ "$1" = projector ] && [ "$KAFKA_PARTITIONS" -lt "$n" ]; then n=$KAFKA_PARTITIONS; fi
  echo "$n"
}

# Each program's own PostgreSQL pool (DB_POOL_MAX), through PgBouncer: see docs/scaling.md.
pool_max() {
  case $1 in
    command-api) echo "${COMMAND_API_DB_POOL_MAX:-16}" ;;
    query-api) echo "${QUERY_API_DB_POOL_MAX:-16}" ;;
    projector) echo "${PROJECTOR_DB_POOL_MAX:-8}" ;;
  esac
}

program_command() {
  case $1 in
    command-api) echo "$BIN/command-api serve" ;;
    query-api) echo "$BIN/query-api" ;;
    projector) echo "$BIN/projector run" ;;
  esac
}

# Ports of the live instances of a program, ascending. Removes the files of dead ones.
instance_ports() {
  local prog=$1 f port pid
  for f in "$INST_DIR/$prog"-*.pid; do
    [ -e "$f" ] || continue
    port=${f##*-}; port=${port%.pid}
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      echo "$port"
    else
      rm -f "$f" "$INST_DIR/$prog-$port.child"
    fi
  done | sort -n
}

instance_count() { instance_ports "$1" | wc -l; }

# Prometheus finds the instances here (deploy/monitoring.sh): one file_sd file per
# program, rewritten whenever one starts or stops, leaving out the ports given (those
# about to stop), so that scaling needs no edit of Prometheus's configuration.
PROM_TARGETS_DIR="$RUN_DIR/prometheus/targets"
write_targets() {
  local prog=$1 exclude=" ${*:2} " p list=""
  for p in $(instance_ports "$prog"); do
    [[ "$exclude" == *" $p "* ]] || list="$list${list:+,}\"127.0.0.1:$p\""
  done
  mkdir -p "$PROM_TARGETS_DIR"
  printf '[{"targets": [%s]}]\n' "$list" >"$PROM_TARGETS_DIR/$prog.json.next"
  mv "$PROM_TARGETS_DIR/$prog.json.next" "$PROM_TARGETS_DIR/$prog.json"
}

# What holds TCP port $1 (listening, any address), or nothing when it is free.
port_holder() {
  local out
  out=$(ss -Hltnp "sport = :$1" 2>/dev/null || true)
  [ -n "$out" ] || return 0
  echo "$out" | grep -oE 'users:\(\(.*\)\)' | head -1 | sed -E 's/users:\(\("([^"]+)",pid=([0-9]+).*/\1 (pid \2)/'
  echo "$out" | grep -q users: || echo "an unknown process"
}

# The next port for a new instance: the lowest port of the range that none of our live
# instances uses. It is NOT skipped when another process holds it: start_instance then
# refuses loudly, because something squats in Vitrine's range.
next_port() {
  local prog=$1 min max used p
  read -r min max < <(port_range "$prog")
  used=" $(instance_ports "$prog" | tr '\n' ' ') "
  for ((p = min; p <= max; p++)); do
    case "$used" in *" $p "*) ;; *) echo "$p"; return 0 ;; esac
  done
  die "no free port left in $prog's range $min-$max (deploy/env.sh)"
}

log_tail() { tail -n "${2:-15}" "$1" 2>/dev/null | sed 's/^/    | /' >&2 || true; }

# Starts one instance of a program on a port under the supervisor, waits until it is
# ready (GET /readyz answers 200) and checks that the listener on the port is the
# program itself. Fails loudly (and leaves nothing behind) otherwise.
start_instance() {
  local prog=$1 port=$2 holder min max
  read -r min max < <(port_range "$prog")
  holder=$(port_holder "$port")
  if [ -n "$holder" ]; then
    die "port $port, the next port of $prog's range $min-$max, is already in use by $holder.
    Stop that process, or move the range ($(echo "${prog^^}" | tr - _)_PORT_MIN/MAX in deploy/env.sh)."
  fi
  [ -f "$STORE_ENV" ] || die "$STORE_ENV is missing: bring the store up with 'bash deploy/up.sh' first"
  local cmd log="$VITRINE_LOGS/$prog-$port.log" pidf="$INST_DIR/$prog-$port.pid" childf="$INST_DIR/$prog-$port.child"
  cmd=$(program_command "$prog")
  [ -x "${cmd%% *}" ] || die "${cmd%% *} is missing: build it with 'bash deploy/up.sh'"
  rm -f "$childf"
  echo "$(date -u +%FT%TZ) $ME: starting $prog on 127.0.0.1:$port" >>"$log"
  (
    set -a
    # shellcheck disable=SC1090
    . "$STORE_ENV"
    set +a
    export LISTEN_ADDR="127.0.0.1:$port" DB_POOL_MAX="$(pool_max "$prog")" RUST_LOG="${RUST_LOG:-info}"
    # shellcheck disable=SC2086
    exec setsid nohup bash "$DEPLOY_DIR/supervise.sh" "$prog-$port" "$childf" -- $cmd </dev/null >>"$log" 2>&1 9>&-
  ) &
  local sup=$!
  echo "$sup" >"$pidf"
  local deadline=$((SECONDS + READY_TIMEOUT)) code=000
  while :; do
    if ! kill -0 "$sup" 2>/dev/null; then
      rm -f "$pidf" "$childf"
      log_tail "$log"
      die "$prog on port $port: its supervisor exited (log: $log)"
    fi
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null || true)
    [ "$code" = 200 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      stop_instances "$prog" "$port" >/dev/null 2>&1 || true
      log_tail "$log"
      die "$prog on port $port was not ready within ${READY_TIMEOUT}s (last GET /readyz: $code); stopped it again (log: $log)"
    fi
    sleep 0.2
  done
  local child listener
  child=$(cat "$childf" 2>/dev/null || echo none)
  listener=$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
  if ! grep -q "pid=$child," <<<"$listener"; then
    stop_instances "$prog" "$port" >/dev/null 2>&1 || true
    die "port $port answers /readyz, but not from the $prog just started (pid $child): held by $(port_holder "$port"); stopped it again"
  fi
  write_targets "$prog"
  say "$prog ready on 127.0.0.1:$port (pid $child)"
}

# SIGTERMs the instances (their supervisors forward it; the programs drain in-flight
# requests) and waits until every one has exited; SIGKILL after STOP_TIMEOUT.
stop_instances() {
  local prog=$1; shift
  local port sups=() kids=() pid
  write_targets "$prog" "$@"
  for port in "$@"; do
    pid=$(cat "$INST_DIR/$prog-$port.pid" 2>/dev/null || true)
    [ -n "$pid" ] && sups+=("$pid") && kill -TERM "$pid" 2>/dev/null
    pid=$(cat "$INST_DIR/$prog-$port.child" 2>/dev/null || true)
    [ -n "$pid" ] && kids+=("$pid")
  done
  local deadline=$((SECONDS + STOP_TIMEOUT)) alive
  while :; do
    alive=()
    for pid in "${sups[@]}" "${kids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
    [ "${#alive[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$ME: $prog pids ${alive[*]} still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL" >&2
      kill -KILL "${alive[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  for port in "$@"; do
    rm -f "$INST_DIR/$prog-$port.pid" "$INST_DIR/$prog-$port.child"
    say "$prog on 127.0.0.1:$port stopped"
  done
}

nginx_master() { # [prefix dir]: the master pid of the pools nginx (or of the one given)
  local pid
  pid=$(cat "${1:-$NGINX_DIR}/nginx.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
  return 0
}

# The front door on $NGINX_PORT, in front of the pools nginx: started when it is not
# running, reloaded only when its config changed (never by scaling).
front_apply() {
  local conf="$FRONT_DIR/vitrine-front.conf" next="$FRONT_DIR/vitrine-front.conf.next" master
  # The edge's includes (brotli, CORS origins; docs/caching.md); their checksum goes into
  # the config, so a change of them alone reloads the front door too.
  sh "$DEPLOY_DIR/nginx/edge-includes.sh" "$FRONT_DIR/edge" || die "the front door's edge includes"
  { sed -e "s|@LISTEN_PORT@|$NGINX_PORT|g; s|@POOLS_PORT@|$NGINX_POOLS_PORT|g; s|@PREFIX@|$FRONT_DIR|g; s|@EDGE_DIR@|$EDGE_DIR|g" \
    "$DEPLOY_DIR/nginx/vitrine-front.conf.template"
    echo "# edge includes: $(cat "$FRONT_DIR"/edge/*.conf | md5sum | cut -d' ' -f1)"; } >"$next"
  /usr/sbin/nginx -q -t -p "$FRONT_DIR" -c "$next" 2>"$FRONT_DIR/test.err" ||
    { cat "$FRONT_DIR/test.err" >&2; die "the rendered front config $next does not pass nginx -t"; }
  master=$(nginx_master "$FRONT_DIR")
  if [ -n "$master" ] && cmp -s "$next" "$conf"; then rm -f "$next"; return 0; fi
  mv "$next" "$conf"
  if [ -n "$master" ]; then
    /usr/sbin/nginx -p "$FRONT_DIR" -c "$conf" -s reload 2>/dev/null || die "front door reload"
    say "front door reloaded (its config changed)"
    return 0
  fi
  local holder
  holder=$(port_holder "$NGINX_PORT")
  [ -z "$holder" ] || die "the front door's port $NGINX_PORT is already in use by $holder"
  /usr/sbin/nginx -p "$FRONT_DIR" -c "$conf" 9>&- || die "the front door nginx did not start (see $FRONT_DIR/error.log)"
  wait_port "$NGINX_PORT" 10 || die "the front door did not listen on $NGINX_PORT (see $FRONT_DIR/error.log)"
  say "front door on 127.0.0.1:$NGINX_PORT -> pools nginx on 127.0.0.1:$NGINX_POOLS_PORT"
}

# Renders nginx's pools from the live command-api and query-api instances, leaving out
# the ports given (instances about to stop), and starts nginx or reloads it gracefully.
# After a reload it waits until the old workers have exited: from then on no request can
# reach a left-out instance, and none is in flight there.
nginx_apply() {
  local exclude=" $* " p cmd=() qry=()
  for p in $(instance_ports command-api); do [[ "$exclude" == *" $p "* ]] || cmd+=("127.0.0.1:$p"); done
  for p in $(instance_ports query-api); do [[ "$exclude" == *" $p "* ]] || qry+=("127.0.0.1:$p"); done
  [ "${#cmd[@]}" -gt 0 ] || die "nginx would be left without a command-api instance"
  [ "${#qry[@]}" -gt 0 ] || die "nginx would be left without a query-api instance"
  local conf="$NGINX_DIR/vitrine.conf" next="$NGINX_DIR/vitrine.conf.next"
  PREFIX="$NGINX_DIR" sh "$DEPLOY_DIR/nginx/render.sh" "$NGINX_POOLS_PORT" "$(IFS=,; echo "${cmd[*]}")" "${qry[@]}" >"$next"
  /usr/sbin/nginx -q -t -p "$NGINX_DIR" -c "$next" 2>"$NGINX_DIR/test.err" ||
    { cat "$NGINX_DIR/test.err" >&2; die "the rendered nginx config $next does not pass nginx -t"; }
  mv "$next" "$conf"
  local master
  master=$(nginx_master)
  if [ -z "$master" ]; then
    local holder
    holder=$(port_holder "$NGINX_POOLS_PORT")
    [ -z "$holder" ] || die "the pools nginx's port $NGINX_POOLS_PORT is already in use by $holder"
    /usr/sbin/nginx -p "$NGINX_DIR" -c "$conf" 9>&- || die "nginx did not start (see $NGINX_DIR/error.log)"
    wait_port "$NGINX_POOLS_PORT" 10 || die "nginx did not listen on $NGINX_POOLS_PORT (see $NGINX_DIR/error.log)"
    say "pools nginx on 127.0.0.1:$NGINX_POOLS_PORT: command-api ${cmd[*]}; query-api ${qry[*]}"
    return 0
  fi
  local old
  old=$(ps -o pid= --ppid "$master" | tr -d ' ' | tr '\n' ' ')
  /usr/sbin/nginx -p "$NGINX_DIR" -c "$conf" -s reload 2>"$NGINX_DIR/reload.err" ||
    { cat "$NGINX_DIR/reload.err" >&2; die "nginx reload"; }
  local deadline=$((SECONDS + 40)) w left
  while :; do
    left=""
    for w in $old; do kill -0 "$w" 2>/dev/null && [ "$(ps -o ppid= -p "$w" | tr -d ' ')" = "$master" ] && left="$left $w"; done
    [ -z "$left" ] && break
    [ "$SECONDS" -ge "$deadline" ] && die "nginx's old workers ($left) did not exit within 40s of the reload"
    sleep 0.1
  done
  say "pools nginx reloaded: command-api ${cmd[*]}; query-api ${qry[*]}"
}

# nginx_apply when nginx runs (deploy/up.sh starts it once every pool has an instance).
# Skipped too while a pool would be empty (up.sh starting the programs one by one).
nginx_sync() {
  [ -n "$(nginx_master)" ] || return 0
  local p left_c=0 left_q=0 exclude=" $* "
  for p in $(instance_ports command-api); do [[ "$exclude" == *" $p "* ]] || left_c=1; done
  for p in $(instance_ports query-api); do [[ "$exclude" == *" $p "* ]] || left_q=1; done
  if [ "$left_c" = 1 ] && [ "$left_q" = 1 ]; then nginx_apply "$@"; fi
}

# Sets a program to N instances: new ones start on the next ports of its range and join
# nginx once ready; surplus ones (highest ports first) leave nginx, then stop.
scale_to() {
  local prog=$1 n=$2 max have
  check_program "$prog"
  [[ "$n" =~ ^[0-9]+$ ]] || die "instance count '$n' is not a number"
  max=$(max_instances "$prog")
  [ "$n" -le "$max" ] || die "$prog cannot run $n instances: at most $max$([ "$prog" = projector ] && echo " (the topic has $KAFKA_PARTITIONS partitions; more members would idle)")"
  [ "$n" -ge 1 ] || die "$prog needs at least 1 instance (down.sh stops everything)"
  have=$(instance_count "$prog")
  if [ "$n" -gt "$have" ]; then
    local i port
    for ((i = have; i < n; i++)); do
      port=$(next_port "$prog")
      start_instance "$prog" "$port"
    done
    [ "$prog" = projector ] || nginx_sync
  elif [ "$n" -lt "$have" ]; then
    local surplus
    surplus=$(instance_ports "$prog" | tail -n $((have - n)) | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ "$prog" = projector ] || nginx_sync $surplus
    # shellcheck disable=SC2086
    stop_instances "$prog" $surplus
  fi
}

# Replaces every instance of a program, one at a time: a new instance starts on a free
# port of the range and joins nginx once ready, then the old one leaves nginx and stops.
rolling_restart() {
  local prog=$1 old new
  for old in $(instance_ports "$prog"); do
    new=$(next_port "$prog")
    start_instance "$prog" "$new"
    if [ "$prog" != projector ]; then nginx_sync "$old"; fi
    stop_instances "$prog" "$old"
  done
}

# What runs, from the pid files and a live check of each port.
summary() {
  local prog p state
  for prog in command-api query-api projector; do
    local list=()
    for p in $(instance_ports "$prog"); do
      state=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$p/readyz" 2>/dev/null || true)
      [ "$state" = 200 ] && list+=("127.0.0.1:$p") || list+=("127.0.0.1:$p(readyz:$state)")
    done
    printf '  %-12s x%-3s %s\n' "$prog" "${#list[@]}" "${list[*]:-none}"
  done
  local master
  master=$(nginx_master)
  if [ -n "$master" ]; then
    printf '  %-12s      http://127.0.0.1:%s (front door%s) -> pools nginx :%s: %s\n' nginx "$NGINX_PORT" \
      "$([ -n "$(nginx_master "$FRONT_DIR")" ] || echo ': NOT RUNNING')" "$NGINX_POOLS_PORT" \
      "$(grep -oE 'server 127[^ ]+' "$NGINX_DIR/vitrine.conf" | awk '{print $2}' | tr '\n' ' ')"
  else
    printf '  %-12s      not running\n' nginx
  fi
}
