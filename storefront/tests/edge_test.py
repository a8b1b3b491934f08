#!/usr/bin/env python3
"""The front door as the store's edge, against the running store (docs/caching.md):

- /static/: a fingerprinted asset is served with `Cache-Control: public,
  max-age=31536000, immutable`, an ETag (If-None-Match: 304), gzip (and brotli when
  nginx's module is installed), from the edge cache on the second request; an unknown
  name (or a name without its fingerprint) is a 404; the page itself is `no-cache`.
- public API reads: kept by the edge (HIT on the second request), with query-api's
  shared-cache header; a read with `min_version` or a token is never answered from it.
- the freshness bound: a price change and a stock change made through command-api are
  seen through the edge (no min_version, as an anonymous visitor) within
  BOUND_SECONDS = 4 s (s-maxage 2 + stale-while-revalidate 1 + up to 1 s of nginx's
  whole-second clock) + 1 s for the projection,
  measured from the command's answer, with the edge holding a fresh copy when the change
  is made (the worst case). Changes are undone at the end.

    python3 storefront/tests/edge_test.py        (.ci/store.d/40-edge.sh)
"""
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HOME, base_url, poll, request, store_env  # noqa: E402

BASE = base_url()
EDGE_DIR = Path(os.environ.get("EDGE_DIR", HOME / "edge"))
PUBLIC = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"
BOUND_SECONDS = 2 + 1 + 1 + 1
ROUNDS = int(os.environ.get("EDGE_ROUNDS", "3"))
BROTLI = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so").exists()


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


def static_assets():
    manifest = json.loads((EDGE_DIR / "site" / "manifest.json").read_text())
    css = "/static/" + manifest["app.css"]
    r = request("GET", BASE + css, headers={"Accept-Encoding": "gzip"})
    check(r.status == 200 and r.header("Content-Type").startswith("text/css"), f"{css} is served as CSS")
    check(r.header("Cache-Control") == "public, max-age=31536000, immutable", "assets are cached for a year, immutable")
    check(r.header("Content-Encoding") == "gzip", "gzip when asked")
    etag = r.header("ETag")
    check(bool(etag), "assets carry an ETag")
    again = request("GET", BASE + css, headers={"Accept-Encoding": "gzip"})
    check(again.header("X-Cache-Status") == "HIT", "the second request is an edge hit")
    check(request("GET", BASE + css, headers={"Accept-Encoding": "gzip", "If-None-Match": etag}).status == 304,
          "If-None-Match with the ETag is a 304")
    if BROTLI:
        br = request("GET", BASE + css, headers={"Accept-Encoding": "gzip, deflate, br"})
        check(br.header("Content-Encoding") == "br", "brotli when asked (nginx's brotli module is installed)")
    plain = request("GET", BASE + css)
    check(plain.header("Content-Encoding") is None and len(plain.body) > len(r.body), "identity when not asked")
    image = "/static/" + manifest["products/vt-00001.svg"]
    img = request("GET", BASE + image)
    check(img.status == 200 and img.header("Content-Type") == "image/svg+xml", "a product image is an SVG")
    for unknown in ("/static/app.000000000000.css", "/static/products/vt-00001.svg", "/static/nothing"):
        check(request("GET", BASE + unknown).status == 404, f"{unknown} is a 404")
    page = request("GET", BASE + "/")
    check(page.status == 200 and page.header("Cache-Control") == "no-cache", "the page is served, revalidated on every visit")
    check(manifest["app.js"].encode() in page.body, "the page names the current fingerprinted script")


def api_reads():
    listing = request("GET", BASE + "/api/v1/products/?sort=name")
    check(listing.status == 200, "the first list page answers")
    product = next(p for p in listing.json()["items"] if p["stock_status"] in ("in_stock", "low_stock"))
    path = f"/api/v1/products/{product['id']}/"
    first = request("GET", BASE + path)
    check(first.header("Cache-Control") == PUBLIC, f"product documents: {PUBLIC}")
    second = request("GET", BASE + path)
    check(second.header("X-Cache-Status") == "HIT", "the second read of a product is an edge hit")
    check(request("GET", BASE + path + "?min_version=1").header("X-Cache-Status") == "BYPASS",
          "a read with min_version goes past the edge")
    check(request("GET", BASE + path, headers={"X-Vitrine-Edge": "bypass"}).header("X-Cache-Status") == "BYPASS",
          "a load test on this machine can ask to go past the edge (X-Vitrine-Edge: bypass)")
    session = request("POST", BASE + "/api/v1/sessions/").json()
    cart = request("GET", BASE + "/api/v1/cart/", headers={"Authorization": "Bearer " + session["token"]})
    check(cart.header("Cache-Control") == "private, no-store" and cart.header("X-Cache-Status") == "BYPASS",
          "a cart read (with a token) goes past the edge and is private")
    cats = request("GET", BASE + "/api/v1/categories/")
    check(cats.header("Cache-Control") == PUBLIC + ", stale-if-error=300", "categories may be served stale on errors")
    return product


def freshness(product):
    env = store_env()
    admin = {"Authorization": "Bearer " + env["ADMIN_TOKEN"]}
    pid = product["id"]
    path = f"{BASE}/api/v1/products/{pid}/"
    original = request("GET", path + f"?min_version=1").json()
    worst = 0.0
    seen = []
    try:
        for i in range(ROUNDS):
            for kind in ("price", "stock"):
                # the edge holds a fresh copy of the document and of its list page
                request("GET", path)
                request("GET", BASE + "/api/v1/products/?sort=name")
                time.sleep(0.5)  # inside s-maxage: the edge would answer from its copy
                current = request("GET", path + "?min_version=1").json()
                if kind == "price":
                    want = current["price_cents"] + 1
                    r = request("PATCH", path, body={"price_cents": want},
                                headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
                    field = "price_cents"
                else:
                    r = request("POST", path + "stock/", body={"delta": -1},
                                headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
                    want = current["stock"] - 1
                    field = "stock"
                check(r.status == 200, f"round {i + 1}: the {kind} change is accepted")
                changed = time.monotonic()
                poll(f"the new {kind} through the edge", lambda: request("GET", path).json()[field] == want,
                     within=BOUND_SECONDS + 5)
                took = time.monotonic() - changed
                seen.append(took)
                worst = max(worst, took)
                print(f"  round {i + 1}: the {kind} change was seen through the edge after {took:.2f} s")
                check(took <= BOUND_SECONDS, f"round {i + 1}: {kind} within the bound of {BOUND_SECONDS} s")
    finally:
        now = request("GET", path + "?min_version=1").json()
        request("PATCH", path, body={"price_cents": original["price_cents"]},
                headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
        if now["stock"] != original["stock"]:
            request("POST", path + "stock/", body={"delta": original["stock"] - now["stock"]},
                    headers={**admin, "Idempotency-Key": str(uuid.uuid4())})
    print(f"edge freshness: {len(seen)} changes, seen after {min(seen):.2f}–{worst:.2f} s "
          f"(mean {sum(seen) / len(seen):.2f} s); bound {BOUND_SECONDS} s")


def main():
    print(f"edge test against {BASE}")
    static_assets()
    product = api_reads()
    freshness(product)
    print("edge test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
