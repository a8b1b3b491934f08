#!/usr/bin/env bash
# How much CPU the running store uses with no traffic: each of its processes' user+system
# time over a window (from /proc/<pid>/stat), as a share of one core, per program, and
# the whole machine's busy share (from /proc/stat) beside it.
#
#   bash loadtests/idle-cpu.sh [seconds]     (default 20; the store must be up: deploy/up.sh)
#
# Prints a Markdown table and writes it to ~/.vitrine/reports/idle-cpu-<time>.md.
# The goal (docs/performance.md, "Idle"): the whole store under 5 % of one core.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$here/deploy/env.sh"
secs=${1:-20}
ticks=$(getconf CLK_TCK)
programs="command-api query-api projector tansu pgbouncer postgres redis-server nginx"

# "<program> <utime+stime ticks>" for every process of the store's programs.
sample() {
  local pid comm stat
  for stat in /proc/[0-9]*/stat; do
    pid=${stat#/proc/}; pid=${pid%/stat}
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    for p in $programs; do
      # postgres backends name themselves "postgres"; programs may be truncated to 15 chars
      if [ "$comm" = "${p:0:15}" ]; then
        awk -v p="$p" -v pid="$pid" '{ sub(/^.*\) /, ""); print p, pid, $12 + $13 }' "$stat" 2>/dev/null || true
      fi
    done
  done
}
machine() { awk '/^cpu / { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total, idle }' /proc/stat; }

before=$(mktemp) after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
sample >"$before"; read -r t0 i0 < <(machine); start=$(date +%s.%N)
sleep "$secs"
sample >"$after"; read -r t1 i1 < <(machine); end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')

report=$(
  echo "Idle store, $(date -u +%FT%TZ), ${secs} s window, share of one core (100 % = one core busy):"
  echo
  echo "| program | processes | CPU % of one core |"
  echo "|---|---:|---:|"
  # a process that started or ended in the window counts from what was seen of it
  awk -v hz="$ticks" -v el="$elapsed" '
    FNR == NR { b[$1" "$2] = $3; next }
    { k = $1" "$2; d = $3 - ((k in b) ? b[k] : $3); use[$1] += d; n[$1]++ }
    END {
      for (p in use) { printf "| %s | %d | %.2f |\n", p, n[p], 100 * use[p] / hz / el; total += use[p] }
      printf "| **store, in all** | | **%.2f** |\n", 100 * total / hz / el
    }' "$before" "$after" | sort -t'|' -k2,2
  cores=$(nproc)
  awk -v t0="$t0" -v t1="$t1" -v i0="$i0" -v i1="$i1" -v c="$cores" \
    'BEGIN { printf "\nWhole machine: %.2f %% of one core busy (%d cores).\n", c * 100 * (1 - (i1 - i0) / (t1 - t0)), c }'
)
echo "$report"
mkdir -p "$VITRINE_HOME/reports"
echo "$report" >"$VITRINE_HOME/reports/idle-cpu-$(date -u +%Y%m%dT%H%M%SZ).md"
