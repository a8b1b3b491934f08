#!/usr/bin/env python3
"""The front door's edge config on its own (no store needed): renders
vitrine-front.conf.template the way deploy/lib.sh does, with one allowed CORS origin, into
a temporary prefix; starts that nginx on a free port in front of a small HTTP server
standing in for the pools nginx (it answers every /api/v1/ request with a public JSON
document), and checks what a browser on another origin gets:

- a preflight from the allowed origin is answered by the front door (204, methods,
  headers, max-age), one from another origin is not;
- reads carry Access-Control-Allow-Origin (and exposed headers) for the allowed origin
  only;
- /static/ from a freshly built site: immutable, ETag, gzip, 404 for unknown names.

    python3 deploy/nginx/test_front_edge.py      (.ci/checks.d/45-front-edge.sh)
"""
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ALLOWED = "http://shop.example:9000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pools(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "public, max-age=0, s-maxage=2, stale-while-revalidate=1")
        self.send_header("ETag", '"v1-1"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self):
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def call(method, url, headers=None):
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def main():
    tmp = Path(tempfile.mkdtemp(prefix="vitrine-front-"))
    os.chmod(tmp, 0o755)  # nginx's workers (nobody, when run as root) enter it
    prefix, edge = tmp / "front", tmp / "edge"
    prefix.mkdir()
    pools_port, port = free_port(), free_port()
    pools = http.server.ThreadingHTTPServer(("127.0.0.1", pools_port), Pools)
    threading.Thread(target=pools.serve_forever, daemon=True).start()
    env = dict(os.environ, EDGE_DIR=str(edge), VITRINE_CORS_ORIGINS=ALLOWED)
    subprocess.run(["sh", str(HERE / "edge-includes.sh"), str(prefix / "edge")], env=env, check=True)
    subprocess.run([sys.executable, str(ROOT / "storefront" / "build.py"), "--out", str(edge / "site"),
                    "--products", "5"], check=True, capture_output=True)
    conf = (HERE / "vitrine-front.conf.template").read_text()
    for k, v in {"@LISTEN_PORT@": port, "@POOLS_PORT@": pools_port, "@PREFIX@": prefix, "@EDGE_DIR@": edge}.items():
        conf = conf.replace(k, str(v))
    (prefix / "front.conf").write_text(conf)
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", str(prefix), "-c", str(prefix / "front.conf"), "-g", "daemon off;"],
                             stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or nginx.poll() is not None:
                    raise AssertionError("nginx did not start: " + nginx.stderr.read().decode()[-500:])
                time.sleep(0.1)

        pre = {"Origin": ALLOWED, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}
        status, h, _ = call("OPTIONS", base + "/api/v1/cart/", pre)
        check(status == 204 and h["Access-Control-Allow-Origin"] == ALLOWED,
              "a preflight from the allowed origin is answered by the front door")
        check("PATCH" in h["Access-Control-Allow-Methods"] and "Idempotency-Key" in h["Access-Control-Allow-Headers"]
              and h["Access-Control-Max-Age"] == "600", "it allows the API's methods and headers for 10 minutes")
        status, h, _ = call("OPTIONS", base + "/api/v1/cart/", dict(pre, Origin="http://evil.example"))
        check(status == 405 and h["Access-Control-Allow-Origin"] is None, "a preflight from another origin is not")
        status, h, body = call("GET", base + "/api/v1/products/", {"Origin": ALLOWED})
        check(status == 200 and h["Access-Control-Allow-Origin"] == ALLOWED and "ETag" in h["Access-Control-Expose-Headers"],
              "a read from the allowed origin may be read by its page")
        status, h, _ = call("GET", base + "/api/v1/products/", {"Origin": "http://evil.example"})
        check(status == 200 and h["Access-Control-Allow-Origin"] is None, "a read from another origin carries no CORS header")
        status, h, _ = call("GET", base + "/api/v1/products/")
        check(h["X-Cache-Status"] in ("HIT", "MISS"), "public reads go through the edge cache")

        manifest = json.loads((edge / "site" / "manifest.json").read_text())
        css = base + "/static/" + manifest["app.css"]
        status, h, _ = call("GET", css, {"Accept-Encoding": "gzip"})
        check(status == 200 and h["Cache-Control"] == "public, max-age=31536000, immutable" and h["ETag"]
              and h["Content-Encoding"] == "gzip", "a fingerprinted asset: immutable, ETag, gzip")
        check(call("GET", base + "/static/app.css")[0] == 404, "a name without its fingerprint is a 404")
        status, h, body = call("GET", base + "/")
        check(status == 200 and h["Cache-Control"] == "no-cache" and manifest["app.js"].encode() in body,
              "the page names its fingerprinted script and is revalidated on every visit")
    finally:
        nginx.terminate()
        nginx.wait(10)
        pools.shutdown()
        subprocess.run(["rm", "-rf", str(tmp)])
    print("front door edge config: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
