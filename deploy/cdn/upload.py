#!/usr/bin/env python3
"""Uploads the storefront's built site (storefront/build.py) to an S3-compatible bucket,
the origin of a CDN (docs/cdn.md):

    static/<name>.<hash>.<ext>   Cache-Control: public, max-age=31536000, immutable
    index.html                   Cache-Control: no-cache   (uploaded last)

each with its Content-Type. Fingerprinted names never change meaning, so an object that
is already in the bucket is not sent again, and none is deleted (pages already in
browsers or in the CDN may still ask for older assets; remove those with a bucket
lifecycle rule). The page goes last, so it never names an asset the bucket lacks.
The precompressed `.gz` copies are not uploaded: the CDN compresses (gzip, brotli).

    python3 deploy/cdn/upload.py --bucket NAME [--endpoint-url URL] [--site DIR] [--prefix P]

Credentials and region come from the usual AWS variables or profile (boto3); none are
read or printed here. --endpoint-url names an S3-compatible service (MinIO, Ceph, R2, a
local moto server in the test).
"""
import argparse
import mimetypes
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

IMMUTABLE = "public, max-age=31536000, immutable"
PAGE = "no-cache"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
}


def content_type(path: Path) -> str:
    return TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def existing_keys(s3, bucket: str, prefix: str) -> set:
    keys = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []))
    return keys


def main(argv=None) -> int:
    default_site = Path(os.environ.get("EDGE_DIR", Path.home() / ".vitrine" / "edge")) / "site"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--site", type=Path, default=default_site)
    ap.add_argument("--prefix", default="", help="a key prefix inside the bucket (e.g. 'shop/')")
    ap.add_argument("--endpoint-url", default=os.environ.get("S3_ENDPOINT_URL"))
    ap.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    ap.add_argument("--parallel", type=int, default=16)
    args = ap.parse_args(argv)

    site: Path = args.site
    if not (site / "index.html").exists():
        print(f"upload: no built site in {site} (python3 storefront/build.py)", file=sys.stderr)
        return 2
    s3 = boto3.client("s3", endpoint_url=args.endpoint_url, region_name=args.region)
    prefix = args.prefix
    have = existing_keys(s3, args.bucket, prefix + "static/")

    assets = [p for p in sorted((site / "static").rglob("*")) if p.is_file() and p.suffix != ".gz"]
    todo = []
    for path in assets:
        key = prefix + "static/" + path.relative_to(site / "static").as_posix()
        if key not in have:
            todo.append((path, key))

    def put(item):
        path, key = item
        s3.put_object(Bucket=args.bucket, Key=key, Body=path.read_bytes(),
                      ContentType=content_type(path), CacheControl=IMMUTABLE)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(put, todo))
    # the page last: every asset it names is in the bucket by now
    s3.put_object(Bucket=args.bucket, Key=prefix + "index.html", Body=(site / "index.html").read_bytes(),
                  ContentType=content_type(site / "index.html"), CacheControl=PAGE)
    print(f"upload: {len(todo)} assets sent, {len(assets) - len(todo)} already in s3://{args.bucket}/{prefix}static/, "
          f"page {prefix}index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
