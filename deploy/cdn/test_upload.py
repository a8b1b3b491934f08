#!/usr/bin/env python3
"""The CDN upload against a real S3 API: moto in server mode (a local S3-compatible
server, started here on a free port and stopped at the end). Builds the site into a
temporary directory, uploads it with deploy/cdn/upload.py, and checks what a CDN would
serve: every fingerprinted asset of the manifest under static/ with its bytes, its
Content-Type and `Cache-Control: public, max-age=31536000, immutable`; the page with
`no-cache`; no .gz copies; a second upload sends nothing. Also reads the CloudFront
template and checks that its behaviours route and cache as docs/cdn.md says.

    python3 deploy/cdn/test_upload.py       (.ci/checks.d/50-cdn-upload.sh)
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {".css": "text/css; charset=utf-8", ".js": "application/javascript; charset=utf-8", ".svg": "image/svg+xml"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"moto did not listen on {port} within {within} s")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def upload(site: Path, endpoint: str, env: dict) -> str:
    out = subprocess.run([sys.executable, str(HERE / "upload.py"), "--bucket", "vitrine-assets",
                          "--site", str(site), "--endpoint-url", endpoint],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def template_checks():
    t = yaml.safe_load((HERE / "cloudfront.yaml").read_text())
    dist = t["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    by_path = {b["PathPattern"]: b for b in dist["CacheBehaviors"]}
    check(by_path["/static/*"]["TargetOriginId"] == "assets" and by_path["/static/*"]["Compress"],
          "CloudFront: /static/* from the bucket, compressed")
    assets = t["Resources"]["AssetsPolicy"]["Properties"]["CachePolicyConfig"]
    check(assets["MaxTTL"] == 31536000, "CloudFront: assets kept up to a year")
    catalog = t["Resources"]["CatalogPolicy"]["Properties"]["CachePolicyConfig"]
    check(catalog["MinTTL"] == 0 and catalog["DefaultTTL"] == 0,
          "CloudFront: catalog reads kept only as long as query-api's s-maxage says")
    check(catalog["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"]["QueryStringBehavior"] == "all",
          "CloudFront: every query parameter is part of the catalog key")
    check(by_path["/api/*"]["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
          "CloudFront: other API paths (carts, orders, commands) are never cached")
    # the most specific patterns first: CloudFront takes the first that matches
    order = [b["PathPattern"] for b in dist["CacheBehaviors"]]
    check(order.index("/api/*") == len(order) - 1, "CloudFront: /api/* is the last behaviour")


def main() -> int:
    template_checks()
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # moto accepts any credentials: these are placeholders, not secrets
    env = dict(os.environ, AWS_ACCESS_KEY_ID="moto", AWS_SECRET_ACCESS_KEY="moto", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1")
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(k, None)
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")})
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 30)
        with tempfile.TemporaryDirectory(prefix="vitrine-site-") as tmp:
            site = Path(tmp) / "site"
            subprocess.run([sys.executable, str(ROOT / "storefront" / "build.py"), "--out", str(site),
                            "--products", "50"], check=True, capture_output=True)
            manifest = json.loads((site / "manifest.json").read_text())
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            s3.create_bucket(Bucket="vitrine-assets")

            first = upload(site, endpoint, env)
            print("  " + first)
            keys = set()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket="vitrine-assets"):
                keys.update(o["Key"] for o in page.get("Contents", []))
            wanted = {"static/" + name for name in manifest.values()} | {"index.html"}
            check(keys == wanted, f"the bucket holds exactly the manifest's {len(manifest)} assets and the page")
            check(not any(k.endswith(".gz") for k in keys), "no precompressed copies are uploaded")
            for logical, name in manifest.items():
                head = s3.head_object(Bucket="vitrine-assets", Key="static/" + name)
                ext = Path(name).suffix
                assert head["ContentType"] == TYPES[ext], (name, head["ContentType"])
                assert head["CacheControl"] == IMMUTABLE, (name, head["CacheControl"])
            check(True, "every asset has its Content-Type and Cache-Control: " + IMMUTABLE)
            body = s3.get_object(Bucket="vitrine-assets", Key="static/" + manifest["app.css"])["Body"].read()
            check(body == (site / "static" / manifest["app.css"]).read_bytes(), "asset bytes are the built ones")
            page = s3.head_object(Bucket="vitrine-assets", Key="index.html")
            check(page["CacheControl"] == "no-cache" and page["ContentType"].startswith("text/html"),
                  "the page is text/html, no-cache")
            second = upload(site, endpoint, env)
            check(second.startswith("upload: 0 assets sent"), f"a second upload sends no asset again ({second})")
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    print("cdn upload test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
