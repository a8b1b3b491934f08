#!/usr/bin/env python3
"""The storefront in a real browser: headless Debian Chromium driven through WebDriver
(selenium + chromedriver), against the running store's front door. A shopper browses
(pages, sort, a category), searches, opens a product (image, recommendations), adds it to
the cart, checks out, starts the payment and sees the order; the payment provider's
signed callback (sent by this test, as the provider would) makes the order paid, and the
page shows it. Each step asserts what the shopper sees and keeps a screenshot in
$ARTIFACTS (default ~/.vitrine/artifacts/browser/<UTC time>/).

    python3 storefront/tests/browser_test.py     (.ci/store.d/50-storefront-browser.sh)
"""
import json
import os
import re
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HOME, base_url, poll, request, sign_webhook, store_env  # noqa: E402

# Selenium Manager must not look for drivers on the network: Debian's are named.
os.environ.setdefault("SE_OFFLINE", "true")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

BASE = base_url()
ARTIFACTS = Path(os.environ.get("ARTIFACTS") or HOME / "artifacts" / "browser" /
                 datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
WAIT = 15


def browser():
    profile = tempfile.mkdtemp(prefix="vitrine-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


class Shopper:
    def __init__(self, driver):
        self.d = driver
        self.step = 0

    def wait(self, what, fn, within=WAIT):
        # the page re-renders its view on every route: an element found a moment ago may
        # be gone; look again
        return WebDriverWait(self.d, within, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: fn(d), message=f"the shopper never saw {what}")

    def text(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css).text

    def shows(self, css, pattern=None):
        def seen(d):
            els = d.find_elements(By.CSS_SELECTOR, css)
            if not els or not els[0].is_displayed():
                return False
            return els[0] if pattern is None or re.search(pattern, els[0].text) else False
        return seen

    def shot(self, name):
        self.step += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.step:02d}-{name}.png"
        self.d.save_screenshot(str(path))
        print(f"  step {self.step:2d} {name}: ok ({path.name})")

    def cards(self):
        return self.d.find_elements(By.CSS_SELECTOR, "#product-grid .product-card")


def price_of(card):
    return float(re.sub(r"[^0-9.]", "", card.find_element(By.CSS_SELECTOR, ".price").text.replace(",", "")))


def run(s: Shopper):
    d = s.d
    env = store_env()

    # 1. Browse: the first page of every product, 20 to a page, with images from /static/.
    d.get(BASE + "/")
    s.wait("the product list", s.shows("#list-title", "All products"))
    s.wait("20 products", lambda _: len(s.cards()) == 20)
    pages = s.wait("the page count", s.shows("#page-info", r"Page 1 of \d+")).text
    assert int(pages.split()[-1]) >= 2, pages
    s.wait("the categories", s.shows("#categories a[data-slug='phones']"))
    s.wait("a loaded product image", lambda _: d.execute_script(
        "const i = document.querySelector('#product-grid img'); return i.complete && i.naturalWidth > 0"))
    img = s.cards()[0].find_element(By.TAG_NAME, "img")
    assert re.search(r"/static/products/vt-\d{5}\.[0-9a-f]{12}\.svg$", img.get_attribute("src")), img.get_attribute("src")
    s.shot("browse")

    # 2. Sort by price and go to the next page.
    Select(d.find_element(By.ID, "sort")).select_by_value("price")
    s.wait("the list sorted by price", lambda _: d.find_element(By.ID, "view").get_attribute("data-shown") == "#/?sort=price")
    prices = [price_of(c) for c in s.cards()]
    assert prices == sorted(prices), prices
    d.find_element(By.ID, "next-page").click()
    s.wait("page 2", s.shows("#page-info", r"Page 2 of"))
    page2 = [price_of(c) for c in s.cards()]
    assert page2 == sorted(page2) and page2[0] >= prices[-1], (prices[-1], page2[:3])
    s.shot("sorted-by-price-page-2")

    # 3. A category.
    d.find_element(By.CSS_SELECTOR, "#categories a[data-slug='phones']").click()
    s.wait("the Phones category", s.shows("#list-title", "^Phones$"))
    s.wait("phones listed", lambda _: len(s.cards()) > 0)
    assert d.find_element(By.CSS_SELECTOR, "#categories a.active").text == "Phones"
    s.shot("category-phones")

    # 4. Search.
    box = d.find_element(By.ID, "search-input")
    box.clear()
    box.send_keys("camera\n")
    s.wait("search results", s.shows("#list-title", "camera"))
    s.wait("cameras found", lambda _: len(s.cards()) > 0)
    names = [c.find_element(By.CSS_SELECTOR, ".name").text for c in s.cards()]
    assert any("camera" in n.lower() for n in names), names
    assert int(s.text("#list-total").split()[0]) >= 1
    s.shot("search-camera")

    # 5. A product: its page, image and recommendations.
    first = next(c for c in s.cards() if "camera" in c.text.lower() and "Out of stock" not in c.text)
    chosen = first.find_element(By.CSS_SELECTOR, ".name").text
    first.find_element(By.CSS_SELECTOR, "a.name").click()
    s.wait("the product page", s.shows("#product-name", re.escape(chosen)))
    price = s.text("#product-price")
    assert re.search(r"\d", price), price
    s.wait("the product image", lambda _: d.execute_script(
        "const i = document.querySelector('#product-detail img'); return i.complete && i.naturalWidth > 0"))
    s.wait("the recommendations section", s.shows("#recommendations h2", "Bought together"))
    s.shot("product")

    # 6. Add two to the cart: the badge and the cart show it at once (min_version).
    qty = d.find_element(By.ID, "quantity")
    qty.clear()
    qty.send_keys("2")
    d.find_element(By.ID, "add-to-cart").click()
    s.wait("2 items in the cart badge", s.shows("#cart-count", "^2$"))
    d.find_element(By.ID, "cart-link").click()
    s.wait("the cart line", s.shows("#cart-lines .cart-line", re.escape(chosen)))
    line = d.find_element(By.CSS_SELECTOR, "#cart-lines .cart-line")
    assert line.find_element(By.CSS_SELECTOR, ".line-qty").get_attribute("value") == "2"
    total = s.text("#cart-total")
    s.shot("cart")

    # 7. Check out: the order page shows it placed, awaiting payment, with the cart's total.
    d.find_element(By.ID, "checkout").click()
    s.wait("the placed order", s.shows("#order-status", "Placed, awaiting payment"))
    assert s.text("#order-total") == total, (s.text("#order-total"), total)
    assert chosen in s.text("#order-lines")
    assert s.text("#cart-count") == "0"
    order_id = re.search(r"#/orders/([0-9a-f-]{36})", d.current_url).group(1)
    s.shot("order-placed")

    # 8. Start the payment: the order waits for the provider.
    d.find_element(By.ID, "pay").click()
    s.wait("the pending payment", s.shows("#payment-status", "waiting for the payment provider"))
    s.shot("payment-started")

    # 9. The provider's signed callback (what the real provider sends): the page shows paid.
    token = d.execute_script("return localStorage.getItem('vitrine.token')")
    intent = request("POST", f"{BASE}/api/v1/orders/{order_id}/pay/",
                     headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())})
    assert intent.status == 202, (intent.status, intent.body[:300])
    i = intent.json()
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": "payment.succeeded", "created": int(time.time()),
             "data": {"intent_id": i["intent_id"], "order_id": order_id,
                      "amount_cents": i["amount_cents"], "currency": i["currency"]}}
    body = json.dumps(event).encode()
    paid = request("POST", f"{BASE}/api/v1/payments/webhook/", body=body,
                   headers={"Vitrine-Signature": sign_webhook(env["PAYMENT_WEBHOOK_SECRET"], body)})
    assert paid.status == 200, (paid.status, paid.body[:300])
    s.wait("the paid order", s.shows("#order-status", "^Paid$"), within=20)
    assert s.text("#payment-status") == "paid"
    s.shot("order-paid")

    # 10. The orders list.
    d.find_element(By.ID, "orders-link").click()
    s.wait("the order in the list", s.shows(f"#orders a[href='#/orders/{order_id}']"))
    row = d.find_element(By.XPATH, f"//a[@href='#/orders/{order_id}']/ancestor::tr")
    assert "Paid" in row.text and total in row.text, row.text
    s.shot("orders")


def main() -> int:
    print(f"storefront browser test against {BASE}; screenshots in {ARTIFACTS}")
    d = browser()
    s = Shopper(d)
    try:
        run(s)
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        d.save_screenshot(str(ARTIFACTS / "failed.png"))
        (ARTIFACTS / "failed.html").write_text(d.page_source)
        try:
            for entry in d.get_log("browser"):
                print("  console:", entry.get("message"))
        except Exception:  # not every driver keeps the console
            pass
        print(f"storefront browser test FAILED at step {s.step + 1} (see {ARTIFACTS}/failed.png)")
        raise
    finally:
        d.quit()
    print(f"storefront browser test: {s.step} steps passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
