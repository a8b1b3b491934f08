#!/usr/bin/env python3
"""Builds the storefront's static site into OUT (default $EDGE_DIR/site):

    OUT/index.html            the page (not fingerprinted: it names the others; no-cache)
    OUT/static/<name>.<hash>.<ext>   every asset, named by the first 12 hex digits of the
                              SHA-256 of its bytes, so a name never changes meaning and
                              can be cached for a year (`immutable`)
    OUT/static/<...>.gz       a gzip copy beside each compressible asset (gzip_static)
    OUT/manifest.json         {"app.css": "app.1a2b3c4d5e6f.css", "products/vt-00000.svg": ...}

Product images are generated here, one SVG per demo SKU (`vt-00000` ...), from the SKU
alone: the same bytes on every machine and every run, so their fingerprints (and so the
URLs the seed writes into the product documents) are stable. No download.

Assets of earlier builds are kept (a page already in a browser or a CDN may still ask for
them); `--prune` removes the ones the new manifest does not name.
"""
import argparse
import gzip
import hashlib
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
COMPRESSIBLE = {".css", ".js", ".svg", ".html", ".json"}

# Category of demo product i is i % 20 (loadtests/src/bin/seed.rs); its glyph and hue.
GLYPHS = [
    ("Laptops", "laptop"), ("Phones", "phone"), ("Cameras", "camera"), ("Tablets", "tablet"),
    ("Audio", "audio"), ("Televisions", "tv"), ("Wearables", "watch"), ("Gaming", "gamepad"),
    ("Computer Accessories", "clip"), ("Phone Accessories", "phone"),
    ("Camera Accessories", "camera"), ("Home & Kitchen", "pot"), ("Books", "book"),
    ("Sports & Outdoors", "ball"), ("Toys", "star"), ("Garden", "leaf"), ("Office", "clip"),
    ("Beauty", "drop"), ("Fashion", "shirt"), ("Pet Supplies", "paw"),
]

SHAPES = {
    "laptop": '<rect x="60" y="70" width="120" height="80" rx="6"/><rect x="40" y="150" width="160" height="12" rx="4"/>',
    "phone": '<rect x="90" y="50" width="60" height="120" rx="10"/><circle cx="120" cy="158" r="5" fill="#fff"/>',
    "camera": '<rect x="50" y="80" width="140" height="80" rx="10"/><circle cx="120" cy="120" r="26" fill="#fff"/><circle cx="120" cy="120" r="16"/>',
    "tablet": '<rect x="65" y="50" width="110" height="130" rx="10"/>',
    "audio": '<path d="M70 130 v-20 a50 50 0 0 1 100 0 v20" fill="none" stroke-width="12"/><rect x="58" y="120" width="28" height="44" rx="8"/><rect x="154" y="120" width="28" height="44" rx="8"/>',
    "tv": '<rect x="40" y="60" width="160" height="100" rx="6"/><rect x="100" y="162" width="40" height="10"/>',
    "watch": '<rect x="100" y="50" width="40" height="130" rx="8"/><circle cx="120" cy="115" r="32"/>',
    "gamepad": '<rect x="50" y="90" width="140" height="70" rx="35"/><circle cx="155" cy="115" r="7" fill="#fff"/><rect x="72" y="120" width="30" height="8" fill="#fff"/>',
    "pot": '<rect x="60" y="95" width="120" height="70" rx="12"/><rect x="40" y="95" width="160" height="12" rx="6"/>',
    "leaf": '<path d="M60 170 C60 90 120 50 185 50 C185 120 140 170 60 170 Z"/>',
    "book": '<rect x="70" y="50" width="100" height="130" rx="4"/><rect x="82" y="62" width="76" height="10" fill="#fff"/>',
    "star": '<polygon points="120,45 140,100 198,100 151,133 169,188 120,155 71,188 89,133 42,100 100,100"/>',
    "ball": '<circle cx="120" cy="115" r="60"/><path d="M60 115 h120 M120 55 v120" stroke="#fff" stroke-width="6"/>',
    "clip": '<rect x="75" y="55" width="90" height="120" rx="6"/><rect x="100" y="45" width="40" height="20" rx="4" fill="#fff"/>',
    "house": '<polygon points="120,50 195,110 45,110"/><rect x="65" y="110" width="110" height="65"/>',
    "drop": '<path d="M120 45 C150 95 170 120 170 140 a50 50 0 0 1 -100 0 C70 120 90 95 120 45 Z"/>',
    "shirt": '<polygon points="85,55 155,55 195,85 175,110 160,100 160,180 80,180 80,100 65,110 45,85"/>',
    "paw": '<circle cx="120" cy="135" r="32"/><circle cx="80" cy="95" r="14"/><circle cx="105" cy="72" r="14"/><circle cx="135" cy="72" r="14"/><circle cx="160" cy="95" r="14"/>',
    "note": '<rect x="130" y="50" width="12" height="100"/><circle cx="115" cy="155" r="24"/><path d="M136 50 q40 10 40 45" fill="none" stroke-width="10"/>',
    "wrench": '<rect x="110" y="80" width="22" height="110" rx="8"/><circle cx="121" cy="70" r="32"/><rect x="111" y="35" width="20" height="35" fill="#fff"/>',
}


