#!/usr/bin/env python3
"""How old can a copy served by the front door's edge cache be? Renders the front door's
config (deploy/nginx/vitrine-front.conf.template) into a temporary prefix, in front of an
origin standing in for query-api whose document changes every 100 ms (ETag and body carry
the origin's time) and answers `Cache-Control: public, max-age=0, s-maxage=S,
stale-while-revalidate=W`; polls one document through the edge every INTERVAL seconds for
DURATION seconds and prints the oldest copy it was served, the cache statuses and the
origin requests. No store needed (docs/caching.md quotes its runs).

    python3 loadtests/edge_staleness_probe.py [--s-maxage 2] [--swr 1] [--interval 0.05] [--duration 20]
"""
import argparse
import http.server
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--s-maxage", type=int, default=2)
    ap.add_argument("--swr", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--duration", type=float, default=20)
    args = ap.parse_args()
    start = time.monotonic()
    origin_requests = [0]
    cc = f"public, max-age=0, s-maxage={args.s_maxage}, stale-while-revalidate={args.swr}"

    class Origin(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            origin_requests[0] += 1
            tenth = int((time.monotonic() - start) * 10)
            etag = f'"v{tenth}"'
            status, body = (304, b"") if self.headers.get("If-None-Match") == etag else (200, json.dumps({"t": tenth / 10}).encode())
            self.send_response(status)
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", cc)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    tmp = Path(tempfile.mkdtemp(prefix="vitrine-probe-"))
    os.chmod(tmp, 0o755)
    prefix, edge = tmp / "front", tmp / "edge"
    prefix.mkdir()
    pools_port, port = free_port(), free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", pools_port), Origin)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    subprocess.run(["sh", str(ROOT / "deploy/nginx/edge-includes.sh"), str(prefix / "edge")],
                   env=dict(os.environ, EDGE_DIR=str(edge)), check=True)
    conf = (ROOT / "deploy/nginx/vitrine-front.conf.template").read_text()
    for k, v in {"@LISTEN_PORT@": port, "@POOLS_PORT@": pools_port, "@PREFIX@": prefix, "@EDGE_DIR@": edge}.items():
        conf = conf.replace(k, str(v))
    (prefix / "front.conf").write_text(conf)
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", str(prefix), "-c", str(prefix / "front.conf"), "-g", "daemon off;"])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        worst, statuses = 0.0, {}
        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/products/probe/") as r:
                body = json.loads(r.read())
                st = r.headers["X-Cache-Status"]
            worst = max(worst, time.monotonic() - start - body["t"])
            statuses[st] = statuses.get(st, 0) + 1
            time.sleep(args.interval)
        print(f"{cc}: polled every {args.interval} s for {args.duration:.0f} s: oldest copy served {worst:.2f} s; "
              f"cache statuses {statuses}; origin requests {origin_requests[0]}")
    finally:
        nginx.terminate()
        nginx.wait(10)
        srv.shutdown()
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
