"""What the storefront's tests share: the running store's environment and HTTP helpers
(standard library only)."""
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

HOME = Path(os.environ.get("VITRINE_HOME", Path.home() / ".vitrine"))
STORE_ENV = Path(os.environ.get("STORE_ENV", HOME / "store.env"))


def store_env() -> dict:
    """The running store's environment (deploy/up.sh writes it); never printed."""
    env = {}
    for line in STORE_ENV.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        env[k] = v.strip().strip("'")
    return env


def base_url() -> str:
    if os.environ.get("VITRINE_URL"):
        return os.environ["VITRINE_URL"].rstrip("/")
    port = os.environ.get("NGINX_PORT") or store_env().get("NGINX_PORT", "8080")
    return f"http://127.0.0.1:{port}"


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)


def request(method, url, body=None, headers=None, timeout=10) -> Reply:
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def sign_webhook(secret: str, body: bytes, t: int | None = None) -> str:
    """`Vitrine-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (docs/api.md)."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def poll(what, fn, within, every=0.05):
    """Calls fn until it answers something truthy; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(every)
