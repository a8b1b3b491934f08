#!/usr/bin/env python3
"""Cache warming under load (docs/caching.md, "Warming"): runs the goose scenario
(`scenario`) against the running store and, while it runs, empties the store's Redis
twice:

1. cold: the documents are deleted but the store marker is kept, so nothing refills
   Redis but query-api's own read-through on each miss (one SELECT, one write back);
2. warmed: documents and marker are deleted and `projector warm` runs at once (hottest
   first; the projector's repair loop, seeing no marker, refills too within 2 s).

For the minute after each, every 5 s: query-api's Redis hits and misses (hit rate), the
SQL statements query-api sent (`vitrine_query_sql_statements_total`), and the
transactions PostgreSQL committed for the whole store (pg_stat_database, writes
included). Also times `projector warm` of the demo catalog (--catalog-only) and of
everything on an already warm Redis.

    bash loadtests/warm-bench.sh [USERS]          (the store must be up: deploy/up.sh)
"""
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HOME = Path(os.environ.get("VITRINE_HOME", Path.home() / ".vitrine"))
BIN = Path(os.environ.get("VITRINE_BIN") or Path(os.environ.get("CARGO_TARGET_DIR", HOME / "target")) / "release")
USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 50
WARMUP, PHASE, STEP = 20, 60, 5


def store_env():
    env = {}
    for line in (HOME / "store.env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip().strip("'")
    return env


ENV = store_env()
PREFIX = ENV["REDIS_PREFIX"]
REDIS_PORT = re.search(r":(\d+)", ENV["REDIS_URL"].split("//", 1)[1]).group(1)
PG = ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", os.environ.get("PG_PORT", "5432"), "-U", "postgres", "-d", "vitrine"]


def query_ports():
    return sorted(int(m.group(1)) for p in (HOME / "run" / "instances").glob("query-api-*.pid")
                  if (m := re.match(r"query-api-(\d+)\.pid", p.name)))


def metric_sum(text, name):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def sample():
    hits = misses = sql = 0.0
    for port in query_ports():
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
        except OSError:
            continue
        hits += metric_sum(text, "vitrine_cache_hits_total")
        misses += metric_sum(text, "vitrine_cache_misses_total")
        sql += metric_sum(text, "vitrine_query_sql_statements_total")
    xacts = int(subprocess.run(PG + ["-c", "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'vitrine'"],
                               capture_output=True, text=True, check=True).stdout.strip())
    return {"t": time.monotonic(), "hits": hits, "misses": misses, "sql": sql, "xacts": xacts}


def redis_unlink(pattern):
    out = subprocess.run(f"redis-cli -p {REDIS_PORT} --scan --pattern '{pattern}' | xargs -r -n 1000 redis-cli -p {REDIS_PORT} unlink",
                         shell=True, capture_output=True, text=True, check=True).stdout
    return sum(int(x) for x in out.split() if x.isdigit())


def projector(*args):
    started = time.monotonic()
    out = subprocess.run([str(BIN / "projector"), *args], env={**os.environ, **ENV},
                         capture_output=True, text=True, check=True).stdout.strip()
    return out.splitlines()[-1], time.monotonic() - started


def observe(label, start):
    rows = []
    prev = start
    for i in range(PHASE // STEP):
        time.sleep(max(0.0, prev["t"] + STEP - time.monotonic()))
        now = sample()
        h, m = now["hits"] - prev["hits"], now["misses"] - prev["misses"]
        rows.append((f"{(i + 1) * STEP:>3}", int(h), int(m), f"{100 * h / max(1, h + m):.1f} %",
                     int(now["sql"] - prev["sql"]), now["xacts"] - prev["xacts"]))
        prev = now
    th, tm = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"\n### {label}\n")
    print("| s after | Redis hits | misses | hit rate | query-api SQL statements | PostgreSQL transactions (whole store) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print(f"| minute | {th} | {tm} | {100 * th / max(1, th + tm):.1f} % | {sum(r[4] for r in rows)} | {sum(r[5] for r in rows)} |")


def main():
    print(f"# warm-bench: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, scenario with {USERS} users")
    line, secs = projector("warm", "--catalog-only")
    print(f"- demo catalog on a warm Redis: `{line}` ({secs:.2f} s with the program's start)")
    run_time = WARMUP + 2 * PHASE + 15
    log = open("/tmp/warm-bench-scenario.log", "w")
    scenario = subprocess.Popen([str(BIN / "scenario"), "--users", str(USERS), "--run-time", str(run_time), "--no-compare",
                                 "--reports-dir", "/tmp/warm-bench-reports"],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **ENV})
    try:
        time.sleep(WARMUP)
        base = sample()
        time.sleep(STEP)
        steady = sample()
        h, m = steady["hits"] - base["hits"], steady["misses"] - base["misses"]
        print(f"- steady state before ({STEP} s): {int(h)} hits, {int(m)} misses ({100 * h / max(1, h + m):.1f} %), "
              f"{int(steady['sql'] - base['sql'])} query-api SQL statements")

        start = sample()
        gone = redis_unlink(f"{PREFIX}v*")
        print(f"- cold: {gone} documents deleted from Redis, marker kept (read-through only)")
        observe("cold (read-through only)", start)

        start = sample()
        gone = redis_unlink(f"{PREFIX}v*") + redis_unlink(f"{PREFIX}store")
        line, secs = projector("warm")
        print(f"\n- warmed: {gone} keys deleted (documents and marker), then `{line}` ({secs:.2f} s with the program's start)")
        observe("warmed (projector warm at once)", start)
    finally:
        scenario.wait(timeout=run_time + 120)
        log.close()
    tail = open("/tmp/warm-bench-scenario.log").read().strip().splitlines()[-3:]
    print("\nscenario: " + " / ".join(tail))


if __name__ == "__main__":
    main()