def product_svg(i: int) -> bytes:
    """The demo image of product i: its category's glyph on a hue of its own, and its SKU."""
    sku = f"VT-{i:05d}"
    category, glyph = GLYPHS[i % len(GLYPHS)]
    hue = (i * 47) % 360
    shape = SHAPES[glyph]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240" role="img" '
        f'aria-label="{category.replace("&", "&amp;")} {sku}">'
        f'<rect width="240" height="240" fill="hsl({hue},55%,92%)"/>'
        f'<g fill="hsl({hue},45%,38%)" stroke="hsl({hue},45%,38%)">{shape}</g>'
        f'<text x="120" y="222" font-family="sans-serif" font-size="16" text-anchor="middle" '
        f'fill="hsl({hue},30%,25%)">{sku}</text></svg>\n'
    )
    return svg.encode()


def placeholder_svg() -> bytes:
    return (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240">'
        b'<rect width="240" height="240" fill="#eee"/><text x="120" y="125" font-family="sans-serif" '
        b'font-size="18" text-anchor="middle" fill="#999">no image</text></svg>\n'
    )


def fingerprinted(name: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()[:12]
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot else f"{name}.{digest}"


def write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def emit(static: Path, name: str, data: bytes, manifest: dict) -> None:
    out_name = fingerprinted(name, data)
    manifest[name] = out_name
    target = static / out_name
    write_if_changed(target, data)
    if target.suffix in COMPRESSIBLE and not target.with_name(target.name + ".gz").exists():
        # mtime=0: the same .gz bytes on every build
        write_if_changed(target.with_name(target.name + ".gz"), gzip.compress(data, 9, mtime=0))


def main() -> int:
    default_out = Path(os.environ.get("EDGE_DIR", Path.home() / ".vitrine" / "edge")) / "site"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--products", type=int, default=1000, help="demo product images (the seed's --products)")
    ap.add_argument("--prune", action="store_true", help="remove assets the new manifest does not name")
    args = ap.parse_args()

    out: Path = args.out
    static = out / "static"
    static.mkdir(parents=True, exist_ok=True)
    manifest: dict = {}

    # Images first: the page's CSS and JS do not name them (the API documents do).
    for i in range(args.products):
        emit(static, f"products/vt-{i:05d}.svg", product_svg(i), manifest)
    emit(static, "products/none.svg", placeholder_svg(), manifest)
    emit(static, "favicon.svg", (SRC / "favicon.svg").read_bytes(), manifest)
    emit(static, "app.css", (SRC / "app.css").read_bytes(), manifest)
    # The script learns the placeholder image's name from the page (data attributes).
    emit(static, "app.js", (SRC / "app.js").read_bytes(), manifest)

    page = (SRC / "index.html").read_text()
    page = re.sub(r"\{\{asset:([^}]+)\}\}", lambda m: "/static/" + manifest[m.group(1)], page)
    write_if_changed(out / "index.html", page.encode())
    write_if_changed(out / "manifest.json", (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())

    if args.prune:
        keep = set(manifest.values())
        keep |= {v + ".gz" for v in keep}
        for path in static.rglob("*"):
            if path.is_file() and str(path.relative_to(static)) not in keep:
                path.unlink()
    print(f"storefront: {len(manifest)} assets in {static} (manifest {out / 'manifest.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
